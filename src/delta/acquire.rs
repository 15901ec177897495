//! Joining a lockspace: taking a host_id.
//!
//! ```text
//! read our sector ──┬─ free (timestamp 0) ─────────────────────────┐
//!                   ├─ our own name, fast reacquire allowed ───────┤
//!                   └─ someone else's: wait until that holder is   │
//!                      dead (its host_dead, from when we read it), │
//!                      re-read: unchanged or free ─────────────────┤
//!                      changed: BUSY                               │
//!  write: owner = us, generation + 1, our name, timestamp now  <───┘
//!  wait 2N, re-read: exactly what we wrote → joined; else BUSY
//! ```
//!
//! The re-read after 2N catches another host that took the same host_id at
//! the same moment: of two racing writers only the last one reads back its
//! own sector.

use super::lease::{HostLease, LockspaceRef};
use super::{DeltaError, HostTable};
use crate::clock::MonoTime;
use crate::ondisk::RecordProblem;
use crate::ondisk::leader::LeaderRecord;
use crate::ondisk::name::Name;
use crate::step::{Area, IoRequest, IoResult, Machine, Step};
use crate::timeouts::Timeouts;

/// How to join.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinOptions {
    /// When a sector that carries our own host name is taken at once.
    pub reacquire: Reacquire,
}

/// When a host_id whose sector carries our own host name may be taken back
/// at once, without waiting for its last writer to be dead. Others read a
/// new generation as "the owner restarted" and take the leases of the old
/// one at once: that is safe only when nothing that held leases under the
/// old generation can still run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reacquire {
    /// Never: the last writer is waited out like any holder.
    Wait,
    /// When the sector shows this generation: the one this host last held,
    /// whose holders are known to be gone (the host was reset since). A
    /// sector under our name at another generation was written by another
    /// machine given our name, or by a join of ours that failed, landing
    /// late, after another machine took the host_id: its holders may run.
    Generation(u64),
    /// Whatever its generation: the operator vouches that nothing runs
    /// under our name.
    Any,
}

/// Takes host_id `host_id` in a lockspace.
#[derive(Debug)]
pub struct DeltaAcquire {
    lockspace: LockspaceRef,
    host_id: u64,
    name: Name,
    timeouts: Timeouts,
    options: JoinOptions,
    state: State,
}

#[derive(Debug)]
enum State {
    Read,
    Reading {
        started: MonoTime,
    },
    /// A previous holder must be dead before the sector is taken.
    AwaitDead {
        seen: Vec<u8>,
        until: MonoTime,
    },
    Rereading {
        seen: Vec<u8>,
    },
    Write {
        previous: Vec<u8>,
    },
    Writing {
        sector: Vec<u8>,
        issued: MonoTime,
    },
    Settle {
        sector: Vec<u8>,
        issued: MonoTime,
        until: MonoTime,
    },
    Verifying {
        sector: Vec<u8>,
        issued: MonoTime,
    },
    /// Boxed: a lease is large beside the other states.
    Finished(Box<Result<HostLease, DeltaError>>),
    Done,
}

impl State {
    fn finished(result: Result<HostLease, DeltaError>) -> State {
        State::Finished(Box::new(result))
    }
}

impl DeltaAcquire {
    /// Joins `lockspace` as `host_id` under host name `name`, with our
    /// io_timeout and fire timeout in `timeouts`.
    pub fn new(
        lockspace: LockspaceRef,
        host_id: u64,
        name: Name,
        timeouts: Timeouts,
        options: JoinOptions,
    ) -> DeltaAcquire {
        assert!(host_id >= 1 && host_id <= lockspace.geometry.max_hosts(), "host_id {host_id}");
        assert!(!name.is_empty(), "a host name is required");
        DeltaAcquire { lockspace, host_id, name, timeouts, options, state: State::Read }
    }

    fn offset(&self) -> u64 {
        self.lockspace.host_offset(self.host_id)
    }

    fn read(&self, now: MonoTime) -> IoRequest {
        IoRequest::Read {
            area: Area::Lockspace,
            offset: self.offset(),
            len: self.lockspace.sector_len(),
            deadline: now + self.timeouts.io_timeout(),
        }
    }

    /// Decodes and checks our sector as read, including that its generation
    /// can still advance, so that [`DeltaAcquire::claim`] can build on it.
    fn check(&self, sector: &[u8]) -> Result<LeaderRecord, DeltaError> {
        let leader = LeaderRecord::decode_prefix(sector);
        self.lockspace
            .verify(&leader)
            .and_then(|()| RecordProblem::next("owner_generation", leader.owner_generation))
            .map_err(|problem| DeltaError::Corrupt { offset: self.offset(), problem })?;
        Ok(leader)
    }

