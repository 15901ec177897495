//! The resource leases this host holds, and who holds each.
//!
//! A resource is in the table while an operation on it runs (busy) or
//! while it is held. One operation per resource at a time: a second acquire
//! of a resource this host already holds or is acquiring is refused here,
//! before any disk I/O.
//!
//! Invariants:
//! - A slot stays busy until every write of the operation in it has left
//!   the kernel or been overtaken by a later write of ours: a release or an
//!   acquire's withdrawal that has to be retried keeps its slot until it
//!   has succeeded (or the host_id lease it was made under is gone). A new
//!   acquire therefore never races a late write of an older one on the same
//!   sectors, which could set our dblock back and let two hosts win one
//!   lease version.
//! - A resource is known by its lockspace and name, never by the spelling
//!   of its path: `/dev/disk/by-id/x` and `/dev/sdb` name one lease. The
//!   device and offset it was taken at are kept with it, and an operation
//!   that names the resource on another device or offset is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::process::Process;
use crate::api::results::LeaseStatus;
use crate::ondisk::name::Name;
use crate::paxos::{Held, Mode};
use crate::spec::ResourceSpec;

/// A resource: its lockspace and its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseKey {
    pub lockspace: Name,
    pub name: Name,
}

impl LeaseKey {
    pub fn of(spec: &ResourceSpec) -> LeaseKey {
        LeaseKey { lockspace: spec.lockspace, name: spec.name }
    }
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
    pub persistent: bool,
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
        }
    }
}

#[derive(Debug)]
enum Slot {
    Busy,
    Held(Box<Lease>),
    /// Its release or withdrawal failed in ways that leave nothing in
    /// flight, and was given up: the disk may still name us at a lease
    /// version a new acquire of ours could take again, so the resource is
    /// not acquired again on this host until the lockspace is left.
    Abandoned,
}

/// What stands in a resource's slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Occupant {
    /// An operation on it is running.
    Busy,
    /// Held for a process.
    Process(u32),
    /// Held as an orphan.
    Orphan,
    /// Its release was given up on (see [`Slot::Abandoned`]).
    Abandoned,
}

/// Every resource this host holds or is working on.
#[derive(Debug, Default)]
pub struct LeaseTable {
    slots: BTreeMap<LeaseKey, Slot>,
}

impl LeaseTable {
    /// Every held lease.
    pub fn held(&self) -> impl Iterator<Item = &Lease> {
        self.slots.values().filter_map(|slot| match slot {
            Slot::Held(lease) => Some(&**lease),
            Slot::Busy | Slot::Abandoned => None,
        })
    }

    /// Resources with an acquire or release under way.
    pub fn busy(&self) -> usize {
        self.slots.values().filter(|slot| matches!(slot, Slot::Busy)).count()
    }

    /// Slots of lockspace `name` being acquired, converted or released.
    pub fn busy_in(&self, name: &Name) -> usize {
        self.slots
            .iter()
            .filter(|(key, slot)| matches!(slot, Slot::Busy) && key.lockspace.same_as(name))
            .count()
    }

    /// Takes every held lease of lockspace `name` out of its slot, which
    /// stays busy.
    // Boxed as the slots hold them: a lease put back moves no bytes.
    #[allow(clippy::vec_box)]
    pub fn take_in(&mut self, name: &Name) -> Vec<Box<Lease>> {
        let keys: Vec<LeaseKey> = self.in_lockspace(name).map(|l| l.key.clone()).collect();
        keys.iter().map(|key| self.take(key).expect("listed")).collect()
    }

    /// Held leases in lockspace `name`.
    pub fn in_lockspace<'a>(&'a self, name: &'a Name) -> impl Iterator<Item = &'a Lease> {
        self.held().filter(move |lease| lease.key.lockspace.same_as(name))
    }

    /// Held leases of process `pid`.
    pub fn owned_by(&self, pid: u32) -> impl Iterator<Item = &Lease> {
        self.held().filter(move |lease| lease.pid() == Some(pid))
    }

    /// The lease held on `key`, if held (not busy).
    pub fn get(&self, key: &LeaseKey) -> Option<&Lease> {
        match self.slots.get(key) {
            Some(Slot::Held(lease)) => Some(&**lease),
            _ => None,
        }
    }

