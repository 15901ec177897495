//! `init`: write a fresh lockspace or resource area.
//!
//! The only operation that writes where no valid lease record is. It refuses
//! to overwrite an area that already holds one unless forced, so a mistyped
//! offset cannot wipe a live lockspace.

use super::{DirectError, INIT_WRITE_TIMEOUT, check_area_fits, check_area_offset, deadline, read};
use crate::clock::Clock;
use crate::disk::{AlignedBuf, Disk};
use crate::ondisk::area::{fill_lockspace, fill_resource};
use crate::ondisk::geometry::{AlignSize, Geometry, SectorSize};
use crate::ondisk::leader::{LEADER_BYTES, LeaderKind, LeaderRecord, PAXOS_CLEAR_MAGIC};
use crate::ondisk::name::Name;
use crate::ondisk::request::RequestRecord;

/// Choices shared by both kinds of `init`.
#[derive(Clone, Copy, Debug, Default)]
pub struct InitOptions {
    /// Sector size of the area; the device's own if not given.
    pub sector_size: Option<SectorSize>,
    /// Align (area) size; 1M for 512-byte sectors and 8M for 4096 if not given.
    pub align: Option<AlignSize>,
    /// Overwrite an area that holds valid lease records.
    pub force: bool,
}

/// Writes a lockspace area named `name` at `offset`, with every host_id
/// free and `io_timeout_s` recorded in each sector.
pub fn init_lockspace(
    disk: &dyn Disk,
    clock: &dyn Clock,
    offset: u64,
    name: Name,
    io_timeout_s: u8,
    options: InitOptions,
) -> Result<Geometry, DirectError> {
    if io_timeout_s == 0 {
        return Err(DirectError::Invalid("io_timeout must be at least 1 second".to_owned()));
    }
    let geometry = prepare(disk, clock, offset, options)?;
    let mut area = AlignedBuf::zeroed(area_len(geometry));
    let committed = fill_lockspace(&mut area, geometry, name, io_timeout_s);
    disk.write(offset, &area, deadline(clock, INIT_WRITE_TIMEOUT))?;
    disk.write(offset, &committed, deadline(clock, INIT_WRITE_TIMEOUT))?;
    confirm(disk, clock, offset, LeaderKind::Delta, &name, geometry)?;
    Ok(geometry)
}

/// The ballot blocks a resource gets unless told otherwise. sanlock gives
/// every resource all that fit (2000 with 512-byte sectors), and every
/// acquire then reads them all three times: 3 MiB for a lease that a
/// cluster of a few dozen hosts uses. 128 keeps an acquire's reads near
/// 200 KiB while leaving room for large clusters; only hosts with a host_id
/// up to num_hosts can acquire the resource.
pub const DEFAULT_NUM_HOSTS: u64 = 128;

/// Writes an unowned resource area for resource `name` of lockspace
/// `lockspace` at `offset`, using `num_hosts` dblocks
/// ([`DEFAULT_NUM_HOSTS`], or all that fit if fewer, if `None`).
pub fn init_resource(
    disk: &dyn Disk,
    clock: &dyn Clock,
    offset: u64,
    lockspace: Name,
    name: Name,
    num_hosts: Option<u64>,
    options: InitOptions,
) -> Result<Geometry, DirectError> {
    let geometry = prepare(disk, clock, offset, options)?;
    let num_hosts = num_hosts.unwrap_or(DEFAULT_NUM_HOSTS.min(geometry.max_hosts()));
    if num_hosts == 0 || num_hosts > geometry.max_hosts() {
        return Err(DirectError::Invalid(format!(
            "num_hosts {num_hosts} is out of range: a {geometry} resource holds 1 to {} hosts",
            geometry.max_hosts()
        )));
    }
    let mut area = AlignedBuf::zeroed(area_len(geometry));
    fill_resource(&mut area, geometry, lockspace, name, num_hosts);
    disk.write(offset, &area, deadline(clock, INIT_WRITE_TIMEOUT))?;
    confirm(disk, clock, offset, LeaderKind::Paxos, &lockspace, geometry)?;
    Ok(geometry)
}

