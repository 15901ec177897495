//! `read_leader`: the leader record of one host_id or one resource, checked
//! against the spec that names it.

use serde::Serialize;

use super::{DirectError, PROBE_BYTES, check_area_fits, check_area_offset, read};
use crate::clock::Clock;
use crate::disk::Disk;
use crate::ondisk::RecordProblem;
use crate::ondisk::geometry::{AlignSize, Geometry};
use crate::ondisk::leader::{LeaderKind, LeaderRecord};
use crate::ondisk::name::Name;

/// A verified leader record and where it was found. In JSON the record's
/// fields sit beside path, offset and kind, named as `sanlock direct
/// read_leader` prints them.
#[derive(Clone, Debug, Serialize)]
pub struct LeaderReport {
    pub path: String,
    pub offset: u64,
    pub kind: LeaderKind,
    #[serde(flatten)]
    pub leader: LeaderRecord,
}

impl LeaderReport {
    fn new(path: String, offset: u64, kind: LeaderKind, leader: &LeaderRecord) -> LeaderReport {
        LeaderReport { path, offset, kind, leader: *leader }
    }
}

/// Reads host `host_id`'s delta lease in lockspace `name` at `area_offset`.
/// Host 0 reads host 1's sector, the lockspace's first, as sanlock does.
pub fn read_lockspace_leader(
    disk: &dyn Disk,
    clock: &dyn Clock,
    area_offset: u64,
    name: &Name,
    host_id: u64,
) -> Result<LeaderReport, DirectError> {
    let (geometry, first) = probe_area(disk, clock, area_offset, LeaderKind::Delta, Some(name))?;
    let host_id = host_id.max(1);
    if host_id > geometry.max_hosts() {
        return Err(DirectError::Invalid(format!(
            "host_id {host_id} is out of range: lockspace '{name}' ({geometry}) holds 1 to {}",
            geometry.max_hosts()
        )));
    }
    let offset = area_offset + geometry.host_sector_offset(host_id);
    let leader = if host_id == 1 {
        first
    } else {
        let sector_len = usize::try_from(geometry.sector_bytes()).expect("sector fits in memory");
        let sector = read(disk, clock, offset, sector_len)?;
        let leader = LeaderRecord::decode_prefix(&sector);
        leader.verify_in(LeaderKind::Delta, name).map_err(|problem| {
            corrupt(disk, offset, format!("host_id {host_id} delta lease"), problem)
        })?;
        leader
    };
    Ok(LeaderReport::new(disk.path().display().to_string(), offset, LeaderKind::Delta, &leader))
}

/// Reads the leader of resource `name` in lockspace `lockspace` at `offset`.
pub fn read_resource_leader(
    disk: &dyn Disk,
    clock: &dyn Clock,
    offset: u64,
    lockspace: &Name,
    name: &Name,
) -> Result<LeaderReport, DirectError> {
    let (_, leader) = probe_area(disk, clock, offset, LeaderKind::Paxos, Some(lockspace))?;
    if !leader.resource_name.same_as(name) {
        let problem = RecordProblem::WrongResource {
            found: leader.resource_name.to_string(),
            expected: name.to_string(),
        };
        return Err(corrupt(disk, offset, "resource leader".to_owned(), problem));
    }
    Ok(LeaderReport::new(disk.path().display().to_string(), offset, LeaderKind::Paxos, &leader))
}

/// Reads and verifies the leader in the first sector of an area: the
/// area's geometry and the leader. With `space_name`, the leader must be of
/// that lockspace.
pub fn probe_area(
    disk: &dyn Disk,
    clock: &dyn Clock,
    offset: u64,
    kind: LeaderKind,
    space_name: Option<&Name>,
) -> Result<(Geometry, LeaderRecord), DirectError> {
    check_area_offset(disk, offset, AlignSize::M1)?;
    check_area_fits(disk, offset, AlignSize::M1.bytes())?;
    let probe = read(disk, clock, offset, PROBE_BYTES)?;
    let leader = LeaderRecord::decode_prefix(&probe);
    let what = format!("{} leader", kind.area_name());
    let detail = match leader.kind() {
        Some(found) if found != kind => format!(
            "holds a {} area of lockspace '{}', not a {}",
            found.area_name(),
            leader.space_name,
            kind.area_name()
        ),
        Some(_) => String::new(),
        None => format!(
            "not a lease area: found magic 0x{:08x}, expected {what} magic 0x{:08x}",
            leader.magic,
            kind.magic()
        ),
    };
    if !detail.is_empty() {
        return Err(DirectError::NotLeaseArea { path: disk.path().to_owned(), offset, detail });
    }
    let verified = match space_name {
        Some(name) => leader.verify_in(kind, name),
        None => leader.verify(kind),
    };
    let geometry = verified.map_err(|problem| corrupt(disk, offset, what, problem))?;
    check_area_offset(disk, offset, geometry.align())?;
    check_area_fits(disk, offset, geometry.area_bytes())?;
    Ok((geometry, leader))
}

fn corrupt(disk: &dyn Disk, offset: u64, what: String, problem: RecordProblem) -> DirectError {
    DirectError::Corrupt { path: disk.path().to_owned(), offset, what, problem }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{MonoTime, SimClock};
    use crate::direct::{InitOptions, init_lockspace, init_resource};
    use crate::disk::SimDisk;

    #[test]
    fn reads_and_checks_names() {
        let clock = SimClock::starting_at(MonoTime::from_secs(10));
        let disk = SimDisk::new(2 << 20, 512, 1, clock.clone());
        let ls = Name::new("ls").unwrap();
        let r = Name::new("r").unwrap();
        init_lockspace(&disk, &clock, 0, ls, 7, InitOptions::default()).unwrap();
        init_resource(&disk, &clock, 1 << 20, ls, r, Some(4), InitOptions::default()).unwrap();

        let host = read_lockspace_leader(&disk, &clock, 0, &ls, 3).unwrap();
        assert_eq!((host.offset, host.leader.io_timeout, host.leader.max_hosts), (1024, 7, 1));
        let res = read_resource_leader(&disk, &clock, 1 << 20, &ls, &r).unwrap();
        assert_eq!(
            (res.leader.num_hosts, res.leader.max_hosts, res.kind),
            (4, 2000, LeaderKind::Paxos)
        );

        let other = Name::new("other").unwrap();
        let err = read_resource_leader(&disk, &clock, 1 << 20, &ls, &other).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sim:1: offset 1048576: resource leader: is resource 'r', not 'other'"
        );
        let err = read_lockspace_leader(&disk, &clock, 0, &other, 1).unwrap_err();
        assert!(matches!(
            err,
            DirectError::Corrupt { problem: RecordProblem::WrongLockspace { .. }, .. }
        ));
        let err = read_lockspace_leader(&disk, &clock, 1 << 20, &ls, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sim:1: offset 1048576: holds a resource area of lockspace 'ls', not a lockspace"
        );
        let err = read_lockspace_leader(&disk, &clock, 0, &ls, 2001).unwrap_err();
        assert!(matches!(err, DirectError::Invalid(_)));
    }
}