    /// What stands in `key`'s slot, if anything.
    pub fn occupant(&self, key: &LeaseKey) -> Option<Occupant> {
        self.slots.get(key).map(|slot| match slot {
            Slot::Busy => Occupant::Busy,
            Slot::Abandoned => Occupant::Abandoned,
            Slot::Held(lease) => lease.pid().map_or(Occupant::Orphan, Occupant::Process),
        })
    }

    /// Marks every key busy, or none if one is already in the table: that
    /// key is returned, with what stands in its slot.
    pub fn reserve(&mut self, keys: &[LeaseKey]) -> Result<(), Box<(LeaseKey, Occupant)>> {
        if let Some((key, occupant)) =
            keys.iter().find_map(|key| self.occupant(key).map(|o| (key, o)))
        {
            return Err(Box::new((key.clone(), occupant)));
        }
        for key in keys {
            self.slots.insert(key.clone(), Slot::Busy);
        }
        Ok(())
    }

    /// Takes a held lease out for an operation: its slot stays busy. The
    /// lease stays boxed: thousands of them go out and back at once when a
    /// big holder exits.
    pub fn take(&mut self, key: &LeaseKey) -> Option<Box<Lease>> {
        let slot = self.slots.get_mut(key)?;
        if !matches!(slot, Slot::Held(_)) {
            return None;
        }
        match std::mem::replace(slot, Slot::Busy) {
            Slot::Held(lease) => Some(lease),
            Slot::Busy | Slot::Abandoned => unreachable!("checked held"),
        }
    }

    /// Puts a lease in its (busy) slot.
    pub fn put(&mut self, lease: Box<Lease>) {
        let previous = self.slots.insert(lease.key.clone(), Slot::Held(lease));
        assert!(matches!(previous, Some(Slot::Busy)), "a lease goes into its reserved slot");
    }

    /// Frees a busy slot.
    pub fn free(&mut self, key: &LeaseKey) {
        let previous = self.slots.remove(key);
        assert!(matches!(previous, Some(Slot::Busy)), "only busy slots are freed");
    }

    /// Marks a busy slot abandoned (see [`Slot::Abandoned`]).
    pub fn abandon(&mut self, key: &LeaseKey) {
        let previous = self.slots.insert(key.clone(), Slot::Abandoned);
        assert!(matches!(previous, Some(Slot::Busy)), "only busy slots are abandoned");
    }

    /// Forgets the abandoned slots of lockspace `name`, whose host_id lease
    /// is gone: a new generation's acquires cannot take what the old one
    /// left.
    pub fn forget_abandoned_in(&mut self, name: &Name) {
        self.slots
            .retain(|key, slot| !(matches!(slot, Slot::Abandoned) && key.lockspace.same_as(name)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> LeaseKey {
        LeaseKey { lockspace: Name::new("ls").unwrap(), name: Name::new(name).unwrap() }
    }

    #[test]
    fn reservations_are_all_or_nothing() {
        let mut table = LeaseTable::default();
        table.reserve(&[key("a"), key("b")]).unwrap();
        let conflict = table.reserve(&[key("c"), key("b")]).unwrap_err();
        assert_eq!(*conflict, (key("b"), Occupant::Busy));
        assert!(table.take(&key("c")).is_none(), "c was not reserved");
        table.free(&key("a"));
        table.reserve(&[key("a")]).unwrap();
        assert_eq!(table.held().count(), 0, "busy slots are not held leases");
    }

    #[test]
    fn an_abandoned_resource_is_refused_until_its_lockspace_is_left() {
        let mut table = LeaseTable::default();
        table.reserve(&[key("a")]).unwrap();
        table.abandon(&key("a"));
        assert_eq!(table.busy(), 0, "nothing waits for it");
        let refused = table.reserve(&[key("a")]).unwrap_err();
        assert_eq!(*refused, (key("a"), Occupant::Abandoned));
        assert!(table.take(&key("a")).is_none());
        table.forget_abandoned_in(&Name::new("other").unwrap());
        assert!(table.reserve(&[key("a")]).is_err(), "another lockspace's leave changes nothing");
        table.forget_abandoned_in(&Name::new("ls").unwrap());
        table.reserve(&[key("a")]).unwrap();
    }
}
