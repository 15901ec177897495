//! The leader record: the first 200 bytes of every delta lease sector and of
//! the first sector of every resource area.
//!
//! ```text
//!  off  size  field              delta lease            paxos lease
//!    0     4  magic              0x12212010             0x06152010
//!    4     4  version            0x00030004             0x00060004
//!    8     4  flags              align bits 0x10..0x80  + SHORT_HOLD 0x1
//!   12     4  sector_size        512 | 4096             512 | 4096
//!   16     8  num_hosts          0                      dblocks in use
//!   24     8  max_hosts          1                      dblocks that fit
//!   32     8  owner_id           host_id                owner's host_id
//!   40     8  owner_generation   +1 per acquire         owner's generation
//!   48     8  lver               0                      +1 per owner change
//!   56    48  space_name         lockspace              lockspace
//!  104    48  resource_name      holder's host name     resource name
//!  152     8  timestamp          monotonic seconds      owner's ballot time
//!  160     8  unused1
//!  168     4  checksum           sanlock CRC-32C of bytes [0, 168)
//!  172     2  unused2
//!  174     2  io_timeout         holder's io_timeout    0
//!  176     8  write_id           event data             writer's host_id
//!  184     8  write_generation   event data             writer's generation
//!  192     8  write_timestamp    event data             writer's time
//! ```
//!
//! Every integer is little-endian. Decoding accepts any 200 bytes and never
//! fails; [`LeaderRecord::verify`] then says whether they are a valid record
//! of the expected kind.

use super::geometry::Geometry;
use super::name::{NAME_BYTES, Name};
use super::{RecordProblem, get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};
use crate::ondisk::checksum::sanlock_crc32c;

/// Bytes of a leader record.
pub const LEADER_BYTES: usize = 200;
/// Bytes covered by the leader checksum: everything before it.
pub const LEADER_CHECKSUM_LEN: usize = 168;

/// Magic of a delta lease (host_id) sector.
pub const DELTA_MAGIC: u32 = 0x1221_2010;
/// Magic of a paxos (resource) leader.
pub const PAXOS_MAGIC: u32 = 0x0615_2010;
/// Magic of a resource leader that was cleared: no longer a usable lease.
pub const PAXOS_CLEAR_MAGIC: u32 = 0x1128_2016;
/// Version written in delta lease sectors; readers check the major half.
pub const DELTA_VERSION: u32 = 0x0003_0004;
/// Version written in paxos leaders; readers check the major half.
pub const PAXOS_VERSION: u32 = 0x0006_0004;
/// Paxos leader flag: the owner holds the lease only while converting it to
/// shared mode, and will release it at once.
pub const LEADER_FLAG_SHORT_HOLD: u32 = 0x1;

const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 4;
const OFF_FLAGS: usize = 8;
const OFF_SECTOR_SIZE: usize = 12;
const OFF_NUM_HOSTS: usize = 16;
const OFF_MAX_HOSTS: usize = 24;
const OFF_OWNER_ID: usize = 32;
const OFF_OWNER_GENERATION: usize = 40;
const OFF_LVER: usize = 48;
const OFF_SPACE_NAME: usize = 56;
const OFF_RESOURCE_NAME: usize = 104;
const OFF_TIMESTAMP: usize = 152;
const OFF_UNUSED1: usize = 160;
const OFF_CHECKSUM: usize = 168;
const OFF_UNUSED2: usize = 172;
const OFF_IO_TIMEOUT: usize = 174;
const OFF_WRITE_ID: usize = 176;
const OFF_WRITE_GENERATION: usize = 184;
const OFF_WRITE_TIMESTAMP: usize = 192;

const _: () = {
    assert!(OFF_SPACE_NAME + NAME_BYTES == OFF_RESOURCE_NAME);
    assert!(OFF_RESOURCE_NAME + NAME_BYTES == OFF_TIMESTAMP);
    assert!(OFF_CHECKSUM == LEADER_CHECKSUM_LEN);
    assert!(OFF_WRITE_TIMESTAMP + 8 == LEADER_BYTES);
    // The host bitmap of a delta sector starts at byte 256.
    assert!(LEADER_BYTES <= super::bitmap::HOST_BITMAP_OFFSET);
};

