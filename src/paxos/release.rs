//! Releasing a resource lease, or cleaning up after an acquire that failed.
//!
//! ```text
//! [cleanup: read the leader and our dblock to learn what we hold, if
//!  anything: the leader naming us, our mode block SHARED, or a proposal of
//!  ours not yet withdrawn; nothing → done]
//! [write the LVB (EX)]
//! write our dblock RELEASED (every other field kept, so a ballot in
//!   progress still sees our accepted value) with the mode block cleared
//! read the leader
//! it names us at our lver and we wrote it → write it free
//! someone else wrote it → leave it: our RELEASED dblock frees it
//! ```
//!
//! EX release: 1 read and 2 writes, as sanlock's. A release whose host_id
//! lease has expired does no I/O at all (its caller does not run this): the
//! lease then ends by time, like any dead owner's.

use super::{
    Held, Mode, PaxosError, ResourceRef, Withdrawal, checked_leader, dblock_sector, freed_leader,
    ours_to_free,
};
use crate::clock::MonoTime;
use crate::delta::HostTable;
use crate::ondisk::dblock::{DBLOCK_FLAG_RELEASED, Dblock, ModeBlock};
use crate::ondisk::leader::LeaderRecord;
use crate::ondisk::name::Name;
use crate::step::{Area, IoRequest, IoResult, Machine, Step};
use crate::timeouts::Timeouts;

/// What a release let go of: the mode and lease version it was held at, or
/// `None` if nothing was held.
pub type Released = Option<(Mode, u64)>;

/// Releases a held lease, or whatever a failed acquire may have left.
#[derive(Debug)]
pub struct PaxosRelease {
    resource: ResourceRef,
    host_id: u64,
    generation: u64,
    timeouts: Timeouts,
    /// The mode block written beside our RELEASED dblock.
    keep: ModeBlock,
    /// The name the freed leader takes (see [`Held::rename`]).
    rename: Option<Name>,
    state: State,
}

/// What we are letting go of.
#[derive(Clone, Copy, Debug)]
struct Letting {
    mode: Mode,
    lver: u64,
    block: Dblock,
}

#[derive(Debug)]
enum State {
    Probe,
    Probing,
    WriteLvb { letting: Letting, data: Vec<u8> },
    WritingLvb { letting: Letting },
    Mark { letting: Letting },
    Marking { letting: Letting },
    ReadLeader { letting: Letting },
    ReadingLeader { letting: Letting },
    FreeLeader { letting: Letting, leader: LeaderRecord },
    FreeingLeader { letting: Letting },
    Finished(Result<Released, PaxosError>),
    Done,
}

impl PaxosRelease {
    /// Releases `held`, first writing `lvb` if given (EX only).
    pub fn new(held: Held, timeouts: Timeouts, lvb: Option<Vec<u8>>) -> PaxosRelease {
        let letting = Letting { mode: held.mode, lver: held.lver, block: held.block };
        let sector = held.resource.sector_len();
        let state = match lvb {
            Some(data) if held.mode == Mode::Exclusive && data.len() > sector => {
                State::Finished(Err(PaxosError::LvbTooLarge { len: data.len(), sector }))
            }
            Some(data) if held.mode == Mode::Exclusive => {
                let mut padded = vec![0u8; sector];
                padded[..data.len()].copy_from_slice(&data);
                State::WriteLvb { letting, data: padded }
            }
            _ => State::Mark { letting },
        };
        PaxosRelease {
            resource: held.resource,
            host_id: held.host_id,
            generation: held.generation,
            timeouts,
            keep: ModeBlock::default(),
            rename: held.rename,
            state,
        }
    }

    /// Takes back what a failed acquire left (see
    /// [`super::PaxosAcquire::withdrawal`]), keeping the mode block it
    /// names: a shared lease whose conversion failed stays shared.
    pub fn withdraw(withdrawal: Withdrawal, timeouts: Timeouts) -> PaxosRelease {
        let keep = withdrawal.keep;
        PaxosRelease { keep, ..PaxosRelease::new(withdrawal.held, timeouts, None) }
    }

    /// Learns from the disk what host `host_id` of `generation` holds or
    /// left behind on `resource`, and lets go of it.
    pub fn cleanup(
        resource: ResourceRef,
        host_id: u64,
        generation: u64,
        timeouts: Timeouts,
    ) -> PaxosRelease {
        assert!(host_id >= 1 && host_id <= resource.num_hosts, "host_id {host_id} has a dblock");
        let keep = ModeBlock::default();
        PaxosRelease {
            resource,
            host_id,
            generation,
            timeouts,
            keep,
            rename: None,
            state: State::Probe,
        }
    }

    fn deadline(&self, now: MonoTime) -> MonoTime {
        now + self.timeouts.io_timeout()
    }

    fn sector_write(&self, offset: u64, data: Vec<u8>, now: MonoTime) -> IoRequest {
        IoRequest::Write { area: Area::Resource, offset, data, deadline: self.deadline(now) }
    }

