//! `dump`: list every lease record in a range of a disk.
//!
//! The range is walked one area at a time. At each 1 MiB step the first
//! sector is probed for a leader; a lockspace or resource leader gives the
//! area's geometry, and the whole area is read and decoded. A record that is
//! damaged is listed with what could be decoded and reported as a problem;
//! nothing is ever repaired.

use serde::Serialize;

use super::{DirectError, PROBE_BYTES, check_area_fits, check_area_offset, read};
use crate::clock::Clock;
use crate::disk::Disk;
use crate::ondisk::dblock::{Dblock, ModeBlock};
use crate::ondisk::geometry::{AlignSize, Geometry};
use crate::ondisk::leader::{LeaderKind, LeaderRecord, PAXOS_CLEAR_MAGIC};
use crate::ondisk::request::RequestRecord;

/// Everything found in a range of a disk.
#[derive(Clone, Debug, Serialize)]
pub struct DumpReport {
    pub path: String,
    pub start: u64,
    pub end: u64,
    pub areas: Vec<DumpArea>,
    /// Damaged records, each naming path and offset.
    pub problems: Vec<String>,
}

/// One lockspace or resource area.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DumpArea {
    Lockspace {
        offset: u64,
        lockspace: String,
        sector_size: u32,
        align: String,
        max_hosts: u64,
        /// io_timeout of host_id 1's sector, the one `init` wrote first.
        io_timeout: u8,
        hosts: Vec<DumpHost>,
    },
    Resource {
        offset: u64,
        lockspace: String,
        resource: String,
        sector_size: u32,
        align: String,
        num_hosts: u64,
        max_hosts: u64,
        owner_id: u64,
        owner_generation: u64,
        lver: u64,
        timestamp: u64,
        flags: u32,
        write_id: u64,
        write_generation: u64,
        write_timestamp: u64,
        cleared: bool,
        checksum_ok: bool,
        request: DumpRequest,
        dblocks: Vec<DumpDblock>,
    },
}

/// One host_id's delta lease.
#[derive(Clone, Debug, Serialize)]
pub struct DumpHost {
    pub offset: u64,
    pub host_id: u64,
    pub owner_name: String,
    pub owner_id: u64,
    pub owner_generation: u64,
    pub timestamp: u64,
    pub io_timeout: u8,
    pub checksum_ok: bool,
}

/// A resource's request record.
#[derive(Clone, Debug, Serialize)]
pub struct DumpRequest {
    pub lver: u64,
    pub force_mode: u32,
    pub valid: bool,
}

/// One host's ballot block and mode block for a resource.
#[derive(Clone, Debug, Serialize)]
pub struct DumpDblock {
    pub offset: u64,
    pub host_id: u64,
    pub mbal: u64,
    pub bal: u64,
    pub inp: u64,
    pub inp2: u64,
    pub inp3: u64,
    pub lver: u64,
    pub released: bool,
    pub shared: bool,
    pub shared_generation: u64,
    pub checksum_ok: bool,
}

/// Lists the areas in `[start, start + size)` (to the end of the disk if
/// `size` is `None`). `all` also lists never-used host sectors and empty
/// dblocks. Fails if the range holds no lease area at all.
pub fn dump(
    disk: &dyn Disk,
    clock: &dyn Clock,
    start: u64,
    size: Option<u64>,
    all: bool,
) -> Result<DumpReport, DirectError> {
    check_area_offset(disk, start, AlignSize::M1)?;
    let end = match size {
        Some(size) => start.saturating_add(size),
        None => disk.size_bytes(),
    };
    check_area_fits(disk, start, AlignSize::M1.bytes().max(end.saturating_sub(start)))?;
    let mut report = DumpReport {
        path: disk.path().display().to_string(),
        start,
        end,
        areas: Vec::new(),
        problems: Vec::new(),
    };
    let mut offset = start;
    while offset + PROBE_BYTES as u64 <= end {
        let probe = read(disk, clock, offset, PROBE_BYTES)?;
        let leader = LeaderRecord::decode_prefix(&probe);
        let kind = match (leader.kind(), leader.magic) {
            (Some(kind), _) => kind,
            (None, PAXOS_CLEAR_MAGIC) => LeaderKind::Paxos,
            (None, _) => {
                offset += AlignSize::M1.bytes();
                continue;
            }
        };
        let Some(geometry) = leader.geometry() else {
            report.problem(offset, format!("{} leader: invalid geometry", kind.area_name()));
            offset += AlignSize::M1.bytes();
            continue;
        };
        if !offset.is_multiple_of(geometry.area_bytes()) {
            report.problem(
                offset,
                format!(
                    "{} leader of a {geometry} area at an offset not a multiple of {}",
                    kind.area_name(),
                    geometry.align()
                ),
            );
        }
        if let Err(err) = check_area_fits(disk, offset, geometry.area_bytes()) {
            report.problems.push(err.to_string());
            break;
        }
        let area_len = usize::try_from(geometry.area_bytes()).expect("areas fit in memory");
        let area = read(disk, clock, offset, area_len)?;
        let dumped = match kind {
            LeaderKind::Delta => report.lockspace(offset, geometry, &area, all),
            LeaderKind::Paxos => report.resource(offset, geometry, &area, all),
        };
        report.areas.push(dumped);
        offset += geometry.area_bytes();
    }
    if report.areas.is_empty() && report.problems.is_empty() {
        return Err(DirectError::NotLeaseArea {
            path: disk.path().to_owned(),
            offset: start,
            detail: format!("not a lease area: no lockspace or resource leader up to offset {end}"),
        });
    }
    Ok(report)
}

