//! One renewal of a held host_id.
//!
//! ```text
//! expired? → EXPIRED (a lease is never renewed after its expiry)
//! read the host sectors → our sector must be one we wrote, else LOST/CORRUPT
//!                       → every other valid sector feeds the HostTable
//! write our sector with a new timestamp (deadline: min(now + N, expiry))
//!   completes by expiry → renewed from the write's issue time
//!   fails, or completes after expiry → not renewed
//! ```
//!
//! A write that fails may still land (a timeout, or an error after part of a
//! request reached the device), so the next renewal accepts in our sector
//! either the last write that succeeded or the one that failed after it.

use super::lease::HostLease;
use super::{DeltaError, Event, HostTable, ReceivedEvent};
use crate::clock::MonoTime;
use crate::ondisk::bitmap::host_bit;
use crate::ondisk::leader::LeaderRecord;
use crate::step::{Area, IoFailure, IoRequest, IoResult, Machine, Step};

/// Renews `lease` once.
#[derive(Debug)]
pub struct DeltaRenew {
    lease: Option<HostLease>,
    read_sectors: u64,
    state: State,
    requested_by: Vec<u64>,
    events: Vec<ReceivedEvent>,
}

#[derive(Debug)]
enum State {
    Start,
    Reading { started: MonoTime },
    Write,
    Writing { sector: Vec<u8>, issued: MonoTime },
    Finished(Result<(), DeltaError>),
    Done,
}

/// The outcome of a renewal: the lease (renewed or not) always comes back.
#[derive(Debug)]
pub struct Renewal {
    pub lease: HostLease,
    pub result: Result<(), DeltaError>,
    /// Hosts whose bitmap asks us to look at our resources' requests.
    pub requested_by: Vec<u64>,
    /// Events those hosts post to us (see [`super::Outbox`]).
    pub events: Vec<ReceivedEvent>,
}

impl DeltaRenew {
    /// Renews `lease`, reading the first `read_sectors` host sectors of the
    /// area (all of them for sanlock's behaviour; fewer when it is known no
    /// higher host_id is in use). Our own sector must be among them.
    pub fn new(lease: HostLease, read_sectors: u64) -> DeltaRenew {
        assert!(read_sectors >= lease.host_id, "the renewal read covers our own sector");
        assert!(read_sectors <= lease.lockspace.geometry.max_hosts());
        DeltaRenew {
            lease: Some(lease),
            read_sectors,
            state: State::Start,
            requested_by: Vec::new(),
            events: Vec::new(),
        }
    }

    fn lease(&self) -> &HostLease {
        self.lease.as_ref().expect("the lease stays until Done")
    }

    fn deadline(&self, now: MonoTime) -> MonoTime {
        let lease = self.lease();
        (now + lease.timeouts.io_timeout()).min(lease.expiry())
    }