    /// Our claim on the sector, built on what is there now.
    fn claim(&self, previous: &[u8], now: MonoTime) -> Vec<u8> {
        let old = LeaderRecord::decode_prefix(previous);
        let io_timeout_s = u16::try_from(self.timeouts.io_timeout().as_secs().max(1))
            .expect("io_timeout fits the on-disk field");
        let leader = LeaderRecord {
            owner_id: self.host_id,
            owner_generation: old.owner_generation + 1,
            resource_name: self.name,
            timestamp: now.as_secs().max(1),
            io_timeout: io_timeout_s,
            write_id: 0,
            write_generation: 0,
            write_timestamp: 0,
            ..old
        };
        let mut sector = vec![0u8; self.lockspace.sector_len()];
        leader.encode_into(&mut sector);
        sector
    }

    /// What to do with the sector as first read.
    fn decide(&self, leader: &LeaderRecord, sector: Vec<u8>, read_at: MonoTime) -> State {
        let ours = leader.resource_name.same_as(&self.name);
        let at_once = ours
            && match self.options.reacquire {
                Reacquire::Wait => false,
                Reacquire::Generation(generation) => leader.owner_generation == generation,
                Reacquire::Any => true,
            };
        if leader.timestamp == 0 || at_once {
            return State::Write { previous: sector };
        }
        // Judge the previous holder by its own io_timeout, from the moment
        // we saw its sector: sanlock's max(host_dead, 8N).
        let holder = self.timeouts.for_peer(leader.io_timeout_s());
        State::AwaitDead { seen: sector, until: read_at + holder.delta_takeover_wait() }
    }
}

impl Machine for DeltaAcquire {
    type Output = Result<HostLease, DeltaError>;