impl DumpReport {
    fn problem(&mut self, offset: u64, what: String) {
        self.problems.push(format!("{}: offset {offset}: {what}", self.path));
    }

    fn lockspace(
        &mut self,
        area_offset: u64,
        geometry: Geometry,
        area: &[u8],
        all: bool,
    ) -> DumpArea {
        let first = LeaderRecord::decode_prefix(area);
        let mut hosts = Vec::new();
        for host_id in 1..=geometry.max_hosts() {
            let within = geometry.host_sector_offset(host_id);
            let offset = area_offset + within;
            let sector = &area[within as usize..(within + geometry.sector_bytes()) as usize];
            let leader = LeaderRecord::decode_prefix(sector);
            let checked = leader.verify_in(LeaderKind::Delta, &first.space_name);
            if let Err(problem) = &checked {
                self.problem(offset, format!("host_id {host_id} delta lease: {problem}"));
                if leader.kind() != Some(LeaderKind::Delta) {
                    continue;
                }
            }
            let used =
                leader.owner_id != 0 || leader.owner_generation != 0 || leader.timestamp != 0;
            if used || all || checked.is_err() {
                hosts.push(DumpHost {
                    offset,
                    host_id,
                    owner_name: leader.resource_name.to_string(),
                    owner_id: leader.owner_id,
                    owner_generation: leader.owner_generation,
                    timestamp: leader.timestamp,
                    io_timeout: leader.io_timeout_s(),
                    checksum_ok: leader.checksum == leader.computed_checksum(),
                });
            }
        }
        DumpArea::Lockspace {
            offset: area_offset,
            lockspace: first.space_name.to_string(),
            sector_size: geometry.sector_size().bytes(),
            align: geometry.align().to_string(),
            max_hosts: geometry.max_hosts(),
            io_timeout: first.io_timeout_s(),
            hosts,
        }
    }