    fn read(&self, len: usize, now: MonoTime) -> IoRequest {
        IoRequest::Read { area: Area::Resource, offset: 0, len, deadline: self.deadline(now) }
    }

    fn check_leader(&self, sector: &[u8]) -> Result<LeaderRecord, PaxosError> {
        checked_leader(sector, &self.resource.lockspace)
    }

    /// What the probe read shows we have to let go of.
    fn decide(&self, area: &[u8]) -> State {
        let leader = match self.check_leader(area) {
            Ok(leader) => leader,
            Err(err) => return State::Finished(Err(err)),
        };
        let offset = self.resource.dblock_offset(self.host_id);
        let at = usize::try_from(offset).expect("fits");
        let sector = &area[at..at + self.resource.sector_len()];
        let block = Dblock::decode_prefix(sector);
        if let Err(problem) = block.verify() {
            return State::Finished(Err(PaxosError::Corrupt { offset, problem }));
        }
        let mode = ModeBlock::decode_from_sector(sector);
        let names_us = leader.timestamp != 0
            && leader.owner_id == self.host_id
            && leader.owner_generation == self.generation;
        let shared = mode.shared() && mode.generation == self.generation;
        let proposal_out = block.inp == self.host_id
            && block.inp2 == self.generation
            && block.lver > leader.lver
            && !block.released();
        let letting = if names_us {
            Letting { mode: Mode::Exclusive, lver: leader.lver, block }
        } else if shared {
            Letting { mode: Mode::Shared, lver: leader.lver, block }
        } else if proposal_out {
            Letting { mode: Mode::Exclusive, lver: block.lver, block }
        } else {
            return State::Finished(Ok(None));
        };
        State::Mark { letting }
    }
}

impl Machine for PaxosRelease {
    type Output = Result<Released, PaxosError>;

    fn next(&mut self, now: MonoTime, _hosts: &mut HostTable) -> Step<Self::Output> {
        let sector_len = self.resource.sector_len();
        let (state, step) = match std::mem::replace(&mut self.state, State::Done) {
            State::Probe => {
                let len = sector_len * (2 + usize::try_from(self.host_id).expect("fits"));
                (State::Probing, Step::Io(self.read(len, now)))
            }
            State::WriteLvb { letting, data } => {
                let offset = self.resource.geometry.lvb_offset();
                (State::WritingLvb { letting }, Step::Io(self.sector_write(offset, data, now)))
            }
            State::Mark { letting } => {
                let block = Dblock { flags: DBLOCK_FLAG_RELEASED, ..letting.block };
                let sector = dblock_sector(&block, &self.keep, sector_len);
                let offset = self.resource.dblock_offset(self.host_id);
                (State::Marking { letting }, Step::Io(self.sector_write(offset, sector, now)))
            }
            State::ReadLeader { letting } => {
                (State::ReadingLeader { letting }, Step::Io(self.read(sector_len, now)))
            }
            State::FreeLeader { letting, leader } => {
                let mut freed = freed_leader(&leader, self.host_id, self.generation, now);
                if let Some(name) = self.rename {
                    freed.resource_name = name;
                }
                let mut data = vec![0u8; sector_len];
                freed.encode_into(&mut data);
                (State::FreeingLeader { letting }, Step::Io(self.sector_write(0, data, now)))
            }
            State::Finished(result) => (State::Done, Step::Done(result)),
            other => unreachable!("next() while waiting for I/O: {other:?}"),
        };
        self.state = state;
        step
    }

    fn complete(&mut self, _now: MonoTime, _hosts: &mut HostTable, result: IoResult<'_>) {
        let state = std::mem::replace(&mut self.state, State::Done);
        self.state = match (state, result) {
            (_, IoResult::Failed(failure)) => State::Finished(Err(PaxosError::Io(failure))),
            (State::Probing, IoResult::Read(area)) => self.decide(area),
            (State::WritingLvb { letting }, IoResult::Written) => State::Mark { letting },
            (State::Marking { letting }, IoResult::Written) => State::ReadLeader { letting },
            (State::ReadingLeader { letting }, IoResult::Read(sector)) => {
                match self.check_leader(sector) {
                    Err(err) => State::Finished(Err(err)),
                    Ok(leader) => {
                        // A leader of another name is no longer our lease:
                        // the area was written afresh since (a rename on an
                        // earlier attempt that landed, then a new resource
                        // there), and whatever it names, even us at our
                        // generation and lver, is not ours to free.
                        let same_lease = leader.resource_name.same_as(&self.resource.name);
                        if same_lease
                            && ours_to_free(&leader, self.host_id, self.generation, letting.lver)
                        {
                            State::FreeLeader { letting, leader }
                        } else {
                            State::Finished(Ok(Some((letting.mode, letting.lver))))
                        }
                    }
                }
            }
            (State::FreeingLeader { letting }, IoResult::Written) => {
                State::Finished(Ok(Some((letting.mode, letting.lver))))
            }
            (state, result) => unreachable!("{result:?} does not answer {state:?}"),
        };
    }
}
