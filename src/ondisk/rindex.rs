//! The resource index (sanlock's "rindex"): one area whose sector 0 holds a
//! header and whose next sectors hold 64-byte entries, each naming the
//! resource lease in one slot after the index.
//!
//! ```text
//!  rx_offset             rx_offset + align      rx_offset + (2 + N)·align
//!  +-------------------+ +--------------------+ +------------------------+
//!  | index area        | | "rindex_lease":    | | slot N: the resource   |
//!  | sector 0: header  | | the paxos lease    | | lease entry N names    |
//!  | sectors 1..:      | | that guards the    | |                        |
//!  | entries           | | index              | |                        |
//!  +-------------------+ +--------------------+ +------------------------+
//!
//! header (sector 0 of the index area)
//!  off  size  field
//!    0     4  magic           0x01042018
//!    4     4  version         0x00010002
//!    8     4  flags           align: 1M 0x1, 2M 0x2, 4M 0x4, 8M 0x8
//!   12     4  sector_size     512 | 4096
//!   16     4  max_resources   entries in use (0 = all that fit)
//!   20     4  unused          0
//!   24     8  rx_offset       the index area's own offset
//!   32    48  lockspace_name
//!
//! entry N (64 bytes at rx_offset + sector_size + 64·N)
//!  off  size  field
//!    0     8  res_offset      slot N's offset; 0 if free
//!    8     4  flags           0
//!   12     4  unused          0
//!   16    48  name            the resource's name; empty if free
//! ```
//!
//! sanlock 3.8 gives the header **no checksum** (Debian's 3.8.5 writes
//! nothing past byte 80 of the sector, and reads nothing there), so a header
//! is trusted only when its magic, major version, geometry, `max_resources`,
//! lockspace name and `rx_offset` all agree with what the caller expects:
//! `rx_offset` in particular ties the header to the offset it was read at,
//! which a stray copy of an index elsewhere on the device would fail.
//!
//! The entry region has as many sectors as a resource area has dblocks
//! (`Geometry::max_hosts`): 2000 × 512 bytes or 250 to 2000 × 4096 bytes, so
//! 16000 entries at 1M align up to 128000 at 8M.
//!
//! Everything here is pure. Decoding accepts any bytes and reports the first
//! problem as a [`RindexProblem`]; the caller adds the path and offset.

use super::geometry::{AlignSize, Geometry, SectorSize};
use super::name::{NAME_BYTES, Name};
use super::{get_u32, get_u64, put_u32, put_u64};

/// Magic of an index header.
pub const RINDEX_MAGIC: u32 = 0x0104_2018;
/// Version written in index headers: major 1, minor 2 (the one that added
/// the align flags). Readers check the major half.
pub const RINDEX_VERSION: u32 = 0x0001_0002;
/// Bytes of the header at the start of sector 0.
pub const HEADER_BYTES: usize = 80;
/// Bytes of one entry.
pub const ENTRY_BYTES: usize = 64;
/// `max_resources` when the caller names none, as in sanlock: it bounds the
/// linear scan of every lookup, and the device space the index can claim.
pub const DEFAULT_MAX_RESOURCES: u32 = 4096;
/// The header flag bits that carry the align size.
const ALIGN_FLAG_MASK: u32 = 0xF;

const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 4;
const OFF_FLAGS: usize = 8;
const OFF_SECTOR_SIZE: usize = 12;
const OFF_MAX_RESOURCES: usize = 16;
const OFF_RX_OFFSET: usize = 24;
const OFF_LOCKSPACE: usize = 32;

const ENTRY_OFF_RES_OFFSET: usize = 0;
const ENTRY_OFF_FLAGS: usize = 8;
const ENTRY_OFF_NAME: usize = 16;

