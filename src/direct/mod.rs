//! Direct mode: lease areas on disk with no daemon, for tools, tests and
//! hooks. `init` writes areas; `dump` and `read_leader` only read.
//!
//! Every function here takes the [`Disk`] and [`Clock`] it works on, so the
//! same code runs on an O_DIRECT file and on a simulated disk. Every error
//! names the path and the offset it concerns.

mod dump;
mod init;
mod leases;
mod read_leader;

use std::path::PathBuf;
use std::time::Duration;

pub use dump::{DumpArea, DumpDblock, DumpHost, DumpReport, DumpRequest, dump};
pub use init::{DEFAULT_NUM_HOSTS, InitOptions, clear_resource, init_lockspace, init_resource};
pub use leases::{
    HostIdReport, HostSpec, ResourceReport, ResourceSpec, acquire, acquire_id, release, release_id,
    renew_id,
};
pub use read_leader::{LeaderReport, probe_area, read_lockspace_leader, read_resource_leader};

use crate::clock::{Clock, MonoTime};
use crate::delta::DeltaError;
use crate::disk::{AlignedBuf, Disk, DiskError};
use crate::ondisk::RecordProblem;
use crate::ondisk::geometry::AlignSize;
use crate::paxos::PaxosError;
use crate::timeouts::TimeoutsError;

/// Deadline for the reads of direct commands.
pub const DIRECT_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline for the large writes of `init`, as sanlock allows them.
pub const INIT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes read to find a leader: one 4096-byte sector holds it whatever the
/// area's sector size.
const PROBE_BYTES: usize = 4096;

/// How a direct-mode failure should be reported to an operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request itself is invalid.
    Usage,
    /// The request is valid but refused (e.g. the area is in use).
    Refused,
    /// What is on disk is not what it should be.
    Data,
    /// The device failed or could not be used.
    Io,
    /// A timeout: trying again may succeed.
    Retryable,
}

/// A direct-mode failure.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error("{path}: offset {offset}: {what}: {problem}", path = path.display())]
    Corrupt { path: PathBuf, offset: u64, what: String, problem: RecordProblem },
    #[error("{path}: offset {offset}: {detail}", path = path.display())]
    NotLeaseArea { path: PathBuf, offset: u64, detail: String },
    #[error(
        "{path}: the {area_bytes}-byte area at offset {offset} runs past the end of the \
         file or device ({size} bytes)", path = path.display()
    )]
    AreaPastEnd { path: PathBuf, offset: u64, area_bytes: u64, size: u64 },
    #[error("{path}: offset {offset} is not a multiple of the {align} align size", path = path.display())]
    Unaligned { path: PathBuf, offset: u64, align: AlignSize },
    #[error("{path}: offset {offset}: already holds {found}; pass --force to overwrite", path = path.display())]
    InUse { path: PathBuf, offset: u64, found: String },
    #[error(
        "{path}: lockspace '{lockspace}' at offset {offset}: host_id {host_id}: {source}",
        path = path.display()
    )]
    Delta { path: PathBuf, offset: u64, lockspace: String, host_id: u64, source: Box<DeltaError> },
    #[error("{path}: resource '{resource}' at offset {offset}: {source}", path = path.display())]
    Paxos { path: PathBuf, offset: u64, resource: String, source: Box<PaxosError> },
    #[error(
        "{path}: lockspace '{lockspace}' at offset {offset}: {source} \
         (pass --io-timeout to use a shorter one)",
        path = path.display()
    )]
    Timing { path: PathBuf, offset: u64, lockspace: String, source: TimeoutsError },
    #[error("{0}")]
    Invalid(String),
}

impl DirectError {
    /// How to report this failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            DirectError::Disk(DiskError::Timeout { .. }) => ErrorClass::Retryable,
            DirectError::Disk(DiskError::Unaligned { .. }) => ErrorClass::Usage,
            DirectError::Disk(_) => ErrorClass::Io,
            DirectError::Corrupt { .. }
            | DirectError::NotLeaseArea { .. }
            | DirectError::AreaPastEnd { .. } => ErrorClass::Data,
            DirectError::Unaligned { .. }
            | DirectError::Timing { .. }
            | DirectError::Invalid(_) => ErrorClass::Usage,
            DirectError::InUse { .. } => ErrorClass::Refused,
            DirectError::Delta { source, .. } => match **source {
                DeltaError::Io(_) | DeltaError::Expired => ErrorClass::Retryable,
                DeltaError::Corrupt { .. } => ErrorClass::Data,
                DeltaError::Busy { .. } | DeltaError::Lost { .. } | DeltaError::NotHeld { .. } => {
                    ErrorClass::Refused
                }
            },
            DirectError::Paxos { source, .. } => match **source {
                PaxosError::Corrupt { .. } => ErrorClass::Data,
                PaxosError::HostIdAboveNumHosts { .. } | PaxosError::LvbTooLarge { .. } => {
                    ErrorClass::Usage
                }
                ref source if source.is_retryable() => ErrorClass::Retryable,
                _ => ErrorClass::Refused,
            },
        }
    }
}

/// Reads `len` bytes at `offset` with the direct-mode read deadline.
fn read(
    disk: &dyn Disk,
    clock: &dyn Clock,
    offset: u64,
    len: usize,
) -> Result<AlignedBuf, DirectError> {
    Ok(disk.read(offset, len, deadline(clock, DIRECT_READ_TIMEOUT))?)
}

fn deadline(clock: &dyn Clock, timeout: Duration) -> MonoTime {
    clock.now() + timeout
}

/// Checks that an area may start at `offset`: a multiple of `align`.
fn check_area_offset(disk: &dyn Disk, offset: u64, align: AlignSize) -> Result<(), DirectError> {
    if !offset.is_multiple_of(align.bytes()) {
        return Err(DirectError::Unaligned { path: disk.path().to_owned(), offset, align });
    }
    Ok(())
}

/// Checks that an area of `area_bytes` at `offset` lies inside the disk.
fn check_area_fits(disk: &dyn Disk, offset: u64, area_bytes: u64) -> Result<(), DirectError> {
    let size = disk.size_bytes();
    if offset.checked_add(area_bytes).is_none_or(|end| end > size) {
        return Err(DirectError::AreaPastEnd {
            path: disk.path().to_owned(),
            offset,
            area_bytes,
            size,
        });
    }
    Ok(())
}