/// Which of the two lease algorithms a leader belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaderKind {
    /// A host_id lease in a lockspace area.
    Delta,
    /// A resource lease.
    Paxos,
}

impl LeaderKind {
    /// The magic this kind of record carries.
    pub const fn magic(self) -> u32 {
        match self {
            LeaderKind::Delta => DELTA_MAGIC,
            LeaderKind::Paxos => PAXOS_MAGIC,
        }
    }

    /// The version this kind of record is written with.
    pub const fn version(self) -> u32 {
        match self {
            LeaderKind::Delta => DELTA_VERSION,
            LeaderKind::Paxos => PAXOS_VERSION,
        }
    }

    /// The kind whose magic is `magic`.
    pub const fn from_magic(magic: u32) -> Option<LeaderKind> {
        match magic {
            DELTA_MAGIC => Some(LeaderKind::Delta),
            PAXOS_MAGIC => Some(LeaderKind::Paxos),
            _ => None,
        }
    }

    /// What an operator calls the area this record heads.
    pub const fn area_name(self) -> &'static str {
        match self {
            LeaderKind::Delta => "lockspace",
            LeaderKind::Paxos => "resource",
        }
    }
}

/// A decoded leader record. Field names follow sanlock's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LeaderRecord {
    pub magic: u32,
    pub version: u32,
    pub flags: u32,
    pub sector_size: u32,
    pub num_hosts: u64,
    pub max_hosts: u64,
    pub owner_id: u64,
    pub owner_generation: u64,
    pub lver: u64,
    pub space_name: Name,
    pub resource_name: Name,
    pub timestamp: u64,
    #[serde(skip)]
    pub unused1: u64,
    /// The checksum as found on disk; [`LeaderRecord::encode`] ignores it and
    /// writes the checksum of the encoded bytes.
    pub checksum: u32,
    #[serde(skip)]
    pub unused2: u16,
    pub io_timeout: u16,
    pub write_id: u64,
    pub write_generation: u64,
    pub write_timestamp: u64,
}

impl LeaderRecord {
    /// The leader of a free host_id sector in a freshly initialised lockspace.
    pub fn new_delta(geometry: Geometry, space_name: Name, io_timeout_s: u8) -> LeaderRecord {
        LeaderRecord {
            magic: DELTA_MAGIC,
            version: DELTA_VERSION,
            flags: geometry.align().flag(),
            sector_size: geometry.sector_size().bytes(),
            num_hosts: 0,
            max_hosts: 1,
            space_name,
            io_timeout: u16::from(io_timeout_s),
            ..LeaderRecord::zeroed()
        }
    }

    /// The leader of a freshly initialised, unowned resource.
    pub fn new_paxos(
        geometry: Geometry,
        space_name: Name,
        resource_name: Name,
        num_hosts: u64,
    ) -> LeaderRecord {
        assert!(num_hosts >= 1, "a resource needs at least one dblock");
        assert!(num_hosts <= geometry.max_hosts(), "num_hosts {num_hosts} exceeds {geometry}");
        LeaderRecord {
            magic: PAXOS_MAGIC,
            version: PAXOS_VERSION,
            flags: geometry.align().flag(),
            sector_size: geometry.sector_size().bytes(),
            num_hosts,
            max_hosts: geometry.max_hosts(),
            space_name,
            resource_name,
            ..LeaderRecord::zeroed()
        }
    }

    /// A record whose every field is zero.
    pub const fn zeroed() -> LeaderRecord {
        LeaderRecord {
            magic: 0,
            version: 0,
            flags: 0,
            sector_size: 0,
            num_hosts: 0,
            max_hosts: 0,
            owner_id: 0,
            owner_generation: 0,
            lver: 0,
            space_name: Name::EMPTY,
            resource_name: Name::EMPTY,
            timestamp: 0,
            unused1: 0,
            checksum: 0,
            unused2: 0,
            io_timeout: 0,
            write_id: 0,
            write_generation: 0,
            write_timestamp: 0,
        }
    }

