//! Releasing a held resource lease.
//!
//! ```text
//! SH: write our sector with the mode block cleared                 1 write
//! EX: [write the LVB]
//!     write our dblock RELEASED (every other field kept, so a ballot
//!       in progress still sees our accepted value)
//!     read the leader
//!     it names us at our lver and we wrote it → write it free        1 read + 2 writes
//!     someone else wrote it → leave it: our RELEASED dblock frees it
//! ```
//!
//! A release whose host_id lease has expired does no I/O at all (its caller
//! does not run this): the lease then ends by time, like any dead owner's.

use super::{Held, Mode, PaxosError, dblock_sector};
use crate::clock::MonoTime;
use crate::delta::HostTable;
use crate::ondisk::dblock::{DBLOCK_FLAG_RELEASED, Dblock, ModeBlock};
use crate::ondisk::leader::{LEADER_FLAG_SHORT_HOLD, LeaderKind, LeaderRecord};
use crate::step::{Area, IoRequest, IoResult, Machine, Step};
use crate::timeouts::Timeouts;

/// Releases `held`, first writing `lvb` if given (EX only).
#[derive(Debug)]
pub struct PaxosRelease {
    held: Held,
    timeouts: Timeouts,
    state: State,
}

#[derive(Debug)]
enum State {
    WriteLvb(Vec<u8>),
    WritingLvb,
    MarkReleased,
    Marking,
    ReadLeader,
    ReadingLeader,
    FreeLeader(LeaderRecord),
    FreeingLeader,
    Finished(Result<(), PaxosError>),
    Done,
}

impl PaxosRelease {
    pub fn new(held: Held, timeouts: Timeouts, lvb: Option<Vec<u8>>) -> PaxosRelease {
        let state = match lvb {
            Some(data) if held.mode == Mode::Exclusive => {
                let sector = held.resource.sector_len();
                if data.len() > sector {
                    State::Finished(Err(PaxosError::LvbTooLarge { len: data.len(), sector }))
                } else {
                    let mut padded = vec![0u8; sector];
                    padded[..data.len()].copy_from_slice(&data);
                    State::WriteLvb(padded)
                }
            }
            _ => State::MarkReleased,
        };
        PaxosRelease { held, timeouts, state }
    }

    fn deadline(&self, now: MonoTime) -> MonoTime {
        now + self.timeouts.io_timeout()
    }

    fn sector_write(&self, offset: u64, data: Vec<u8>, now: MonoTime) -> IoRequest {
        IoRequest::Write { area: Area::Resource, offset, data, deadline: self.deadline(now) }
    }
}

impl Machine for PaxosRelease {
    type Output = Result<(), PaxosError>;

    fn next(&mut self, now: MonoTime, _hosts: &mut HostTable) -> Step<Self::Output> {
        let held = &self.held;
        let (state, step) = match std::mem::replace(&mut self.state, State::Done) {
            State::WriteLvb(data) => {
                let offset = held.resource.geometry.lvb_offset();
                (State::WritingLvb, Step::Io(self.sector_write(offset, data, now)))
            }
            State::MarkReleased => {
                // SH: the dblock already says RELEASED; only the mode goes.
                let block = Dblock { flags: DBLOCK_FLAG_RELEASED, ..held.block };
                let sector =
                    dblock_sector(&block, &ModeBlock::default(), held.resource.sector_len());
                let offset = held.resource.dblock_offset(held.host_id);
                (State::Marking, Step::Io(self.sector_write(offset, sector, now)))
            }
            State::ReadLeader => {
                let request = IoRequest::Read {
                    area: Area::Resource,
                    offset: 0,
                    len: held.resource.sector_len(),
                    deadline: self.deadline(now),
                };
                (State::ReadingLeader, Step::Io(request))
            }
            State::FreeLeader(leader) => {
                let freed = LeaderRecord {
                    timestamp: 0,
                    flags: leader.flags & !LEADER_FLAG_SHORT_HOLD,
                    write_id: held.host_id,
                    write_generation: held.generation,
                    write_timestamp: now.as_secs().max(1),
                    ..leader
                };
                let mut data = vec![0u8; held.resource.sector_len()];
                freed.encode_into(&mut data);
                (State::FreeingLeader, Step::Io(self.sector_write(0, data, now)))
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
            (_, IoResult::Failed(failure)) => State::Finished(Err(PaxosError::Io(failure))),
            (State::WritingLvb, IoResult::Written) => State::MarkReleased,
            (State::Marking, IoResult::Written) if held.mode == Mode::Shared => {
                State::Finished(Ok(()))
            }
            (State::Marking, IoResult::Written) => State::ReadLeader,
            (State::ReadingLeader, IoResult::Read(sector)) => {
                let leader = LeaderRecord::decode_prefix(sector);
                match leader.verify_in(LeaderKind::Paxos, &held.resource.lockspace) {
                    Err(problem) => {
                        State::Finished(Err(PaxosError::Corrupt { offset: 0, problem }))
                    }
                    Ok(_) => {
                        let names_us = leader.owner_id == held.host_id
                            && leader.owner_generation == held.generation
                            && leader.lver == held.lver
                            && leader.timestamp != 0;
                        let we_wrote_it = leader.write_id == held.host_id;
                        if names_us && we_wrote_it {
                            State::FreeLeader(leader)
                        } else {
                            State::Finished(Ok(()))
                        }
                    }
                }
            }
            (State::FreeingLeader, IoResult::Written) => State::Finished(Ok(())),
            (state, result) => unreachable!("{result:?} does not answer {state:?}"),
        };
    }
}