/// Clears the resource area at `offset`: a fresh area whose leader carries
/// the cleared magic, so that nothing takes it for a usable lease (sanlock's
/// `write_resource` with `clear`). An area in use is overwritten only when
/// `options.force` is set, as by [`init_resource`].
pub fn clear_resource(
    disk: &dyn Disk,
    clock: &dyn Clock,
    offset: u64,
    lockspace: Name,
    name: Name,
    options: InitOptions,
) -> Result<Geometry, DirectError> {
    let geometry = prepare(disk, clock, offset, options)?;
    let mut area = AlignedBuf::zeroed(area_len(geometry));
    fill_resource(&mut area, geometry, lockspace, name, 1);
    let mut leader = LeaderRecord::decode_prefix(&area);
    leader.magic = PAXOS_CLEAR_MAGIC;
    leader.encode_into(&mut area);
    disk.write(offset, &area, deadline(clock, INIT_WRITE_TIMEOUT))?;
    Ok(geometry)
}

fn area_len(geometry: Geometry) -> usize {
    usize::try_from(geometry.area_bytes()).expect("areas fit in memory")
}

/// Settles the geometry and checks that the area may be written.
fn prepare(
    disk: &dyn Disk,
    clock: &dyn Clock,
    offset: u64,
    options: InitOptions,
) -> Result<Geometry, DirectError> {
    let device_sector = disk.sector_size();
    let sector_size = match options.sector_size {
        Some(size) => size,
        None => SectorSize::from_bytes(u64::from(device_sector)).ok_or_else(|| {
            DirectError::Invalid(format!(
                "{}: device sector size {device_sector} is neither 512 nor 4096",
                disk.path().display()
            ))
        })?,
    };
    if sector_size.bytes() < device_sector {
        return Err(DirectError::Invalid(format!(
            "{}: sector size {sector_size} is smaller than the device's {device_sector}-byte \
             sectors",
            disk.path().display()
        )));
    }
    let geometry = match options.align {
        Some(align) => {
            Geometry::new(sector_size, align).map_err(|e| DirectError::Invalid(e.to_string()))?
        }
        None => Geometry::default_for(sector_size),
    };
    check_area_offset(disk, offset, geometry.align())?;
    check_area_fits(disk, offset, geometry.area_bytes())?;
    if !options.force {
        refuse_if_in_use(disk, clock, offset, geometry)?;
    }
    Ok(geometry)
}

/// Fails if any 512-byte step of the area starts a valid leader or request
/// record. Stepping by 512 finds records of either sector size.
fn refuse_if_in_use(
    disk: &dyn Disk,
    clock: &dyn Clock,
    offset: u64,
    geometry: Geometry,
) -> Result<(), DirectError> {
    let area = read(disk, clock, offset, area_len(geometry))?;
    for (index, sector) in area.chunks_exact(512).enumerate() {
        let found = describe_record(sector);
        if let Some(found) = found {
            return Err(DirectError::InUse {
                path: disk.path().to_owned(),
                offset: offset + 512 * index as u64,
                found,
            });
        }
    }
    Ok(())
}

/// Names the valid record at the start of `sector`, if there is one.
fn describe_record(sector: &[u8]) -> Option<String> {
    let leader = LeaderRecord::decode_prefix(&sector[..LEADER_BYTES]);
    if let Some(kind) = leader.kind()
        && leader.verify(kind).is_ok()
    {
        return Some(match kind {
            LeaderKind::Delta => format!(
                "a delta lease of lockspace '{}' (owner_id {}, generation {})",
                leader.space_name, leader.owner_id, leader.owner_generation
            ),
            LeaderKind::Paxos => format!(
                "the leader of resource '{}' in lockspace '{}' (owner_id {}, lver {})",
                leader.resource_name, leader.space_name, leader.owner_id, leader.lver
            ),
        });
    }
    RequestRecord::decode_prefix(sector)
        .verify()
        .is_ok()
        .then(|| "a resource request record".to_owned())
}

