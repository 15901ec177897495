//! One-shot lease operations with no daemon, like sanlock's hidden direct
//! verbs: take, renew or release a host_id; acquire or release a resource.
//!
//! Each call runs the real state machine once against the disk and keeps
//! nothing afterwards: nothing renews a host_id between calls, and a direct
//! acquire knows the other hosts only from the one read it makes, so a lease
//! held by anyone not provably gone is refused.

use std::sync::Mutex;

use serde::Serialize;

use super::read_leader::probe_area;
use super::{DirectError, read};
use crate::clock::{Clock, OsClock};
use crate::delta::{
    DeltaAcquire, DeltaError, DeltaRelease, DeltaRenew, HostLease, HostTable, JoinOptions,
    LockspaceRef, Reacquire,
};
use crate::disk::Disk;
use crate::driver::{Driver, Target};
use crate::ondisk::RecordProblem;
use crate::ondisk::leader::{LeaderKind, LeaderRecord};
use crate::ondisk::name::Name;
use crate::paxos::{AcquireOptions, Mode, PaxosAcquire, PaxosError, PaxosRelease, ResourceRef};
use crate::timeouts::{DEFAULT_WATCHDOG_FIRE, Timeouts};

/// A host_id lease as left on disk.
#[derive(Clone, Debug, Serialize)]
pub struct HostIdReport {
    pub lockspace: String,
    pub host_id: u64,
    pub generation: u64,
    pub timestamp: u64,
    pub owner_name: String,
    pub io_timeout: u8,
}

/// A resource lease as acquired.
#[derive(Clone, Debug, Serialize)]
pub struct ResourceReport {
    pub lockspace: String,
    pub resource: String,
    pub host_id: u64,
    pub generation: u64,
    pub mode: Mode,
    pub lver: u64,
}

/// Where a lockspace is and who we are in it.
#[derive(Clone, Copy)]
pub struct HostSpec<'a> {
    pub disk: &'a dyn Disk,
    pub offset: u64,
    pub lockspace: Name,
    pub host_id: u64,
    pub host_name: Name,
}

/// Where a resource is and how to take it.
#[derive(Clone, Copy)]
pub struct ResourceSpec<'a> {
    pub disk: &'a dyn Disk,
    pub offset: u64,
    pub name: Name,
    pub mode: Mode,
    pub expected_lver: Option<u64>,
}

/// A run that nothing can cancel: direct mode gives no [`crate::driver::Cancel`].
fn uncancelled<T>(run: Result<T, crate::driver::Cancelled>) -> T {
    run.expect("a driver without a Cancel runs to the end")
}

/// The lockspace's geometry and the timing of its first sector (overridden
/// by `io_timeout_s` if given).
fn open_lockspace(
    host: &HostSpec<'_>,
    io_timeout_s: Option<u8>,
) -> Result<(LockspaceRef, Timeouts), DirectError> {
    let (geometry, first) =
        probe_area(host.disk, &OsClock, host.offset, LeaderKind::Delta, Some(&host.lockspace))?;
    if host.host_id == 0 || host.host_id > geometry.max_hosts() {
        return Err(DirectError::Invalid(format!(
            "host_id {} is out of range: lockspace '{}' ({geometry}) holds 1 to {}",
            host.host_id,
            host.lockspace,
            geometry.max_hosts()
        )));
    }
    let io_timeout = io_timeout_s.unwrap_or(first.io_timeout_s()).max(1);
    let timeouts = Timeouts::try_new(io_timeout, DEFAULT_WATCHDOG_FIRE).map_err(|source| {
        DirectError::Timing {
            path: host.disk.path().to_owned(),
            offset: host.offset,
            lockspace: host.lockspace.to_string(),
            source,
        }
    })?;
    let lockspace = LockspaceRef { name: host.lockspace, geometry };
    Ok((lockspace, timeouts))
}

fn report(lease: &HostLease) -> HostIdReport {
    HostIdReport {
        lockspace: lease.lockspace.name.to_string(),
        host_id: lease.host_id,
        generation: lease.generation,
        timestamp: lease.timestamp(),
        owner_name: lease.name.to_string(),
        io_timeout: u8::try_from(lease.timeouts.io_timeout().as_secs()).unwrap_or(u8::MAX),
    }
}