    /// Decodes the first [`LEADER_BYTES`] of `raw`. Any bytes decode; nothing
    /// is checked here.
    pub fn decode(raw: &[u8; LEADER_BYTES]) -> LeaderRecord {
        let name_at = |off: usize| {
            let mut bytes = [0u8; NAME_BYTES];
            bytes.copy_from_slice(&raw[off..off + NAME_BYTES]);
            Name::from_disk(bytes)
        };
        LeaderRecord {
            magic: get_u32(raw, OFF_MAGIC),
            version: get_u32(raw, OFF_VERSION),
            flags: get_u32(raw, OFF_FLAGS),
            sector_size: get_u32(raw, OFF_SECTOR_SIZE),
            num_hosts: get_u64(raw, OFF_NUM_HOSTS),
            max_hosts: get_u64(raw, OFF_MAX_HOSTS),
            owner_id: get_u64(raw, OFF_OWNER_ID),
            owner_generation: get_u64(raw, OFF_OWNER_GENERATION),
            lver: get_u64(raw, OFF_LVER),
            space_name: name_at(OFF_SPACE_NAME),
            resource_name: name_at(OFF_RESOURCE_NAME),
            timestamp: get_u64(raw, OFF_TIMESTAMP),
            unused1: get_u64(raw, OFF_UNUSED1),
            checksum: get_u32(raw, OFF_CHECKSUM),
            unused2: get_u16(raw, OFF_UNUSED2),
            io_timeout: get_u16(raw, OFF_IO_TIMEOUT),
            write_id: get_u64(raw, OFF_WRITE_ID),
            write_generation: get_u64(raw, OFF_WRITE_GENERATION),
            write_timestamp: get_u64(raw, OFF_WRITE_TIMESTAMP),
        }
    }

    /// Decodes the leader at the start of a sector-sized buffer.
    pub fn decode_prefix(sector: &[u8]) -> LeaderRecord {
        let raw: &[u8; LEADER_BYTES] =
            sector[..LEADER_BYTES].try_into().expect("a sector is longer than a leader record");
        LeaderRecord::decode(raw)
    }

    /// Encodes the record with a fresh checksum. Every byte of the result is
    /// set from a field; none is left over from an earlier buffer.
    pub fn encode(&self) -> [u8; LEADER_BYTES] {
        let mut raw = [0u8; LEADER_BYTES];
        put_u32(&mut raw, OFF_MAGIC, self.magic);
        put_u32(&mut raw, OFF_VERSION, self.version);
        put_u32(&mut raw, OFF_FLAGS, self.flags);
        put_u32(&mut raw, OFF_SECTOR_SIZE, self.sector_size);
        put_u64(&mut raw, OFF_NUM_HOSTS, self.num_hosts);
        put_u64(&mut raw, OFF_MAX_HOSTS, self.max_hosts);
        put_u64(&mut raw, OFF_OWNER_ID, self.owner_id);
        put_u64(&mut raw, OFF_OWNER_GENERATION, self.owner_generation);
        put_u64(&mut raw, OFF_LVER, self.lver);
        raw[OFF_SPACE_NAME..OFF_SPACE_NAME + NAME_BYTES]
            .copy_from_slice(&self.space_name.to_disk());
        raw[OFF_RESOURCE_NAME..OFF_RESOURCE_NAME + NAME_BYTES]
            .copy_from_slice(&self.resource_name.to_disk());
        put_u64(&mut raw, OFF_TIMESTAMP, self.timestamp);
        put_u64(&mut raw, OFF_UNUSED1, self.unused1);
        let checksum = sanlock_crc32c(&raw[..LEADER_CHECKSUM_LEN]);
        put_u32(&mut raw, OFF_CHECKSUM, checksum);
        put_u16(&mut raw, OFF_UNUSED2, self.unused2);
        put_u16(&mut raw, OFF_IO_TIMEOUT, self.io_timeout);
        put_u64(&mut raw, OFF_WRITE_ID, self.write_id);
        put_u64(&mut raw, OFF_WRITE_GENERATION, self.write_generation);
        put_u64(&mut raw, OFF_WRITE_TIMESTAMP, self.write_timestamp);
        debug_assert_eq!(LeaderRecord::decode(&raw), LeaderRecord { checksum, ..*self });
        raw
    }

    /// Writes the encoded record into the first bytes of `sector`, leaving
    /// the rest of the sector as it is.
    pub fn encode_into(&self, sector: &mut [u8]) {
        sector[..LEADER_BYTES].copy_from_slice(&self.encode());
    }

