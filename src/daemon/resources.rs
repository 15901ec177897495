//! Resource lease operations: acquire, release, inquire, convert, request,
//! and what follows a holder's exit or a lockspace's failure.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::leases::{Lease, LeaseKey, Occupant, Owner};
use super::lockspace::{Lockspace, Membership, Writer, direct_error};
use super::memory;
use super::process::{Process, parent_of};
use super::{Daemon, Peer};
use crate::api::results::{LeasesReply, RequestReply};
use crate::api::{Acquire, ApiError, Convert, ErrorCode, Force, Inquire, LeaseRequest, Release};
use crate::clock::{Clock, MonoTime, OsClock};
use crate::direct::probe_area;
use crate::disk::{Access, DirectFile, DiskError};
use crate::driver::{Driver, Target};
use crate::ondisk::RecordProblem;
use crate::ondisk::leader::LeaderKind;
use crate::ondisk::request::ForceMode;
use crate::paxos::{
    AcquireOptions, Held, Mode, Mutation, PaxosAcquire, PaxosError, PaxosExamine, PaxosRelease,
    PaxosRequest, ResourceRef,
};
use crate::rng::Rng;
use crate::spec::ResourceSpec;
use crate::step::IoFailure;

impl Daemon {
    pub(super) fn refuse_if_shutting_down(&self) -> Result<(), ApiError> {
        if self.shutting_down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ApiError::new(ErrorCode::ShuttingDown, "leased is shutting down"));
        }
        Ok(())
    }

    /// Whether `peer` may act for process `pid`: its own, its child's, or
    /// anyone's for root.
    fn authorize(&self, peer: &Peer, pid: u32) -> Result<(), ApiError> {
        if pid == peer.pid || peer.uid == 0 || parent_of(pid) == Some(peer.pid) {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::PermissionDenied,
            format!("pid {} may not act for pid {pid}: only root may, or its parent", peer.pid),
        ))
    }

    fn parse_specs(&self, specs: &[String]) -> Result<Vec<ResourceSpec>, ApiError> {
        let max = self.config.max_resources_per_request;
        if specs.len() > max {
            return Err(ApiError::new(
                ErrorCode::Limit,
                format!("{} resources in one request; the limit is {max}", specs.len()),
            ));
        }
        let parsed = specs
            .iter()
            .map(|s| ResourceSpec::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
        let mut keys: Vec<LeaseKey> = parsed.iter().map(LeaseKey::of).collect();
        keys.sort();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(ApiError::new(ErrorCode::BadRequest, "a resource is named twice"));
        }
        Ok(parsed)
    }

    /// The resource disk at `path`, opened once for every lease on it.
    fn resource_disk(&self, path: &Path) -> Result<Arc<DirectFile>, ApiError> {
        let mut disks = self.disks.lock().expect("disks lock");
        if let Some(disk) = disks.get(path) {
            return Ok(Arc::clone(disk));
        }
        let disk = DirectFile::open(path, Access::ReadWrite)
            .map_err(|err| direct_error(&crate::direct::DirectError::Disk(err)))?;
        let disk = Arc::new(disk);
        disks.insert(path.to_owned(), Arc::clone(&disk));
        Ok(disk)
    }

    /// The resource's geometry, probed from its leader at each acquire:
    /// one small read, and no cache that grows with every resource ever
    /// used.
    fn resource_ref(
        &self,
        spec: &ResourceSpec,
        disk: &DirectFile,
    ) -> Result<ResourceRef, ApiError> {
        let (geometry, leader) =
            probe_area(disk, &OsClock, spec.disk.offset, LeaderKind::Paxos, &spec.lockspace)
                .map_err(|err| direct_error(&err))?;
        if !leader.resource_name.same_as(&spec.name) {
            let problem = RecordProblem::WrongResource {
                found: leader.resource_name.to_string(),
                expected: spec.name.to_string(),
            };
            return Err(ApiError::new(
                ErrorCode::Data,
                format!("{}: offset {}: {problem}", spec.disk.path.display(), spec.disk.offset),
            ));
        }
        Ok(ResourceRef {
            lockspace: spec.lockspace,
            name: spec.name,
            geometry,
            num_hosts: leader.num_hosts,
        })
    }

    /// Our generation in the resource's lockspace, which must be joined.
    /// Leave to write for a new acquire or request: none once the
    /// lockspace is being left (releases take theirs from the lockspace).
    fn writer<'a>(&self, lockspace: &'a Lockspace) -> Result<Writer<'a>, ApiError> {
        if lockspace.is_closing() {
            return Err(ApiError::new(
                ErrorCode::Retry,
                format!("lockspace '{}' is being left", lockspace.spec.name),
            ));
        }
        lockspace.writer(None).ok_or_else(|| match lockspace.membership() {
            Membership::Joining { .. } => ApiError::new(
                ErrorCode::Retry,
                format!("lockspace '{}' is still joining", lockspace.spec.name),
            ),
            other => ApiError::new(
                ErrorCode::Refused,
                format!("lockspace '{}' is not usable: {other:?}", lockspace.spec.name),
            ),
        })
    }

    /// Acquires every resource in `args`, or none.
    pub(super) fn acquire(
        self: &Arc<Self>,
        peer: &Peer,
        args: Acquire,
    ) -> Result<LeasesReply, ApiError> {
        self.refuse_if_shutting_down()?;
        let specs = self.parse_specs(&args.resources)?;
        if specs.is_empty() {
            return Err(ApiError::new(ErrorCode::BadRequest, "no resource to acquire"));
        }
        let pid = args.pid.unwrap_or(peer.pid);
        self.authorize(peer, pid)?;
        let process = self.process(peer, pid)?;
        let keys: Vec<LeaseKey> = specs.iter().map(LeaseKey::of).collect();
        if args.adopt {
            return self.adopt(&process, &specs, &keys);
        }
        {
            let mut table = self.leases.lock().expect("leases lock");
            let owned = table.owned_by(pid).count();
            let max = self.config.max_leases_per_client;
            if owned + keys.len() > max {
                return Err(ApiError::new(
                    ErrorCode::Limit,
                    format!("pid {pid} holds {owned} leases; the limit is {max}"),
                ));
            }
            table.reserve(&keys).map_err(|conflict| busy_error(&conflict.0, conflict.1))?;
        }
        let deadline = args.wait_ms.map(|ms| OsClock.now() + Duration::from_millis(ms));
        let mut acquired: Vec<Lease> = Vec::new();
        for (spec, key) in specs.iter().zip(&keys) {
            match self.acquire_one(spec, deadline) {
                Ok(held) => acquired.push(Lease {
                    key: key.clone(),
                    held,
                    owner: Owner::Process(Arc::clone(&process)),
                    persistent: args.persistent,
                }),
                Err(err) => {
                    // All or nothing: give back what this request took.
                    for lease in &acquired {
                        self.release_on_disk(lease);
                    }
                    let mut table = self.leases.lock().expect("leases lock");
                    for key in &keys {
                        table.free(key);
                    }
                    return Err(err);
                }
            }
        }
        for lease in &acquired {
            tracing::info!(
                resource = %lease.key.name, lockspace = %lease.key.lockspace, pid,
                mode = %lease.held.mode, lver = lease.held.lver, "acquired"
            );
        }
        let reply = LeasesReply { leases: acquired.iter().map(Lease::status).collect() };
        {
            let mut table = self.leases.lock().expect("leases lock");
            let void = acquired.iter().find(|lease| {
                self.lockspace(&lease.key.lockspace)
                    .map_or(true, |ls| !ls.accepts(lease.held.generation))
            });
            if let Some(lease) = void {
                // The lockspace failed or is being left meanwhile: whoever
                // takes its leases has taken them already, without these.
                let name = lease.key.lockspace.to_string();
                for key in &keys {
                    table.free(key);
                }
                return Err(ApiError::new(
                    ErrorCode::Retry,
                    format!("lockspace '{name}' failed or is being left; nothing was acquired"),
                ));
            }
            for lease in acquired {
                table.put(Box::new(lease));
            }
        }
        // The holder may have exited while we acquired, before its leases
        // were in the table for the exit to find.
        if !process.alive() {
            self.holder_exited(&process);
        }
        Ok(reply)
    }

    /// Runs the acquire of one resource, retrying busy ones until
    /// `deadline` if given.
    fn acquire_one(
        &self,
        spec: &ResourceSpec,
        deadline: Option<MonoTime>,
    ) -> Result<Held, ApiError> {
        let lockspace = self.lockspace(&spec.lockspace)?;
        let mut rng = Rng::new(OsClock.now().as_nanos() ^ u64::from(std::process::id()));
        loop {
            let writer = self.writer(&lockspace)?;
            let generation = writer.generation;
            let disk = self.resource_disk(&spec.disk.path)?;
            let resource = self.resource_ref(spec, &disk)?;
            let options = AcquireOptions {
                mode: if spec.shared { Mode::Shared } else { Mode::Exclusive },
                expected_lver: spec.lver,
                wait_for_dead_owner: false,
                read_lvb: false,
                seed: rng.next_u64(),
                mutation: Mutation::None,
            };
            let host_id = lockspace.spec.host_id;
            let mut machine =
                PaxosAcquire::new(resource, host_id, generation, lockspace.timeouts, options);
            let target = Target { disk: &*disk, offset: spec.disk.offset };
            let mut driver = Driver::for_resource(target).cancelled_by(&self.cancel);
            let err = match driver.run(&mut machine, &lockspace.hosts) {
                Err(_) => {
                    return Err(ApiError::new(ErrorCode::ShuttingDown, "leased is shutting down"));
                }
                Ok(Ok(held)) => return Ok(held),
                Ok(Err(err)) => err,
            };
            drop(writer);
            if let PaxosError::OwnerAlive { owner_id: host_id, .. }
            | PaxosError::ShortHold { owner_id: host_id }
            | PaxosError::SharedHeld { holder_id: host_id } = err
            {
                // A host outside the renewals' reads is never judged dead:
                // read it from now on.
                lockspace.watch_host(host_id);
            }
            if let Some(withdrawal) = machine.withdrawal() {
                self.release_later(
                    Arc::clone(&lockspace),
                    Arc::clone(&disk),
                    spec.disk.offset,
                    withdrawal,
                );
            }
            let pause = match (&err, deadline) {
                (_, None) => None,
                (_, Some(deadline)) if OsClock.now() >= deadline => None,
                (PaxosError::OwnerFailing { dead_at, .. }, Some(deadline)) => {
                    Some((*dead_at).min(deadline))
                }
                (err, Some(deadline)) if waitable(err) => {
                    let ms = rng.between(50, 250);
                    Some((OsClock.now() + Duration::from_millis(ms)).min(deadline))
                }
                _ => None,
            };
            match pause {
                Some(until) => {
                    if !self.cancel.sleep_until(until) {
                        return Err(ApiError::new(
                            ErrorCode::ShuttingDown,
                            "leased is shutting down",
                        ));
                    }
                }
                None => return Err(paxos_error(&err, spec, driver.disk_errors.pop())),
            }
        }
    }

    /// Releases a lease on disk. With the host_id lease gone, there is
    /// nothing to write: the lease ended with it. A failed release is
    /// retried in the background: the holder has stopped using the lease
    /// either way.
    fn release_on_disk(&self, lease: &Lease) {
        let Ok(lockspace) = self.lockspace(&lease.key.lockspace) else { return };
        let Ok(disk) = self.resource_disk(&lease.key.path) else { return };
        let outcome = {
            let Some(_writer) = lockspace.writer(Some(lease.held.generation)) else { return };
            let target = Target { disk: &*disk, offset: lease.key.offset };
            let release = PaxosRelease::new(lease.held.clone(), lockspace.timeouts, None);
            Driver::for_resource(target).run(release, &lockspace.hosts)
        };
        match outcome {
            Ok(Ok(_)) => {
                tracing::info!(resource = %lease.key.name, lockspace = %lease.key.lockspace, "released");
            }
            Ok(Err(err)) => {
                tracing::warn!(resource = %lease.key.name, "release failed ({err}); retrying");
                self.release_later(lockspace, disk, lease.key.offset, lease.held.clone());
            }
            Err(_) => unreachable!("a release without a Cancel runs to the end"),
        }
    }

    /// Retries a release (or an acquire's withdrawal) until it succeeds or
    /// the host_id lease it was made under is gone.
    fn release_later(
        &self,
        lockspace: Arc<Lockspace>,
        disk: Arc<DirectFile>,
        offset: u64,
        held: Held,
    ) {
        let spawned =
            std::thread::Builder::new().name("leased-release".to_owned()).spawn(move || {
                loop {
                    OsClock.sleep_until(OsClock.now() + lockspace.timeouts.renewal_retry());
                    let Some(_writer) = lockspace.writer(Some(held.generation)) else { return };
                    let mut driver = Driver::for_resource(Target { disk: &*disk, offset });
                    let release = PaxosRelease::new(held.clone(), lockspace.timeouts, None);
                    if let Ok(Ok(_)) = driver.run(release, &lockspace.hosts) {
                        tracing::info!(resource = %held.resource.name, "released on retry");
                        return;
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::error!("cannot start a release thread: {err}");
        }
    }

    /// Gives an exited process's persistent leases to `process`.
    fn adopt(
        &self,
        process: &Arc<Process>,
        specs: &[ResourceSpec],
        keys: &[LeaseKey],
    ) -> Result<LeasesReply, ApiError> {
        let mut table = self.leases.lock().expect("leases lock");
        for (spec, key) in specs.iter().zip(keys) {
            let lease = table.get(key).ok_or_else(|| not_held(key))?;
            if !matches!(lease.owner, Owner::Orphan) {
                return Err(busy_error(key, table.occupant(key).expect("held")));
            }
            let mode = if spec.shared { Mode::Shared } else { Mode::Exclusive };
            if lease.held.mode != mode {
                return Err(ApiError::new(
                    ErrorCode::Refused,
                    format!("orphan '{}' is held {}, not {mode}", key.name, lease.held.mode),
                ));
            }
        }
        let mut adopted = Vec::new();
        for key in keys {
            let mut lease = table.take(key).expect("checked above");
            lease.owner = Owner::Process(Arc::clone(process));
            adopted.push(lease.status());
            table.put(lease);
        }
        Ok(LeasesReply { leases: adopted })
    }

    /// Releases leases of a process (or orphans).
    pub(super) fn release(&self, peer: &Peer, args: Release) -> Result<LeasesReply, ApiError> {
        let pid = args.pid.unwrap_or(peer.pid);
        if args.orphan && peer.uid != 0 {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "only root may release orphans",
            ));
        }
        if !args.orphan {
            self.authorize(peer, pid)?;
        }
        let owns = |lease: &Lease| {
            if args.orphan { lease.pid().is_none() } else { lease.pid() == Some(pid) }
        };
        let keys: Vec<LeaseKey> = if args.all || (args.orphan && args.resources.is_empty()) {
            let table = self.leases.lock().expect("leases lock");
            table.held().filter(|l| owns(l)).map(|l| l.key.clone()).collect()
        } else {
            self.parse_specs(&args.resources)?.iter().map(LeaseKey::of).collect()
        };
        let leases = {
            let mut table = self.leases.lock().expect("leases lock");
            for key in &keys {
                let lease = table.get(key).ok_or_else(|| not_held(key))?;
                if !owns(lease) {
                    return Err(ApiError::new(
                        ErrorCode::PermissionDenied,
                        format!(
                            "resource '{}' is held by {}, not by pid {pid}",
                            key.name,
                            lease.pid().map_or_else(
                                || "no process (an orphan)".to_owned(),
                                |p| format!("pid {p}")
                            )
                        ),
                    ));
                }
            }
            keys.iter().map(|key| table.take(key).expect("checked above")).collect::<Vec<_>>()
        };
        self.release_and_free(&leases);
        Ok(LeasesReply { leases: leases.iter().map(|lease| lease.status()).collect() })
    }

    /// Leases of a process, or every lease of this host.
    pub(super) fn inquire(&self, peer: &Peer, args: Inquire) -> Result<LeasesReply, ApiError> {
        if let Some(pid) = args.pid {
            self.authorize(peer, pid)?;
        }
        let table = self.leases.lock().expect("leases lock");
        let leases = table.held().filter(|l| args.pid.is_none_or(|pid| l.pid() == Some(pid)));
        Ok(LeasesReply { leases: leases.map(Lease::status).collect() })
    }

    /// Switches a held lease between EX and SH by a new ballot.
    pub(super) fn convert(&self, peer: &Peer, args: Convert) -> Result<LeasesReply, ApiError> {
        self.refuse_if_shutting_down()?;
        let pid = args.pid.unwrap_or(peer.pid);
        self.authorize(peer, pid)?;
        let spec = ResourceSpec::parse(&args.resource)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
        let key = LeaseKey::of(&spec);
        let lease = {
            let mut table = self.leases.lock().expect("leases lock");
            match table.occupant(&key) {
                Some(Occupant::Process(holder)) if holder == pid => {}
                Some(occupant) => return Err(busy_error(&key, occupant)),
                None => return Err(not_held(&key)),
            }
            table.take(&key).expect("checked above")
        };
        let wanted = ResourceSpec { shared: args.mode == Mode::Shared, lver: None, ..spec };
        let converted = if lease.held.mode == args.mode {
            Ok(lease.held.clone())
        } else {
            self.acquire_one(&wanted, None)
        };
        let mut table = self.leases.lock().expect("leases lock");
        match converted {
            Ok(held) => {
                let lease = Box::new(Lease { held, ..*lease });
                let status = lease.status();
                table.put(lease);
                Ok(LeasesReply { leases: vec![status] })
            }
            Err(err) => {
                table.put(lease);
                Err(err)
            }
        }
    }

    /// Writes a request against a resource and signals its owner.
    pub(super) fn request(&self, args: LeaseRequest) -> Result<RequestReply, ApiError> {
        let spec = ResourceSpec::parse(&args.resource)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
        let lockspace = self.lockspace(&spec.lockspace)?;
        let _writer = self.writer(&lockspace)?;
        let disk = self.resource_disk(&spec.disk.path)?;
        let resource = self.resource_ref(&spec, &disk)?;
        let mode = match args.force {
            Force::Force => ForceMode::Force,
            Force::Graceful => ForceMode::Graceful,
            Force::Clear => ForceMode::None,
        };
        let machine = PaxosRequest::new(resource, args.lver, mode, lockspace.timeouts);
        let mut driver = Driver::for_resource(Target { disk: &*disk, offset: spec.disk.offset });
        let owner = match driver.run(machine, &lockspace.hosts) {
            Ok(Ok(owner)) => owner,
            Ok(Err(err)) => return Err(paxos_error(&err, &spec, driver.disk_errors.pop())),
            Err(_) => unreachable!("a request without a Cancel runs to the end"),
        };
        if let Some(owner_id) = owner {
            lockspace.signal_host(owner_id);
        }
        Ok(RequestReply { owner_id: owner })
    }

    /// A lease holder exited: its leases are released, or kept as orphans
    /// if persistent.
    pub(super) fn holder_exited(self: &Arc<Self>, process: &Arc<Process>) {
        let owned =
            |lease: &Lease| matches!(&lease.owner, Owner::Process(p) if Arc::ptr_eq(p, process));
        let (orphans, leases) = {
            let mut table = self.leases.lock().expect("leases lock");
            let keys: Vec<(LeaseKey, bool)> =
                table.held().filter(|l| owned(l)).map(|l| (l.key.clone(), l.persistent)).collect();
            let mut orphans = 0;
            let mut leases = Vec::new();
            for (key, persistent) in keys {
                let mut lease = table.take(&key).expect("listed");
                if persistent {
                    lease.owner = Owner::Orphan;
                    table.put(lease);
                    orphans += 1;
                } else {
                    leases.push(lease);
                }
            }
            (orphans, leases)
        };
        if orphans + leases.len() > 0 {
            tracing::info!(
                pid = process.pid,
                released = leases.len(),
                orphans,
                "lease holder exited"
            );
        }
        if leases.is_empty() {
            return;
        }
        // On a thread of its own: a process that held thousands of leases
        // must not delay noticing the next exit.
        let daemon = Arc::clone(self);
        background("leased-release", move || {
            daemon.release_and_free(&leases);
            if leases.len() >= memory::BULK_LEASES {
                memory::trim();
            }
        });
    }

    /// Releases `leases` (whose slots are busy) on disk one by one, freeing
    /// each slot as soon as its release is done.
    fn release_and_free(&self, leases: &[Box<Lease>]) {
        for lease in leases {
            self.release_on_disk(lease);
            self.leases.lock().expect("leases lock").free(&lease.key);
        }
    }

    /// Releases every lease of a lockspace on disk (leaving it, or
    /// shutting down). New leases are refused first, and acquires and
    /// converts under way are waited for, so that none is left out.
    pub(super) fn release_lockspace_leases(&self, lockspace: &Lockspace) {
        let name = &lockspace.spec.name;
        lockspace.close();
        while self.leases.lock().expect("leases lock").busy_in(name) > 0 {
            OsClock.sleep_until(OsClock.now() + Duration::from_millis(10));
        }
        let leases = self.leases.lock().expect("leases lock").take_in(name);
        self.release_and_free(&leases);
    }

    /// Another host asked, through our bitmap bit, for resources we hold:
    /// look at each one's request record and act on those for our lver.
    pub(super) fn examine_requests(&self, lockspace: &Arc<Lockspace>) {
        let leases: Vec<Lease> = self
            .leases
            .lock()
            .expect("leases lock")
            .in_lockspace(&lockspace.spec.name)
            .cloned()
            .collect();
        for lease in leases {
            let Ok(disk) = self.resource_disk(&lease.key.path) else { continue };
            let examine =
                PaxosExamine::new(lease.held.resource, lease.held.lver, lockspace.timeouts);
            let mut driver =
                Driver::for_resource(Target { disk: &*disk, offset: lease.key.offset });
            let Ok(Ok(Some(mode))) = driver.run(examine, &lockspace.hosts) else { continue };
            let Owner::Process(holder) = &lease.owner else { continue };
            let signal = if mode == ForceMode::Force { libc::SIGKILL } else { libc::SIGTERM };
            tracing::warn!(
                resource = %lease.key.name, pid = holder.pid, ?mode,
                "another host requests this resource: signalling its holder"
            );
            let _ = holder.signal(signal);
        }
    }
}

