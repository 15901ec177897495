//! When to renew a held host_id, and when its lockspace has failed.
//!
//! [`DeltaRenew`] does one renewal; [`RenewalSchedule`] is the policy around
//! it, the same for the daemon's lockspace thread and the simulator. It is
//! fed the time and the outcome of each renewal and says what to do next:
//!
//! ```text
//!  renewal landed, issued at T  → renew again at T + 2N
//!  renewal failed               → retry renewal_retry later
//!    ...and our write may still be in the kernel → await it (a retry
//!       would be refused), then renew at once
//!  T + 6N without a renewal     → warn, once
//!  T + 8N without a renewal     → FAIL (expired)
//!  our sector shows a write that is none of ours, or is corrupt → FAIL
//! ```
//!
//! **Invariant.** The lockspace fails only when no renewal has landed for
//! the failure threshold (8N), or its sector truly shows another writer or
//! corruption. A slow write alone never fails it: the schedule owns the
//! [`HostLease`], which remembers every write made since the last success,
//! the timed-out ones included, so one of ours landing late is recognised as
//! ours and not taken for another host's.
//!
//! Pure: no clock, no disk, no thread. Tested below by the exact commands it
//! emits; the simulator runs it against slow, late and lost writes.

use super::{DeltaError, DeltaRenew, Event, HostLease, PendingBits, Renewal};
use crate::clock::MonoTime;
use crate::step::IoFailure;
use crate::timeouts::Timeouts;

/// What the executor of the schedule does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run a renewal now: [`RenewalSchedule::renewal`] gives the machine,
    /// [`RenewalSchedule::renewed`] takes its outcome.
    Renew,
    /// Nothing to do before this time.
    WaitUntil(MonoTime),
    /// A write of ours is still in the kernel: report
    /// [`RenewalSchedule::write_settled`] once it has left, or ask again at
    /// `until` at the latest.
    AwaitWrite { until: MonoTime },
    /// A renewal landed: the lease now runs until `expiry` (move the
    /// watchdog's expiry there).
    Renewed { expiry: MonoTime },
    /// A renewal failed and will be retried; `failures` in a row so far.
    Retry { failures: u64, error: IoFailure },
    /// No renewal has landed for 6N: the lockspace fails at `expiry` unless
    /// one does.
    Warn { failures: u64, expiry: MonoTime },
    /// The host_id lease is lost: its holders must stop. Every later call
    /// says the same.
    Fail(DeltaError),
}

/// The renewal policy of one held host_id.
#[derive(Debug)]
pub struct RenewalSchedule {
    /// `None` while a renewal has it.
    lease: Option<HostLease>,
    timeouts: Timeouts,
    generation: u64,
    last_success: MonoTime,
    /// When the next renewal is due.
    next: MonoTime,
    /// Renewals failed in a row.
    failures: u64,
    /// A failed write of ours may still be in the kernel.
    write_in_flight: bool,
    warned: bool,
    /// Told once, before the next decision.
    notice: Option<Command>,
    failed: Option<DeltaError>,
}

impl RenewalSchedule {
    /// Keeps `lease`, just joined (or renewed).
    pub fn new(lease: HostLease) -> RenewalSchedule {
        let timeouts = lease.timeouts;
        RenewalSchedule {
            generation: lease.generation,
            last_success: lease.last_success,
            next: lease.last_success + timeouts.renewal_interval(),
            lease: Some(lease),
            timeouts,
            failures: 0,
            write_in_flight: false,
            warned: false,
            notice: None,
            failed: None,
        }
    }

    /// The next thing to do at `now`.
    pub fn next(&mut self, now: MonoTime) -> Command {
        assert!(self.lease.is_some(), "next() while a renewal runs");
        if let Some(notice) = self.notice.take() {
            return notice;
        }
        if let Some(err) = &self.failed {
            return Command::Fail(err.clone());
        }
        let expiry = self.expiry();
        if now >= expiry {
            cov_mark::hit!(renewal_expired);
            self.failed = Some(DeltaError::Expired);
            return Command::Fail(DeltaError::Expired);
        }
        let warn_at = self.warn_at();
        if warn_at.is_some_and(|at| now >= at) {
            self.warned = true;
            return Command::Warn { failures: self.failures, expiry };
        }
        let until = warn_at.map_or(expiry, |at| at.min(expiry));
        if self.write_in_flight {
            cov_mark::hit!(renewal_awaits_own_write);
            return Command::AwaitWrite { until };
        }
        if now >= self.next {
            return Command::Renew;
        }
        Command::WaitUntil(self.next.min(until))
    }

