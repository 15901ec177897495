//! The daemon's leases: who holds each, and where its area lies.
//!
//! The table's rules live in [`crate::lease_table`]. A resource is known
//! by its lockspace and name, never by the spelling of its path:
//! `/dev/disk/by-id/x` and `/dev/sdb` name one lease. The device and offset
//! it was taken at are kept with it, and an operation that names the
//! resource on another device or offset is refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::process::Process;
use crate::api::results::LeaseStatus;
use crate::paxos::{Held, Mode};
use crate::spec::ResourceSpec;

pub use crate::lease_table::{LeaseKey, Occupant};

/// The daemon's lease table.
pub type LeaseTable = crate::lease_table::LeaseTable<Lease>;

/// The key of the resource `spec` names.
pub fn key_of(spec: &ResourceSpec) -> LeaseKey {
    LeaseKey { lockspace: spec.lockspace, name: spec.name }
}

/// Which device a path leads to: a block device by its device number, a
/// file by its inode. Two paths to one device compare equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceId {
    Block { rdev: u64 },
    File { dev: u64, ino: u64 },
}

impl DeviceId {
    /// The device `path` leads to, following links.
    pub fn of(path: &Path) -> std::io::Result<DeviceId> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let meta = std::fs::metadata(path)?;
        Ok(if meta.file_type().is_block_device() {
            DeviceId::Block { rdev: meta.rdev() }
        } else {
            DeviceId::File { dev: meta.dev(), ino: meta.ino() }
        })
    }
}

/// Where a resource's area lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The path it was first named by.
    pub path: PathBuf,
    pub device: DeviceId,
    pub offset: u64,
}

impl Place {
    /// Whether `other` names the same area, by whatever path.
    pub fn same_area(&self, other: &Place) -> bool {
        self.device == other.device && self.offset == other.offset
    }
}

/// Who a lease belongs to.
#[derive(Clone, Debug)]
pub enum Owner {
    Process(Arc<Process>),
    /// A persistent lease whose process exited, kept until released or
    /// adopted.
    Orphan,
}

/// A held lease.
#[derive(Clone, Debug)]
pub struct Lease {
    pub key: LeaseKey,
    pub place: Place,
    pub held: Held,
    pub owner: Owner,
    /// The registered connection it is tied to (sanlock's protocol): its
    /// close lets the lease go as its process's exit would.
    pub client: Option<u64>,
    pub persistent: bool,
}

impl crate::lease_table::Entry for Lease {
    fn key(&self) -> &LeaseKey {
        &self.key
    }

    fn pid(&self) -> Option<u32> {
        self.pid()
    }
}

impl Lease {
    pub fn pid(&self) -> Option<u32> {
        match &self.owner {
            Owner::Process(process) => Some(process.pid),
            Owner::Orphan => None,
        }
    }

    pub fn status(&self) -> LeaseStatus {
        let (key, place) = (&self.key, &self.place);
        let area =
            format!("{}:{}:{}:{}", key.lockspace, key.name, place.path.display(), place.offset);
        let spec = match self.held.mode {
            Mode::Shared => format!("{area}:SH"),
            Mode::Exclusive => format!("{area}:{}", self.held.lver),
        };
        LeaseStatus {
            lockspace: key.lockspace.to_string(),
            resource: key.name.to_string(),
            path: place.path.display().to_string(),
            offset: place.offset,
            mode: self.held.mode,
            lver: self.held.lver,
            pid: self.pid(),
            persistent: self.persistent,
            takeover: self.held.takeover.map(|how| how.as_str().to_owned()),
            spec,
            client: self.client,
            waiting: 0,
        }
    }
}
