//! Disk Paxos leases (Gafni and Lamport): one lock per resource area.
//!
//! A resource is owned by the host named in its leader record, as long as
//! that host's delta lease lives. Taking it runs a Disk Paxos ballot over the
//! hosts' dblocks for the next lease version (lver); the winner writes the
//! leader. Holding costs no I/O. Releasing marks our dblock RELEASED and
//! clears the leader if we wrote it.
//!
//! Shared (SH) mode, as sanlock does it: an SH acquirer wins a ballot like an
//! EX one (flagged SHORT_HOLD), records SHARED in its mode block, and frees
//! the leader again, so that many hosts hold it shared at once. An EX
//! acquirer fails while any live host's mode block says SHARED; the mode
//! blocks of holders that have left, restarted or died are disregarded.
//!
//! - [`ballot`]: the ballot arithmetic (pure);
//! - [`owner`]: who stands in the way of an acquire (pure);
//! - [`PaxosAcquire`], [`PaxosRelease`], [`PaxosShare`], [`PaxosRequest`],
//!   [`PaxosExamine`]: sans-I/O [`crate::step::Machine`]s.

pub mod ballot;
pub mod owner;

mod acquire;
mod release;
mod request;
mod share;

pub use acquire::{AcquireOptions, Mutation, PaxosAcquire, Withdrawal};
pub use release::{PaxosRelease, Released};
pub use request::{PaxosExamine, PaxosRequest};
pub use share::PaxosShare;

use crate::clock::MonoTime;
use crate::ondisk::RecordProblem;
use crate::ondisk::dblock::{DBLOCK_BYTES, Dblock, ModeBlock};
use crate::ondisk::geometry::Geometry;
use crate::ondisk::leader::{LEADER_FLAG_SHORT_HOLD, LeaderKind, LeaderRecord};
use crate::ondisk::name::Name;
use crate::step::IoFailure;

/// Which resource: its names, and its area's geometry and dblock count as
/// its leader declares them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceRef {
    pub lockspace: Name,
    pub name: Name,
    pub geometry: Geometry,
    pub num_hosts: u64,
}

impl ResourceRef {
    /// Bytes in one sector.
    pub fn sector_len(&self) -> usize {
        usize::try_from(self.geometry.sector_bytes()).expect("a sector fits in memory")
    }

    /// Bytes of the leader, the request record and every dblock in use.
    pub fn ballot_len(&self) -> usize {
        self.sector_len() * (2 + usize::try_from(self.num_hosts).expect("num_hosts fits"))
    }

    /// Offset of `host_id`'s dblock sector within the area.
    pub fn dblock_offset(&self, host_id: u64) -> u64 {
        self.geometry.dblock_offset(host_id)
    }
}

/// Exclusive or shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Mode {
    #[serde(rename = "EX")]
    Exclusive,
    #[serde(rename = "SH")]
    Shared,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Exclusive => "EX",
            Mode::Shared => "SH",
        })
    }
}

/// A resource lease this host holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub resource: ResourceRef,
    pub mode: Mode,
    /// The lease version under which it is held.
    pub lver: u64,
    pub host_id: u64,
    pub generation: u64,
    /// Our dblock as last written.
    pub(crate) block: Dblock,
    /// The lock value block read at acquire, if asked for.
    pub lvb: Option<Vec<u8>>,
    /// A new resource name the leader takes when it is freed at release
    /// (sanlock's release with rename; EX only), if the holder asked.
    pub rename: Option<crate::ondisk::name::Name>,
    /// How the lease was taken from another host, if it was: its owner had
    /// released it, left, restarted or died.
    pub takeover: Option<owner::OwnerVerdict>,
}

