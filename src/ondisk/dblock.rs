//! A host's ballot block in a resource area, and the mode block beside it.
//!
//! Host `h` owns sector `2 + h - 1` of a resource area:
//!
//! ```text
//!  off  size  field
//!    0     8  mbal        highest ballot this host started
//!    8     8  bal         ballot of the value below
//!   16     8  inp         proposed owner host_id
//!   24     8  inp2        proposed owner generation
//!   32     8  inp3        proposed owner's timestamp (its monotonic seconds)
//!   40     8  lver        lease version the ballot is for
//!   48     4  checksum    sanlock CRC-32C of bytes [0, 48)
//!   52     4  flags       RELEASED 0x1 (not covered by the checksum)
//!  ...
//!  128     4  mode flags  SHARED 0x1
//!  132     4  (zero)
//!  136     8  generation  the shared holder's generation
//! ```
//!
//! An all-zero dblock is valid: the host never took part in a ballot.

use super::checksum::sanlock_crc32c;
use super::{RecordProblem, get_u32, get_u64, put_u32, put_u64};

/// Bytes of a dblock.
pub const DBLOCK_BYTES: usize = 56;
/// Bytes covered by the dblock checksum.
pub const DBLOCK_CHECKSUM_LEN: usize = 48;
/// Dblock flag: the host released the lease after this ballot.
pub const DBLOCK_FLAG_RELEASED: u32 = 0x1;
/// Byte offset of the mode block within a host's dblock sector.
pub const MODE_BLOCK_OFFSET: usize = 128;
/// Bytes of a mode block.
pub const MODE_BLOCK_BYTES: usize = 16;
/// Mode block flag: the host holds the resource in shared mode.
pub const MODE_FLAG_SHARED: u32 = 0x1;

const _: () = {
    assert!(DBLOCK_BYTES <= MODE_BLOCK_OFFSET);
    assert!(MODE_BLOCK_OFFSET + MODE_BLOCK_BYTES <= 512);
};

/// A host's Disk Paxos ballot state for one resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dblock {
    pub mbal: u64,
    pub bal: u64,
    pub inp: u64,
    pub inp2: u64,
    pub inp3: u64,
    pub lver: u64,
    /// As found on disk; [`Dblock::encode`] computes a fresh one.
    pub checksum: u32,
    pub flags: u32,
}

impl Dblock {
    /// Decodes the first [`DBLOCK_BYTES`] of a host's sector.
    pub fn decode(raw: &[u8; DBLOCK_BYTES]) -> Dblock {
        Dblock {
            mbal: get_u64(raw, 0),
            bal: get_u64(raw, 8),
            inp: get_u64(raw, 16),
            inp2: get_u64(raw, 24),
            inp3: get_u64(raw, 32),
            lver: get_u64(raw, 40),
            checksum: get_u32(raw, 48),
            flags: get_u32(raw, 52),
        }
    }

    /// Decodes the dblock at the start of a sector-sized buffer.
    pub fn decode_prefix(sector: &[u8]) -> Dblock {
        let raw: &[u8; DBLOCK_BYTES] =
            sector[..DBLOCK_BYTES].try_into().expect("a sector is longer than a dblock");
        Dblock::decode(raw)
    }

    /// Encodes with a fresh checksum.
    pub fn encode(&self) -> [u8; DBLOCK_BYTES] {
        let mut raw = [0u8; DBLOCK_BYTES];
        put_u64(&mut raw, 0, self.mbal);
        put_u64(&mut raw, 8, self.bal);
        put_u64(&mut raw, 16, self.inp);
        put_u64(&mut raw, 24, self.inp2);
        put_u64(&mut raw, 32, self.inp3);
        put_u64(&mut raw, 40, self.lver);
        let checksum = sanlock_crc32c(&raw[..DBLOCK_CHECKSUM_LEN]);
        put_u32(&mut raw, 48, checksum);
        put_u32(&mut raw, 52, self.flags);
        raw
    }

