//! Lease areas written and read on a client's behalf (sanlock's
//! write/read lockspace and resource, read owners, align): direct-mode
//! operations, run by the daemon with one guard of its own: an area this
//! host uses (a lockspace joined here, a resource held or being worked on
//! here) or that a host holds on disk is never overwritten.

use std::path::Path;

use super::Daemon;
use super::leases::{DeviceId, LeaseKey, Place};
use super::lockspace::{Membership, direct_error};
use crate::api::{ApiError, Cause, ErrorCode};
use crate::clock::{Clock, OsClock};
use crate::direct::{self, DirectError, InitOptions};
use crate::disk::{Access, DirectFile, Disk};
use crate::ondisk::geometry::{AlignSize, Geometry, SectorSize};
use crate::ondisk::leader::{LeaderKind, LeaderRecord};
use crate::ondisk::name::Name;
use crate::rindex::{Entry, FormatOptions, Rindex, RindexError, UpdateOp};
use crate::sanlock::wire::Host;
use crate::spec::{DiskLocation, ResourceSpec};

/// The sector size and align sanlock's flags ask for, if any: the sector
/// bits 0x100 (512) and 0x200 (4096), the align bits 0x10 to 0x80.
pub(super) fn requested(flags: u32) -> Result<(Option<SectorSize>, Option<AlignSize>), ApiError> {
    let sector = match flags & 0x300 {
        0 => None,
        0x100 => Some(SectorSize::B512),
        0x200 => Some(SectorSize::B4096),
        _ => return Err(bad_geometry("both sector sizes asked for")),
    };
    let align = AlignSize::from_flags(flags & 0xF0)
        .map_err(|bits| bad_geometry(&format!("align flags 0x{bits:x}")))?;
    if let (Some(sector), Some(align)) = (sector, align) {
        Geometry::new(sector, align).map_err(|e| bad_geometry(&e.to_string()))?;
    }
    Ok((sector, align))
}

fn bad_geometry(what: &str) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, format!("sector size and align: {what}"))
        .because(Cause::BadGeometry)
}

/// Fails unless `geometry` is what `flags` ask for, where they ask.
fn check_requested(geometry: Geometry, flags: u32) -> Result<(), ApiError> {
    let (sector, align) = requested(flags)?;
    if sector.is_some_and(|s| s != geometry.sector_size())
        || align.is_some_and(|a| a != geometry.align())
    {
        return Err(bad_geometry(&format!("the area is {geometry}")));
    }
    Ok(())
}

/// The geometry an area written on `disk` gets: the one asked for, or the
/// device's sector size with its default align.
fn geometry_for(
    disk: &DirectFile,
    sector: Option<SectorSize>,
    align: Option<AlignSize>,
) -> Result<Geometry, ApiError> {
    let sector = match sector {
        Some(sector) => sector,
        None => SectorSize::from_bytes(u64::from(disk.sector_size()))
            .ok_or_else(|| bad_geometry("the device's sector size"))?,
    };
    match align {
        Some(align) => Geometry::new(sector, align).map_err(|e| bad_geometry(&e.to_string())),
        None => Ok(Geometry::default_for(sector)),
    }
}

