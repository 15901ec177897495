//! On-disk records, byte-compatible with sanlock 3.8. Pure: no I/O here.
//!
//! A lease device holds *areas*, each exactly one align size long (1, 2, 4 or
//! 8 MiB) at a multiple of it. Two kinds of area exist:
//!
//! ```text
//! lockspace area (one delta lease per host_id)
//! +------------------+------------------+-----+---------------------+-------+
//! | sector 0         | sector 1         | ... | sector max_hosts-1  | zero  |
//! | host_id 1        | host_id 2        |     | host_id max_hosts   |       |
//! | [0,200) leader   |                  |     |                     |       |
//! | [256,512) bitmap |                  |     |                     |       |
//! +------------------+------------------+-----+---------------------+-------+
//!
//! resource area (one Disk Paxos lease)
//! +---------+----------+-----------+-----------+-----+------------+-----+------+
//! | leader  | request  | dblock    | dblock    | ... | dblock     | LVB | zero |
//! |         | record   | host 1    | host 2    |     | max_hosts  |     |      |
//! +---------+----------+-----------+-----------+-----+------------+-----+------+
//!  sector 0  sector 1   sector 2    sector 3          max_hosts+1  +2
//! ```
//!
//! A third kind, the resource index ([`rindex`]), is an optional header and
//! name table that maps resource names to lease slots after it.
//!
//! Each module documents its record's byte layout. Integers are little-endian;
//! records are encoded field by field into zeroed buffers, never transmuted, so
//! no byte reaches the disk that a field did not set.

pub mod area;
pub mod bitmap;
pub mod checksum;
pub mod dblock;
pub mod geometry;
pub mod group_record;
pub mod leader;
pub mod name;
pub mod name_record;
pub mod request;
pub mod rindex;

pub use dblock::{Dblock, ModeBlock};
pub use geometry::{AlignSize, Geometry, GeometryError, SectorSize};
pub use leader::{LeaderKind, LeaderRecord};
pub use name::{Name, NameError};
pub use request::{ForceMode, RequestRecord};

/// What is wrong with a record read from disk. The I/O layer adds the path
/// and offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordProblem {
    #[error("bad magic 0x{found:08x} (expected 0x{expected:08x})")]
    BadMagic { found: u32, expected: u32 },
    #[error("unsupported version 0x{found:08x} (expected major version {})", expected >> 16)]
    BadVersion { found: u32, expected: u32 },
    #[error("checksum mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}")]
    BadChecksum { stored: u32, computed: u32 },
    #[error("invalid geometry: sector_size {sector_size}, flags 0x{flags:x}")]
    BadGeometry { sector_size: u32, flags: u32 },
    #[error("belongs to lockspace '{found}', not '{expected}'")]
    WrongLockspace { found: String, expected: String },
    #[error("is resource '{found}', not '{expected}'")]
    WrongResource { found: String, expected: String },
    #[error("declares a {found} area, not {expected}")]
    WrongGeometry { found: Geometry, expected: Geometry },
    #[error("invalid request mode {found}")]
    BadForceMode { found: u32 },
    #[error(
        "invalid host counts: num_hosts {num_hosts}, max_hosts {max_hosts} \
         (need 1 <= num_hosts <= max_hosts <= {limit})"
    )]
    BadHostCount { num_hosts: u64, max_hosts: u64, limit: u64 },
    #[error("{field} {value} is at its limit: it cannot advance")]
    Exhausted { field: &'static str, value: u64 },
    #[error("{field} {value} is out of range")]
    OutOfRange { field: &'static str, value: u64 },
}

impl RecordProblem {
    /// `value + 1` of a counter read from disk, or why it cannot advance:
    /// a checksum-valid record may carry any value, and a wrapped counter
    /// would go backwards.
    pub fn next(field: &'static str, value: u64) -> Result<u64, RecordProblem> {
        value.checked_add(1).ok_or(RecordProblem::Exhausted { field, value })
    }
}

pub(crate) fn get_u16(buf: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([buf[off], buf[off + 1]])
}

pub(crate) fn get_u32(buf: &[u8], off: usize) -> u32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&buf[off..off + 4]);
    u32::from_le_bytes(bytes)
}

pub(crate) fn get_u64(buf: &[u8], off: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&buf[off..off + 8]);
    u64::from_le_bytes(bytes)
}

pub(crate) fn put_u16(buf: &mut [u8], off: usize, value: u16) {
    buf[off..off + 2].copy_from_slice(&value.to_le_bytes());
}

pub(crate) fn put_u32(buf: &mut [u8], off: usize, value: u32) {
    buf[off..off + 4].copy_from_slice(&value.to_le_bytes());
}

pub(crate) fn put_u64(buf: &mut [u8], off: usize, value: u64) {
    buf[off..off + 8].copy_from_slice(&value.to_le_bytes());
}