    /// Whether every field, checksum included, is zero.
    pub fn is_zero(&self) -> bool {
        *self == Dblock::default()
    }

    /// Whether the host has released the lease after this ballot.
    pub const fn released(&self) -> bool {
        self.flags & DBLOCK_FLAG_RELEASED != 0
    }

    /// Checks the checksum; an all-zero dblock is valid.
    pub fn verify(&self) -> Result<(), RecordProblem> {
        if self.is_zero() {
            return Ok(());
        }
        let computed = Dblock::decode(&self.encode()).checksum;
        if self.checksum != computed {
            return Err(RecordProblem::BadChecksum { stored: self.checksum, computed });
        }
        Ok(())
    }
}

/// A host's lock mode for one resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModeBlock {
    pub flags: u32,
    pub generation: u64,
}

impl ModeBlock {
    /// Decodes the mode block of a host's dblock sector.
    pub fn decode_from_sector(sector: &[u8]) -> ModeBlock {
        let raw = &sector[MODE_BLOCK_OFFSET..MODE_BLOCK_OFFSET + MODE_BLOCK_BYTES];
        ModeBlock { flags: get_u32(raw, 0), generation: get_u64(raw, 8) }
    }

    /// Writes the mode block into a host's dblock sector; its padding bytes
    /// are zeroed.
    pub fn encode_into_sector(&self, sector: &mut [u8]) {
        let raw = &mut sector[MODE_BLOCK_OFFSET..MODE_BLOCK_OFFSET + MODE_BLOCK_BYTES];
        raw.fill(0);
        put_u32(raw, 0, self.flags);
        put_u64(raw, 8, self.generation);
    }

    /// Whether the host holds the resource shared.
    pub const fn shared(&self) -> bool {
        self.flags & MODE_FLAG_SHARED != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dblock_bytes_as_sanlock_writes_them() {
        // Host 1's dblock after `sanlock direct acquire -i 1 -g 1` at
        // monotonic second 0x53: mbal 1, bal 1, inp 1, inp2 1, inp3 0x53, lver 1.
        let dblock =
            Dblock { mbal: 1, bal: 1, inp: 1, inp2: 1, inp3: 0x53, lver: 1, ..Default::default() };
        let raw = dblock.encode();
        assert_eq!(get_u32(&raw, 48), 0x9920_55bf);
        assert_eq!(Dblock::decode(&raw).verify(), Ok(()));
        let released = Dblock { flags: DBLOCK_FLAG_RELEASED, ..dblock };
        // The flags word is outside the checksum.
        assert_eq!(released.encode()[..52], raw[..52]);
        assert!(Dblock::decode(&released.encode()).released());
    }

    #[test]
    fn zero_dblock_is_valid_and_corruption_is_not() {
        assert_eq!(Dblock::default().verify(), Ok(()));
        let mut raw = Dblock { mbal: 5, ..Default::default() }.encode();
        raw[3] ^= 0x40;
        assert!(matches!(Dblock::decode(&raw).verify(), Err(RecordProblem::BadChecksum { .. })));
    }

    #[test]
    fn mode_block_round_trip() {
        let mut sector = vec![0xAAu8; 512];
        ModeBlock { flags: MODE_FLAG_SHARED, generation: 9 }.encode_into_sector(&mut sector);
        assert_eq!(&sector[128..136], &[1, 0, 0, 0, 0, 0, 0, 0]);
        let mode = ModeBlock::decode_from_sector(&sector);
        assert!(mode.shared());
        assert_eq!(mode.generation, 9);
        assert_eq!(sector[144], 0xAA, "bytes after the mode block are untouched");
    }

    proptest! {
        #[test]
        fn any_bytes_decode(bytes in proptest::collection::vec(any::<u8>(), 512)) {
            let dblock = Dblock::decode_prefix(&bytes);
            let _ = dblock.verify();
            prop_assert_eq!(&dblock.encode()[..48], &bytes[..48]);
            let _ = ModeBlock::decode_from_sector(&bytes);
        }
    }
}