/// Turns a delta lease failure into an error naming path and offset.
fn delta_error(driver: &mut Driver<'_>, host: &HostSpec<'_>, err: DeltaError) -> DirectError {
    match err {
        DeltaError::Corrupt { offset, problem } => {
            corrupt(host.disk, host.offset + offset, "delta lease", problem)
        }
        DeltaError::Io(_) if !driver.disk_errors.is_empty() => {
            DirectError::Disk(driver.disk_errors.pop().expect("checked not empty"))
        }
        source => DirectError::Delta {
            path: host.disk.path().to_owned(),
            offset: host.offset,
            lockspace: host.lockspace.to_string(),
            host_id: host.host_id,
            source: Box::new(source),
        },
    }
}

/// Turns a resource lease failure into an error naming path and offset.
fn paxos_error(driver: &mut Driver<'_>, res: &ResourceSpec<'_>, err: PaxosError) -> DirectError {
    match err {
        PaxosError::Corrupt { offset, problem } => {
            corrupt(res.disk, res.offset + offset, "resource area", problem)
        }
        PaxosError::Io(_) if !driver.disk_errors.is_empty() => {
            DirectError::Disk(driver.disk_errors.pop().expect("checked not empty"))
        }
        source => DirectError::Paxos {
            path: res.disk.path().to_owned(),
            offset: res.offset,
            resource: res.name.to_string(),
            source: Box::new(source),
        },
    }
}

fn corrupt(disk: &dyn Disk, offset: u64, what: &str, problem: RecordProblem) -> DirectError {
    DirectError::Corrupt { path: disk.path().to_owned(), offset, what: what.to_owned(), problem }
}

/// Takes `host.host_id` under `host.host_name`: at once if free, at once
/// if it carries our name and `fast_reacquire` is set, else after its
/// holder is dead. Blocks for 2 io_timeouts at least.
pub fn acquire_id(
    host: &HostSpec<'_>,
    io_timeout_s: Option<u8>,
    fast_reacquire: bool,
) -> Result<HostIdReport, DirectError> {
    let (lockspace, timeouts) = open_lockspace(host, io_timeout_s)?;
    let mut driver = Driver::new(Target { disk: host.disk, offset: host.offset });
    let join = DeltaAcquire::new(
        lockspace,
        host.host_id,
        host.host_name,
        timeouts,
        JoinOptions { reacquire: if fast_reacquire { Reacquire::Any } else { Reacquire::Wait } },
    );
    let hosts = Mutex::new(HostTable::new(timeouts));
    match uncancelled(driver.run(join, &hosts)) {
        Ok(lease) => Ok(report(&lease)),
        Err(err) => Err(delta_error(&mut driver, host, err)),
    }
}

/// Reads our host_id sector and takes up the lease it shows.
fn resume(
    host: &HostSpec<'_>,
    lockspace: LockspaceRef,
    timeouts: Timeouts,
) -> Result<HostLease, DirectError> {
    let offset = host.offset + lockspace.host_offset(host.host_id);
    let sector = read(host.disk, &OsClock, offset, lockspace.sector_len())?.to_vec();
    let now = OsClock.now();
    HostLease::resume(lockspace, host.host_id, &host.host_name, timeouts, sector, now).map_err(
        |err| {
            let mut driver = Driver::new(Target { disk: host.disk, offset: host.offset });
            delta_error(&mut driver, host, err)
        },
    )
}

/// Renews a host_id we hold (our name is in its sector) once.
pub fn renew_id(host: &HostSpec<'_>) -> Result<HostIdReport, DirectError> {
    let (lockspace, timeouts) = open_lockspace(host, None)?;
    let lease = resume(host, lockspace, timeouts)?;
    let mut driver = Driver::new(Target { disk: host.disk, offset: host.offset });
    let hosts = Mutex::new(HostTable::new(timeouts));
    let renewal = uncancelled(driver.run(DeltaRenew::new(lease, host.host_id), &hosts));
    match renewal.result {
        Ok(()) => Ok(report(&renewal.lease)),
        Err(err) => Err(delta_error(&mut driver, host, err)),
    }
}

/// Releases a host_id we hold: its timestamp goes to 0.
pub fn release_id(host: &HostSpec<'_>) -> Result<HostIdReport, DirectError> {
    let (lockspace, timeouts) = open_lockspace(host, None)?;
    let lease = resume(host, lockspace, timeouts)?;
    let released = HostIdReport { timestamp: 0, ..report(&lease) };
    let mut driver = Driver::new(Target { disk: host.disk, offset: host.offset });
    let hosts = Mutex::new(HostTable::new(timeouts));
    uncancelled(driver.run(DeltaRelease::new(lease), &hosts))
        .map(|()| released)
        .map_err(|err| delta_error(&mut driver, host, err))
}