const _: () = {
    assert!(OFF_LOCKSPACE + NAME_BYTES == HEADER_BYTES);
    assert!(ENTRY_OFF_NAME + NAME_BYTES == ENTRY_BYTES);
    // sanlock's capacities (MAX_RINDEX_ENTRIES_1M .. _8M), and the header
    // sector plus the entries fit in the area.
    let table = [
        (Geometry::default_for(SectorSize::B512), 16000),
        (Geometry::default_for(SectorSize::B4096), 128000),
    ];
    let mut i = 0;
    while i < table.len() {
        let (g, capacity) = table[i];
        assert!(capacity_of(g) == capacity);
        assert!(entry_sectors(g) < g.area_sectors());
        i += 1;
    }
};

/// Sectors after the header that hold entries: as many as a resource area
/// has dblocks, which is how sanlock sizes the region.
pub const fn entry_sectors(geometry: Geometry) -> u64 {
    geometry.max_hosts()
}

/// The most entries an index of `geometry` can hold.
pub const fn capacity_of(geometry: Geometry) -> u32 {
    // At most 2000 × 4096 / 64 = 128000: fits a u32.
    (entry_sectors(geometry) * geometry.sector_bytes() / ENTRY_BYTES as u64) as u32
}

/// What is wrong with an index header or entry read from disk.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RindexProblem {
    #[error("no resource index here: bad magic 0x{found:08x} (expected 0x{RINDEX_MAGIC:08x})")]
    BadMagic { found: u32 },
    #[error(
        "resource index version 0x{found:08x} is not supported (expected major version {})",
        RINDEX_VERSION >> 16
    )]
    BadVersion { found: u32 },
    #[error("resource index has an invalid geometry: sector_size {sector_size}, flags 0x{flags:x}")]
    BadGeometry { sector_size: u32, flags: u32 },
    #[error("resource index declares max_resources {found}; a {geometry} index holds {limit}")]
    BadMaxResources { found: u32, geometry: Geometry, limit: u32 },
    #[error("resource index belongs to lockspace '{found}', not '{expected}'")]
    WrongLockspace { found: String, expected: String },
    #[error("resource index header records offset {found}, but was read at {expected}")]
    WrongOffset { found: u64, expected: u64 },
    #[error("entry {index} records offset {found} with no name")]
    NamelessEntry { index: u32, found: u64 },
    #[error("entry {index} ('{name}') records offset {found}, but its slot is at {expected}")]
    MisplacedEntry { index: u32, name: String, found: u64, expected: u64 },
}

/// A decoded, self-consistent index header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RindexHeader {
    /// The sector and align size of the index and of every lease it names.
    pub geometry: Geometry,
    /// How many entries are in use; 0 (never written by us) means all that
    /// fit, as sanlock reads it.
    pub max_resources: u32,
    /// The offset of the index area on the device.
    pub rx_offset: u64,
    /// The lockspace whose resources the index names.
    pub lockspace: Name,
    /// As found on disk (major 1; minor 1 predates the align flags).
    pub version: u32,
}

impl RindexHeader {
    /// A header for a new index. `max_resources` must be 1 to the capacity.
    pub fn new(
        geometry: Geometry,
        max_resources: u32,
        rx_offset: u64,
        lockspace: Name,
    ) -> Result<RindexHeader, RindexProblem> {
        let limit = capacity_of(geometry);
        if max_resources == 0 || max_resources > limit {
            return Err(RindexProblem::BadMaxResources { found: max_resources, geometry, limit });
        }
        Ok(RindexHeader { geometry, max_resources, rx_offset, lockspace, version: RINDEX_VERSION })
    }

