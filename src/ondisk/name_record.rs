//! The full name of a lease whose name does not fit the 48 bytes of a
//! leader or index entry (see [`crate::names`]): kept in its own resource
//! area, in the sectors right after the lock value block, where neither
//! sanlock nor leased puts anything else.
//!
//! ```text
//!  off  size  field
//!    0     4  magic     0x4d414e4c ("LNAM")
//!    4     4  version   0x00010001
//!    8     4  name_len  1..=1024
//!   12     4  checksum  sanlock's crc32c of bytes [0,12) and the name
//!   16   len  name      the full name, no NUL
//! ```

use super::checksum::sanlock_crc32c;
use super::geometry::Geometry;
use super::{RecordProblem, get_u32, put_u32};

/// Magic of a name record: "LNAM" in little-endian order.
pub const NAME_RECORD_MAGIC: u32 = 0x4d41_4e4c;
/// Version written; readers check the major half.
pub const NAME_RECORD_VERSION: u32 = 0x0001_0001;
/// The longest full name.
pub const FULL_NAME_MAX: usize = 1024;
/// Bytes before the name.
const HEAD_BYTES: usize = 16;

/// Where a name record sits in a resource area of `geometry`, and how many
/// bytes it takes (whole sectors).
pub fn name_record_span(geometry: Geometry) -> (u64, usize) {
    let offset = geometry.lvb_offset() + geometry.sector_bytes();
    let len = (HEAD_BYTES + FULL_NAME_MAX).next_multiple_of(geometry.sector_bytes() as usize);
    (offset, len)
}

/// A record in `len` bytes (from [`name_record_span`]) for `name`, which
/// the caller checked: 1 to [`FULL_NAME_MAX`] bytes.
pub fn encode(name: &[u8], len: usize) -> Vec<u8> {
    assert!((1..=FULL_NAME_MAX).contains(&name.len()), "a checked name");
    let mut out = vec![0u8; len];
    put_u32(&mut out, 0, NAME_RECORD_MAGIC);
    put_u32(&mut out, 4, NAME_RECORD_VERSION);
    put_u32(&mut out, 8, name.len() as u32);
    out[HEAD_BYTES..HEAD_BYTES + name.len()].copy_from_slice(name);
    let checksum = checksum_of(&out[..12], name);
    put_u32(&mut out, 12, checksum);
    out
}

/// The full name a record read from disk holds: `None` if the sectors
/// hold no record (all zero, as `init` leaves them), an error if they hold
/// anything else that is not an intact record.
pub fn decode(bytes: &[u8]) -> Result<Option<Vec<u8>>, RecordProblem> {
    if bytes.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let Some(head) = bytes.get(..HEAD_BYTES) else {
        return Err(RecordProblem::BadMagic { found: 0, expected: NAME_RECORD_MAGIC });
    };
    let magic = get_u32(head, 0);
    if magic != NAME_RECORD_MAGIC {
        return Err(RecordProblem::BadMagic { found: magic, expected: NAME_RECORD_MAGIC });
    }
    let version = get_u32(head, 4);
    if version >> 16 != NAME_RECORD_VERSION >> 16 {
        return Err(RecordProblem::BadVersion { found: version, expected: NAME_RECORD_VERSION });
    }
    let len = get_u32(head, 8) as usize;
    let name = (1..=FULL_NAME_MAX)
        .contains(&len)
        .then(|| bytes.get(HEAD_BYTES..HEAD_BYTES + len))
        .flatten()
        .ok_or(RecordProblem::OutOfRange { field: "name_len", value: len as u64 })?;
    let stored = get_u32(head, 12);
    let computed = checksum_of(&head[..12], name);
    if stored != computed {
        return Err(RecordProblem::BadChecksum { stored, computed });
    }
    Ok(Some(name.to_vec()))
}

fn checksum_of(head: &[u8], name: &[u8]) -> u32 {
    let mut covered = head.to_vec();
    covered.extend_from_slice(name);
    sanlock_crc32c(&covered)
}

const _: () = {
    // The record fits after the lock value block in every geometry.
    let all = [
        Geometry::default_for(super::geometry::SectorSize::B512),
        Geometry::default_for(super::geometry::SectorSize::B4096),
    ];
    let mut i = 0;
    while i < all.len() {
        let g = all[i];
        let sectors = (HEAD_BYTES + FULL_NAME_MAX).div_ceil(g.sector_bytes() as usize) as u64;
        assert!(g.lvb_offset() + (1 + sectors) * g.sector_bytes() <= g.area_bytes());
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ondisk::geometry::{AlignSize, SectorSize};

    fn geometries() -> Vec<Geometry> {
        let mut all = vec![Geometry::default_for(SectorSize::B512)];
        for align in AlignSize::ALL {
            all.push(Geometry::new(SectorSize::B4096, align).unwrap());
        }
        all
    }

    #[test]
    fn a_record_fits_after_the_lvb_in_every_geometry() {
        for g in geometries() {
            let (offset, len) = name_record_span(g);
            assert!(offset > g.lvb_offset(), "{g}");
            assert!(offset + len as u64 <= g.area_bytes(), "{g}");
            assert_eq!(len as u64 % g.sector_bytes(), 0, "{g}");
        }
    }

    #[test]
    fn names_round_trip_and_damage_is_reported() {
        let name = vec![b'x'; FULL_NAME_MAX];
        let bytes = encode(&name, 1536);
        assert_eq!(decode(&bytes), Ok(Some(name)));
        assert_eq!(decode(&[0u8; 1536]), Ok(None), "no record");
        let mut flipped = encode(b"volume", 512);
        flipped[20] ^= 1;
        assert!(matches!(decode(&flipped), Err(RecordProblem::BadChecksum { .. })));
        let mut long = encode(b"volume", 512);
        put_u32(&mut long, 8, 4000);
        assert!(matches!(decode(&long), Err(RecordProblem::OutOfRange { .. })));
        let mut magic = encode(b"volume", 512);
        magic[0] ^= 1;
        assert!(matches!(decode(&magic), Err(RecordProblem::BadMagic { .. })));
        assert!(matches!(decode(&[1u8; 8]), Err(RecordProblem::BadMagic { .. })), "short");
    }
}