    /// Checks our sector and feeds the others to the table.
    fn absorb(
        &mut self,
        area: &[u8],
        started: MonoTime,
        now: MonoTime,
        hosts: &mut HostTable,
    ) -> Result<(), DeltaError> {
        let lease = self.lease.as_ref().expect("the lease stays until Done");
        let sector_len = lease.lockspace.sector_len();
        let ours = lease.host_id;
        let lockspace = lease.lockspace;
        for (index, sector) in area.chunks_exact(sector_len).enumerate() {
            let host_id = index as u64 + 1;
            let leader = LeaderRecord::decode_prefix(sector);
            if host_id == ours {
                if lease.is_ours(sector) {
                    continue;
                }
                let offset = lease.offset();
                lockspace.verify(&leader).map_err(|problem| {
                    cov_mark::hit!(torn_own_sector_detected);
                    DeltaError::Corrupt { offset, problem }
                })?;
                return Err(DeltaError::Lost {
                    owner_id: leader.owner_id,
                    generation: leader.owner_generation,
                    owner_name: leader.resource_name,
                });
            }
            // A damaged sector tells nothing: no change is recorded.
            if lockspace.verify(&leader).is_ok() {
                let renewed = hosts.observe(host_id, &leader, started, now);
                if leader.timestamp != 0 && host_bit(sector, ours) {
                    self.requested_by.push(host_id);
                    // Once per write of the sender's, as sanlock hands
                    // them: a sender that stopped renewing repeats nothing.
                    let event = Event::in_leader(&leader);
                    if renewed && !event.is_empty() {
                        self.events.push(ReceivedEvent {
                            from_host_id: host_id,
                            from_generation: leader.owner_generation,
                            event,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, result: Result<(), DeltaError>) -> Renewal {
        Renewal {
            lease: self.lease.take().expect("finished once"),
            result,
            requested_by: std::mem::take(&mut self.requested_by),
            events: std::mem::take(&mut self.events),
        }
    }
}

impl Machine for DeltaRenew {
    type Output = Renewal;

    fn next(&mut self, now: MonoTime, _hosts: &mut HostTable) -> Step<Renewal> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Start if now >= self.lease().expiry() => {
                Step::Done(self.finish(Err(DeltaError::Expired)))
            }
            State::Start => {
                let lease = self.lease();
                let len = lease.lockspace.sector_len() * self.read_sectors as usize;
                let deadline = self.deadline(now);
                self.state = State::Reading { started: now };
                Step::Io(IoRequest::Read { area: Area::Lockspace, offset: 0, len, deadline })
            }
            State::Write if now >= self.lease().expiry() => {
                Step::Done(self.finish(Err(DeltaError::Expired)))
            }
            State::Write => {
                let deadline = self.deadline(now);
                let lease = self.lease.as_mut().expect("the lease stays until Done");
                let sector = lease.renewed_sector(now);
                let request = IoRequest::Write {
                    area: Area::Lockspace,
                    offset: lease.offset(),
                    data: sector.clone(),
                    deadline,
                };
                self.state = State::Writing { sector, issued: now };
                Step::Io(request)
            }
            State::Finished(result) => Step::Done(self.finish(result)),
            other => unreachable!("next() while waiting for I/O: {other:?}"),
        }
    }

    fn complete(&mut self, now: MonoTime, hosts: &mut HostTable, result: IoResult<'_>) {
        let state = std::mem::replace(&mut self.state, State::Done);
        self.state = match (state, result) {
            (State::Reading { .. }, IoResult::Failed(failure)) => {
                State::Finished(Err(DeltaError::Io(failure)))
            }
            (State::Reading { started }, IoResult::Read(area)) => {
                match self.absorb(area, started, now, hosts) {
                    Ok(()) => State::Write,
                    Err(err) => State::Finished(Err(err)),
                }
            }
            (State::Writing { sector, issued }, outcome) => {
                let in_time = now <= self.lease().expiry();
                let landed = matches!(outcome, IoResult::Written);
                let lease = self.lease.as_mut().expect("the lease stays until Done");
                lease.wrote(sector, issued, landed && in_time);
                State::Finished(match outcome {
                    IoResult::Written if in_time => Ok(()),
                    IoResult::Written => Err(DeltaError::Expired),
                    IoResult::Failed(failure) => Err(DeltaError::Io(failure)),
                    IoResult::Read(_) => unreachable!("a write completes without data"),
                })
            }
            (state, result) => unreachable!("{result:?} does not answer {state:?}"),
        };
    }
}

impl From<IoFailure> for DeltaError {
    fn from(failure: IoFailure) -> DeltaError {
        DeltaError::Io(failure)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::delta::HostState;
    use crate::ondisk::bitmap::set_host_bit;
    use crate::ondisk::name::Name;
    use crate::step::IoFailure;
    use crate::testing::{Areas, Fate, fresh_lockspace, join_as, run, untouched};
    use crate::timeouts::Timeouts;

    fn secs(s: u64) -> MonoTime {
        MonoTime::from_secs(s)
    }

    fn timeouts() -> Timeouts {
        Timeouts::new(1, Duration::from_secs(10))
    }

    /// A lockspace where host 2 ("other") renews and we join as host 1 at
    /// 100 s.
    fn joined() -> (Areas, HostLease, HostTable) {
        let (lockspace, area) = fresh_lockspace(1);
        let mut areas = Areas { lockspace: area, resource: Vec::new() };
        set_other(&mut areas, 7);
        let mut hosts = HostTable::new(timeouts());
        let lease = join_as(lockspace, 1, timeouts(), &mut areas, &mut hosts, secs(100));
        (areas, lease, hosts)
    }

    fn set_other(areas: &mut Areas, timestamp: u64) {
        let mut other = LeaderRecord::decode_prefix(&areas.lockspace[512..]);
        other.owner_id = 2;
        other.owner_generation = 1;
        other.timestamp = timestamp;
        other.resource_name = Name::new("other").unwrap();
        other.encode_into(&mut areas.lockspace[512..1024]);
    }

    #[test]
    fn renewal_reads_the_hosts_writes_ours_and_feeds_the_table() {
        let (mut areas, lease, mut hosts) = joined();
        set_other(&mut areas, 9);
        let (trace, renewal) =
            run(DeltaRenew::new(lease, 4), &mut areas, &mut hosts, secs(103), untouched);
        assert_eq!(trace, ["read ls 0+2048", "write ls 0+512"]);
        assert_eq!(renewal.result, Ok(()));
        assert_eq!(renewal.lease.last_success, secs(103));
        assert_eq!(renewal.lease.expiry(), secs(111));
        assert_eq!(renewal.lease.timestamp(), 103);
        assert_eq!(hosts.get(2).unwrap().timestamp, 9);
        assert_eq!(hosts.state(2, secs(104)), HostState::Unknown);
        // Timestamps always grow, even within one second.
        let (_, again) =
            run(DeltaRenew::new(renewal.lease, 4), &mut areas, &mut hosts, secs(103), untouched);
        assert_eq!(again.lease.timestamp(), 104);
    }

    #[test]
    fn a_peer_slower_than_our_watchdog_neither_stops_renewals_nor_dies_early() {
        // Host 2's sector says io_timeout 200 s, above our fire timeout of
        // 10 s: judged by 8N + max(F, N) = 1800 s, never by a panic.
        let (mut areas, mut lease, mut hosts) = joined();
        let mut now = 102;
        for timestamp in [9, 11] {
            let mut other = LeaderRecord::decode_prefix(&areas.lockspace[512..]);
            other.timestamp = timestamp;
            other.io_timeout = 200;
            other.encode_into(&mut areas.lockspace[512..1024]);
            let (_, renewal) =
                run(DeltaRenew::new(lease, 4), &mut areas, &mut hosts, secs(now), untouched);
            assert_eq!(renewal.result, Ok(()));
            let state = hosts.state(2, secs(now));
            assert!(matches!(state, HostState::Live | HostState::Unknown), "{state}");
            lease = renewal.lease;
            now += 2;
        }
        // Silent ever since the read at 104 s that first showed timestamp 11.
        for _ in 0..900 {
            let (_, renewal) =
                run(DeltaRenew::new(lease, 4), &mut areas, &mut hosts, secs(now), untouched);
            assert_eq!(renewal.result, Ok(()));
            lease = renewal.lease;
            now += 2;
        }
        assert_eq!(hosts.dead_at(2), Some(secs(104 + 1800)));
        assert_eq!(hosts.state(2, secs(104 + 1601)), HostState::Fail);
        assert_eq!(hosts.state(2, secs(104 + 1800)), HostState::Fail);
        assert_eq!(hosts.state(2, secs(104 + 1801)), HostState::Dead);
    }

    #[test]
    fn an_expired_lease_is_never_renewed() {
        let (mut areas, lease, mut hosts) = joined();
        let (trace, renewal) =
            run(DeltaRenew::new(lease, 4), &mut areas, &mut hosts, secs(108), untouched);
        assert!(trace.is_empty());
        assert_eq!(renewal.result, Err(DeltaError::Expired));
        // A write that completes after the expiry does not count either.
        let (mut areas, lease, mut hosts) = joined();
        let mut renew = DeltaRenew::new(lease, 4);
        let Step::Io(_) = renew.next(secs(106), &mut hosts) else { panic!() };
        renew.complete(secs(106), &mut hosts, IoResult::Read(&areas.lockspace[..2048]));
        let Step::Io(IoRequest::Write { data, deadline, .. }) = renew.next(secs(107), &mut hosts)
        else {
            panic!()
        };
        assert_eq!(deadline, secs(108), "the write is due by the expiry");
        areas.lockspace[..512].copy_from_slice(&data);
        renew.complete(secs(109), &mut hosts, IoResult::Written);
        let Step::Done(renewal) = renew.next(secs(109), &mut hosts) else { panic!() };
        assert_eq!(renewal.result, Err(DeltaError::Expired));
        assert_eq!(renewal.lease.last_success, secs(100));
    }

    #[test]
    fn our_sector_written_by_another_host_is_lost() {
        let (mut areas, lease, mut hosts) = joined();
        let mut thief = LeaderRecord::decode_prefix(&areas.lockspace);
        thief.owner_generation = 9;
        thief.resource_name = Name::new("thief").unwrap();
        thief.encode_into(&mut areas.lockspace[..512]);
        let (trace, renewal) =
            run(DeltaRenew::new(lease, 4), &mut areas, &mut hosts, secs(102), untouched);
        assert_eq!(trace, ["read ls 0+2048"]);
        assert!(matches!(renewal.result, Err(DeltaError::Lost { generation: 9, .. })));
    }

    #[test]
    fn torn_own_sector_is_detected_not_trusted() {
        cov_mark::check!(torn_own_sector_detected);
        let (mut areas, lease, mut hosts) = joined();
        // A write of ours that failed left its new timestamp but not its
        // checksum (storage that tears inside a sector).
        let hook = |index: usize, request: &IoRequest, areas: &mut Areas| {
            if let (1, IoRequest::Write { data, .. }) = (index, request) {
                areas.lockspace[..160].copy_from_slice(&data[..160]);
                return Fate::Fail(IoFailure::Error);
            }
            Fate::Complete
        };
        let (_, renewal) = run(DeltaRenew::new(lease, 4), &mut areas, &mut hosts, secs(103), hook);
        assert_eq!(renewal.result, Err(DeltaError::Io(IoFailure::Error)));
        let (_, renewal) =
            run(DeltaRenew::new(renewal.lease, 4), &mut areas, &mut hosts, secs(104), untouched);
        assert!(
            matches!(renewal.result, Err(DeltaError::Corrupt { offset: 0, .. })),
            "{:?}",
            renewal.result
        );
    }

    #[test]
    fn a_failed_write_that_landed_is_accepted_as_ours() {
        let (mut areas, lease, mut hosts) = joined();
        let hook = |index: usize, request: &IoRequest, areas: &mut Areas| {
            if let (1, IoRequest::Write { data, .. }) = (index, request) {
                areas.lockspace[..512].copy_from_slice(data);
                return Fate::Fail(IoFailure::Timeout);
            }
            Fate::Complete
        };
        let (_, renewal) = run(DeltaRenew::new(lease, 4), &mut areas, &mut hosts, secs(103), hook);
        assert_eq!(renewal.result, Err(DeltaError::Io(IoFailure::Timeout)));
        assert_eq!(renewal.lease.last_success, secs(100), "a failed write does not renew");
        let (_, renewal) =
            run(DeltaRenew::new(renewal.lease, 4), &mut areas, &mut hosts, secs(104), untouched);
        assert_eq!(renewal.result, Ok(()));
        assert_eq!(renewal.lease.timestamp(), 104);
    }

    #[test]
    fn bitmap_bits_are_written_and_seen() {
        let (mut areas, mut lease, mut hosts) = joined();
        lease.set_bit(2, secs(160));
        let mut other = areas.lockspace[512..1024].to_vec();
        set_host_bit(&mut other, 1, true);
        areas.lockspace[512..1024].copy_from_slice(&other);
        let (_, renewal) =
            run(DeltaRenew::new(lease, 4), &mut areas, &mut hosts, secs(103), untouched);
        assert_eq!(renewal.requested_by, [2]);
        assert!(crate::ondisk::bitmap::host_bit(&areas.lockspace[..512], 2));
        assert!(!crate::ondisk::bitmap::host_bit(&areas.lockspace[..512], 3));
    }

    #[test]
    fn bit_changes_merge_and_never_cut_a_longer_bit_short() {
        use crate::delta::{BitChange, PendingBits};
        use crate::ondisk::bitmap::host_bit;
        let (mut areas, mut lease, mut hosts) = joined();
        let max = lease.lockspace.geometry.max_hosts();
        let mut once = PendingBits::default();
        once.change(BitChange::SetAll(secs(104)), 1, max);
        let mut flood = PendingBits::default();
        for _ in 0..1000 {
            flood.change(BitChange::SetAll(secs(104)), 1, max);
        }
        assert_eq!(flood, once, "a flood of posts takes no more room than one");
        lease.set_bit(2, secs(500)); // a request's bit, held long
        flood.change(BitChange::Clear(3), 1, max);
        flood.apply_to(&mut lease);
        let (_, renewal) =
            run(DeltaRenew::new(lease, 4), &mut areas, &mut hosts, secs(103), untouched);
        let bits = |areas: &Areas| (1..=5).map(|h| host_bit(&areas.lockspace[..512], h)).collect();
        let now: Vec<bool> = bits(&areas);
        assert_eq!(now, [false, true, false, true, true], "all but us, 3 cleared");
        let (_, _) =
            run(DeltaRenew::new(renewal.lease, 4), &mut areas, &mut hosts, secs(105), untouched);
        let later: Vec<bool> = bits(&areas);
        assert_eq!(later, [false, true, false, false, false], "the event's bits end, not 2's");
    }

    /// Host `host_id` (sector `host_id - 1`) posts `event`, to us if `to_us`.
    fn post_from(areas: &mut Areas, host_id: u64, event: Event, to_us: bool) {
        let range = (host_id as usize - 1) * 512..host_id as usize * 512;
        let mut sector = areas.lockspace[range.clone()].to_vec();
        let leader = LeaderRecord {
            owner_id: host_id,
            owner_generation: host_id * 10,
            timestamp: 50,
            resource_name: Name::new("other").unwrap(),
            ..LeaderRecord::decode_prefix(&sector)
        };
        event.written_in(leader).encode_into(&mut sector);
        set_host_bit(&mut sector, 1, to_us);
        areas.lockspace[range].copy_from_slice(&sector);
    }

    #[test]
    fn events_are_written_with_our_sector_and_seen_where_our_bit_is_set() {
        let (mut areas, mut lease, mut hosts) = joined();
        let ours = Event { generation: 4, event: 5, data: 7 };
        lease.set_event(ours);
        lease.set_bit(2, secs(160));
        let to_us = Event { generation: 1, event: 8, data: 9 };
        post_from(&mut areas, 2, to_us, true);
        post_from(&mut areas, 3, Event { generation: 0, event: 1, data: 1 }, false);
        post_from(&mut areas, 4, Event::default(), true);
        let (_, renewal) =
            run(DeltaRenew::new(lease, 4), &mut areas, &mut hosts, secs(103), untouched);
        assert_eq!(renewal.result, Ok(()));
        let received = ReceivedEvent { from_host_id: 2, from_generation: 20, event: to_us };
        assert_eq!(renewal.events, [received], "only an event meant for us, and not empty");
        assert_eq!(renewal.requested_by, [2, 4], "a bit is a request, with or without event");
        let written = LeaderRecord::decode_prefix(&areas.lockspace[..512]);
        assert_eq!(Event::in_leader(&written), ours);
        assert!(crate::ondisk::bitmap::host_bit(&areas.lockspace[..512], 2));

        // The sender did not write again: nothing new to hand over.
        let (_, renewal) =
            run(DeltaRenew::new(renewal.lease, 4), &mut areas, &mut hosts, secs(105), untouched);
        assert_eq!(renewal.events, [], "a sector seen before repeats nothing");
        // It renewed, the event still posted: handed over again.
        let mut sector = areas.lockspace[512..1024].to_vec();
        let leader = LeaderRecord { timestamp: 51, ..LeaderRecord::decode_prefix(&sector) };
        leader.encode_into(&mut sector);
        areas.lockspace[512..1024].copy_from_slice(&sector);
        let (_, renewal) =
            run(DeltaRenew::new(renewal.lease, 4), &mut areas, &mut hosts, secs(107), untouched);
        assert_eq!(renewal.events, [received]);
    }
}
