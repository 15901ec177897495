//! The checksum sanlock puts in leader records and paxos dblocks.
//!
//! It is CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) but *not* the
//! standard variant: the register starts at `!1` = 0xFFFFFFFE and the result
//! is not inverted. The standard CRC-32C starts at 0xFFFFFFFF and inverts the
//! result, so `crc32c_append(1, data)` runs the same register from 0xFFFFFFFE
//! and returns its inverse; inverting once more gives sanlock's value.

/// sanlock's CRC-32C over `data`, as stored little-endian on disk.
pub fn sanlock_crc32c(data: &[u8]) -> u32 {
    !crc32c::crc32c_append(1, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bitwise reference: no tables, no hardware, no tricks with seeds.
    fn reference(data: &[u8]) -> u32 {
        let mut crc: u32 = 0xFFFF_FFFE;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                let lsb = crc & 1;
                crc >>= 1;
                if lsb == 1 {
                    crc ^= 0x82F6_3B78;
                }
            }
        }
        crc
    }

    #[test]
    fn check_value_differs_from_standard_crc32c() {
        assert_eq!(sanlock_crc32c(b"123456789"), 0xE8C7_BB34);
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn matches_bitwise_reference() {
        let mut data = [0u8; 168];
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = (i * 7 + 3) as u8;
        }
        for len in [0, 1, 7, 48, 168] {
            assert_eq!(sanlock_crc32c(&data[..len]), reference(&data[..len]), "len {len}");
        }
    }
}
