//! Every on-disk record decoded and checked from arbitrary bytes: nothing
//! may panic. The first byte chooses whether the checksums are made right
//! first, so the checks after the checksum are reached too.

#![no_main]

use lease::ondisk::bitmap::host_bit;
use lease::ondisk::dblock::{DBLOCK_BYTES, Dblock, ModeBlock};
use lease::ondisk::leader::{LeaderKind, LeaderRecord};
use lease::ondisk::request::{REQUEST_BYTES, RequestRecord};
use lease::ondisk::{Geometry, Name};
use libfuzzer_sys::fuzz_target;

const SECTOR: usize = 512;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut sector = [0u8; SECTOR];
    let len = rest.len().min(SECTOR);
    sector[..len].copy_from_slice(&rest[..len]);
    if mode & 1 != 0 {
        let leader = LeaderRecord::decode_prefix(&sector);
        leader.encode_into(&mut sector);
    }
    let leader = LeaderRecord::decode_prefix(&sector);
    let space = Name::new("fuzz").expect("a valid name");
    for kind in [LeaderKind::Delta, LeaderKind::Paxos] {
        if let Ok(geometry) = leader.verify_in(kind, &space).or_else(|_| leader.verify(kind)) {
            check_geometry(geometry);
        }
    }
    let _ = (leader.kind(), leader.geometry(), leader.io_timeout_s());
    let _ = (leader.space_name.to_string(), leader.resource_name.to_string());
    for host_id in [1, 2, 250, 2000, 2048] {
        let _ = host_bit(&sector, host_id);
    }

    let mut block_sector = sector;
    if mode & 2 != 0 {
        let block = Dblock::decode_prefix(&block_sector);
        block_sector[..DBLOCK_BYTES].copy_from_slice(&block.encode());
    }
    let block = Dblock::decode_prefix(&block_sector);
    let _ = (block.verify(), block.released(), block.is_zero());
    let mode_block = ModeBlock::decode_from_sector(&block_sector);
    let _ = mode_block.shared();

    let mut request_sector = sector;
    if mode & 4 != 0 {
        let request = RequestRecord::decode_prefix(&request_sector);
        request_sector[..REQUEST_BYTES].copy_from_slice(&request.encode());
    }
    let _ = RequestRecord::decode_prefix(&request_sector).verify();
});

/// Every offset a verified geometry gives lies inside its area.
fn check_geometry(geometry: Geometry) {
    let area = geometry.area_bytes();
    let sector = geometry.sector_bytes();
    assert!(geometry.host_sector_offset(geometry.max_hosts()) + sector <= area);
    assert!(geometry.dblock_offset(geometry.max_hosts()) + sector <= area);
    assert!(geometry.lvb_offset() + sector <= area);
}
