//! The host bitmap in the second half of every delta lease sector.
//!
//! Bytes [256, 512) of host `h`'s sector hold 2048 bits, one per host_id
//! (bit `id - 1`). Host `h` sets another host's bit to tell it to look at the
//! request records of the resources it holds, or to deliver an event.

/// Byte offset of the bitmap within a delta lease sector.
pub const HOST_BITMAP_OFFSET: usize = 256;
/// Bytes of the bitmap.
pub const HOST_BITMAP_BYTES: usize = 256;

const _: () = assert!(HOST_BITMAP_OFFSET + HOST_BITMAP_BYTES <= 512);

fn position(host_id: u64) -> (usize, u8) {
    assert!(
        (1..=8 * HOST_BITMAP_BYTES as u64).contains(&host_id),
        "host_id {host_id} out of range"
    );
    let bit = usize::try_from(host_id - 1).expect("host_id fits in usize");
    (HOST_BITMAP_OFFSET + bit / 8, 1 << (bit % 8))
}

/// Whether `host_id`'s bit is set in a delta lease `sector`.
pub fn host_bit(sector: &[u8], host_id: u64) -> bool {
    let (byte, mask) = position(host_id);
    sector[byte] & mask != 0
}

/// Sets or clears `host_id`'s bit in a delta lease `sector`.
pub fn set_host_bit(sector: &mut [u8], host_id: u64, set: bool) {
    let (byte, mask) = position(host_id);
    if set {
        sector[byte] |= mask;
    } else {
        sector[byte] &= !mask;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_little_endian_within_bytes() {
        let mut sector = vec![0u8; 512];
        set_host_bit(&mut sector, 1, true);
        set_host_bit(&mut sector, 10, true);
        set_host_bit(&mut sector, 2000, true);
        assert_eq!(sector[256], 0x01);
        assert_eq!(sector[257], 0x02);
        assert_eq!(sector[256 + 249], 0x80);
        assert!(host_bit(&sector, 10));
        assert!(!host_bit(&sector, 11));
        set_host_bit(&mut sector, 10, false);
        assert!(!host_bit(&sector, 10));
        assert!(sector[..256].iter().all(|&b| b == 0), "the leader half is untouched");
    }
}