    fn next(&mut self, now: MonoTime, _hosts: &mut HostTable) -> Step<Self::Output> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Read => {
                self.state = State::Reading { started: now };
                Step::Io(self.read(now))
            }
            State::AwaitDead { seen, until } if now < until => {
                self.state = State::AwaitDead { seen, until };
                Step::Wait(until)
            }
            State::AwaitDead { seen, .. } => {
                let request = self.read(now);
                self.state = State::Rereading { seen };
                Step::Io(request)
            }
            State::Write { previous } => {
                let sector = self.claim(&previous, now);
                let request = IoRequest::Write {
                    area: Area::Lockspace,
                    offset: self.offset(),
                    data: sector.clone(),
                    deadline: now + self.timeouts.io_timeout(),
                };
                self.state = State::Writing { sector, issued: now };
                Step::Io(request)
            }
            State::Settle { sector, issued, until } if now < until => {
                self.state = State::Settle { sector, issued, until };
                Step::Wait(until)
            }
            State::Settle { sector, issued, .. } => {
                let request = self.read(now);
                self.state = State::Verifying { sector, issued };
                Step::Io(request)
            }
            State::Finished(result) => Step::Done(*result),
            other => unreachable!("next() while waiting for I/O: {other:?}"),
        }
    }

    fn complete(&mut self, now: MonoTime, _hosts: &mut HostTable, result: IoResult<'_>) {
        let state = std::mem::replace(&mut self.state, State::Done);
        self.state = match (state, result) {
            (_, IoResult::Failed(failure)) => State::finished(Err(DeltaError::Io(failure))),
            (State::Reading { started }, IoResult::Read(sector)) => match self.check(sector) {
                Ok(leader) => self.decide(&leader, sector.to_vec(), started.max(now)),
                Err(err) => State::finished(Err(err)),
            },
            (State::Rereading { seen }, IoResult::Read(sector)) => match self.check(sector) {
                Ok(leader) if sector == seen.as_slice() || leader.timestamp == 0 => {
                    State::Write { previous: sector.to_vec() }
                }
                Ok(leader) => State::finished(Err(DeltaError::Busy {
                    owner_name: leader.resource_name,
                    generation: leader.owner_generation,
                })),
                Err(err) => State::finished(Err(err)),
            },
            (State::Writing { sector, issued }, IoResult::Written) => {
                let until = now.max(issued) + self.timeouts.delta_short_delay();
                State::Settle { sector, issued, until }
            }
            (State::Verifying { sector, issued }, IoResult::Read(read)) => {
                if read == sector.as_slice() {
                    State::finished(Ok(HostLease::new(
                        self.lockspace,
                        self.host_id,
                        self.timeouts,
                        sector,
                        issued,
                    )))
                } else {
                    match self.check(read) {
                        Ok(leader) => State::finished(Err(DeltaError::Busy {
                            owner_name: leader.resource_name,
                            generation: leader.owner_generation,
                        })),
                        Err(err) => State::finished(Err(err)),
                    }
                }
            }
            (state, result) => unreachable!("{result:?} does not answer {state:?}"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fresh_lockspace;
    use std::time::Duration;

    const N: u8 = 1;

    fn setup() -> (LockspaceRef, Vec<u8>, Timeouts) {
        let (lockspace, area) = fresh_lockspace(N);
        (lockspace, area, Timeouts::new(N, Duration::from_secs(10)))
    }

    fn secs(s: u64) -> MonoTime {
        MonoTime::from_secs(s)
    }

    fn sector(area: &[u8], host_id: u64) -> Vec<u8> {
        let off = (host_id as usize - 1) * 512;
        area[off..off + 512].to_vec()
    }

    /// Runs the machine against an in-memory area with instant I/O,
    /// recording every step.
    fn run(
        machine: &mut DeltaAcquire,
        area: &mut [u8],
        start: MonoTime,
    ) -> (Vec<String>, Result<HostLease, DeltaError>) {
        let mut hosts = HostTable::new(setup().2);
        let mut now = start;
        let mut trace = Vec::new();
        loop {
            match machine.next(now, &mut hosts) {
                Step::Io(IoRequest::Read { offset, len, .. }) => {
                    trace.push(format!("read {offset}+{len} at {}", now.as_secs()));
                    let data = area[offset as usize..offset as usize + len].to_vec();
                    machine.complete(now, &mut hosts, IoResult::Read(&data));
                }
                Step::Io(IoRequest::Write { offset, data, .. }) => {
                    trace.push(format!("write {offset}+{} at {}", data.len(), now.as_secs()));
                    area[offset as usize..offset as usize + data.len()].copy_from_slice(&data);
                    machine.complete(now, &mut hosts, IoResult::Written);
                }
                Step::Wait(until) => {
                    trace.push(format!("wait until {}", until.as_secs()));
                    now = until;
                }
                Step::Done(result) => return (trace, result),
            }
        }
    }

    #[test]
    fn free_host_id_is_written_then_verified_after_2n() {
        let (ls, mut area, timeouts) = setup();
        let name = Name::new("host-a").unwrap();
        let mut join =
            DeltaAcquire::new(ls, 3, name, timeouts, JoinOptions { reacquire: Reacquire::Wait });
        let (trace, result) = run(&mut join, &mut area, secs(100));
        assert_eq!(
            trace,
            [
                "read 1024+512 at 100",
                "write 1024+512 at 100",
                "wait until 102",
                "read 1024+512 at 102"
            ]
        );
        let lease = result.unwrap();
        assert_eq!((lease.host_id, lease.generation, lease.last_success), (3, 1, secs(100)));
        assert_eq!(lease.expiry(), secs(108));
        let on_disk = LeaderRecord::decode_prefix(&sector(&area, 3));
        assert_eq!((on_disk.owner_id, on_disk.timestamp, on_disk.io_timeout), (3, 100, 1));
        assert!(on_disk.resource_name.same_as(&name));
    }

    /// "host-a" taking `host_id`.
    fn host_a_joining(
        ls: LockspaceRef,
        host_id: u64,
        timeouts: Timeouts,
        reacquire: Reacquire,
    ) -> DeltaAcquire {
        let name = Name::new("host-a").unwrap();
        DeltaAcquire::new(ls, host_id, name, timeouts, JoinOptions { reacquire })
    }

    fn held_by(area: &mut [u8], host_id: u64, name: &str, generation: u64) {
        let off = (host_id as usize - 1) * 512;
        let mut leader = LeaderRecord::decode_prefix(&area[off..]);
        leader.owner_id = host_id;
        leader.owner_generation = generation;
        leader.timestamp = 50;
        leader.resource_name = Name::new(name).unwrap();
        leader.encode_into(&mut area[off..off + 512]);
    }

    #[test]
    fn own_name_is_taken_back_at_once_when_allowed() {
        for reacquire in [Reacquire::Generation(4), Reacquire::Any] {
            let (ls, mut area, timeouts) = setup();
            held_by(&mut area, 2, "host-a", 4);
            let mut join = host_a_joining(ls, 2, timeouts, reacquire);
            let (trace, result) = run(&mut join, &mut area, secs(100));
            assert_eq!(trace.len(), 4, "{reacquire:?}: {trace:?}");
            assert_eq!(result.unwrap().generation, 5);
        }
    }

    #[test]
    fn own_name_at_a_generation_we_did_not_hold_is_waited_out() {
        // Generation 5 under our name was written by a join of ours that
        // failed but landed late, or by a clone given our name: whoever
        // held the host_id under it may still run.
        let (ls, mut area, timeouts) = setup();
        held_by(&mut area, 2, "host-a", 5);
        let mut join = host_a_joining(ls, 2, timeouts, Reacquire::Generation(4));
        let (trace, result) = run(&mut join, &mut area, secs(100));
        assert_eq!(trace[1], "wait until 118", "{trace:?}");
        assert_eq!(result.unwrap().generation, 6);
    }

    #[test]
    fn another_holder_is_waited_out() {
        let (ls, mut area, timeouts) = setup();
        held_by(&mut area, 2, "host-b", 4);
        let name = Name::new("host-a").unwrap();
        // Without fast reacquire even our own name waits; here the name
        // differs anyway. host_dead = 8N + F = 18 s.
        let mut join =
            DeltaAcquire::new(ls, 2, name, timeouts, JoinOptions { reacquire: Reacquire::Any });
        let (trace, result) = run(&mut join, &mut area, secs(100));
        assert_eq!(
            trace,
            [
                "read 512+512 at 100",
                "wait until 118",
                "read 512+512 at 118",
                "write 512+512 at 118",
                "wait until 120",
                "read 512+512 at 120"
            ]
        );
        assert_eq!(result.unwrap().generation, 5);
    }

    #[test]
    fn a_holder_that_renews_meanwhile_keeps_its_host_id() {
        let (ls, mut area, timeouts) = setup();
        held_by(&mut area, 2, "host-b", 4);
        let mut join = host_a_joining(ls, 2, timeouts, Reacquire::Wait);
        let mut hosts = HostTable::new(timeouts);
        let Step::Io(IoRequest::Read { .. }) = join.next(secs(100), &mut hosts) else { panic!() };
        join.complete(secs(100), &mut hosts, IoResult::Read(&sector(&area, 2)));
        assert_eq!(join.next(secs(100), &mut hosts), Step::Wait(secs(118)));
        let mut renewed = LeaderRecord::decode_prefix(&sector(&area, 2));
        renewed.timestamp = 70;
        renewed.encode_into(&mut area[512..1024]);
        let Step::Io(IoRequest::Read { .. }) = join.next(secs(118), &mut hosts) else { panic!() };
        join.complete(secs(118), &mut hosts, IoResult::Read(&sector(&area, 2)));
        match join.next(secs(118), &mut hosts) {
            Step::Done(Err(DeltaError::Busy { generation: 4, .. })) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_racing_writer_makes_the_verify_fail() {
        let (ls, mut area, timeouts) = setup();
        let mut join = host_a_joining(ls, 1, timeouts, Reacquire::Wait);
        let mut hosts = HostTable::new(timeouts);
        let Step::Io(IoRequest::Read { .. }) = join.next(secs(10), &mut hosts) else { panic!() };
        join.complete(secs(10), &mut hosts, IoResult::Read(&sector(&area, 1)));
        let Step::Io(IoRequest::Write { data, .. }) = join.next(secs(10), &mut hosts) else {
            panic!()
        };
        area[..512].copy_from_slice(&data);
        join.complete(secs(10), &mut hosts, IoResult::Written);
        held_by(&mut area, 1, "host-z", 1);
        assert_eq!(join.next(secs(10), &mut hosts), Step::Wait(secs(12)));
        let Step::Io(IoRequest::Read { .. }) = join.next(secs(12), &mut hosts) else { panic!() };
        join.complete(secs(12), &mut hosts, IoResult::Read(&sector(&area, 1)));
        assert!(matches!(
            join.next(secs(12), &mut hosts),
            Step::Done(Err(DeltaError::Busy { .. }))
        ));
    }

    #[test]
    fn corrupt_sector_is_an_error_not_a_takeover() {
        let (ls, mut area, timeouts) = setup();
        area[600] ^= 0xff; // inside host 2's space name
        let mut join = host_a_joining(ls, 2, timeouts, Reacquire::Any);
        let (trace, result) = run(&mut join, &mut area, secs(100));
        assert_eq!(trace.len(), 1);
        assert!(matches!(result, Err(DeltaError::Corrupt { offset: 512, .. })), "{result:?}");
    }
}
