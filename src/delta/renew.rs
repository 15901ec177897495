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
use super::{DeltaError, HostTable};
use crate::clock::MonoTime;
use crate::ondisk::bitmap::host_bit;
use crate::ondisk::leader::{LeaderKind, LeaderRecord};
use crate::step::{Area, IoFailure, IoRequest, IoResult, Machine, Step};

/// Renews `lease` once.
#[derive(Debug)]
pub struct DeltaRenew {
    lease: Option<HostLease>,
    read_sectors: u64,
    state: State,
    requested_by: Vec<u64>,
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
        let space = lease.lockspace.name;
        for (index, sector) in area.chunks_exact(sector_len).enumerate() {
            let host_id = index as u64 + 1;
            let leader = LeaderRecord::decode_prefix(sector);
            if host_id == ours {
                if lease.is_ours(sector) {
                    continue;
                }
                let offset = lease.offset();
                leader.verify_in(LeaderKind::Delta, &space).map_err(|problem| {
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
            if leader.verify_in(LeaderKind::Delta, &space).is_ok() {
                hosts.observe(host_id, &leader, started, now);
                if leader.timestamp != 0 && host_bit(sector, ours) {
                    self.requested_by.push(host_id);
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
