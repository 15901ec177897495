//! Converting a held exclusive lease to shared, with no ballot.
//!
//! ```text
//! write our sector: our dblock as held + mode SHARED
//!   (the disk now says EX and SH, both ours: a failure here, or a write
//!    that lands late, leaves the exclusive lease standing)
//! write our sector: our dblock RELEASED + mode SHARED
//!   (others may now share it; an exclusive acquirer meets our SHARED mode)
//! read the leader
//! it names us at our lver and we wrote it → write it free
//! ```
//!
//! Every step keeps at least the protection the caller is told it has: the
//! first write failing ends in an error with the exclusive lease intact;
//! once it has landed the lease is shared whatever follows, and a later
//! step failing only leaves the disk stricter than shared (others are still
//! refused as by an exclusive owner) until the release.

use super::{Held, Mode, PaxosError, checked_leader, dblock_sector, freed_leader, ours_to_free};
use crate::clock::MonoTime;
use crate::delta::HostTable;
use crate::ondisk::dblock::{DBLOCK_FLAG_RELEASED, MODE_FLAG_SHARED, ModeBlock};
use crate::ondisk::leader::LeaderRecord;
use crate::step::{Area, IoRequest, IoResult, Machine, Step};
use crate::timeouts::Timeouts;

/// Converts `held` (exclusive) to shared.
#[derive(Debug)]
pub struct PaxosShare {
    held: Held,
    timeouts: Timeouts,
    state: State,
}

#[derive(Debug)]
enum State {
    AddShared,
    AddingShared,
    Mark,
    Marking,
    ReadLeader,
    ReadingLeader,
    FreeLeader(LeaderRecord),
    FreeingLeader,
    Finished(Result<Held, PaxosError>),
    Done,
}

impl PaxosShare {
    pub fn new(held: Held, timeouts: Timeouts) -> PaxosShare {
        assert_eq!(held.mode, Mode::Exclusive, "only an exclusive lease is made shared");
        PaxosShare { held, timeouts, state: State::AddShared }
    }

    fn write_own(&self, released: bool, now: MonoTime) -> IoRequest {
        let flags = if released { DBLOCK_FLAG_RELEASED } else { self.held.block.flags };
        let block = crate::ondisk::dblock::Dblock { flags, ..self.held.block };
        let mode = ModeBlock { flags: MODE_FLAG_SHARED, generation: self.held.generation };
        let resource = &self.held.resource;
        IoRequest::Write {
            area: Area::Resource,
            offset: resource.dblock_offset(self.held.host_id),
            data: dblock_sector(&block, &mode, resource.sector_len()),
            deadline: now + self.timeouts.io_timeout(),
        }
    }

    /// The lease as it stands once the SHARED mode block is on disk.
    fn shared(&self, released: bool) -> Held {
        let mut held = Held { mode: Mode::Shared, ..self.held.clone() };
        if released {
            held.block.flags = DBLOCK_FLAG_RELEASED;
        }
        held
    }
}

impl Machine for PaxosShare {
    type Output = Result<Held, PaxosError>;

    fn next(&mut self, now: MonoTime, _hosts: &mut HostTable) -> Step<Self::Output> {
        let sector_len = self.held.resource.sector_len();
        let deadline = now + self.timeouts.io_timeout();
        let (state, step) = match std::mem::replace(&mut self.state, State::Done) {
            State::AddShared => (State::AddingShared, Step::Io(self.write_own(false, now))),
            State::Mark => (State::Marking, Step::Io(self.write_own(true, now))),
            State::ReadLeader => {
                let read =
                    IoRequest::Read { area: Area::Resource, offset: 0, len: sector_len, deadline };
                (State::ReadingLeader, Step::Io(read))
            }
            State::FreeLeader(leader) => {
                let held = &self.held;
                let freed = freed_leader(&leader, held.host_id, held.generation, now);
                let mut data = vec![0u8; sector_len];
                freed.encode_into(&mut data);
                let write = IoRequest::Write { area: Area::Resource, offset: 0, data, deadline };
                (State::FreeingLeader, Step::Io(write))
            }
            State::Finished(result) => (State::Done, Step::Done(result)),
            other => unreachable!("next() while waiting for I/O: {other:?}"),
        };
        self.state = state;
        step
    }

    fn complete(&mut self, _now: MonoTime, _hosts: &mut HostTable, result: IoResult<'_>) {
        let held = &self.held;
        let state = std::mem::replace(&mut self.state, State::Done);
        self.state = match (state, result) {
            (State::AddingShared, IoResult::Written) => State::Mark,
            (State::AddingShared, IoResult::Failed(failure)) => {
                State::Finished(Err(PaxosError::Io(failure)))
            }
            (State::Marking, IoResult::Written) => State::ReadLeader,
            // Still exclusive on disk as well: stricter than shared.
            (State::Marking, IoResult::Failed(_)) => State::Finished(Ok(self.shared(false))),
            (State::ReadingLeader, IoResult::Read(sector)) => {
                match checked_leader(sector, &self.held.resource.lockspace) {
                    Ok(leader)
                        if ours_to_free(&leader, held.host_id, held.generation, held.lver) =>
                    {
                        State::FreeLeader(leader)
                    }
                    // Someone else wrote it (our RELEASED dblock frees it),
                    // or it cannot be read: shared all the same.
                    _ => State::Finished(Ok(self.shared(true))),
                }
            }
            (State::ReadingLeader | State::FreeingLeader, _) => {
                State::Finished(Ok(self.shared(true)))
            }
            (state, result) => unreachable!("{result:?} does not answer {state:?}"),
        };
    }
}