    /// The renewal [`Command::Renew`] asked for, reading the first
    /// `read_sectors` host sectors.
    pub fn renewal(&mut self, read_sectors: u64) -> DeltaRenew {
        let lease = self.lease.take().expect("one renewal at a time");
        DeltaRenew::new(lease, read_sectors)
    }

    /// The outcome of that renewal, known at `now`; `write_in_flight`: the
    /// disk still has a write of ours to the lockspace area in the kernel.
    pub fn renewed(&mut self, now: MonoTime, renewal: Renewal, write_in_flight: bool) {
        let Renewal { lease, result, .. } = renewal;
        let expiry = lease.expiry();
        self.last_success = lease.last_success;
        self.lease = Some(lease);
        match result {
            Ok(()) => {
                self.failures = 0;
                self.warned = false;
                self.write_in_flight = false;
                self.next = self.last_success + self.timeouts.renewal_interval();
                self.notice = Some(Command::Renewed { expiry });
            }
            Err(DeltaError::Io(error)) if now < expiry => {
                self.failures += 1;
                self.write_in_flight = write_in_flight;
                self.next = now + self.timeouts.renewal_retry();
                self.notice = Some(Command::Retry { failures: self.failures, error });
            }
            Err(DeltaError::Io(_)) => self.failed = Some(DeltaError::Expired),
            Err(err) => self.failed = Some(err),
        }
    }

    /// The write [`Command::AwaitWrite`] waited for has left the kernel,
    /// landed or not: the next renewal's read tells which, and either is
    /// ours.
    pub fn write_settled(&mut self) {
        self.write_in_flight = false;
    }

    /// Asks `host_id` to look at our requests until `until` (see
    /// [`HostLease::set_bit`]).
    pub fn set_bit(&mut self, host_id: u64, until: MonoTime) {
        self.lease.as_mut().expect("no renewal runs").set_bit(host_id, until);
    }

    /// Applies the bit changes asked for since the last renewal.
    pub fn apply_bits(&mut self, bits: PendingBits) {
        bits.apply_to(self.lease.as_mut().expect("no renewal runs"));
    }

    /// The host event the next renewals write (see [`HostLease::set_event`]).
    pub fn set_event(&mut self, event: Event) {
        self.lease.as_mut().expect("no renewal runs").set_event(event);
    }