    fn resource(
        &mut self,
        area_offset: u64,
        geometry: Geometry,
        area: &[u8],
        all: bool,
    ) -> DumpArea {
        let leader = LeaderRecord::decode_prefix(area);
        let cleared = leader.magic == PAXOS_CLEAR_MAGIC;
        if cleared {
            self.problem(area_offset, "resource leader is cleared (no longer a lease)".to_owned());
        } else if let Err(problem) = leader.verify(LeaderKind::Paxos) {
            self.problem(area_offset, format!("resource leader: {problem}"));
        }
        let request_at = geometry.request_offset() as usize;
        let request = RequestRecord::decode_prefix(&area[request_at..]);
        let request_ok = request.verify();
        if let Err(problem) = &request_ok {
            self.problem(area_offset + request_at as u64, format!("request record: {problem}"));
        }
        let mut dblocks = Vec::new();
        for host_id in 1..=geometry.max_hosts() {
            let within = geometry.dblock_offset(host_id);
            let sector = &area[within as usize..(within + geometry.sector_bytes()) as usize];
            let dblock = Dblock::decode_prefix(sector);
            let mode = ModeBlock::decode_from_sector(sector);
            let checked = dblock.verify();
            if let Err(problem) = &checked {
                self.problem(area_offset + within, format!("host_id {host_id} dblock: {problem}"));
            }
            if all || !dblock.is_zero() || mode != ModeBlock::default() || checked.is_err() {
                dblocks.push(DumpDblock {
                    offset: area_offset + within,
                    host_id,
                    mbal: dblock.mbal,
                    bal: dblock.bal,
                    inp: dblock.inp,
                    inp2: dblock.inp2,
                    inp3: dblock.inp3,
                    lver: dblock.lver,
                    released: dblock.released(),
                    shared: mode.shared(),
                    shared_generation: mode.generation,
                    checksum_ok: checked.is_ok(),
                });
            }
        }
        DumpArea::Resource {
            offset: area_offset,
            lockspace: leader.space_name.to_string(),
            resource: leader.resource_name.to_string(),
            sector_size: geometry.sector_size().bytes(),
            align: geometry.align().to_string(),
            num_hosts: leader.num_hosts,
            max_hosts: leader.max_hosts,
            owner_id: leader.owner_id,
            owner_generation: leader.owner_generation,
            lver: leader.lver,
            timestamp: leader.timestamp,
            flags: leader.flags,
            write_id: leader.write_id,
            write_generation: leader.write_generation,
            write_timestamp: leader.write_timestamp,
            cleared,
            checksum_ok: leader.checksum == leader.computed_checksum(),
            request: DumpRequest {
                lver: request.lver,
                force_mode: request.force_mode,
                valid: request_ok.is_ok(),
            },
            dblocks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{MonoTime, SimClock};
    use crate::direct::{InitOptions, init_lockspace, init_resource};
    use crate::disk::SimDisk;
    use crate::ondisk::dblock::DBLOCK_FLAG_RELEASED;
    use crate::ondisk::name::Name;

    fn disk_with_areas() -> (SimDisk, SimClock) {
        let clock = SimClock::starting_at(MonoTime::from_secs(10));
        let disk = SimDisk::new(3 << 20, 512, 1, clock.clone());
        let ls = Name::new("ls").unwrap();
        init_lockspace(&disk, &clock, 0, ls, 10, InitOptions::default()).unwrap();
        init_resource(
            &disk,
            &clock,
            2 << 20,
            ls,
            Name::new("r").unwrap(),
            None,
            InitOptions::default(),
        )
        .unwrap();
        (disk, clock)
    }

    #[test]
    fn lists_used_hosts_and_ballots() {
        let (disk, clock) = disk_with_areas();
        let mut host3 = LeaderRecord::decode_prefix(&disk.snapshot(1024, 512));
        host3.owner_id = 3;
        host3.owner_generation = 2;
        host3.timestamp = 77;
        host3.resource_name = Name::new("host-three").unwrap();
        disk.apply(1024, &host3.encode());
        let dblock = Dblock {
            mbal: 3,
            bal: 3,
            inp: 3,
            inp2: 2,
            inp3: 77,
            lver: 1,
            flags: DBLOCK_FLAG_RELEASED,
            ..Dblock::default()
        };
        disk.apply((2 << 20) + geometry_512().dblock_offset(3), &dblock.encode());

        let report = dump(&disk, &clock, 0, None, false).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.areas.len(), 2, "the empty 1M step between areas is skipped");
        let DumpArea::Lockspace { hosts, max_hosts, io_timeout, .. } = &report.areas[0] else {
            panic!("lockspace first")
        };
        assert_eq!((*max_hosts, *io_timeout), (2000, 10));
        assert_eq!(hosts.len(), 1);
        assert_eq!((hosts[0].host_id, hosts[0].offset, hosts[0].timestamp), (3, 1024, 77));
        assert_eq!(hosts[0].owner_name, "host-three");
        let DumpArea::Resource { dblocks, resource, offset, .. } = &report.areas[1] else {
            panic!("resource second")
        };
        assert_eq!((resource.as_str(), *offset), ("r", 2 << 20));
        assert_eq!(dblocks.len(), 1);
        assert!(dblocks[0].released && dblocks[0].checksum_ok);

        let all = dump(&disk, &clock, 0, Some(1 << 20), true).unwrap();
        assert_eq!(all.areas.len(), 1);
        let DumpArea::Lockspace { hosts, .. } = &all.areas[0] else { panic!() };
        assert_eq!(hosts.len(), 2000);
    }

    fn geometry_512() -> Geometry {
        Geometry::default_for(crate::ondisk::SectorSize::B512)
    }

    #[test]
    fn damage_is_reported_with_path_and_offset() {
        let (disk, clock) = disk_with_areas();
        let mut sector = disk.snapshot(2048, 512);
        sector[70] ^= 0x01;
        disk.apply(2048, &sector);
        let report = dump(&disk, &clock, 0, None, false).unwrap();
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(
            report.problems[0].starts_with("sim:1: offset 2048: host_id 5 delta lease: checksum")
        );
        let DumpArea::Lockspace { hosts, .. } = &report.areas[0] else { panic!() };
        assert!(!hosts[0].checksum_ok);
    }

    #[test]
    fn nothing_to_find_is_an_error() {
        let clock = SimClock::starting_at(MonoTime::from_secs(10));
        let disk = SimDisk::new(2 << 20, 512, 1, clock.clone());
        disk.apply(0, &[0x55; 4096]);
        let err = dump(&disk, &clock, 0, None, false).unwrap_err();
        assert!(matches!(err, DirectError::NotLeaseArea { offset: 0, .. }), "{err}");
        let err = dump(&disk, &clock, 512, None, false).unwrap_err();
        assert!(matches!(err, DirectError::Unaligned { .. }), "{err}");
        let err = dump(&disk, &clock, 2 << 20, None, false).unwrap_err();
        assert!(matches!(err, DirectError::AreaPastEnd { .. }), "{err}");
    }
}
