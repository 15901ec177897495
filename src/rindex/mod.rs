//! The resource index: resource leases found by name instead of by offset,
//! in sanlock 3.8's on-disk layout (see [`crate::ondisk::rindex`]), so that
//! sanlock's `lookup`, `create`, `delete`, `update` and `rebuild` and ours
//! work on the same index.
//!
//! An index takes two areas at `rx_offset`, the index itself and the paxos
//! lease `rindex_lease` that guards it; then entry N names the resource
//! lease in slot N at `rx_offset + (2 + N)·align`. The entry's position
//! fixes the lease's offset, so nothing is ever moved.
//!
//! **Capacity.** Each lease takes one align unit, so a device holds about
//! 1024 leases per GiB at 1M align (512-byte or 4K sectors), 512 at 2M, 256
//! at 4M and 128 at 8M, less the lockspace and the index's two areas. An
//! index holds at most 16000 entries at 1M, 32000 at 2M, 64000 at 4M and
//! 128000 at 8M; `format` uses sanlock's default of 4096 unless told
//! otherwise, which a device fills once it has 4 GiB (1M) to 32 GiB (8M)
//! after the index.
//!
//! **Locking is the caller's.** [`Rindex::create`], [`Rindex::delete`],
//! [`Rindex::update`] and [`Rindex::rebuild`] read the index, decide and
//! write it back: they assume the caller holds `rindex_lease` (at
//! [`RindexHeader::lease_offset`]) exclusively for the whole call, as
//! sanlock's daemon does, or two hosts could hand out one slot twice. A
//! [`Rindex::lookup`] needs no lock. The same code runs in the daemon and in
//! direct mode: everything goes through [`Disk`] and [`Clock`].
//!
//! **Data safety.** Every operation but [`Rindex::format`] first reads the
//! header and checks magic, version, geometry, lockspace and `rx_offset`;
//! on any mismatch it fails naming the path and offset and writes nothing.
//! A used entry that does not record its own slot's offset is reported the
//! same way, never repaired, except by an explicit [`Rindex::rebuild`].
//! `create` writes a lease only in a slot its index calls free and only if
//! no live lease is there; `delete` clears a lease only if no host holds it.
//!
//! Where we differ from sanlock, on purpose: `create` refuses a name the
//! index already has (sanlock adds a second entry); `delete` refuses a
//! lease that a host holds (sanlock clears it under the holder); `update`
//! refuses to overwrite another name's entry; `rebuild` clears every entry
//! before rescanning (sanlock keeps the first sector's).
//!
//! Tests: the unit tests below (byte layout as sanlock's `daemon_test.py`
//! checks it, refusals, corrupt headers); `tests/interop_rindex.rs` against
//! Debian's sanlock.

use std::path::PathBuf;
use std::time::Duration;

use crate::clock::{Clock, MonoTime};
use crate::delta::HostTable;
use crate::disk::{AlignedBuf, Disk, DiskError};
use crate::ondisk::RecordProblem;
use crate::ondisk::area::fill_resource;
use crate::ondisk::dblock::{Dblock, ModeBlock};
use crate::ondisk::geometry::Geometry;
use crate::ondisk::leader::{LeaderKind, LeaderRecord, PAXOS_CLEAR_MAGIC};
use crate::ondisk::name::Name;
use crate::ondisk::name_record::{self, name_record_span};
use crate::ondisk::rindex::{
    DEFAULT_MAX_RESOURCES, ENTRY_BYTES, RindexEntry, RindexHeader, RindexProblem,
};
use crate::paxos::owner::{OwnerVerdict, judge_owner};
use crate::timeouts::{DEFAULT_WATCHDOG_FIRE, Timeouts};

/// The resource name of the lease that guards an index.
pub const RINDEX_LEASE_NAME: &str = "rindex_lease";

/// The name a lease takes when its name is deleted from the index: free
/// for the next create, and never a name of the index (`#` names are
/// stored hashed; lvmlockd names its free slots so too).
pub const FREED_NAME: &str = "#unused";