    /// Encodes the header; bytes 20..24 (unused) are zero.
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut raw = [0u8; HEADER_BYTES];
        put_u32(&mut raw, OFF_MAGIC, RINDEX_MAGIC);
        put_u32(&mut raw, OFF_VERSION, self.version);
        put_u32(&mut raw, OFF_FLAGS, align_flag(self.geometry.align()));
        put_u32(&mut raw, OFF_SECTOR_SIZE, self.geometry.sector_size().bytes());
        put_u32(&mut raw, OFF_MAX_RESOURCES, self.max_resources);
        put_u64(&mut raw, OFF_RX_OFFSET, self.rx_offset);
        raw[OFF_LOCKSPACE..].copy_from_slice(&self.lockspace.to_disk());
        raw
    }

    /// Decodes a header from the start of sector 0 (shorter input counts as
    /// zero-padded), checking magic, major version, geometry and
    /// `max_resources`, in that order.
    pub fn decode(sector: &[u8]) -> Result<RindexHeader, RindexProblem> {
        let mut raw = [0u8; HEADER_BYTES];
        let len = sector.len().min(HEADER_BYTES);
        raw[..len].copy_from_slice(&sector[..len]);
        let magic = get_u32(&raw, OFF_MAGIC);
        if magic != RINDEX_MAGIC {
            return Err(RindexProblem::BadMagic { found: magic });
        }
        let version = get_u32(&raw, OFF_VERSION);
        if version >> 16 != RINDEX_VERSION >> 16 {
            return Err(RindexProblem::BadVersion { found: version });
        }
        let flags = get_u32(&raw, OFF_FLAGS);
        let sector_size = get_u32(&raw, OFF_SECTOR_SIZE);
        let geometry = header_geometry(sector_size, flags)
            .ok_or(RindexProblem::BadGeometry { sector_size, flags })?;
        let max_resources = get_u32(&raw, OFF_MAX_RESOURCES);
        let limit = capacity_of(geometry);
        if max_resources > limit {
            return Err(RindexProblem::BadMaxResources { found: max_resources, geometry, limit });
        }
        let mut lockspace = [0u8; NAME_BYTES];
        lockspace.copy_from_slice(&raw[OFF_LOCKSPACE..]);
        Ok(RindexHeader {
            geometry,
            max_resources,
            rx_offset: get_u64(&raw, OFF_RX_OFFSET),
            lockspace: Name::from_disk(lockspace),
            version,
        })
    }

    /// Checks that this is the index of `lockspace` that was read at
    /// `offset`.
    pub fn verify_for(&self, lockspace: &Name, offset: u64) -> Result<(), RindexProblem> {
        if !self.lockspace.same_as(lockspace) {
            return Err(RindexProblem::WrongLockspace {
                found: self.lockspace.to_string(),
                expected: lockspace.to_string(),
            });
        }
        if self.rx_offset != offset {
            return Err(RindexProblem::WrongOffset { found: self.rx_offset, expected: offset });
        }
        Ok(())
    }

    /// How many entries are in use: `max_resources`, or all that fit if 0.
    pub const fn entries(&self) -> u32 {
        if self.max_resources == 0 { capacity_of(self.geometry) } else { self.max_resources }
    }

    /// Bytes of the entries in use, rounded up to whole sectors: what a scan
    /// reads, starting one sector into the area.
    pub const fn entry_bytes_used(&self) -> u64 {
        let sector = self.geometry.sector_bytes();
        (self.entries() as u64 * ENTRY_BYTES as u64).div_ceil(sector) * sector
    }

    /// Offset of the `rindex_lease` that guards the index: the next area.
    pub const fn lease_offset(&self) -> u64 {
        self.rx_offset.saturating_add(self.geometry.area_bytes())
    }

    /// Offset of the resource lease that entry `index` names. Offsets
    /// saturate rather than wrap: `rx_offset` comes from disk, and a
    /// saturated offset lies past the end of any device.
    pub const fn slot_offset(&self, index: u32) -> u64 {
        let past = (2 + index as u64) * self.geometry.area_bytes();
        self.rx_offset.saturating_add(past)
    }

    /// The entry index whose slot starts at `offset`, if it is one in use.
    pub fn slot_index(&self, offset: u64) -> Option<u32> {
        let area = self.geometry.area_bytes();
        let past = offset.checked_sub(self.slot_offset(0))?;
        if !past.is_multiple_of(area) {
            return None;
        }
        u32::try_from(past / area).ok().filter(|&index| index < self.entries())
    }

    /// Offset of entry `index` on the device.
    pub const fn entry_offset(&self, index: u32) -> u64 {
        let past = self.geometry.sector_bytes() + index as u64 * ENTRY_BYTES as u64;
        self.rx_offset.saturating_add(past)
    }
}

