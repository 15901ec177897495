//! Asking a resource's owner to give it up, and noticing such a request.
//!
//! The requester writes the request record (sector 1) with the lease
//! version it wants to acquire and how to ask: FORCE (kill the holder) or
//! GRACEFUL (ask it to stop). It then sets the owner's bit in its own delta
//! lease bitmap; the owner sees the bit at its next renewal, examines the
//! resources it holds, and acts on any request above the lver it holds.

use super::{PaxosError, ResourceRef};
use crate::clock::MonoTime;
use crate::delta::HostTable;
use crate::ondisk::RecordProblem;
use crate::ondisk::leader::{LeaderKind, LeaderRecord};
use crate::ondisk::request::{ForceMode, REQUEST_BYTES, RequestRecord};
use crate::step::{Area, IoRequest, IoResult, Machine, Step};
use crate::timeouts::Timeouts;

/// Writes a request against `resource`: mode `None` clears a pending
/// request; otherwise `lver` (one above the current lease version if not
/// given) must be above the current lease version and not below a pending
/// request's. Yields the owner to signal, if the resource is owned.
#[derive(Debug)]
pub struct PaxosRequest {
    resource: ResourceRef,
    lver: Option<u64>,
    mode: ForceMode,
    timeouts: Timeouts,
    state: State,
}

#[derive(Debug)]
enum State {
    Read,
    Reading,
    Write { sector: Vec<u8>, owner: Option<u64> },
    Writing { owner: Option<u64> },
    Finished(Result<Option<u64>, PaxosError>),
    Done,
}

impl PaxosRequest {
    pub fn new(
        resource: ResourceRef,
        lver: Option<u64>,
        mode: ForceMode,
        timeouts: Timeouts,
    ) -> PaxosRequest {
        PaxosRequest { resource, lver, mode, timeouts, state: State::Read }
    }

    fn check(&self, area: &[u8]) -> Result<(Vec<u8>, Option<u64>), PaxosError> {
        let sector = self.resource.sector_len();
        let leader = LeaderRecord::decode_prefix(area);
        leader
            .verify_in(LeaderKind::Paxos, &self.resource.lockspace)
            .map_err(|problem| PaxosError::Corrupt { offset: 0, problem })?;
        let request_at = sector;
        let pending = RequestRecord::decode_prefix(&area[request_at..]);
        pending
            .verify()
            .map_err(|problem| PaxosError::Corrupt { offset: request_at as u64, problem })?;
        let clearing = self.mode == ForceMode::None;
        let lver = match self.lver {
            _ if clearing => 0,
            Some(lver) => lver,
            None => RecordProblem::next("lver", leader.lver)
                .map_err(|problem| PaxosError::Corrupt { offset: 0, problem })?,
        };
        if !clearing {
            if lver <= leader.lver {
                return Err(PaxosError::RequestLverTooLow { lver, current: leader.lver });
            }
            if lver < pending.lver {
                return Err(PaxosError::RequestOlder { lver, pending: pending.lver });
            }
        }
        let record = RequestRecord { lver, force_mode: self.mode.to_disk(), ..pending };
        let mut data = area[request_at..request_at + sector].to_vec();
        data[..REQUEST_BYTES].copy_from_slice(&record.encode());
        let owner = (leader.timestamp != 0 && !clearing).then_some(leader.owner_id);
        Ok((data, owner))
    }
}

impl Machine for PaxosRequest {
    type Output = Result<Option<u64>, PaxosError>;

    fn next(&mut self, now: MonoTime, _hosts: &mut HostTable) -> Step<Self::Output> {
        let deadline = now + self.timeouts.io_timeout();
        let (state, step) = match std::mem::replace(&mut self.state, State::Done) {
            State::Read => {
                let len = 2 * self.resource.sector_len();
                let request = IoRequest::Read { area: Area::Resource, offset: 0, len, deadline };
                (State::Reading, Step::Io(request))
            }
            State::Write { sector, owner } => {
                let offset = self.resource.sector_len() as u64;
                let request =
                    IoRequest::Write { area: Area::Resource, offset, data: sector, deadline };
                (State::Writing { owner }, Step::Io(request))
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
            (State::Reading, IoResult::Read(area)) => match self.check(area) {
                Ok((sector, owner)) => State::Write { sector, owner },
                Err(err) => State::Finished(Err(err)),
            },
            (State::Writing { owner }, IoResult::Written) => State::Finished(Ok(owner)),
            (state, result) => unreachable!("{result:?} does not answer {state:?}"),
        };
    }
}

/// Reads the request record of a resource held at `held_lver` and says how
/// the holder is asked to give it up, if it is.
#[derive(Debug)]
pub struct PaxosExamine {
    resource: ResourceRef,
    held_lver: u64,
    timeouts: Timeouts,
    state: Option<Result<Option<ForceMode>, PaxosError>>,
    asked: bool,
}

impl PaxosExamine {
    pub fn new(resource: ResourceRef, held_lver: u64, timeouts: Timeouts) -> PaxosExamine {
        PaxosExamine { resource, held_lver, timeouts, state: None, asked: false }
    }
}

impl Machine for PaxosExamine {
    type Output = Result<Option<ForceMode>, PaxosError>;

    fn next(&mut self, now: MonoTime, _hosts: &mut HostTable) -> Step<Self::Output> {
        if let Some(result) = self.state.take() {
            return Step::Done(result);
        }
        assert!(!self.asked, "next() while waiting for I/O");
        self.asked = true;
        Step::Io(IoRequest::Read {
            area: Area::Resource,
            offset: self.resource.sector_len() as u64,
            len: self.resource.sector_len(),
            deadline: now + self.timeouts.io_timeout(),
        })
    }

    fn complete(&mut self, _now: MonoTime, _hosts: &mut HostTable, result: IoResult<'_>) {
        self.state = Some(match result {
            IoResult::Read(sector) => {
                let record = RequestRecord::decode_prefix(sector);
                match record.verify() {
                    Err(problem) => Err(PaxosError::Corrupt {
                        offset: self.resource.sector_len() as u64,
                        problem,
                    }),
                    Ok(mode) if mode != ForceMode::None && record.lver > self.held_lver => {
                        Ok(Some(mode))
                    }
                    Ok(_) => Ok(None),
                }
            }
            IoResult::Failed(failure) => Err(PaxosError::Io(failure)),
            IoResult::Written => unreachable!("a read completes with data"),
        });
    }
}