/// Runs `work` on a thread named `name`, or here if no thread can start.
pub(super) fn background(name: &str, work: impl FnOnce() + Send + 'static) {
    let work = Arc::new(Mutex::new(Some(work)));
    let theirs = Arc::clone(&work);
    let spawned = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        if let Some(work) = theirs.lock().expect("work lock").take() {
            work();
        }
    });
    if let Err(err) = spawned {
        tracing::error!("cannot start a {name} thread ({err}): working on this one");
        if let Some(work) = work.lock().expect("work lock").take() {
            work();
        }
    }
}

/// Errors worth waiting out when asked to wait.
fn waitable(err: &PaxosError) -> bool {
    matches!(
        err,
        PaxosError::OwnerAlive { .. }
            | PaxosError::ShortHold { .. }
            | PaxosError::SharedHeld { .. }
            | PaxosError::Contended { .. }
            | PaxosError::OtherOwner { .. }
            | PaxosError::NumHostsChanged { .. }
            | PaxosError::Io(IoFailure::Timeout)
    )
}

/// A resource lease failure, naming the resource, path and offset.
fn paxos_error(err: &PaxosError, spec: &ResourceSpec, disk_error: Option<DiskError>) -> ApiError {
    let code = match err {
        PaxosError::Corrupt { .. } => ErrorCode::Data,
        PaxosError::HostIdAboveNumHosts { .. } | PaxosError::LvbTooLarge { .. } => {
            ErrorCode::BadRequest
        }
        PaxosError::Io(IoFailure::Error) => ErrorCode::Io,
        err if err.is_retryable() || matches!(err, PaxosError::NumHostsChanged { .. }) => {
            ErrorCode::Retry
        }
        _ => ErrorCode::Refused,
    };
    let place = format!(
        "{}: resource '{}' at offset {}",
        spec.disk.path.display(),
        spec.name,
        spec.disk.offset
    );
    let message = match (err, disk_error) {
        (PaxosError::Corrupt { offset, problem }, _) => {
            format!("{}: offset {}: {problem}", spec.disk.path.display(), spec.disk.offset + offset)
        }
        (PaxosError::Io(_), Some(disk_error)) => disk_error.to_string(),
        (err, _) => format!("{place}: {err}"),
    };
    ApiError::new(code, message)
}

fn busy_error(key: &LeaseKey, occupant: Occupant) -> ApiError {
    let by = match occupant {
        Occupant::Process(pid) => format!("held on this host by pid {pid}"),
        Occupant::Orphan => "held on this host as an orphan (adopt it)".to_owned(),
        Occupant::Busy => "being acquired or released on this host".to_owned(),
    };
    ApiError::new(ErrorCode::Exists, format!("resource '{}' is already {by}", key.name))
}

fn not_held(key: &LeaseKey) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!(
            "resource '{}' of lockspace '{}' is not held on this host",
            key.name, key.lockspace
        ),
    )
}
