//! `lease direct dump` of an arbitrary disk: the same library call the
//! command makes, on a simulated disk patched from the input. Nothing may
//! panic, and every report must serialize.
//!
//! Input: one flag byte (bit 0: `--all`; bits 1-2: disk size 1, 2, 3 or
//! 9 MiB), then patches of 2 + 512 bytes: a sector index (little-endian,
//! wrapped to the disk; its top bit asks for the sector's dblock checksum
//! to be made right, else its leader checksum unless bit 14 is set) and
//! the sector's bytes.

#![no_main]

use lease::clock::{MonoTime, SimClock};
use lease::direct::dump;
use lease::disk::SimDisk;
use lease::ondisk::dblock::{DBLOCK_BYTES, Dblock};
use lease::ondisk::leader::LeaderRecord;
use libfuzzer_sys::fuzz_target;

const SECTOR: usize = 512;
const MIB: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, patches)) = data.split_first() else { return };
    let all = flags & 1 != 0;
    let size = [MIB, 2 * MIB, 3 * MIB, 9 * MIB][usize::from((flags >> 1) & 3)];
    let clock = SimClock::starting_at(MonoTime::ZERO);
    let disk = SimDisk::new(size, SECTOR as u32, 1, clock.clone());
    let sectors = size / SECTOR as u64;
    for patch in patches.chunks_exact(2 + SECTOR) {
        let index = u16::from_le_bytes([patch[0], patch[1]]);
        let mut sector = [0u8; SECTOR];
        sector.copy_from_slice(&patch[2..]);
        if index & 0x8000 != 0 {
            let block = Dblock::decode_prefix(&sector);
            sector[..DBLOCK_BYTES].copy_from_slice(&block.encode());
        } else if index & 0x4000 == 0 {
            LeaderRecord::decode_prefix(&sector).encode_into(&mut sector);
        }
        let at = u64::from(index & 0x3fff) % sectors * SECTOR as u64;
        disk.apply(at, &sector);
    }
    if let Ok(report) = dump(&disk, &clock, 0, None, all) {
        serde_json::to_string(&report).expect("a dump report serializes");
    }
});
