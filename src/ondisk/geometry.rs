//! Sector size, align size and what follows from them.
//!
//! An area (one lockspace or one resource) is exactly one align size long and
//! starts at a multiple of it. sanlock accepts five sector/align pairs; each
//! fixes how many hosts fit:
//!
//! | sector | align | max_hosts |
//! |--------|-------|-----------|
//! | 512    | 1M    | 2000      |
//! | 4096   | 1M    | 250       |
//! | 4096   | 2M    | 500       |
//! | 4096   | 4M    | 1000      |
//! | 4096   | 8M    | 2000      |
//!
//! With no align given, 512-byte sectors take 1M and 4096-byte sectors 8M,
//! as sanlock does.

use std::fmt;

/// The size of one sector in an area: every record sits at a multiple of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SectorSize {
    B512,
    B4096,
}

impl SectorSize {
    /// Bytes in one sector.
    pub const fn bytes(self) -> u32 {
        match self {
            SectorSize::B512 => 512,
            SectorSize::B4096 => 4096,
        }
    }

    /// The sector size of `bytes`, if it is one of the two valid sizes.
    pub const fn from_bytes(bytes: u64) -> Option<SectorSize> {
        match bytes {
            512 => Some(SectorSize::B512),
            4096 => Some(SectorSize::B4096),
            _ => None,
        }
    }
}

impl fmt::Display for SectorSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.bytes())
    }
}

/// The size of one area, recorded in the leader's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlignSize {
    M1,
    M2,
    M4,
    M8,
}

const MIB: u64 = 1024 * 1024;

/// The leader flag bits that carry the align size.
pub const ALIGN_FLAG_MASK: u32 = 0xF0;

impl AlignSize {
    /// All align sizes, smallest first.
    pub const ALL: [AlignSize; 4] = [AlignSize::M1, AlignSize::M2, AlignSize::M4, AlignSize::M8];

    /// Bytes in one area.
    pub const fn bytes(self) -> u64 {
        match self {
            AlignSize::M1 => MIB,
            AlignSize::M2 => 2 * MIB,
            AlignSize::M4 => 4 * MIB,
            AlignSize::M8 => 8 * MIB,
        }
    }

    /// The leader flag bit for this align size.
    pub const fn flag(self) -> u32 {
        match self {
            AlignSize::M1 => 0x10,
            AlignSize::M2 => 0x20,
            AlignSize::M4 => 0x40,
            AlignSize::M8 => 0x80,
        }
    }

    /// The align size named by `bytes`, if it is one of the four.
    pub const fn from_bytes(bytes: u64) -> Option<AlignSize> {
        match bytes {
            b if b == MIB => Some(AlignSize::M1),
            b if b == 2 * MIB => Some(AlignSize::M2),
            b if b == 4 * MIB => Some(AlignSize::M4),
            b if b == 8 * MIB => Some(AlignSize::M8),
            _ => None,
        }
    }

    /// The align size recorded in leader `flags`: exactly one align bit must
    /// be set. Records written before align flags existed carry none; the
    /// caller decides the legacy default from the sector size.
    pub const fn from_flags(flags: u32) -> Result<Option<AlignSize>, u32> {
        match flags & ALIGN_FLAG_MASK {
            0 => Ok(None),
            0x10 => Ok(Some(AlignSize::M1)),
            0x20 => Ok(Some(AlignSize::M2)),
            0x40 => Ok(Some(AlignSize::M4)),
            0x80 => Ok(Some(AlignSize::M8)),
            other => Err(other),
        }
    }
}

impl fmt::Display for AlignSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}M", self.bytes() / MIB)
    }
}

/// A sector/align pair that sanlock accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    sector_size: SectorSize,
    align: AlignSize,
}

/// A sector/align pair that is not one of the five valid ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "sector size {sector_size} with align size {align} is not valid \
     (valid: 512/1M, 4096/1M, 4096/2M, 4096/4M, 4096/8M)"
)]
pub struct GeometryError {
    pub sector_size: SectorSize,
    pub align: AlignSize,
}

/// Sector index of the request record in a resource area.
pub const REQUEST_SECTOR: u64 = 1;
/// Sector index of host 1's dblock in a resource area.
pub const FIRST_DBLOCK_SECTOR: u64 = 2;
/// Largest host_id sanlock supports in any geometry.
pub const MAX_HOST_ID: u64 = 2000;

impl Geometry {
    /// The pair, if valid.
    pub const fn new(sector_size: SectorSize, align: AlignSize) -> Result<Geometry, GeometryError> {
        match (sector_size, align) {
            (SectorSize::B512, AlignSize::M1) | (SectorSize::B4096, _) => {
                Ok(Geometry { sector_size, align })
            }
            _ => Err(GeometryError { sector_size, align }),
        }
    }

    /// The pair used when no align size is given: 512/1M and 4096/8M.
    pub const fn default_for(sector_size: SectorSize) -> Geometry {
        match sector_size {
            SectorSize::B512 => Geometry { sector_size, align: AlignSize::M1 },
            SectorSize::B4096 => Geometry { sector_size, align: AlignSize::M8 },
        }
    }

    /// The geometry a leader record describes with its `sector_size` field and
    /// its flags. `None` if either is not valid.
    pub fn from_leader(sector_size_bytes: u32, flags: u32) -> Option<Geometry> {
        let sector_size = SectorSize::from_bytes(u64::from(sector_size_bytes))?;
        match AlignSize::from_flags(flags) {
            Ok(Some(align)) => Geometry::new(sector_size, align).ok(),
            Ok(None) => Some(Geometry::default_for(sector_size)),
            Err(_) => None,
        }
    }

    pub const fn sector_size(self) -> SectorSize {
        self.sector_size
    }

    pub const fn align(self) -> AlignSize {
        self.align
    }