/// One index on one device, and how long each I/O may take.
#[derive(Clone, Copy)]
pub struct Rindex<'a> {
    /// The device that holds the index and its leases.
    pub disk: &'a dyn Disk,
    /// Gives each I/O its deadline, and the present to judge a lease owner.
    pub clock: &'a dyn Clock,
    /// The lockspace the index belongs to: its header must name it.
    pub lockspace: Name,
    /// Offset of the index area (its header sector) on the device.
    pub offset: u64,
    /// Deadline of each read and write, from when it is issued.
    pub io_timeout: Duration,
}

/// A used entry: a resource name and the offset of its lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub name: Name,
    pub offset: u64,
}

/// What [`Rindex::update`] does to one entry (sanlock's RXUP_ADD/RXUP_REM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateOp {
    Add,
    Remove,
}

/// How [`Rindex::format`] lays an index out.
#[derive(Clone, Copy, Debug)]
pub struct FormatOptions {
    /// Sector and align size of the index and of every lease in it.
    pub geometry: Geometry,
    /// Entries in use; [`DEFAULT_MAX_RESOURCES`] if `None`.
    pub max_resources: Option<u32>,
    /// Overwrite areas that hold lease records or an index.
    pub force: bool,
}

/// Who holds a lease that must not be cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// The leader names an owner that has not released it.
    Owner { owner_id: u64, generation: u64 },
    /// A host's mode block says it holds the lease shared.
    Shared { host_id: u64 },
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Owner { owner_id, generation } => {
                write!(f, "host_id {owner_id} (generation {generation}) holds it")
            }
            Holder::Shared { host_id } => write!(f, "host_id {host_id} holds it shared"),
        }
    }
}

/// A failed index operation. Every variant names the path and the offset it
/// concerns; nothing was written unless the variant says so.
#[derive(Debug, thiserror::Error)]
pub enum RindexError {
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error("{path}: offset {offset}: {problem}", path = path.display())]
    Corrupt { path: PathBuf, offset: u64, problem: RindexProblem },
    #[error("{path}: offset {offset}: lease '{name}': {problem}", path = path.display())]
    BadLease { path: PathBuf, offset: u64, name: String, problem: RecordProblem },
    #[error("{path}: offset {offset}: already holds {found}", path = path.display())]
    InUse { path: PathBuf, offset: u64, found: String },
    #[error("{path}: offset {offset}: resource '{name}' is already in the index", path = path.display())]
    Exists { path: PathBuf, offset: u64, name: String },
    #[error("{path}: offset {offset}: resource '{name}' is not in the index", path = path.display())]
    NotFound { path: PathBuf, offset: u64, name: String },
    #[error(
        "{path}: offset {offset}: the index is full ({entries} entries in use)",
        path = path.display()
    )]
    Full { path: PathBuf, offset: u64, entries: u32 },
    #[error(
        "{path}: offset {offset}: the {area_bytes}-byte lease slot runs past the end of the \
         device ({size} bytes)", path = path.display()
    )]
    PastEnd { path: PathBuf, offset: u64, area_bytes: u64, size: u64 },
    #[error("{path}: offset {offset}: lease '{name}' is in use: {holder}", path = path.display())]
    Held { path: PathBuf, offset: u64, name: String, holder: Holder },
    #[error("{path}: offset {offset}: the index names '{found}' here, not '{expected}'", path = path.display())]
    Differs { path: PathBuf, offset: u64, expected: String, found: String },
    #[error(
        "{path}: offset {offset} is not a lease slot of the index at {rindex_offset}",
        path = path.display()
    )]
    NotSlot { path: PathBuf, offset: u64, rindex_offset: u64 },
    #[error("{path}: offset {offset}: {reason}", path = path.display())]
    Invalid { path: PathBuf, offset: u64, reason: String },
}

