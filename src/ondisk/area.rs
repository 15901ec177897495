//! Whole areas as `init` writes them.
//!
//! A lockspace is initialised in two writes, as sanlock does: first the whole
//! area with every host sector's leader in place but sector 0's magic zeroed,
//! then sector 0 alone with its real magic. Until the second write lands the
//! area is not a lockspace, so a crash mid-init never leaves a half-written
//! area that looks valid. A resource area is written in one I/O: its leader is
//! sector 0 of that same write.

use super::geometry::Geometry;
use super::leader::LeaderRecord;
use super::name::Name;
use super::request::RequestRecord;

/// Fills `area` (exactly one area long) with a lockspace whose host sectors
/// are all free, except that sector 0's magic is zero. Returns the sector 0
/// that commits the lockspace when written afterwards.
pub fn fill_lockspace(
    area: &mut [u8],
    geometry: Geometry,
    space_name: Name,
    io_timeout_s: u8,
) -> Vec<u8> {
    assert_eq!(area.len() as u64, geometry.area_bytes(), "buffer is one area");
    let sector_bytes = geometry.sector_bytes() as usize;
    area.fill(0);
    let leader = LeaderRecord::new_delta(geometry, space_name, io_timeout_s);
    let committed = {
        let mut sector = vec![0u8; sector_bytes];
        leader.encode_into(&mut sector);
        sector
    };
    for host_id in 1..=geometry.max_hosts() {
        let offset = geometry.host_sector_offset(host_id) as usize;
        leader.encode_into(&mut area[offset..offset + sector_bytes]);
    }
    LeaderRecord { magic: 0, ..leader }.encode_into(&mut area[..sector_bytes]);
    committed
}

/// Fills `area` (exactly one area long) with an unowned resource that has
/// `num_hosts` dblocks in use.
pub fn fill_resource(
    area: &mut [u8],
    geometry: Geometry,
    space_name: Name,
    resource_name: Name,
    num_hosts: u64,
) {
    assert_eq!(area.len() as u64, geometry.area_bytes(), "buffer is one area");
    area.fill(0);
    LeaderRecord::new_paxos(geometry, space_name, resource_name, num_hosts).encode_into(area);
    let request = geometry.request_offset() as usize;
    area[request..request + super::request::REQUEST_BYTES]
        .copy_from_slice(&RequestRecord::empty().encode());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ondisk::geometry::{AlignSize, SectorSize};
    use crate::ondisk::leader::{DELTA_MAGIC, LeaderKind};

    #[test]
    fn lockspace_image_commits_only_with_sector_zero() {
        let g = Geometry::new(SectorSize::B4096, AlignSize::M1).unwrap();
        let mut area = vec![0xEEu8; g.area_bytes() as usize];
        let name = Name::new("ls").unwrap();
        let committed = fill_lockspace(&mut area, g, name, 10);
        let sector0 = LeaderRecord::decode_prefix(&area);
        assert_eq!(sector0.magic, 0);
        assert!(sector0.verify(LeaderKind::Delta).is_err());
        let last = LeaderRecord::decode_prefix(&area[249 * 4096..]);
        assert_eq!(last.verify_in(LeaderKind::Delta, &name), Ok(g));
        assert!(area[250 * 4096..].iter().all(|&b| b == 0), "sectors past max_hosts are zero");
        let commit = LeaderRecord::decode_prefix(&committed);
        assert_eq!(commit.magic, DELTA_MAGIC);
        assert_eq!(commit.verify(LeaderKind::Delta), Ok(g));
        assert_eq!(committed.len(), 4096);
    }

    #[test]
    fn resource_image_has_leader_request_and_zero_dblocks() {
        let g = Geometry::default_for(SectorSize::B512);
        let mut area = vec![0xEEu8; g.area_bytes() as usize];
        fill_resource(&mut area, g, Name::new("ls").unwrap(), Name::new("r").unwrap(), 4);
        let leader = LeaderRecord::decode_prefix(&area);
        assert_eq!(leader.verify(LeaderKind::Paxos), Ok(g));
        assert_eq!(leader.num_hosts, 4);
        assert_eq!(leader.max_hosts, 2000);
        assert!(RequestRecord::decode_prefix(&area[512..]).verify().is_ok());
        assert!(area[1024..].iter().all(|&b| b == 0));
    }
}