/// Refuses an init of `len` bytes at `offset` that would wipe what a host
/// may be using, or write inside an area of another kind or shape. The
/// init may replace only free records of the kind it writes, laid out as
/// it writes them: a lockspace of the same name and geometry whose host_ids
/// are all free, or one resource area at `offset` that nobody holds (no
/// owner, no SHARED mode block), whatever its size. Anything else in the
/// range, an area that starts before `offset` and reaches into it, and
/// anything that cannot be read, refuse the write. sanlock's init
/// overwrites all of these.
fn refuse_if_used(
    disk: &dyn Disk,
    offset: u64,
    geometry: Geometry,
    writing: LeaderKind,
    lockspace: &Name,
) -> Result<(), ApiError> {
    let refuse = |at: u64, what: String| {
        Err(ApiError::new(
            ErrorCode::Refused,
            format!(
                "{}: offset {at}: {what}; it is not overwritten (sanlock's init would)",
                disk.path().display()
            ),
        )
        .because(Cause::OwnerAlive))
    };
    let read = |at: u64, len: u64| -> Result<Vec<u8>, ApiError> {
        let len = usize::try_from(len).map_err(|_| bad_geometry("area too large"))?;
        let deadline = OsClock.now() + direct::DIRECT_READ_TIMEOUT;
        disk.read(at, len, deadline)
            .map(|buf| buf.to_vec())
            .map_err(|err| direct_error(&DirectError::Disk(err)))
    };
    // An area that starts before `offset` and reaches into it starts on
    // an align boundary below it (areas are aligned to their own size).
    for align in AlignSize::ALL {
        let below = offset - offset % align.bytes();
        if below == offset {
            continue;
        }
        let sector = read(below, 4096.min(disk.size_bytes().saturating_sub(below)))?;
        let leader = LeaderRecord::decode_prefix(&sector);
        if let Some(kind) = leader.kind()
            && let Ok(found) = leader.verify(kind)
            && below + found.area_bytes() > offset
        {
            return refuse(below, format!("{} reaches into it", describe(&leader)));
        }
    }
    let area = read(offset, geometry.area_bytes())?;
    // Stepping by 512 finds records of either sector size.
    for (step, sector) in area.chunks_exact(512).enumerate() {
        let at = offset + 512 * step as u64;
        if let Ok(header) = crate::ondisk::rindex::RindexHeader::decode(sector) {
            return refuse(
                at,
                format!("the resource index of lockspace '{}' lies there", header.lockspace),
            );
        }
        let leader = LeaderRecord::decode_prefix(sector);
        let Some(kind) = leader.kind() else { continue };
        let Ok(found) = leader.verify(kind) else { continue };
        match (kind, writing) {
            (LeaderKind::Delta, LeaderKind::Delta)
                if leader.space_name.same_as(lockspace) && found == geometry =>
            {
                if leader.timestamp != 0 {
                    return refuse(
                        at,
                        format!(
                            "host_id {} of lockspace '{}' is held (timestamp {})",
                            leader.owner_id, leader.space_name, leader.timestamp
                        ),
                    );
                }
            }
            (LeaderKind::Paxos, LeaderKind::Paxos) if at == offset => {
                // Its own area, read whole whatever its size.
                let own = if found.area_bytes() <= geometry.area_bytes() {
                    area.get(..usize::try_from(found.area_bytes()).unwrap_or(usize::MAX))
                        .map(<[u8]>::to_vec)
                } else {
                    Some(read(offset, found.area_bytes())?)
                };
                let holder = own
                    .as_deref()
                    .and_then(|own| crate::rindex::holder(own, &leader, found, OsClock.now()));
                if let Some(holder) = holder {
                    return refuse(at, format!("{} is held ({holder:?})", describe(&leader)));
                }
            }
            _ => return refuse(at, format!("{} lies there", describe(&leader))),
        }
    }
    Ok(())
}

/// A valid leader, as an operator is told of it.
fn describe(leader: &LeaderRecord) -> String {
    match leader.kind() {
        Some(LeaderKind::Delta) => format!("lockspace '{}'", leader.space_name),
        _ => format!("resource '{}' of lockspace '{}'", leader.resource_name, leader.space_name),
    }
}

fn in_use_here(path: &Path, offset: u64) -> ApiError {
    ApiError::new(
        ErrorCode::Exists,
        format!("{}: offset {offset}: an area this host uses lies there", path.display()),
    )
    .because(Cause::BusyHere)
}

fn open(path: &Path, access: Access) -> Result<DirectFile, ApiError> {
    DirectFile::open(path, access).map_err(|err| direct_error(&DirectError::Disk(err)))
}