/// Why a resource lease operation failed. Offsets are within the area.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaxosError {
    #[error("offset {offset}: {problem}")]
    Corrupt { offset: u64, problem: RecordProblem },
    #[error("the resource now has num_hosts {found}, not {expected}")]
    NumHostsChanged { found: u64, expected: u64 },
    #[error("host_id {host_id} is above the resource's num_hosts {num_hosts}")]
    HostIdAboveNumHosts { host_id: u64, num_hosts: u64 },
    #[error("lease version is {found}, not the expected {expected}")]
    LverMismatch { expected: u64, found: u64 },
    #[error("owner alive: held by host_id {owner_id} generation {generation}")]
    OwnerAlive { owner_id: u64, generation: u64 },
    #[error(
        "held by host_id {owner_id} generation {generation}, which stopped renewing; it may be \
         taken once that host is dead (at {dead_at})"
    )]
    OwnerFailing { owner_id: u64, generation: u64, dead_at: MonoTime },
    #[error("host_id {owner_id} holds it for a moment while taking it shared; retry")]
    ShortHold { owner_id: u64 },
    #[error("held shared by host_id {holder_id}")]
    SharedHeld { holder_id: u64 },
    #[error("the ballot chose host_id {owner_id} generation {generation} as owner")]
    OtherOwner { owner_id: u64, generation: u64 },
    #[error("gave up after {attempts} ballots lost to other hosts; retry")]
    Contended { attempts: u32 },
    #[error("the request lver {lver} is not above the lease version {current}")]
    RequestLverTooLow { lver: u64, current: u64 },
    #[error("the request lver {lver} is below the pending request's {pending}")]
    RequestOlder { lver: u64, pending: u64 },
    #[error("not held by host_id {host_id} generation {generation}")]
    NotHeld { host_id: u64, generation: u64 },
    #[error("LVB of {len} bytes does not fit a {sector}-byte sector")]
    LvbTooLarge { len: usize, sector: usize },
    #[error("{0}")]
    Io(IoFailure),
}

impl PaxosError {
    /// Whether the same acquire may succeed if simply tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PaxosError::OwnerFailing { .. }
                | PaxosError::ShortHold { .. }
                | PaxosError::Contended { .. }
                | PaxosError::Io(_)
        )
    }
}

/// A host's dblock sector: the dblock, then the mode block at byte 128,
/// every other byte zero.
pub(crate) fn dblock_sector(block: &Dblock, mode: &ModeBlock, sector_len: usize) -> Vec<u8> {
    let mut sector = vec![0u8; sector_len];
    sector[..DBLOCK_BYTES].copy_from_slice(&block.encode());
    mode.encode_into_sector(&mut sector);
    sector
}

/// The resource leader in `sector`, checked to be one of `lockspace`.
pub(crate) fn checked_leader(sector: &[u8], lockspace: &Name) -> Result<LeaderRecord, PaxosError> {
    let leader = LeaderRecord::decode_prefix(sector);
    leader
        .verify_in(LeaderKind::Paxos, lockspace)
        .map_err(|problem| PaxosError::Corrupt { offset: 0, problem })?;
    Ok(leader)
}

/// Whether `leader` holds `(host_id, generation)` as owner at `lver` and
/// was written by that host: only then does its release free it. One that
/// another host wrote is left; the owner's RELEASED dblock frees it.
pub(crate) fn ours_to_free(
    leader: &LeaderRecord,
    host_id: u64,
    generation: u64,
    lver: u64,
) -> bool {
    leader.timestamp != 0
        && leader.owner_id == host_id
        && leader.owner_generation == generation
        && leader.lver == lver
        && leader.write_id == host_id
}

/// `leader` with its owner gone: timestamp 0 and no short hold, written by
/// `(host_id, generation)` at `now`. The owner fields stay, as sanlock
/// leaves them.
pub(crate) fn freed_leader(
    leader: &LeaderRecord,
    host_id: u64,
    generation: u64,
    now: MonoTime,
) -> LeaderRecord {
    LeaderRecord {
        timestamp: 0,
        flags: leader.flags & !LEADER_FLAG_SHORT_HOLD,
        write_id: host_id,
        write_generation: generation,
        write_timestamp: now.as_secs().max(1),
        ..*leader
    }
}

#[cfg(test)]
mod tests;