/// The header flag for an align size (not the leader's 0x10..0x80 bits).
const fn align_flag(align: AlignSize) -> u32 {
    match align {
        AlignSize::M1 => 0x1,
        AlignSize::M2 => 0x2,
        AlignSize::M4 => 0x4,
        AlignSize::M8 => 0x8,
    }
}

/// The geometry a header declares. Headers of minor version 1 carry no
/// align flag: their align follows from the sector size, as in leaders.
/// Flag bits above the align bits are left to later minor versions.
fn header_geometry(sector_size: u32, flags: u32) -> Option<Geometry> {
    let sector_size = SectorSize::from_bytes(u64::from(sector_size))?;
    let align = match flags & ALIGN_FLAG_MASK {
        0 => return Some(Geometry::default_for(sector_size)),
        0x1 => AlignSize::M1,
        0x2 => AlignSize::M2,
        0x4 => AlignSize::M4,
        0x8 => AlignSize::M8,
        _ => return None,
    };
    Geometry::new(sector_size, align).ok()
}

/// One 64-byte entry as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RindexEntry {
    /// The offset of the lease the entry names; 0 if free.
    pub res_offset: u64,
    /// No flag is defined; written 0.
    pub flags: u32,
    /// The resource name; empty if free.
    pub name: Name,
}

impl RindexEntry {
    /// A free entry.
    pub const FREE: RindexEntry = RindexEntry { res_offset: 0, flags: 0, name: Name::EMPTY };

    /// Decodes one entry. Any bytes decode.
    pub fn decode(raw: &[u8; ENTRY_BYTES]) -> RindexEntry {
        let mut name = [0u8; NAME_BYTES];
        name.copy_from_slice(&raw[ENTRY_OFF_NAME..]);
        RindexEntry {
            res_offset: get_u64(raw, ENTRY_OFF_RES_OFFSET),
            flags: get_u32(raw, ENTRY_OFF_FLAGS),
            name: Name::from_disk(name),
        }
    }

    /// Encodes the entry; the unused word is zero.
    pub fn encode(&self) -> [u8; ENTRY_BYTES] {
        let mut raw = [0u8; ENTRY_BYTES];
        put_u64(&mut raw, ENTRY_OFF_RES_OFFSET, self.res_offset);
        put_u32(&mut raw, ENTRY_OFF_FLAGS, self.flags);
        raw[ENTRY_OFF_NAME..].copy_from_slice(&self.name.to_disk());
        raw
    }

    /// Free as sanlock decides it: no offset and no name.
    pub fn is_free(&self) -> bool {
        self.res_offset == 0 && self.name.is_empty()
    }

