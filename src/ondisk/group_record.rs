//! What a group's lease holds for its holder (see [`crate::groups`]): a
//! member's id and capabilities, or a leader's id. Kept in the lease's own
//! area right after the full-name record
//! ([`crate::ondisk::name_record`]), and written only by the lease's
//! holder while it holds it. The record names the lease version it was
//! written under: one left by an earlier holder does not match the
//! leader's `lver` and is not believed.
//!
//! ```text
//!  off  size  field
//!    0     4  magic     0x5052474c ("LGRP")
//!    4     4  version   0x00010001
//!    8     8  lver      the lease version of the hold that wrote it
//!   16     4  data_len  1..=GROUP_DATA_MAX
//!   20     4  checksum  sanlock's crc32c of bytes [0,20) and the data
//!   24   len  data      JSON (see crate::groups::Record)
//! ```

use super::checksum::sanlock_crc32c;
use super::geometry::Geometry;
use super::name_record::name_record_span;
use super::{RecordProblem, get_u32, get_u64, put_u32, put_u64};

/// Magic of a group record: "LGRP" in little-endian order.
pub const GROUP_RECORD_MAGIC: u32 = 0x5052_474c;
/// Version written; readers check the major half.
pub const GROUP_RECORD_VERSION: u32 = 0x0001_0001;
/// Bytes the record spans, whatever the sector size.
const SPAN_BYTES: usize = 4096;
/// Bytes before the data.
const HEAD_BYTES: usize = 24;
/// The most data a record holds.
pub const GROUP_DATA_MAX: usize = SPAN_BYTES - HEAD_BYTES;

/// Where a group record sits in a resource area of `geometry`, and how
/// many bytes it takes (whole sectors).
pub fn group_record_span(geometry: Geometry) -> (u64, usize) {
    let (name_at, name_len) = name_record_span(geometry);
    (name_at + name_len as u64, SPAN_BYTES.next_multiple_of(geometry.sector_bytes() as usize))
}

/// A record of `data` (1 to [`GROUP_DATA_MAX`] bytes, checked by the
/// caller) written under lease version `lver`, in `len` bytes.
pub fn encode(lver: u64, data: &[u8], len: usize) -> Vec<u8> {
    assert!((1..=GROUP_DATA_MAX).contains(&data.len()), "checked data");
    let mut out = vec![0u8; len];
    put_u32(&mut out, 0, GROUP_RECORD_MAGIC);
    put_u32(&mut out, 4, GROUP_RECORD_VERSION);
    put_u64(&mut out, 8, lver);
    put_u32(&mut out, 16, data.len() as u32);
    out[HEAD_BYTES..HEAD_BYTES + data.len()].copy_from_slice(data);
    let checksum = checksum_of(&out[..20], data);
    put_u32(&mut out, 20, checksum);
    out
}

/// The lease version and data of a record read from disk: `None` if the
/// sectors hold none (all zero), an error if they hold anything else that
/// is not an intact record.
pub fn decode(bytes: &[u8]) -> Result<Option<(u64, Vec<u8>)>, RecordProblem> {
    if bytes.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let Some(head) = bytes.get(..HEAD_BYTES) else {
        return Err(RecordProblem::BadMagic { found: 0, expected: GROUP_RECORD_MAGIC });
    };
    let magic = get_u32(head, 0);
    if magic != GROUP_RECORD_MAGIC {
        return Err(RecordProblem::BadMagic { found: magic, expected: GROUP_RECORD_MAGIC });
    }
    let version = get_u32(head, 4);
    if version >> 16 != GROUP_RECORD_VERSION >> 16 {
        return Err(RecordProblem::BadVersion { found: version, expected: GROUP_RECORD_VERSION });
    }
    let lver = get_u64(head, 8);
    let len = get_u32(head, 16) as usize;
    let data = (1..=GROUP_DATA_MAX)
        .contains(&len)
        .then(|| bytes.get(HEAD_BYTES..HEAD_BYTES + len))
        .flatten()
        .ok_or(RecordProblem::OutOfRange { field: "data_len", value: len as u64 })?;
    let stored = get_u32(head, 20);
    let computed = checksum_of(&head[..20], data);
    if stored != computed {
        return Err(RecordProblem::BadChecksum { stored, computed });
    }
    Ok(Some((lver, data.to_vec())))
}

fn checksum_of(head: &[u8], data: &[u8]) -> u32 {
    let mut covered = head.to_vec();
    covered.extend_from_slice(data);
    sanlock_crc32c(&covered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ondisk::geometry::{AlignSize, SectorSize};

    #[test]
    fn a_record_fits_after_the_name_record_in_every_geometry() {
        let mut all = vec![Geometry::default_for(SectorSize::B512)];
        for align in AlignSize::ALL {
            all.push(Geometry::new(SectorSize::B4096, align).unwrap());
        }
        for g in all {
            let (name_at, name_len) = name_record_span(g);
            let (offset, len) = group_record_span(g);
            assert_eq!(offset, name_at + name_len as u64, "{g}");
            assert!(offset + len as u64 <= g.area_bytes(), "{g}");
            assert_eq!(len as u64 % g.sector_bytes(), 0, "{g}");
        }
    }

    #[test]
    fn records_round_trip_and_damage_is_reported() {
        let data = vec![b'x'; GROUP_DATA_MAX];
        assert_eq!(decode(&encode(7, &data, SPAN_BYTES)), Ok(Some((7, data))));
        assert_eq!(decode(&[0u8; SPAN_BYTES]), Ok(None), "no record");
        let mut flipped = encode(3, b"{}", 4096);
        flipped[HEAD_BYTES] ^= 1;
        assert!(matches!(decode(&flipped), Err(RecordProblem::BadChecksum { .. })));
        let mut lver = encode(3, b"{}", 4096);
        lver[8] ^= 1;
        assert!(matches!(decode(&lver), Err(RecordProblem::BadChecksum { .. })));
        let mut long = encode(3, b"{}", 4096);
        put_u32(&mut long, 16, 5000);
        assert!(matches!(decode(&long), Err(RecordProblem::OutOfRange { .. })));
        let mut magic = encode(3, b"{}", 4096);
        magic[1] ^= 1;
        assert!(matches!(decode(&magic), Err(RecordProblem::BadMagic { .. })));
        assert!(decode(&[1u8; 8]).is_err(), "too short to hold a head");
    }
}