/// The header and the used part of the entry region, as one read found them.
struct Index {
    header: RindexHeader,
    /// `header.entry_bytes_used()` bytes from `header.entry_offset(0)`.
    entries: AlignedBuf,
}

impl Index {
    /// Every entry in use, with its index.
    fn scan(&self) -> impl Iterator<Item = (u32, RindexEntry)> + '_ {
        self.entries
            .chunks_exact(ENTRY_BYTES)
            .filter_map(|raw| raw.try_into().ok())
            .map(RindexEntry::decode)
            .zip(0..self.header.entries())
            .map(|(entry, index)| (index, entry))
    }

    fn entry(&self, index: u32) -> Option<RindexEntry> {
        self.scan().nth(index as usize).map(|(_, entry)| entry)
    }

    fn find(&self, name: &Name) -> Option<(u32, RindexEntry)> {
        self.scan().find(|(_, entry)| !entry.name.is_empty() && entry.name.same_as(name))
    }

    fn first_free(&self) -> Option<u32> {
        self.scan().find(|(_, entry)| entry.is_free()).map(|(index, _)| index)
    }

    fn public(&self, index: u32, entry: &RindexEntry) -> Entry {
        Entry { name: entry.name, offset: self.header.slot_offset(index) }
    }
}

impl Rindex<'_> {
    /// Writes a new index: the header with every entry free, then the
    /// unowned `rindex_lease`. Refuses, unless `force`, if either area
    /// already holds an index or a valid lease record.
    pub fn format(&self, options: FormatOptions) -> Result<RindexHeader, RindexError> {
        let geometry = options.geometry;
        let max_resources = options.max_resources.unwrap_or(DEFAULT_MAX_RESOURCES);
        let header = RindexHeader::new(geometry, max_resources, self.offset, self.lockspace)
            .map_err(|problem| self.invalid(self.offset, problem.to_string()))?;
        if geometry.sector_size().bytes() < self.disk.sector_size() {
            let reason = format!(
                "sector size {} is smaller than the device's {}-byte sectors",
                geometry.sector_size(),
                self.disk.sector_size()
            );
            return Err(self.invalid(self.offset, reason));
        }
        if !self.offset.is_multiple_of(geometry.area_bytes()) {
            let reason = format!("not a multiple of the {} align size", geometry.align());
            return Err(self.invalid(self.offset, reason));
        }
        let area_bytes = geometry.area_bytes();
        self.check_fits(self.offset, 2 * area_bytes)?;
        if !options.force {
            for area in [self.offset, header.lease_offset()] {
                self.refuse_if_in_use(area, geometry)?;
            }
        }
        let mut index = AlignedBuf::zeroed(area_len(geometry));
        index[..header.encode().len()].copy_from_slice(&header.encode());
        self.write(self.offset, &index)?;
        let lease_name = Name::new(RINDEX_LEASE_NAME).expect("a valid constant name");
        let lease = lease_image(geometry, self.lockspace, lease_name);
        self.write(header.lease_offset(), &lease)?;
        Ok(header)
    }

    /// Reads and checks the header.
    pub fn read_header(&self) -> Result<RindexHeader, RindexError> {
        let sector = self.read(self.offset, self.disk.sector_size() as usize)?;
        let header = RindexHeader::decode(&sector)
            .and_then(|header| header.verify_for(&self.lockspace, self.offset).map(|()| header))
            .map_err(|problem| self.corrupt(self.offset, problem))?;
        Ok(header)
    }

    /// Looks an entry up, as sanlock's `lookup` does:
    /// - by `name`: its entry, or `None`;
    /// - by `offset` (a lease slot): the entry there, or `None` if free;
    /// - by both: the entry at `offset`, an error if it names another;
    /// - by neither: the first free slot (with an empty name), or `None` if
    ///   the index is full.
    ///
    /// An empty name counts as no name.
    pub fn lookup(
        &self,
        name: Option<&Name>,
        offset: Option<u64>,
    ) -> Result<Option<Entry>, RindexError> {
        let index = self.read_index()?;
        let name = name.filter(|name| !name.is_empty());
        let Some(offset) = offset else {
            return Ok(match name {
                Some(name) => index.find(name).map(|(i, entry)| index.public(i, &entry)),
                None => index
                    .first_free()
                    .map(|i| Entry { name: Name::EMPTY, offset: index.header.slot_offset(i) }),
            });
        };
        let slot = self.slot_index(&index, offset)?;
        let entry = index.entry(slot).unwrap_or(RindexEntry::FREE);
        if let Some(name) = name
            && !entry.name.same_as(name)
        {
            return Err(RindexError::Differs {
                path: self.disk.path().to_owned(),
                offset,
                expected: name.to_string(),
                found: entry.name.to_string(),
            });
        }
        Ok((!entry.is_free()).then(|| index.public(slot, &entry)))
    }

    /// Adds `name` in the first free entry and writes its unowned lease in
    /// that entry's slot, lease first, so that a crash in between leaves a
    /// free entry, never an entry without its lease. The lease gets every
    /// dblock the geometry allows, as sanlock's `create` gives it: any host
    /// that can look the name up must be able to acquire it.
    ///
    /// A name stored hashed (see [`crate::names`]) gives its `full_name`,
    /// kept in a record in the same lease area, written with the lease.
    ///
    /// The caller holds `rindex_lease` (see the module docs).
    pub fn create(&self, name: &Name, full_name: Option<&[u8]>) -> Result<Entry, RindexError> {
        if name.is_empty() {
            return Err(self.invalid(self.offset, "a resource needs a name".to_owned()));
        }
        let index = self.read_index()?;
        if let Some((slot, _)) = index.find(name) {
            return Err(RindexError::Exists {
                path: self.disk.path().to_owned(),
                offset: index.header.slot_offset(slot),
                name: name.to_string(),
            });
        }
        // The first free entry whose slot holds nothing to keep: a slot
        // holding a lease someone holds, or one of another resource that
        // was used, is passed over (reported if no other is free), never
        // written over.
        let geometry = index.header.geometry;
        let mut passed_over = None;
        let mut chosen = None;
        for (slot, _) in index.scan().filter(|(_, entry)| entry.is_free()) {
            let offset = index.header.slot_offset(slot);
            if offset.saturating_add(geometry.area_bytes()) > self.disk.size_bytes() {
                // Slots past the device's end: none after this one fits.
                passed_over.get_or_insert_with(|| RindexError::PastEnd {
                    path: self.disk.path().to_owned(),
                    offset,
                    area_bytes: geometry.area_bytes(),
                    size: self.disk.size_bytes(),
                });
                break;
            }
            let lease = self.read_slot(offset, geometry)?;
            match self.reusable_for(offset, &lease, geometry, name) {
                Ok(()) => {
                    chosen = Some((slot, offset));
                    break;
                }
                Err(err) => {
                    passed_over.get_or_insert(err);
                }
            }
        }
        let Some((slot, offset)) = chosen else {
            return Err(passed_over.unwrap_or_else(|| RindexError::Full {
                path: self.disk.path().to_owned(),
                offset: self.offset,
                entries: index.header.entries(),
            }));
        };
        let mut image = lease_image(geometry, self.lockspace, *name);
        if let Some(full_name) = full_name {
            let (at, len) = name_record_span(geometry);
            let at = usize::try_from(at).expect("inside an area in memory");
            image[at..at + len].copy_from_slice(&name_record::encode(full_name, len));
        }
        self.write(offset, &image)?;
        let entry = RindexEntry { res_offset: offset, flags: 0, name: *name };
        self.write_entry(&index, slot, &entry)?;
        Ok(Entry { name: *name, offset })
    }

    /// Every entry in use, in slot order.
    pub fn list(&self) -> Result<Vec<Entry>, RindexError> {
        let index = self.read_index()?;
        Ok(index
            .scan()
            .filter(|(_, entry)| !entry.is_free())
            .map(|(slot, entry)| index.public(slot, &entry))
            .collect())
    }

    /// The full name recorded in the lease area at `offset` (a slot of
    /// this index), if any: see [`crate::names`].
    pub fn full_name(&self, offset: u64) -> Result<Option<Vec<u8>>, RindexError> {
        let header = self.read_header()?;
        let (at, len) = name_record_span(header.geometry);
        let bytes = self.read(offset + at, len)?;
        name_record::decode(&bytes).map_err(|problem| RindexError::BadLease {
            path: self.disk.path().to_owned(),
            offset: offset + at,
            name: "name record".to_owned(),
            problem,
        })
    }

    /// Removes `name` from the index, then clears its lease (sanlock's
    /// cleared-leader magic), after checking on disk that no host holds
    /// the lease. Whether this host holds it is the caller's to check.
    ///
    /// The caller holds `rindex_lease` (see the module docs).
    pub fn delete(&self, name: &Name) -> Result<Entry, RindexError> {
        let index = self.read_index()?;
        let (slot, entry) = index.find(name).ok_or_else(|| RindexError::NotFound {
            path: self.disk.path().to_owned(),
            offset: self.offset,
            name: name.to_string(),
        })?;
        let geometry = index.header.geometry;
        let offset = index.header.slot_offset(slot);
        let lease = self.read_slot(offset, geometry)?;
        self.check_clearable(offset, &lease, name, geometry)?;
        self.write_entry(&index, slot, &RindexEntry::FREE)?;
        let mut cleared = lease_image(geometry, self.lockspace, entry.name);
        // sanlock's cleared lease is its fresh lease with only the magic
        // replaced: the checksum stays that of the fresh leader.
        cleared[..4].copy_from_slice(&PAXOS_CLEAR_MAGIC.to_le_bytes());
        self.write(offset, &cleared)?;
        Ok(index.public(slot, &entry))
    }

    /// Adds or removes one entry and touches no lease: the low-level repair
    /// sanlock offers as `update`. Adding puts `entry.name` in the slot at
    /// `entry.offset`; it refuses a slot that names another resource and a
    /// name the index has elsewhere, and does nothing if the entry is there
    /// already. Removing frees the slot at `entry.offset`, if it names
    /// `entry.name` (any name if empty); a free slot stays free.
    ///
    /// The caller holds `rindex_lease` (see the module docs).
    pub fn update(&self, entry: &Entry, op: UpdateOp) -> Result<(), RindexError> {
        let index = self.read_index()?;
        let slot = self.slot_index(&index, entry.offset)?;
        let current = index.entry(slot).unwrap_or(RindexEntry::FREE);
        let differs = |found: &Name| RindexError::Differs {
            path: self.disk.path().to_owned(),
            offset: entry.offset,
            expected: entry.name.to_string(),
            found: found.to_string(),
        };
        match op {
            UpdateOp::Add => {
                if entry.name.is_empty() {
                    return Err(self.invalid(entry.offset, "a resource needs a name".to_owned()));
                }
                if current.name.same_as(&entry.name) {
                    return Ok(());
                }
                if !current.is_free() {
                    return Err(differs(&current.name));
                }
                if let Some((other, _)) = index.find(&entry.name) {
                    return Err(RindexError::Exists {
                        path: self.disk.path().to_owned(),
                        offset: index.header.slot_offset(other),
                        name: entry.name.to_string(),
                    });
                }
                let new = RindexEntry { res_offset: entry.offset, flags: 0, name: entry.name };
                self.write_entry(&index, slot, &new)
            }
            UpdateOp::Remove => {
                if current.is_free() {
                    return Ok(());
                }
                if !entry.name.is_empty() && !current.name.same_as(&entry.name) {
                    return Err(differs(&current.name));
                }
                self.write_entry(&index, slot, &RindexEntry::FREE)
            }
        }
    }

    /// Rewrites every entry from the leases found in the slots: a slot whose
    /// leader is a valid resource lease of this lockspace gets an entry with
    /// the leader's resource name; every other entry is freed. The scan
    /// stops at the end of the device. Returns the entries written.
    ///
    /// The caller holds `rindex_lease` (see the module docs).
    pub fn rebuild(&self) -> Result<Vec<Entry>, RindexError> {
        let header = self.read_header()?;
        let geometry = header.geometry;
        let sector_len = geometry.sector_bytes() as usize;
        let mut entries = AlignedBuf::zeroed(header.entry_bytes_used() as usize);
        let mut found = Vec::new();
        let slots = (0..header.entries()).take_while(|&slot| {
            let end = header.slot_offset(slot).checked_add(geometry.area_bytes());
            end.is_some_and(|end| end <= self.disk.size_bytes())
        });
        for (slot, raw) in slots.zip(entries.chunks_exact_mut(ENTRY_BYTES)) {
            let offset = header.slot_offset(slot);
            let sector = self.read(offset, sector_len)?;
            let leader = LeaderRecord::decode_prefix(&sector);
            let valid = leader.verify_in(LeaderKind::Paxos, &self.lockspace) == Ok(geometry);
            let freed = leader.resource_name.same_as(&Name::new(FREED_NAME).expect("a valid name"));
            if valid && !leader.resource_name.is_empty() && !freed {
                let entry =
                    RindexEntry { res_offset: offset, flags: 0, name: leader.resource_name };
                raw.copy_from_slice(&entry.encode());
                found.push(Entry { name: leader.resource_name, offset });
            }
        }
        self.write(header.entry_offset(0), &entries)?;
        Ok(found)
    }

    /// Reads the header and the entries in use, and checks every entry.
    fn read_index(&self) -> Result<Index, RindexError> {
        let header = self.read_header()?;
        // At most 128000 entries of 64 bytes: 8 MiB.
        let len = header.entry_bytes_used() as usize;
        let entries = self.read(header.entry_offset(0), len)?;
        let index = Index { header, entries };
        for (slot, entry) in index.scan() {
            entry
                .verify(slot, header.slot_offset(slot))
                .map_err(|problem| self.corrupt(header.entry_offset(slot), problem))?;
        }
        Ok(index)
    }

    /// Writes the sector that holds entry `slot`, with `entry` in it.
    fn write_entry(
        &self,
        index: &Index,
        slot: u32,
        entry: &RindexEntry,
    ) -> Result<(), RindexError> {
        let sector_len = index.header.geometry.sector_bytes() as usize;
        let within = slot as usize * ENTRY_BYTES;
        let start = within / sector_len * sector_len;
        let mut sector = AlignedBuf::copy_of(&index.entries[start..start + sector_len]);
        let at = within - start;
        sector[at..at + ENTRY_BYTES].copy_from_slice(&entry.encode());
        self.write(index.header.entry_offset(0) + start as u64, &sector)
    }

    /// The entry index of the lease slot at `offset`.
    fn slot_index(&self, index: &Index, offset: u64) -> Result<u32, RindexError> {
        index.header.slot_index(offset).ok_or_else(|| RindexError::NotSlot {
            path: self.disk.path().to_owned(),
            offset,
            rindex_offset: self.offset,
        })
    }

    /// Reads the whole lease area at `offset`, which must fit the device.
    fn read_slot(&self, offset: u64, geometry: Geometry) -> Result<AlignedBuf, RindexError> {
        self.check_fits(offset, geometry.area_bytes())?;
        self.read(offset, area_len(geometry))
    }

    /// A free slot may hold nothing, a cleared lease, a crashed create's
    /// lease or garbage; it must not hold a lockspace, another lockspace's
    /// lease or a lease a host holds.
    /// Whether a free slot's area may take a new lease for `name`: it
    /// holds no lease record, a cleared one, or an unheld lease of this
    /// lockspace left by a delete ([`FREED_NAME`]) or by a create of the
    /// same name that never got its entry (lease version 0). Anything else,
    /// damaged records included, is kept.
    fn reusable_for(
        &self,
        offset: u64,
        area: &[u8],
        geometry: Geometry,
        name: &Name,
    ) -> Result<(), RindexError> {
        let leader = LeaderRecord::decode_prefix(area);
        let sector = &area[..geometry.sector_bytes() as usize];
        if leader.magic == PAXOS_CLEAR_MAGIC || sector.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let in_use =
            |found: String| RindexError::InUse { path: self.disk.path().to_owned(), offset, found };
        let Some(kind) = leader.kind().filter(|kind| leader.verify(*kind).is_ok()) else {
            return Err(in_use("a damaged lease record".to_owned()));
        };
        self.refuse_live_lease_for_create(offset, area, geometry)?;
        let freed = leader.resource_name.same_as(&Name::new(FREED_NAME).expect("a valid name"));
        let unused_twin = leader.resource_name.same_as(name) && leader.lver == 0;
        if kind == LeaderKind::Paxos && (freed || unused_twin) {
            return Ok(());
        }
        Err(in_use(describe(&leader)))
    }

    fn refuse_live_lease_for_create(
        &self,
        offset: u64,
        area: &[u8],
        geometry: Geometry,
    ) -> Result<(), RindexError> {
        let leader = LeaderRecord::decode_prefix(area);
        let Some(kind) = leader.kind() else { return Ok(()) };
        if leader.verify(kind).is_err() {
            return Ok(());
        }
        let in_use =
            |found: String| RindexError::InUse { path: self.disk.path().to_owned(), offset, found };
        if kind == LeaderKind::Delta || !leader.space_name.same_as(&self.lockspace) {
            return Err(in_use(describe(&leader)));
        }
        if leader.geometry() != Some(geometry) {
            return Err(in_use(describe(&leader)));
        }
        match holder(area, &leader, geometry, self.clock.now()) {
            Some(holder) => Err(RindexError::Held {
                path: self.disk.path().to_owned(),
                offset,
                name: leader.resource_name.to_string(),
                holder,
            }),
            None => Ok(()),
        }
    }

    /// The lease at `offset` must be `name`'s, of the index's geometry (or
    /// already cleared), and held by no host.
    fn check_clearable(
        &self,
        offset: u64,
        area: &[u8],
        name: &Name,
        geometry: Geometry,
    ) -> Result<(), RindexError> {
        let leader = LeaderRecord::decode_prefix(area);
        if leader.magic == PAXOS_CLEAR_MAGIC {
            return Ok(());
        }
        let bad = |problem| RindexError::BadLease {
            path: self.disk.path().to_owned(),
            offset,
            name: name.to_string(),
            problem,
        };
        let found = leader.verify_in(LeaderKind::Paxos, &self.lockspace).map_err(bad)?;
        if found != geometry {
            return Err(bad(RecordProblem::WrongGeometry { found, expected: geometry }));
        }
        if !leader.resource_name.same_as(name) {
            return Err(bad(RecordProblem::WrongResource {
                found: leader.resource_name.to_string(),
                expected: name.to_string(),
            }));
        }
        match holder(area, &leader, geometry, self.clock.now()) {
            Some(holder) => Err(RindexError::Held {
                path: self.disk.path().to_owned(),
                offset,
                name: name.to_string(),
                holder,
            }),
            None => Ok(()),
        }
    }

    /// Refuses to format over an index or over any valid lease record in
    /// the area at `offset`.
    fn refuse_if_in_use(&self, offset: u64, geometry: Geometry) -> Result<(), RindexError> {
        let area = self.read(offset, area_len(geometry))?;
        if let Ok(header) = RindexHeader::decode(&area) {
            let found = format!("the resource index of lockspace '{}'", header.lockspace);
            return Err(RindexError::InUse { path: self.disk.path().to_owned(), offset, found });
        }
        // Stepping by 512 finds records of either sector size.
        for (step, sector) in area.chunks_exact(512).enumerate() {
            let leader = LeaderRecord::decode_prefix(sector);
            if let Some(kind) = leader.kind()
                && leader.verify(kind).is_ok()
            {
                return Err(RindexError::InUse {
                    path: self.disk.path().to_owned(),
                    offset: offset + 512 * step as u64,
                    found: describe(&leader),
                });
            }
        }
        Ok(())
    }

    fn check_fits(&self, offset: u64, len: u64) -> Result<(), RindexError> {
        let size = self.disk.size_bytes();
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(RindexError::PastEnd {
                path: self.disk.path().to_owned(),
                offset,
                area_bytes: len,
                size,
            });
        }
        Ok(())
    }

    fn read(&self, offset: u64, len: usize) -> Result<AlignedBuf, RindexError> {
        Ok(self.disk.read(offset, len, self.deadline())?)
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), RindexError> {
        Ok(self.disk.write(offset, data, self.deadline())?)
    }

    fn deadline(&self) -> MonoTime {
        self.clock.now() + self.io_timeout
    }

    fn corrupt(&self, offset: u64, problem: RindexProblem) -> RindexError {
        RindexError::Corrupt { path: self.disk.path().to_owned(), offset, problem }
    }

    fn invalid(&self, offset: u64, reason: String) -> RindexError {
        RindexError::Invalid { path: self.disk.path().to_owned(), offset, reason }
    }
}