    /// The checksum these fields should carry.
    pub fn computed_checksum(&self) -> u32 {
        LeaderRecord::decode(&self.encode()).checksum
    }

    /// The record's kind, by its magic; `None` for anything else.
    pub const fn kind(&self) -> Option<LeaderKind> {
        LeaderKind::from_magic(self.magic)
    }

    /// The geometry the record claims, if valid.
    pub fn geometry(&self) -> Option<Geometry> {
        Geometry::from_leader(self.sector_size, self.flags)
    }

    /// The io_timeout a delta lease holder judges itself by: the low byte of
    /// the on-disk field, as sanlock reads it.
    pub const fn io_timeout_s(&self) -> u8 {
        (self.io_timeout & 0xff) as u8
    }

    /// Checks that this is an intact record of `kind`: magic, major version,
    /// checksum and geometry, in that order, so the first problem an operator
    /// sees is the most basic one; then, for a resource leader, that its
    /// dblocks fit the area and its ballot stride (`max_hosts`) is usable.
    pub fn verify(&self, kind: LeaderKind) -> Result<Geometry, RecordProblem> {
        if self.magic != kind.magic() {
            return Err(RecordProblem::BadMagic { found: self.magic, expected: kind.magic() });
        }
        if self.version >> 16 != kind.version() >> 16 {
            return Err(RecordProblem::BadVersion {
                found: self.version,
                expected: kind.version(),
            });
        }
        let computed = self.computed_checksum();
        if self.checksum != computed {
            return Err(RecordProblem::BadChecksum { stored: self.checksum, computed });
        }
        let geometry = self.geometry().ok_or(RecordProblem::BadGeometry {
            sector_size: self.sector_size,
            flags: self.flags,
        })?;
        let limit = geometry.max_hosts();
        let counts_fit = 1 <= self.num_hosts && self.num_hosts <= self.max_hosts;
        if kind == LeaderKind::Paxos && !(counts_fit && self.max_hosts <= limit) {
            return Err(RecordProblem::BadHostCount {
                num_hosts: self.num_hosts,
                max_hosts: self.max_hosts,
                limit,
            });
        }
        Ok(geometry)
    }