/// What the area's leader says, or why it cannot be read.
fn leader_error(err: &DirectError) -> ApiError {
    match err {
        DirectError::NotLeaseArea { .. } | DirectError::Corrupt { .. } => {
            direct_error(err).because(Cause::BadRecord)
        }
        other => direct_error(other),
    }
}

impl Daemon {
    /// Writes a fresh lockspace area (sanlock's write_lockspace).
    pub(super) fn write_lockspace(
        &self,
        name: &Name,
        path: &Path,
        offset: u64,
        io_timeout: u8,
        flags: u32,
    ) -> Result<(), ApiError> {
        let (sector_size, align) = requested(flags)?;
        let device = DeviceId::of(path)
            .map_err(|e| ApiError::new(ErrorCode::NotFound, format!("{}: {e}", path.display())))?;
        // Through the daemon's handle on the device, where a write still in
        // the kernel is counted and keeps later writes to its sectors off.
        let disk = self.resource_disk(&Place { path: path.to_owned(), device, offset })?;
        let geometry = geometry_for(&disk, sector_size, align)?;
        if self.used_here(device, offset, geometry.area_bytes()) {
            return Err(in_use_here(path, offset));
        }
        refuse_if_used(&*disk, offset, geometry, LeaderKind::Delta, name)?;
        let options = InitOptions { sector_size, align, force: true };
        direct::init_lockspace(&*disk, &OsClock, offset, *name, io_timeout, options)
            .map_err(|err| direct_error(&err))?;
        Ok(())
    }

    /// The leader of host `host_id`'s delta lease (host 0 reads host 1's)
    /// and its io_timeout.
    pub(super) fn read_lockspace(
        &self,
        path: &Path,
        offset: u64,
        host_id: u64,
        flags: u32,
    ) -> Result<(LeaderRecord, u8), ApiError> {
        let disk = open(path, Access::ReadOnly)?;
        let (geometry, first) =
            direct::probe_area(&disk, &OsClock, offset, LeaderKind::Delta, None)
                .map_err(|err| leader_error(&err))?;
        check_requested(geometry, flags)?;
        let report =
            direct::read_lockspace_leader(&disk, &OsClock, offset, &first.space_name, host_id)
                .map_err(|err| leader_error(&err))?;
        let io_timeout = u8::try_from(report.leader.io_timeout).unwrap_or(u8::MAX);
        Ok((report.leader, io_timeout))
    }