    /// Checks that a used entry has a name and records its own slot's
    /// offset (`expected`), as every sanlock and lease writer leaves it.
    pub fn verify(&self, index: u32, expected: u64) -> Result<(), RindexProblem> {
        if self.is_free() {
            return Ok(());
        }
        if self.name.is_empty() {
            return Err(RindexProblem::NamelessEntry { index, found: self.res_offset });
        }
        if self.res_offset != expected {
            return Err(RindexProblem::MisplacedEntry {
                index,
                name: self.name.to_string(),
                found: self.res_offset,
                expected,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIB: u64 = 1 << 20;

    fn ls() -> Name {
        Name::new("ls_name").unwrap()
    }

    /// Sector 0 of the index Debian's sanlock 3.8.5 wrote for
    /// `sanlock direct format -x ls_name:PATH:1M` (bytes 0..80; the rest of
    /// the sector is zero).
    fn sanlock_header_512_1m() -> [u8; HEADER_BYTES] {
        let mut raw = [0u8; HEADER_BYTES];
        raw[..32].copy_from_slice(&[
            0x18, 0x20, 0x04, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x02,
            0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
            0x00, 0x00, 0x00, 0x00,
        ]);
        raw[32..39].copy_from_slice(b"ls_name");
        raw
    }

    #[test]
    fn header_matches_sanlock_byte_for_byte() {
        let g = Geometry::default_for(SectorSize::B512);
        let header = RindexHeader::new(g, DEFAULT_MAX_RESOURCES, MIB, ls()).unwrap();
        assert_eq!(header.encode(), sanlock_header_512_1m());
        assert_eq!(RindexHeader::decode(&sanlock_header_512_1m()), Ok(header));
        assert_eq!(header.verify_for(&ls(), MIB), Ok(()));
        assert_eq!(header.lease_offset(), 2 * MIB);
        assert_eq!(header.slot_offset(0), 3 * MIB);
        assert_eq!(header.entry_offset(0), MIB + 512);
        assert_eq!(header.entry_bytes_used(), 4096 * 64);
    }

    #[test]
    fn align_flags_and_capacities() {
        for (align, flag, capacity) in [
            (AlignSize::M1, 1, 16000),
            (AlignSize::M2, 2, 32000),
            (AlignSize::M4, 4, 64000),
            (AlignSize::M8, 8, 128000),
        ] {
            let g = Geometry::new(SectorSize::B4096, align).unwrap();
            assert_eq!(capacity_of(g), capacity, "{g}");
            let header = RindexHeader::new(g, 7, 8 * MIB, ls()).unwrap();
            let raw = header.encode();
            assert_eq!(get_u32(&raw, OFF_FLAGS), flag);
            assert_eq!(get_u32(&raw, OFF_SECTOR_SIZE), 4096);
            assert_eq!(RindexHeader::decode(&raw), Ok(header));
            assert_eq!(header.entry_bytes_used(), 4096, "7 entries round up to one sector");
        }
        assert_eq!(capacity_of(Geometry::default_for(SectorSize::B512)), 16000);
    }

    #[test]
    fn legacy_header_without_align_flag_takes_the_default_align() {
        let mut raw = sanlock_header_512_1m();
        put_u32(&mut raw, OFF_VERSION, 0x0001_0001);
        put_u32(&mut raw, OFF_FLAGS, 0);
        put_u32(&mut raw, OFF_SECTOR_SIZE, 4096);
        put_u32(&mut raw, OFF_MAX_RESOURCES, 0);
        let header = RindexHeader::decode(&raw).unwrap();
        assert_eq!(header.geometry, Geometry::default_for(SectorSize::B4096));
        assert_eq!(header.entries(), 128000, "max_resources 0 means all that fit");
    }

    #[test]
    fn decode_names_the_first_problem() {
        let good = sanlock_header_512_1m();
        let with = |off: usize, value: u32| {
            let mut raw = good;
            put_u32(&mut raw, off, value);
            RindexHeader::decode(&raw)
        };
        assert_eq!(RindexHeader::decode(&[0u8; 512]), Err(RindexProblem::BadMagic { found: 0 }));
        assert_eq!(
            with(OFF_MAGIC, 0x0615_2010),
            Err(RindexProblem::BadMagic { found: 0x0615_2010 })
        );
        assert_eq!(
            with(OFF_VERSION, 0x0002_0002),
            Err(RindexProblem::BadVersion { found: 0x0002_0002 })
        );
        assert_eq!(with(OFF_VERSION, 0x0001_0007).map(|h| h.version), Ok(0x0001_0007));
        assert_eq!(
            with(OFF_FLAGS, 0x3),
            Err(RindexProblem::BadGeometry { sector_size: 512, flags: 0x3 })
        );
        assert_eq!(
            with(OFF_FLAGS, 0x8),
            Err(RindexProblem::BadGeometry { sector_size: 512, flags: 0x8 })
        );
        assert_eq!(
            with(OFF_SECTOR_SIZE, 1024),
            Err(RindexProblem::BadGeometry { sector_size: 1024, flags: 0x1 })
        );
        assert!(matches!(
            with(OFF_MAX_RESOURCES, 16001),
            Err(RindexProblem::BadMaxResources { found: 16001, limit: 16000, .. })
        ));
        let header = RindexHeader::decode(&good).unwrap();
        assert!(matches!(
            header.verify_for(&Name::new("other").unwrap(), MIB),
            Err(RindexProblem::WrongLockspace { .. })
        ));
        assert_eq!(
            header.verify_for(&ls(), 2 * MIB),
            Err(RindexProblem::WrongOffset { found: MIB, expected: 2 * MIB })
        );
        assert_eq!(
            RindexHeader::decode(&good[..10]),
            Err(RindexProblem::BadGeometry { sector_size: 0, flags: 1 })
        );
    }

    #[test]
    fn new_refuses_max_resources_beyond_capacity() {
        let g = Geometry::default_for(SectorSize::B512);
        for bad in [0, 16001] {
            assert!(matches!(
                RindexHeader::new(g, bad, MIB, ls()),
                Err(RindexProblem::BadMaxResources { found, .. }) if found == bad
            ));
        }
        assert!(RindexHeader::new(g, 16000, MIB, ls()).is_ok());
    }

    #[test]
    fn slots_map_to_entry_indexes_and_back() {
        let g = Geometry::default_for(SectorSize::B512);
        let header = RindexHeader::new(g, 10, MIB, ls()).unwrap();
        assert_eq!(header.slot_index(3 * MIB), Some(0));
        assert_eq!(header.slot_index(12 * MIB), Some(9));
        assert_eq!(header.slot_index(13 * MIB), None, "past max_resources");
        assert_eq!(header.slot_index(2 * MIB), None, "the rindex lease is no slot");
        assert_eq!(header.slot_index(3 * MIB + 512), None, "unaligned");
        assert_eq!(header.slot_index(u64::MAX), None);
    }

    #[test]
    fn entry_layout_as_sanlocks_tests_check_it() {
        // util.check_rindex_entry unpacks "<Q L L 48s".
        let entry = RindexEntry { res_offset: 3 * MIB, flags: 0, name: Name::new("res").unwrap() };
        let raw = entry.encode();
        assert_eq!(get_u64(&raw, 0), 3 * MIB);
        assert_eq!(get_u32(&raw, 8), 0);
        assert_eq!(get_u32(&raw, 12), 0);
        assert_eq!(&raw[16..19], b"res");
        assert!(raw[19..].iter().all(|&b| b == 0));
        assert_eq!(RindexEntry::decode(&raw), entry);
        assert!(RindexEntry::decode(&[0u8; ENTRY_BYTES]).is_free());
        assert_eq!(entry.verify(0, 3 * MIB), Ok(()));
        assert!(matches!(
            entry.verify(1, 4 * MIB),
            Err(RindexProblem::MisplacedEntry { index: 1, found, expected, .. })
                if found == 3 * MIB && expected == 4 * MIB
        ));
        let nameless = RindexEntry { name: Name::EMPTY, ..entry };
        assert!(!nameless.is_free());
        assert_eq!(
            nameless.verify(0, 3 * MIB),
            Err(RindexProblem::NamelessEntry { index: 0, found: 3 * MIB })
        );
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panicking(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            magic_ok: bool,
        ) {
            let mut bytes = bytes;
            if magic_ok && bytes.len() >= 8 {
                bytes[..8].copy_from_slice(&sanlock_header_512_1m()[..8]);
            }
            if let Ok(header) = RindexHeader::decode(&bytes) {
                prop_assert!(header.entries() <= capacity_of(header.geometry));
                prop_assert!(header.entries() >= 1);
                let _ = header.slot_index(header.rx_offset);
            }
            let mut raw = [0u8; ENTRY_BYTES];
            let len = bytes.len().min(ENTRY_BYTES);
            raw[..len].copy_from_slice(&bytes[..len]);
            let entry = RindexEntry::decode(&raw);
            prop_assert_eq!(&entry.encode()[..12], &raw[..12]);
            prop_assert_eq!(&entry.encode()[16..], &raw[16..]);
        }
    }
}