/// The resource's geometry and dblock count, from its leader.
fn open_resource(host: &HostSpec<'_>, res: &ResourceSpec<'_>) -> Result<ResourceRef, DirectError> {
    let (geometry, leader) =
        probe_area(res.disk, &OsClock, res.offset, LeaderKind::Paxos, Some(&host.lockspace))?;
    if !leader.resource_name.same_as(&res.name) {
        let problem = RecordProblem::WrongResource {
            found: leader.resource_name.to_string(),
            expected: res.name.to_string(),
        };
        return Err(corrupt(res.disk, res.offset, "resource leader", problem));
    }
    Ok(ResourceRef {
        lockspace: host.lockspace,
        name: res.name,
        geometry,
        num_hosts: leader.num_hosts,
    })
}

/// What this host knows of the others from one read of the lockspace: all
/// of them UNKNOWN, which is enough to see which have left or restarted.
fn observe_lockspace(
    host: &HostSpec<'_>,
    lockspace: LockspaceRef,
    timeouts: Timeouts,
) -> Result<HostTable, DirectError> {
    let len =
        lockspace.sector_len() * usize::try_from(lockspace.geometry.max_hosts()).expect("fits");
    let started = OsClock.now();
    let area = read(host.disk, &OsClock, host.offset, len)?;
    let completed = OsClock.now();
    let mut hosts = HostTable::new(timeouts);
    for (index, sector) in area.chunks_exact(lockspace.sector_len()).enumerate() {
        let leader = LeaderRecord::decode_prefix(sector);
        if leader.verify_in(LeaderKind::Delta, &lockspace.name).is_ok() {
            hosts.observe(index as u64 + 1, &leader, started, completed);
        }
    }
    Ok(hosts)
}

/// Acquires a resource for the host_id we hold.
pub fn acquire(host: &HostSpec<'_>, res: &ResourceSpec<'_>) -> Result<ResourceReport, DirectError> {
    let (lockspace, timeouts) = open_lockspace(host, None)?;
    let lease = resume(host, lockspace, timeouts)?;
    let resource = open_resource(host, res)?;
    let hosts = Mutex::new(observe_lockspace(host, lockspace, timeouts)?);
    let options = AcquireOptions {
        mode: res.mode,
        expected_lver: res.expected_lver,
        ..AcquireOptions::exclusive(OsClock.now().as_nanos())
    };
    let machine = PaxosAcquire::new(resource, host.host_id, lease.generation, timeouts, options);
    let mut driver = Driver::for_resource(Target { disk: res.disk, offset: res.offset });
    let held = uncancelled(driver.run(machine, &hosts))
        .map_err(|err| paxos_error(&mut driver, res, err))?;
    Ok(ResourceReport {
        lockspace: host.lockspace.to_string(),
        resource: res.name.to_string(),
        host_id: held.host_id,
        generation: held.generation,
        mode: held.mode,
        lver: held.lver,
    })
}

/// Releases a resource the host_id we hold has: exclusively if the leader
/// names us, shared if our mode block says so; fails if neither.
pub fn release(host: &HostSpec<'_>, res: &ResourceSpec<'_>) -> Result<ResourceReport, DirectError> {
    let (lockspace, timeouts) = open_lockspace(host, None)?;
    let lease = resume(host, lockspace, timeouts)?;
    let resource = open_resource(host, res)?;
    if host.host_id > resource.num_hosts {
        let source = PaxosError::HostIdAboveNumHosts {
            host_id: host.host_id,
            num_hosts: resource.num_hosts,
        };
        return Err(paxos_error(
            &mut Driver::new(Target { disk: host.disk, offset: host.offset }),
            res,
            source,
        ));
    }
    let mut driver = Driver::for_resource(Target { disk: res.disk, offset: res.offset });
    let hosts = Mutex::new(HostTable::new(timeouts));
    let machine = PaxosRelease::cleanup(resource, host.host_id, lease.generation, timeouts);
    match uncancelled(driver.run(machine, &hosts)) {
        Ok(Some((mode, lver))) => Ok(ResourceReport {
            lockspace: host.lockspace.to_string(),
            resource: res.name.to_string(),
            host_id: host.host_id,
            generation: lease.generation,
            mode,
            lver,
        }),
        Ok(None) => Err(DirectError::Paxos {
            path: res.disk.path().to_owned(),
            offset: res.offset,
            resource: res.name.to_string(),
            source: Box::new(PaxosError::NotHeld {
                host_id: host.host_id,
                generation: lease.generation,
            }),
        }),
        Err(err) => Err(paxos_error(&mut driver, res, err)),
    }
}