    /// Writes a fresh (or, with `clear`, a cleared) resource area
    /// (sanlock's write_resource). Refused where this host holds or works
    /// on a lease, and where the leader shows a host holding it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_resource(
        &self,
        lockspace: &Name,
        name: &Name,
        path: &Path,
        offset: u64,
        num_hosts: u64,
        flags: u32,
        clear: bool,
    ) -> Result<(), ApiError> {
        let (sector_size, align) = requested(flags)?;
        let device = DeviceId::of(path)
            .map_err(|e| ApiError::new(ErrorCode::NotFound, format!("{}: {e}", path.display())))?;
        let key = super::leases::LeaseKey { lockspace: *lockspace, name: *name };
        let disk = self.resource_disk(&Place { path: path.to_owned(), device, offset })?;
        let geometry = geometry_for(&disk, sector_size, align)?;
        // The name's slot is held busy from the checks to the write, so
        // that no acquire of ours starts on it meanwhile.
        let _slot = self.reserve_for_write(&key).map_err(|err| err.because(Cause::BusyHere))?;
        if self.used_here(device, offset, geometry.area_bytes()) {
            return Err(in_use_here(path, offset));
        }
        refuse_if_used(&*disk, offset, geometry, LeaderKind::Paxos, lockspace)?;
        let options = InitOptions { sector_size, align, force: true };
        let written = if clear {
            direct::clear_resource(&*disk, &OsClock, offset, *lockspace, *name, options)
        } else {
            if lockspace.is_empty() || name.is_empty() {
                return Err(ApiError::new(ErrorCode::BadRequest, "a resource needs names"));
            }
            // sanlock's default: every host the area holds.
            let num_hosts = match num_hosts {
                0 => geometry_for(&disk, sector_size, align)?.max_hosts(),
                n => n,
            };
            direct::init_resource(
                &*disk,
                &OsClock,
                offset,
                *lockspace,
                *name,
                Some(num_hosts),
                options,
            )
        };
        written.map_err(|err| direct_error(&err))?;
        Ok(())
    }

    /// The leader of the resource area at `path` and `offset`.
    pub(super) fn read_resource(
        &self,
        path: &Path,
        offset: u64,
        flags: u32,
    ) -> Result<LeaderRecord, ApiError> {
        let disk = open(path, Access::ReadOnly)?;
        let (geometry, leader) =
            direct::probe_area(&disk, &OsClock, offset, LeaderKind::Paxos, None)
                .map_err(|err| leader_error(&err))?;
        check_requested(geometry, flags)?;
        Ok(leader)
    }

    /// The leader of a resource area and the host holding it, if one does:
    /// its leader names an owner and was not released.
    pub(super) fn read_resource_owners(
        &self,
        path: &Path,
        offset: u64,
        flags: u32,
    ) -> Result<(LeaderRecord, Vec<Host>), ApiError> {
        let leader = self.read_resource(path, offset, flags)?;
        let mut owners = Vec::new();
        if leader.owner_id != 0 && leader.timestamp != 0 {
            owners.push(Host {
                host_id: leader.owner_id,
                generation: leader.owner_generation,
                timestamp: leader.timestamp,
                io_timeout: 0,
                flags: 0,
            });
        }
        Ok((leader, owners))
    }

    /// The area size sanlock would use on `path`: 1 MiB on 512-byte sectors,
    /// 8 MiB on 4096-byte ones.
    pub(super) fn align_of(&self, path: &Path) -> Result<u64, ApiError> {
        let disk = open(path, Access::ReadOnly)?;
        let sector = SectorSize::from_bytes(u64::from(disk.sector_size())).ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "{}: sector size {} is not 512 or 4096",
                    path.display(),
                    disk.sector_size()
                ),
            )
        })?;
        Ok(Geometry::default_for(sector).align().bytes())
    }
}

/// What is asked of a resource index.
pub(super) enum IndexOp {
    /// Write a new index (and its internal lease), in the geometry asked
    /// for (the device's sector size and its default align where not).
    Format {
        sector: Option<SectorSize>,
        align: Option<AlignSize>,
        max_resources: Option<u32>,
    },
    /// Find an entry by name or by offset, or the first free one.
    Lookup {
        name: Option<Name>,
        offset: Option<u64>,
    },
    /// Add `name`; a name stored hashed brings its full name.
    Create {
        name: Name,
        full_name: Option<Vec<u8>>,
    },
    Delete {
        name: Name,
    },
    Update {
        entry: Entry,
        op: UpdateOp,
    },
    Rebuild,
}

pub(super) fn index_error(err: &RindexError) -> ApiError {
    let code = match err {
        RindexError::Disk(_) => ErrorCode::Io,
        RindexError::Corrupt { .. } | RindexError::BadLease { .. } => ErrorCode::Data,
        RindexError::NotFound { .. } => ErrorCode::NotFound,
        RindexError::Exists { .. } => ErrorCode::Exists,
        RindexError::Full { .. } => ErrorCode::Limit,
        RindexError::Held { .. } | RindexError::InUse { .. } => ErrorCode::Refused,
        _ => ErrorCode::BadRequest,
    };
    ApiError::new(code, err.to_string())
}