/// Reads the new area's first sector back and checks it is what was meant.
fn confirm(
    disk: &dyn Disk,
    clock: &dyn Clock,
    offset: u64,
    kind: LeaderKind,
    space_name: &Name,
    geometry: Geometry,
) -> Result<(), DirectError> {
    let len = usize::try_from(geometry.sector_bytes()).expect("sector fits in memory");
    let sector = read(disk, clock, offset, len)?;
    let leader = LeaderRecord::decode_prefix(&sector);
    let found = leader.verify_in(kind, space_name).map_err(|problem| DirectError::Corrupt {
        path: disk.path().to_owned(),
        offset,
        what: format!("{} leader just written", kind.area_name()),
        problem,
    })?;
    assert_eq!(found, geometry, "the leader read back has the geometry written");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{MonoTime, SimClock};
    use crate::disk::SimDisk;

    fn sim(size: u64, sector: u32) -> (SimDisk, SimClock) {
        let clock = SimClock::starting_at(MonoTime::from_secs(10));
        (SimDisk::new(size, sector, 1, clock.clone()), clock)
    }

    #[test]
    fn lockspace_then_resource_then_refusal() {
        let (disk, clock) = sim(4 << 20, 512);
        let ls = Name::new("ls").unwrap();
        let g = init_lockspace(&disk, &clock, 0, ls, 10, InitOptions::default()).unwrap();
        assert_eq!(g, Geometry::default_for(SectorSize::B512));
        let g = init_resource(
            &disk,
            &clock,
            1 << 20,
            ls,
            Name::new("r").unwrap(),
            Some(8),
            InitOptions::default(),
        )
        .unwrap();
        assert_eq!(g.max_hosts(), 2000);
        let before = disk.snapshot(0, 4 << 20);
        let err = init_lockspace(&disk, &clock, 0, ls, 10, InitOptions::default()).unwrap_err();
        assert!(matches!(err, DirectError::InUse { offset: 0, .. }), "{err}");
        let err = init_resource(&disk, &clock, 1 << 20, ls, ls, None, InitOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("resource 'r'"), "{err}");
        assert_eq!(disk.snapshot(0, 4 << 20), before, "refusals write nothing");
        let forced = InitOptions { force: true, ..InitOptions::default() };
        init_resource(&disk, &clock, 1 << 20, ls, ls, None, forced).unwrap();
    }

    #[test]
    fn geometry_and_range_checks() {
        let (disk, clock) = sim(8 << 20, 4096);
        let ls = Name::new("ls").unwrap();
        let small = InitOptions { sector_size: Some(SectorSize::B512), ..InitOptions::default() };
        assert!(matches!(
            init_lockspace(&disk, &clock, 0, ls, 10, small),
            Err(DirectError::Invalid(msg)) if msg.contains("smaller than the device")
        ));
        // The 4K default is 8M, which fills this disk only from offset 0.
        assert!(matches!(
            init_lockspace(&disk, &clock, 1 << 20, ls, 10, InitOptions::default()),
            Err(DirectError::Unaligned { align: AlignSize::M8, .. })
        ));
        let m1 = InitOptions { align: Some(AlignSize::M1), ..InitOptions::default() };
        let g = init_lockspace(&disk, &clock, 1 << 20, ls, 10, m1).unwrap();
        assert_eq!(g.max_hosts(), 250);
        let err = init_lockspace(&disk, &clock, 8 << 20, ls, 10, m1).unwrap_err();
        assert!(matches!(err, DirectError::AreaPastEnd { .. }), "{err}");
        let err = init_resource(&disk, &clock, 2 << 20, ls, ls, Some(251), m1).unwrap_err();
        assert!(err.to_string().contains("1 to 250 hosts"), "{err}");
        let err = init_lockspace(&disk, &clock, 2 << 20, ls, 0, m1).unwrap_err();
        assert!(matches!(err, DirectError::Invalid(_)));
    }
}