    /// [`LeaderRecord::verify`], then that the record belongs to lockspace
    /// `space_name`.
    pub fn verify_in(
        &self,
        kind: LeaderKind,
        space_name: &Name,
    ) -> Result<Geometry, RecordProblem> {
        let geometry = self.verify(kind)?;
        if !self.space_name.same_as(space_name) {
            return Err(RecordProblem::WrongLockspace {
                found: self.space_name.to_string(),
                expected: space_name.to_string(),
            });
        }
        Ok(geometry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ondisk::geometry::{AlignSize, SectorSize};
    use proptest::prelude::*;

    fn g512() -> Geometry {
        Geometry::default_for(SectorSize::B512)
    }

    #[test]
    fn fresh_delta_leader_has_sanlocks_checksum() {
        let leader = LeaderRecord::new_delta(g512(), Name::new("test").unwrap(), 10);
        let raw = leader.encode();
        // The checksum sanlock 3.8 writes for this record.
        assert_eq!(get_u32(&raw, OFF_CHECKSUM), 0x8357_D190);
        assert_eq!(&raw[..4], &[0x10, 0x20, 0x21, 0x12]);
        assert_eq!(get_u16(&raw, OFF_IO_TIMEOUT), 10);
        assert_eq!(LeaderRecord::decode(&raw).verify(LeaderKind::Delta), Ok(g512()));
    }

    #[test]
    fn paxos_leader_fields_land_where_sanlock_reads_them() {
        let g = Geometry::new(SectorSize::B4096, AlignSize::M2).unwrap();
        let mut leader =
            LeaderRecord::new_paxos(g, Name::new("ls").unwrap(), Name::new("res").unwrap(), 7);
        leader.owner_id = 3;
        leader.lver = 0x0102_0304_0506_0708;
        let raw = leader.encode();
        assert_eq!(get_u32(&raw, 0), PAXOS_MAGIC);
        assert_eq!(get_u32(&raw, 8), 0x20);
        assert_eq!(get_u32(&raw, 12), 4096);
        assert_eq!(get_u64(&raw, 16), 7);
        assert_eq!(get_u64(&raw, 24), 500);
        assert_eq!(raw[48..56], [8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&raw[104..107], b"res");
        assert_eq!(LeaderRecord::decode(&raw).verify(LeaderKind::Paxos), Ok(g));
    }

    #[test]
    fn verify_names_the_first_problem() {
        let fresh = LeaderRecord::new_delta(g512(), Name::new("test").unwrap(), 10);
        let leader = LeaderRecord::decode(&fresh.encode());
        let mut raw = leader.encode();
        raw[60] ^= 1;
        let corrupt = LeaderRecord::decode(&raw);
        assert!(matches!(
            corrupt.verify(LeaderKind::Delta),
            Err(RecordProblem::BadChecksum { stored: 0x8357_D190, .. })
        ));
        assert_eq!(
            leader.verify(LeaderKind::Paxos),
            Err(RecordProblem::BadMagic { found: DELTA_MAGIC, expected: PAXOS_MAGIC })
        );
        let newer_minor = LeaderRecord { version: 0x0003_0009, ..leader };
        assert_eq!(
            LeaderRecord::decode(&newer_minor.encode()).verify(LeaderKind::Delta),
            Ok(g512())
        );
        let other_major = LeaderRecord { version: 0x0004_0004, ..leader };
        assert!(matches!(
            other_major.verify(LeaderKind::Delta),
            Err(RecordProblem::BadVersion { .. })
        ));
        assert!(matches!(
            leader.verify_in(LeaderKind::Delta, &Name::new("other").unwrap()),
            Err(RecordProblem::WrongLockspace { .. })
        ));
    }

    #[test]
    fn resource_leaders_with_unusable_host_counts_are_refused() {
        let fresh =
            LeaderRecord::new_paxos(g512(), Name::new("ls").unwrap(), Name::new("r").unwrap(), 8);
        for (num_hosts, max_hosts) in [(8, 0), (0, 2000), (9, 8), (8, 2001), (u64::MAX, u64::MAX)] {
            let leader = LeaderRecord { num_hosts, max_hosts, ..fresh };
            let decoded = LeaderRecord::decode(&leader.encode());
            assert_eq!(
                decoded.verify(LeaderKind::Paxos),
                Err(RecordProblem::BadHostCount { num_hosts, max_hosts, limit: 2000 })
            );
        }
        let legacy = LeaderRecord { num_hosts: 2000, ..fresh };
        assert_eq!(LeaderRecord::decode(&legacy.encode()).verify(LeaderKind::Paxos), Ok(g512()));
    }

    proptest! {
        #[test]
        fn any_bytes_decode_and_reencode_identically_when_checksum_ok(
            bytes in proptest::collection::vec(any::<u8>(), LEADER_BYTES)
        ) {
            let raw: [u8; LEADER_BYTES] = bytes.try_into().unwrap();
            let leader = LeaderRecord::decode(&raw);
            let _ = leader.verify(LeaderKind::Delta);
            let _ = leader.verify(LeaderKind::Paxos);
            let reencoded = leader.encode();
            // Every byte outside the checksum is a field: it round-trips.
            prop_assert_eq!(&reencoded[..OFF_CHECKSUM], &raw[..OFF_CHECKSUM]);
            prop_assert_eq!(&reencoded[OFF_UNUSED2..], &raw[OFF_UNUSED2..]);
        }

        #[test]
        fn encoded_records_verify(
            owner_id in 1u64..=2000, generation: u64, timestamp: u64, io_timeout in 1u8..
        ) {
            let mut leader = LeaderRecord::new_delta(g512(), Name::new("ls").unwrap(), io_timeout);
            leader.owner_id = owner_id;
            leader.owner_generation = generation;
            leader.timestamp = timestamp;
            let decoded = LeaderRecord::decode(&leader.encode());
            prop_assert_eq!(decoded.verify(LeaderKind::Delta), Ok(g512()));
            prop_assert_eq!(decoded.io_timeout_s(), io_timeout);
            prop_assert_eq!(LeaderRecord { checksum: decoded.checksum, ..leader }, decoded);
        }
    }
}
