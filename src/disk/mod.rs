//! The disk: whole-sector reads and writes at an offset, each with a deadline.
//!
//! [`DirectFile`] does real O_DIRECT I/O on a regular file or block device on
//! worker threads, so a request that hangs in the kernel never holds its
//! caller past the deadline. [`SimDisk`] keeps the bytes in memory and
//! injects latency, errors, torn and lost writes from a seed, for tests and
//! the simulator.
//!
//! Every request must be aligned to the disk's sector size in offset and
//! length and lie inside the disk; [`check_request`] enforces that for both
//! implementations before anything is submitted.

pub mod buffer;
pub mod direct;
pub mod sim;

use std::io;
use std::path::{Path, PathBuf};

pub use buffer::AlignedBuf;
pub use direct::{Access, DirectFile, IoFaultHook};
pub use sim::{Atomicity, SimDisk, SimFaults, WriteFate, WriteFaults};

use crate::clock::MonoTime;

/// Which way a request moves data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoOp {
    Read,
    Write,
}

impl std::fmt::Display for IoOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IoOp::Read => "read",
            IoOp::Write => "write",
        })
    }
}

/// A failed disk request. Every variant names the path, and the offset where
/// one applies.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("{path}: cannot open: {source}", path = path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("{path}: {reason}", path = path.display())]
    Unsupported { path: PathBuf, reason: String },
    #[error(
        "{path}: {op} of {len} bytes at offset {offset} is not aligned to the \
         {align}-byte sector size", path = path.display()
    )]
    Unaligned { path: PathBuf, op: IoOp, offset: u64, len: usize, align: u32 },
    #[error(
        "{path}: {op} of {len} bytes at offset {offset} runs past the end \
         ({size} bytes)", path = path.display()
    )]
    OutOfRange { path: PathBuf, op: IoOp, offset: u64, len: usize, size: u64 },
    #[error("{path}: {op} of {len} bytes at offset {offset} failed: {source}", path = path.display())]
    Io { path: PathBuf, op: IoOp, offset: u64, len: usize, source: io::Error },
    #[error(
        "{path}: {op} of {len} bytes at offset {offset} did not complete by its \
         deadline", path = path.display()
    )]
    Timeout { path: PathBuf, op: IoOp, offset: u64, len: usize },
    #[error("{path}: opened read-only; cannot write at offset {offset}", path = path.display())]
    ReadOnly { path: PathBuf, offset: u64 },
    #[error(
        "{path}: an earlier write at offset {offset} has not left the kernel yet; refusing a \
         second one that could land before it", path = path.display()
    )]
    WriteInFlight { path: PathBuf, offset: u64 },
}

impl DiskError {
    /// Whether retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DiskError::Timeout { .. } | DiskError::Io { .. } | DiskError::WriteInFlight { .. }
        )
    }
}

/// Sector-granular storage shared by hosts.
pub trait Disk: Send + Sync {
    /// The path (or simulated name) for messages.
    fn path(&self) -> &Path;

    /// The device's logical sector size: offsets and lengths must be
    /// multiples of it.
    fn sector_size(&self) -> u32;

    /// Bytes in the device or file.
    fn size_bytes(&self) -> u64;

    /// Reads `len` bytes at `offset`, or fails by `deadline`.
    fn read(&self, offset: u64, len: usize, deadline: MonoTime) -> Result<AlignedBuf, DiskError>;

    /// Writes `data` at `offset`, or fails by `deadline`. After a failure the
    /// write may still land, in part or in whole, until the disk is done with
    /// it: callers must not assume it did not.
    fn write(&self, offset: u64, data: &[u8], deadline: MonoTime) -> Result<(), DiskError>;
}

/// Checks that a request is sector-aligned and inside the disk.
pub fn check_request(disk: &dyn Disk, op: IoOp, offset: u64, len: usize) -> Result<(), DiskError> {
    let align = disk.sector_size();
    let len_u64 = len as u64;
    let align_u64 = u64::from(align);
    if len == 0 || !offset.is_multiple_of(align_u64) || !len_u64.is_multiple_of(align_u64) {
        return Err(DiskError::Unaligned { path: disk.path().to_owned(), op, offset, len, align });
    }
    let size = disk.size_bytes();
    if offset.checked_add(len_u64).is_none_or(|end| end > size) {
        return Err(DiskError::OutOfRange { path: disk.path().to_owned(), op, offset, len, size });
    }
    Ok(())
}