/// The area of a fresh, unowned lease with every dblock the geometry has.
fn lease_image(geometry: Geometry, lockspace: Name, name: Name) -> AlignedBuf {
    let mut area = AlignedBuf::zeroed(area_len(geometry));
    fill_resource(&mut area, geometry, lockspace, name, geometry.max_hosts());
    area
}

fn area_len(geometry: Geometry) -> usize {
    // At most 8 MiB.
    geometry.area_bytes() as usize
}

/// Who holds the verified paxos lease of `geometry` whose area is `area`,
/// if anyone.
/// Nothing is known here of any host's liveness, so only the lease itself
/// can say it is free: a leader with no owner or one its owner released
/// (the same rule an acquire applies), and no mode block saying SHARED.
pub fn holder(
    area: &[u8],
    leader: &LeaderRecord,
    geometry: Geometry,
    now: MonoTime,
) -> Option<Holder> {
    let dblock_sector = |host_id: u64| {
        let start = geometry.dblock_offset(host_id) as usize;
        area.get(start..start + geometry.sector_bytes() as usize)
    };
    let owner_dblock = (1..=leader.num_hosts)
        .contains(&leader.owner_id)
        .then(|| dblock_sector(leader.owner_id))
        .flatten()
        .map(Dblock::decode_prefix)
        .filter(|dblock| dblock.verify().is_ok());
    // An empty table: every owner counts as alive unless the lease says
    // otherwise. Host id 0 is nobody.
    let hosts = HostTable::new(Timeouts::new(1, DEFAULT_WATCHDOG_FIRE));
    match judge_owner(leader, owner_dblock.as_ref(), (0, 0), &hosts, now) {
        OwnerVerdict::Free | OwnerVerdict::Released => {}
        _ => {
            return Some(Holder::Owner {
                owner_id: leader.owner_id,
                generation: leader.owner_generation,
            });
        }
    }
    (1..=leader.num_hosts)
        .find(|&host_id| {
            dblock_sector(host_id).is_some_and(|s| ModeBlock::decode_from_sector(s).shared())
        })
        .map(|host_id| Holder::Shared { host_id })
}

/// What an operator should be told a valid leader is.
fn describe(leader: &LeaderRecord) -> String {
    match leader.kind() {
        Some(LeaderKind::Delta) => format!("a delta lease of lockspace '{}'", leader.space_name),
        _ => format!(
            "the lease of resource '{}' in lockspace '{}'",
            leader.resource_name, leader.space_name
        ),
    }
}

#[cfg(test)]
mod tests;