impl Daemon {
    /// Runs `op` on the resource index of `lockspace` at `path` and
    /// `offset`. Every change is made under the index's own lease, held by
    /// this host for the change; a lookup reads only, and needs the
    /// lockspace joined here unless `anywhere`.
    pub(super) fn resource_index(
        self: &std::sync::Arc<Self>,
        lockspace: &Name,
        path: &Path,
        offset: u64,
        op: IndexOp,
        anywhere: bool,
    ) -> Result<Option<Entry>, ApiError> {
        let joined = self.lockspace(lockspace);
        let io_timeout = joined
            .as_ref()
            .map_or(std::time::Duration::from_secs(10), |ls| ls.timeouts.io_timeout());
        let access =
            if matches!(op, IndexOp::Lookup { .. }) { Access::ReadOnly } else { Access::ReadWrite };
        let disk = open(path, access)?;
        let index =
            Rindex { disk: &disk, clock: &OsClock, lockspace: *lockspace, offset, io_timeout };
        let changes = match op {
            IndexOp::Format { sector, align, max_resources } => {
                let geometry = geometry_for(&disk, sector, align)?;
                let options = FormatOptions { geometry, max_resources, force: false };
                index.format(options).map_err(|err| index_error(&err))?;
                return Ok(None);
            }
            IndexOp::Lookup { name, offset } => {
                if !anywhere {
                    joined?;
                }
                return index.lookup(name.as_ref(), offset).map_err(|err| index_error(&err));
            }
            other => other,
        };
        let lockspace_joined = joined?;
        let header = index.read_header().map_err(|err| index_error(&err))?;
        // The index's writes go through the daemon's handle on the device,
        // where writes still in the kernel are counted (recovery waits for
        // them), and are waited for before the index's lease is let go.
        let device = DeviceId::of(path)
            .map_err(|e| ApiError::new(ErrorCode::NotFound, format!("{}: {e}", path.display())))?;
        let shared = self.resource_disk(&Place { path: path.to_owned(), device, offset })?;
        let index = Rindex { disk: &*shared, ..index };
        // The name an entry is made or removed for is held busy meanwhile:
        // no acquire of ours starts on it, and one under way or a lease
        // held here refuses the change.
        let _slot = match &changes {
            IndexOp::Create { name, .. } | IndexOp::Delete { name } => Some(
                self.reserve_for_write(&LeaseKey { lockspace: *lockspace, name: *name })
                    .map_err(|err| err.because(Cause::BusyHere))?,
            ),
            _ => None,
        };
        let lease_name = Name::new(crate::rindex::RINDEX_LEASE_NAME).expect("a valid name");
        let spec = ResourceSpec {
            lockspace: lockspace_joined.spec.name,
            name: lease_name,
            disk: DiskLocation { path: path.to_owned(), offset: header.lease_offset() },
            lver: None,
            shared: false,
        };
        let done = self.under_lease(spec, |_| {
            let done = match changes {
                IndexOp::Create { name, full_name } => {
                    index.create(&name, full_name.as_deref()).map(Some)
                }
                IndexOp::Delete { name } => index.delete(&name).map(Some),
                IndexOp::Update { entry, op } => index.update(&entry, op).map(|()| None),
                IndexOp::Rebuild => index.rebuild().map(|_| None),
                IndexOp::Format { .. } | IndexOp::Lookup { .. } => Ok(None),
            };
            // Only the index's own writes (its area, its lease, the leases
            // it names) are waited for. Once the lockspace is lost the
            // index's lease is void anyway, and recovery counts these
            // writes before it lets the host live on.
            let span = header.slot_offset(header.entries()).saturating_sub(header.rx_offset);
            while !shared.wait_writes_left_within(
                header.rx_offset,
                span,
                OsClock.now() + io_timeout,
            ) && !matches!(lockspace_joined.membership(), Membership::Lost { .. })
                && !lockspace_joined.membership().is_over()
            {
                tracing::warn!(
                    path = %path.display(),
                    "a resource index write is still in the kernel; its lease is kept until it \
                     leaves"
                );
            }
            done
        })?;
        done.map_err(|err| index_error(&err))
    }
}