    /// The lease, to release it; `None` while a renewal has it.
    pub fn into_lease(self) -> Option<HostLease> {
        self.lease
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Issue time of the last renewal that landed (or of the join).
    pub fn last_success(&self) -> MonoTime {
        self.last_success
    }

    /// The lease ends here unless a renewal lands first.
    pub fn expiry(&self) -> MonoTime {
        self.last_success + self.timeouts.renewal_fail()
    }

    /// Renewals failed in a row.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Whether the schedule waits for a write of ours to leave the kernel.
    pub fn awaiting_write(&self) -> bool {
        self.write_in_flight
    }

    /// When to warn, if renewals are failing and no warning was given.
    fn warn_at(&self) -> Option<MonoTime> {
        (self.failures > 0 && !self.warned)
            .then(|| self.last_success + self.timeouts.renewal_warn())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::delta::HostTable;
    use crate::ondisk::leader::LeaderRecord;
    use crate::ondisk::name::Name;
    use crate::step::{IoRequest, IoResult, Machine, Step};
    use crate::testing::{Areas, fresh_lockspace, join_as};

    fn at(ms: u64) -> MonoTime {
        MonoTime::from_nanos(ms * 1_000_000)
    }

    /// Joined as host 1 at 100 s with io_timeout 1 s: renew every 2 s,
    /// warn at 6 s, fail at 8 s, retry after 0.5 s.
    fn joined() -> (Areas, RenewalSchedule, HostTable) {
        let timeouts = Timeouts::new(1, Duration::from_secs(10));
        let (lockspace, area) = fresh_lockspace(1);
        let mut areas = Areas { lockspace: area, resource: Vec::new() };
        let mut hosts = HostTable::new(timeouts);
        let lease = join_as(lockspace, 1, timeouts, &mut areas, &mut hosts, at(100_000));
        (areas, RenewalSchedule::new(lease), hosts)
    }

    /// How a renewal's write ends.
    enum Write {
        /// Lands and completes at this time.
        Lands(MonoTime),
        /// Answers this failure at this time, without landing.
        Fails(MonoTime, IoFailure),
    }

    /// Runs the renewal the schedule asks for, reading at `start`; returns
    /// the sector it wrote (landed or not) and when the renewal ended.
    fn renew(
        schedule: &mut RenewalSchedule,
        areas: &mut Areas,
        hosts: &mut HostTable,
        start: MonoTime,
        write: Write,
    ) -> (Vec<u8>, MonoTime) {
        let mut renew = schedule.renewal(4);
        let Step::Io(IoRequest::Read { len, .. }) = renew.next(start, hosts) else {
            panic!("a renewal reads first")
        };
        let area = areas.lockspace[..len].to_vec();
        renew.complete(start, hosts, IoResult::Read(&area));
        let step = renew.next(start, hosts);
        let Step::Io(IoRequest::Write { data, .. }) = step else {
            // It ended at the read: our sector was not ours.
            let Step::Done(renewal) = step else { panic!("{step:?}") };
            schedule.renewed(start, renewal, false);
            return (Vec::new(), start);
        };
        let (end, result) = match write {
            Write::Lands(end) => {
                areas.lockspace[..data.len()].copy_from_slice(&data);
                (end, IoResult::Written)
            }
            Write::Fails(end, failure) => (end, IoResult::Failed(failure)),
        };
        renew.complete(end, hosts, result);
        let Step::Done(renewal) = renew.next(end, hosts) else { panic!("one write") };
        let in_flight = matches!(write, Write::Fails(_, IoFailure::Timeout));
        schedule.renewed(end, renewal, in_flight);
        (data, end)
    }

    #[test]
    fn renews_every_two_io_timeouts() {
        let (mut areas, mut schedule, mut hosts) = joined();
        assert_eq!(schedule.next(at(100_000)), Command::WaitUntil(at(102_000)));
        assert_eq!(schedule.next(at(102_000)), Command::Renew);
        renew(&mut schedule, &mut areas, &mut hosts, at(102_000), Write::Lands(at(102_010)));
        assert_eq!(schedule.next(at(102_010)), Command::Renewed { expiry: at(110_000) });
        assert_eq!(schedule.next(at(102_010)), Command::WaitUntil(at(104_000)));
        assert_eq!((schedule.failures(), schedule.expiry()), (0, at(110_000)));
    }

    /// The slow write: it times out, the retry falls due while it is still
    /// in the kernel, and it lands late. The schedule waits for it instead
    /// of writing again (the disk would refuse a second write), then
    /// renews; its late write is taken for ours, and nothing fails.
    #[test]
    fn a_slow_write_that_lands_late_is_ours_and_fails_nothing() {
        let (mut areas, mut schedule, mut hosts) = joined();
        assert_eq!(schedule.next(at(102_000)), Command::Renew);
        let (late, _) = renew(
            &mut schedule,
            &mut areas,
            &mut hosts,
            at(102_000),
            Write::Fails(at(103_000), IoFailure::Timeout),
        );
        assert_eq!(
            schedule.next(at(103_000)),
            Command::Retry { failures: 1, error: IoFailure::Timeout }
        );
        assert_eq!(schedule.next(at(103_000)), Command::AwaitWrite { until: at(106_000) });
        // The retry is due at 103.5 s; the write is still in the kernel.
        assert_eq!(schedule.next(at(103_500)), Command::AwaitWrite { until: at(106_000) });
        assert!(schedule.awaiting_write());
        // It lands at 103.8 s, 1.8 s after its issue, and leaves the kernel.
        areas.lockspace[..late.len()].copy_from_slice(&late);
        schedule.write_settled();
        assert_eq!(schedule.next(at(103_800)), Command::Renew);
        renew(&mut schedule, &mut areas, &mut hosts, at(103_800), Write::Lands(at(103_810)));
        assert_eq!(schedule.next(at(103_810)), Command::Renewed { expiry: at(111_800) });
        assert_eq!(schedule.next(at(103_810)), Command::WaitUntil(at(105_800)));
        assert_eq!((schedule.failures(), schedule.awaiting_write()), (0, false));
    }

    /// Two writes fail in a row, the first only by its answer: it lands
    /// after the second failed. It is still recognised as ours.
    #[test]
    fn an_older_failed_write_landing_last_is_ours() {
        let (mut areas, mut schedule, mut hosts) = joined();
        let (first, _) = renew(
            &mut schedule,
            &mut areas,
            &mut hosts,
            at(102_000),
            Write::Fails(at(102_100), IoFailure::Error),
        );
        assert!(matches!(schedule.next(at(102_100)), Command::Retry { failures: 1, .. }));
        assert_eq!(schedule.next(at(102_100)), Command::WaitUntil(at(102_600)));
        renew(
            &mut schedule,
            &mut areas,
            &mut hosts,
            at(102_600),
            Write::Fails(at(102_700), IoFailure::Error),
        );
        assert!(matches!(schedule.next(at(102_700)), Command::Retry { failures: 2, .. }));
        areas.lockspace[..first.len()].copy_from_slice(&first);
        assert_eq!(schedule.next(at(103_200)), Command::Renew);
        renew(&mut schedule, &mut areas, &mut hosts, at(103_200), Write::Lands(at(103_300)));
        assert_eq!(schedule.next(at(103_300)), Command::Renewed { expiry: at(111_200) });
    }

    /// A write that never leaves the kernel: warn at 6N, fail at 8N, not
    /// before.
    #[test]
    fn a_write_stuck_in_the_kernel_fails_the_lockspace_at_expiry() {
        cov_mark::check!(renewal_awaits_own_write);
        cov_mark::check!(renewal_expired);
        let (mut areas, mut schedule, mut hosts) = joined();
        let timeout = Write::Fails(at(103_000), IoFailure::Timeout);
        renew(&mut schedule, &mut areas, &mut hosts, at(102_000), timeout);
        assert!(matches!(schedule.next(at(103_000)), Command::Retry { .. }));
        assert_eq!(schedule.next(at(103_000)), Command::AwaitWrite { until: at(106_000) });
        assert_eq!(schedule.next(at(106_000)), Command::Warn { failures: 1, expiry: at(108_000) });
        assert_eq!(schedule.next(at(106_000)), Command::AwaitWrite { until: at(108_000) });
        assert_eq!(schedule.next(at(107_999)), Command::AwaitWrite { until: at(108_000) });
        assert_eq!(schedule.next(at(108_000)), Command::Fail(DeltaError::Expired));
        assert_eq!(schedule.next(at(109_000)), Command::Fail(DeltaError::Expired));
    }

    /// Failures that leave nothing in flight: retried every renewal_retry,
    /// never waited past the warning or the expiry.
    #[test]
    fn failing_renewals_are_retried_until_expiry() {
        let (mut areas, mut schedule, mut hosts) = joined();
        let mut now = at(102_000);
        let mut commands = Vec::new();
        loop {
            let command = schedule.next(now);
            commands.push(command.clone());
            match command {
                Command::Renew => {
                    // The write's deadline is the expiry at the latest.
                    let end = (now + Duration::from_millis(900)).min(schedule.expiry());
                    let write = Write::Fails(end, IoFailure::Error);
                    now = renew(&mut schedule, &mut areas, &mut hosts, now, write).1;
                }
                Command::WaitUntil(until) => now = until,
                Command::Fail(_) => break,
                _ => {}
            }
        }
        let renews = commands.iter().filter(|c| **c == Command::Renew).count();
        assert_eq!(renews, 5, "{commands:?}");
        assert!(commands.contains(&Command::Warn { failures: 3, expiry: at(108_000) }));
        assert_eq!(commands.last(), Some(&Command::Fail(DeltaError::Expired)));
        assert_eq!(now, at(108_000), "failed at the expiry exactly");
    }

    #[test]
    fn a_sector_written_by_another_host_fails_at_once() {
        let (mut areas, mut schedule, mut hosts) = joined();
        let mut thief = LeaderRecord::decode_prefix(&areas.lockspace);
        thief.owner_generation = 9;
        thief.resource_name = Name::new("thief").unwrap();
        thief.encode_into(&mut areas.lockspace[..512]);
        renew(&mut schedule, &mut areas, &mut hosts, at(102_000), Write::Lands(at(102_010)));
        let Command::Fail(DeltaError::Lost { generation: 9, .. }) = schedule.next(at(102_000))
        else {
            panic!("taken")
        };
        assert!(matches!(schedule.next(at(102_500)), Command::Fail(DeltaError::Lost { .. })));
    }
}