    /// Bytes in one sector.
    pub const fn sector_bytes(self) -> u64 {
        self.sector_size.bytes() as u64
    }

    /// Bytes in one area.
    pub const fn area_bytes(self) -> u64 {
        self.align.bytes()
    }

    /// Sectors in one area.
    pub const fn area_sectors(self) -> u64 {
        self.area_bytes() / self.sector_bytes()
    }

    /// How many host_ids a lockspace holds, and how many dblocks a resource
    /// area has room for.
    pub const fn max_hosts(self) -> u64 {
        match (self.sector_size, self.align) {
            (SectorSize::B512, _) => 2000,
            (SectorSize::B4096, AlignSize::M1) => 250,
            (SectorSize::B4096, AlignSize::M2) => 500,
            (SectorSize::B4096, AlignSize::M4) => 1000,
            (SectorSize::B4096, AlignSize::M8) => 2000,
        }
    }

    /// Byte offset, within a lockspace area, of `host_id`'s delta lease.
    pub fn host_sector_offset(self, host_id: u64) -> u64 {
        assert!(host_id >= 1 && host_id <= self.max_hosts(), "host_id {host_id} out of range");
        (host_id - 1) * self.sector_bytes()
    }

    /// Byte offset, within a resource area, of the request record.
    pub const fn request_offset(self) -> u64 {
        REQUEST_SECTOR * self.sector_bytes()
    }

    /// Byte offset, within a resource area, of `host_id`'s dblock.
    pub fn dblock_offset(self, host_id: u64) -> u64 {
        assert!(host_id >= 1 && host_id <= self.max_hosts(), "host_id {host_id} out of range");
        (FIRST_DBLOCK_SECTOR + host_id - 1) * self.sector_bytes()
    }

    /// Byte offset, within a resource area, of the lock value block: the
    /// sector after the last possible dblock. For 512/1M and 4096/8M this is
    /// sector 2002, where sanlock keeps it; for the smaller 4K areas, where
    /// sanlock's fixed sector 2002 would lie past the area's end, it stays
    /// inside the area.
    pub const fn lvb_offset(self) -> u64 {
        (FIRST_DBLOCK_SECTOR + self.max_hosts()) * self.sector_bytes()
    }
}

const _: () = {
    // Every geometry fits its hosts, and a resource area fits the leader, the
    // request record, max_hosts dblocks and the LVB.
    let all = [
        Geometry::default_for(SectorSize::B512),
        Geometry { sector_size: SectorSize::B4096, align: AlignSize::M1 },
        Geometry { sector_size: SectorSize::B4096, align: AlignSize::M2 },
        Geometry { sector_size: SectorSize::B4096, align: AlignSize::M4 },
        Geometry::default_for(SectorSize::B4096),
    ];
    let mut i = 0;
    while i < all.len() {
        let g = all[i];
        assert!(g.max_hosts() <= MAX_HOST_ID);
        assert!(g.lvb_offset() + g.sector_bytes() <= g.area_bytes());
        // The host bitmap in a delta sector has one bit per possible host.
        assert!(g.max_hosts() <= 8 * 256);
        i += 1;
    }
};

impl fmt::Display for Geometry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.sector_size, self.align)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_pairs_and_their_max_hosts() {
        let table = [
            (SectorSize::B512, AlignSize::M1, 2000),
            (SectorSize::B4096, AlignSize::M1, 250),
            (SectorSize::B4096, AlignSize::M2, 500),
            (SectorSize::B4096, AlignSize::M4, 1000),
            (SectorSize::B4096, AlignSize::M8, 2000),
        ];
        for (sector, align, max_hosts) in table {
            let g = Geometry::new(sector, align).unwrap();
            assert_eq!(g.max_hosts(), max_hosts, "{g}");
        }
        for align in [AlignSize::M2, AlignSize::M4, AlignSize::M8] {
            assert_eq!(
                Geometry::new(SectorSize::B512, align),
                Err(GeometryError { sector_size: SectorSize::B512, align })
            );
        }
    }

    #[test]
    fn offsets_match_sanlock() {
        let g = Geometry::default_for(SectorSize::B512);
        assert_eq!(g.host_sector_offset(2000), 0xF9E00);
        assert_eq!(g.dblock_offset(1), 0x400);
        assert_eq!(g.dblock_offset(2000), 0xFA200);
        assert_eq!(g.lvb_offset(), 2002 * 512);
        let g8 = Geometry::default_for(SectorSize::B4096);
        assert_eq!(g8.align(), AlignSize::M8);
        assert_eq!(g8.lvb_offset(), 2002 * 4096);
        let g1 = Geometry::new(SectorSize::B4096, AlignSize::M1).unwrap();
        assert_eq!(g1.lvb_offset(), 252 * 4096);
    }

    #[test]
    fn geometry_from_leader_fields() {
        assert_eq!(
            Geometry::from_leader(4096, 0x20),
            Geometry::new(SectorSize::B4096, AlignSize::M2).ok()
        );
        assert_eq!(Geometry::from_leader(512, 0), Some(Geometry::default_for(SectorSize::B512)));
        assert_eq!(Geometry::from_leader(4096, 0), Some(Geometry::default_for(SectorSize::B4096)));
        assert_eq!(Geometry::from_leader(512, 0x20), None);
        assert_eq!(Geometry::from_leader(512, 0x30), None);
        assert_eq!(Geometry::from_leader(1024, 0x10), None);
        // SHORT_HOLD and other low bits do not disturb the align bits.
        assert_eq!(Geometry::from_leader(512, 0x11), Some(Geometry::default_for(SectorSize::B512)));
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn host_zero_has_no_sector() {
        Geometry::default_for(SectorSize::B512).host_sector_offset(0);
    }
}
