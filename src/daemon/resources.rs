//! Resource lease operations: acquire, release, inquire, convert, request,
//! and what follows a holder's exit or a lockspace's failure.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::leases::{DeviceId, Lease, LeaseKey, LeaseTable, Occupant, Owner, Place, key_of};
use super::lockspace::{Lockspace, Membership, Writer, direct_error};
use super::memory;
use super::process::{Process, parent_of};
use super::{Daemon, Peer};
use crate::api::results::{LeasesReply, RequestReply};
use crate::api::{
    Acquire, ApiError, Cause, Convert, ErrorCode, Force, Inquire, LeaseRequest, NamedResource,
    Release, ResourceArg,
};
use crate::clock::{Clock, MonoTime, OsClock};
use crate::direct::probe_area;
use crate::disk::{Access, DirectFile, DiskError};
use crate::driver::{Driver, Target};
use crate::lease_table::{Conversion, LetGo, LetGoError, Settle, Settling, Ticket, WaitLines};
use crate::ondisk::RecordProblem;
use crate::ondisk::group_record::group_record_span;
use crate::ondisk::leader::LeaderKind;
use crate::ondisk::name::Name;
use crate::ondisk::request::ForceMode;
use crate::paxos::{
    AcquireOptions, Held, Mode, Mutation, PaxosAcquire, PaxosError, PaxosExamine, PaxosRequest,
    ResourceRef, Withdrawal,
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

    /// The resources `specs` name, each with where its area lies. For an
    /// acquire (`acquiring`), names are found in their lockspace's name
    /// index, and added if they ask to be; for a release, among the leases
    /// held here, wherever the index puts the name now.
    fn name_resources(
        self: &Arc<Self>,
        specs: &[ResourceArg],
        acquiring: bool,
    ) -> Result<Vec<Named>, ApiError> {
        let max = self.config.max_resources_per_request;
        if specs.len() > max {
            return Err(ApiError::new(
                ErrorCode::Limit,
                format!("{} resources in one request; the limit is {max}", specs.len()),
            ));
        }
        let named = specs
            .iter()
            .map(|arg| {
                let spec = match arg {
                    ResourceArg::Spec(s) => {
                        let spec = ResourceSpec::parse(s)
                            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
                        refuse_group_lease(&spec, acquiring)?;
                        spec
                    }
                    ResourceArg::Named(named) if acquiring => self.named_resource(named, true)?,
                    ResourceArg::Named(named) => self.held_named(named)?,
                };
                Named::new(spec)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut keys: Vec<&LeaseKey> = named.iter().map(|n| &n.key).collect();
        keys.sort();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(ApiError::new(ErrorCode::BadRequest, "a resource is named twice"));
        }
        Ok(named)
    }

    /// The first name of `args` whose index entry no longer names the
    /// lease acquired for it (`acquired`, in the same order); an error if
    /// the index could not be read.
    fn moved_name(
        self: &Arc<Self>,
        args: &[ResourceArg],
        acquired: &[Lease],
    ) -> Result<Option<String>, ApiError> {
        for (arg, lease) in args.iter().zip(acquired) {
            let ResourceArg::Named(named) = arg else { continue };
            if !self.still_named(named, &lease.key, &lease.place)? {
                return Ok(Some(named.name.clone()));
            }
        }
        Ok(None)
    }

    /// Whether `named`'s index entry still names the lease of `key` at
    /// `place`; an error if the index could not be read.
    fn still_named(
        self: &Arc<Self>,
        named: &NamedResource,
        key: &LeaseKey,
        place: &Place,
    ) -> Result<bool, ApiError> {
        match self.named_resource(named, false) {
            Ok(spec) => Ok(spec.disk.offset == place.offset && spec.name == key.name),
            Err(err) if err.code == ErrorCode::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// `error`, an acquire's failure on `one`, or a retry if `arg` names
    /// a lease the index no longer has there: a name removed meanwhile
    /// leaves its lease under another name, which reads as damage but is
    /// not.
    fn unless_moved(self: &Arc<Self>, arg: &ResourceArg, one: &Named, error: ApiError) -> ApiError {
        let ResourceArg::Named(named) = arg else { return error };
        if error.code != ErrorCode::Data {
            return error;
        }
        match self.still_named(named, &one.key, &one.place) {
            Ok(false) => moved_error(named.name.clone()),
            Ok(true) | Err(_) => error,
        }
    }

    /// The resource disk at `place`, opened once for every lease on that
    /// device whatever path names it: the disk layer orders our writes to
    /// one sector only within one open file.
    pub(super) fn resource_disk(&self, place: &Place) -> Result<Arc<DirectFile>, ApiError> {
        let mut disks = self.disks.lock().expect("disks lock");
        if let Some(disk) = disks.get(&place.device) {
            return Ok(Arc::clone(disk));
        }
        let disk = DirectFile::open(&place.path, Access::ReadWrite)
            .map_err(|err| direct_error(&crate::direct::DirectError::Disk(err)))?;
        let disk = Arc::new(disk);
        disks.insert(place.device, Arc::clone(&disk));
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
            probe_area(disk, &OsClock, spec.disk.offset, LeaderKind::Paxos, Some(&spec.lockspace))
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
        if self.leases.lock().expect("leases lock").is_closed(&lockspace.spec.name) {
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
        self.acquire_with(peer, args, &|_| Ok(()))
    }

    /// Acquires every resource in `args`, or none, running `held` once all
    /// are held on disk and before anyone else can see or release them
    /// here: what it writes under them is written before their holder can
    /// let them go. If it fails, they are let go of.
    pub(super) fn acquire_with(
        self: &Arc<Self>,
        peer: &Peer,
        args: Acquire,
        held: &dyn Fn(&[Lease]) -> Result<(), ApiError>,
    ) -> Result<LeasesReply, ApiError> {
        self.refuse_if_shutting_down()?;
        let named = self.name_resources(&args.resources, true)?;
        if named.is_empty() {
            return Err(ApiError::new(ErrorCode::BadRequest, "no resource to acquire"));
        }
        let pid = args.pid.unwrap_or(peer.pid);
        self.authorize(peer, pid)?;
        let process = self.process(peer, pid)?;
        if args.adopt {
            return self.adopt(&process, peer.client, &named);
        }
        {
            let table = self.leases.lock().expect("leases lock");
            let owned = table.owned_by(pid).count();
            let max = self.config.max_leases_per_client;
            if owned + named.len() > max {
                return Err(ApiError::new(
                    ErrorCode::Limit,
                    format!("pid {pid} holds {owned} leases; the limit is {max}"),
                ));
            }
        }
        let deadline = args.wait_ms.map(|ms| OsClock.now() + Duration::from_millis(ms));
        let keys: Vec<LeaseKey> = named.iter().map(|n| n.key.clone()).collect();
        self.reserve(&keys, deadline, Some(&process))?;
        let mut acquired: Vec<Lease> = Vec::new();
        for (at, one) in named.iter().enumerate() {
            match self.acquire_one(one, deadline, args.lvb) {
                Ok(held) => acquired.push(Lease {
                    key: one.key.clone(),
                    place: one.place.clone(),
                    held,
                    owner: Owner::Process(Arc::clone(&process)),
                    client: peer.client,
                    persistent: args.persistent,
                }),
                Err(failed) => {
                    // All or nothing: give back what this request took.
                    // Each slot is freed once what stands on disk for it is
                    // let go of; the failed one's once what its ballot left
                    // is withdrawn.
                    self.free_slots(named[at + 1..].iter().map(|other| &other.key));
                    self.acquire_failed(one, failed.left);
                    for lease in acquired {
                        self.let_go(&lease.key, &lease.place, LetGo::Release(lease.held));
                    }
                    return Err(self.unless_moved(&args.resources[at], one, failed.error));
                }
            }
        }
        // A name is granted only if, while its lease is held, the index
        // still names that lease: a delete takes the lease before it
        // removes the entry, so a lease looked up before a delete (and
        // re-created elsewhere since) is let go of here, never handed out
        // beside the new one.
        let moved = self.moved_name(&args.resources, &acquired);
        let written = moved.and_then(|name| match name {
            Some(name) => Ok(Some(moved_error(name))),
            None => held(&acquired).err().map_or(Ok(None), |err| Ok(Some(err))),
        });
        if let Err(err) | Ok(Some(err)) = written {
            for lease in acquired {
                self.let_go(&lease.key, &lease.place, LetGo::Release(lease.held));
            }
            return Err(err);
        }
        for lease in &acquired {
            tracing::info!(
                resource = %lease.key.name, lockspace = %lease.key.lockspace, pid,
                mode = %lease.held.mode, lver = lease.held.lver, "acquired"
            );
        }
        let reply = LeasesReply { leases: acquired.iter().map(Lease::status).collect() };
        // Looked up before the table's lock is taken: the lockspaces' map
        // is never locked under it (see the lock order).
        let spaces = self.lockspaces_of(acquired.iter().map(|lease| &lease.key));
        let lives = |lease: &Lease| {
            spaces.get(&lease.key.lockspace).is_some_and(|ls| ls.lives(lease.held.generation))
        };
        let acquired: Vec<Box<Lease>> = acquired.into_iter().map(Box::new).collect();
        let admitted = self.leases.lock().expect("leases lock").admit(acquired, lives);
        if let Err(void) = admitted {
            // The lockspace failed or is being left meanwhile, and whoever
            // lists its leases to stop their holders has listed them
            // already, without these: they are let go of here, while their
            // slots keep the resources from being taken again meanwhile.
            let name = void.first().map(|lease| lease.key.lockspace.to_string());
            self.release_and_free(void);
            return Err(ApiError::new(
                ErrorCode::Retry,
                format!(
                    "lockspace '{}' failed or is being left; nothing was acquired",
                    name.unwrap_or_default()
                ),
            ));
        }
        // The holder may have exited while we acquired, before its leases
        // were in the table for the exit to find.
        if !process.alive() {
            self.holder_exited(&process);
        }
        Ok(reply)
    }

    /// An acquire of `named` failed: its slot is freed once what its
    /// ballot `left` on disk is withdrawn, in the background (at once if
    /// it left nothing).
    fn acquire_failed(self: &Arc<Self>, named: &Named, left: Option<Box<Withdrawal>>) {
        let op =
            self.leases.lock().expect("leases lock").acquire_failed(&named.key, left.map(|l| *l));
        match op {
            Some(op) => self.let_go_later(&named.key, &named.place, op, Box::new(|| {})),
            None => self.slot_freed.notify_all(),
        }
    }

    /// Runs `work` while this host holds `spec`'s lease for itself (no
    /// process owns it): the slot stays busy throughout, so that a removal
    /// or shutdown waits for `work` and the release, and nothing else of
    /// ours takes the resource meanwhile. For the daemon's own short
    /// critical sections on disk, such as a resource index's updates.
    /// `work` may name a new name the freed leader takes (see
    /// [`crate::paxos::Held::rename`]).
    pub(super) fn under_lease<T>(
        self: &Arc<Self>,
        spec: ResourceSpec,
        work: impl FnOnce(&mut Option<Name>) -> T,
    ) -> Result<T, ApiError> {
        self.refuse_if_shutting_down()?;
        let named = Named::new(spec)?;
        // Another of the daemon's own short sections on it ends soon.
        let patience = self.lockspace(&named.key.lockspace)?.timeouts.renewal_fail();
        self.reserve(std::slice::from_ref(&named.key), Some(OsClock.now() + patience), None)?;
        let held = match self.acquire_one(&named, None, false) {
            Ok(held) => held,
            Err(failed) => {
                self.acquire_failed(&named, failed.left);
                return Err(failed.error);
            }
        };
        let mut held = held;
        let done = work(&mut held.rename);
        self.let_go(&named.key, &named.place, LetGo::Release(held));
        Ok(done)
    }

    /// Runs the acquire of one resource, whose slot is reserved, retrying
    /// busy ones until `deadline` if given. What a failed ballot left on
    /// disk is withdrawn before anything else of ours touches the resource:
    /// here if it can be, else it is returned, and the slot stays busy
    /// until it is withdrawn.
    fn acquire_one(
        self: &Arc<Self>,
        named: &Named,
        deadline: Option<MonoTime>,
        read_lvb: bool,
    ) -> Result<Held, AcquireFailed> {
        let spec = &named.spec;
        let failed = |error| AcquireFailed { error, left: None };
        let lockspace = self.lockspace(&spec.lockspace).map_err(failed)?;
        let disk = self.resource_disk(&named.place).map_err(failed)?;
        let mut rng = Rng::new(OsClock.now().as_nanos() ^ u64::from(std::process::id()));
        loop {
            let writer = self.writer(&lockspace).map_err(failed)?;
            let generation = writer.generation;
            let resource = self.resource_ref(spec, &disk).map_err(failed)?;
            let options = AcquireOptions {
                mode: if spec.shared { Mode::Shared } else { Mode::Exclusive },
                expected_lver: spec.lver,
                wait_for_dead_owner: false,
                read_lvb,
                seed: rng.next_u64(),
                mutation: Mutation::None,
            };
            let host_id = lockspace.spec.host_id;
            let mut machine =
                PaxosAcquire::new(resource, host_id, generation, lockspace.timeouts, options);
            let target = Target { disk: &*disk, offset: named.place.offset };
            let mut driver = Driver::for_resource(target).cancelled_by(&self.cancel);
            let outcome = driver.run(&mut machine, &lockspace.hosts);
            drop(writer);
            let left = match &outcome {
                Ok(Ok(_)) => None,
                _ => machine.withdrawal(),
            };
            let left = match left {
                Some(withdrawal) => {
                    self.withdraw_now(named, &lockspace, &disk, withdrawal, deadline).map(Box::new)
                }
                None => None,
            };
            let shutting_down =
                || ApiError::new(ErrorCode::ShuttingDown, "leased is shutting down");
            let err = match outcome {
                Err(_) => {
                    return Err(AcquireFailed { error: shutting_down(), left });
                }
                Ok(Ok(held)) => return Ok(held),
                Ok(Err(err)) => err,
            };
            if let PaxosError::OwnerAlive { owner_id: host_id, .. }
            | PaxosError::ShortHold { owner_id: host_id }
            | PaxosError::SharedHeld { holder_id: host_id } = err
            {
                // A host outside the renewals' reads is never judged dead:
                // read it from now on.
                lockspace.watch_host(host_id);
            }
            let mut error = || paxos_error(&err, spec, driver.cause());
            if left.is_some() {
                return Err(AcquireFailed { error: error(), left });
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
                        return Err(failed(shutting_down()));
                    }
                }
                None => return Err(failed(error())),
            }
        }
    }

    /// Withdraws what a failed acquire left, here, retrying until
    /// `deadline` if given. What could not be withdrawn by then is
    /// returned.
    fn withdraw_now(
        &self,
        named: &Named,
        lockspace: &Lockspace,
        disk: &DirectFile,
        withdrawal: Withdrawal,
        deadline: Option<MonoTime>,
    ) -> Option<Withdrawal> {
        let op = LetGo::Withdraw(withdrawal);
        let until = deadline.map_or(Until::Once, Until::Deadline);
        let offset = named.place.offset;
        match self.settle_until(&op, &mut Settling::default(), lockspace, disk, offset, until) {
            Settle::Done | Settle::Gone => None,
            Settle::RetryAt(_) | Settle::GiveUp(_) => {
                cov_mark::hit!(withdrawal_handed_to_a_retry);
                let LetGo::Withdraw(withdrawal) = op else { unreachable!("made above") };
                Some(withdrawal)
            }
        }
    }

    /// Attempts `op` until it is settled, or until `until` says stop.
    fn settle_until(
        &self,
        op: &LetGo,
        settling: &mut Settling,
        lockspace: &Lockspace,
        disk: &DirectFile,
        offset: u64,
        until: Until,
    ) -> Settle {
        loop {
            let attempt = attempt(op, lockspace, disk, offset);
            let leaving =
                self.leases.lock().expect("leases lock").may_give_up(&lockspace.spec.name);
            let settle = settling.after(attempt, OsClock.now(), &lockspace.timeouts, leaving);
            let Settle::RetryAt(at) = settle else { return settle };
            let at = match until {
                Until::Once => return settle,
                Until::Deadline(deadline) if OsClock.now() >= deadline => return settle,
                Until::Deadline(deadline) => at.min(deadline),
                Until::Settled => at,
            };
            let woken = match until {
                // Nothing may cut short what the holder waits for.
                Until::Settled => {
                    OsClock.sleep_until(at);
                    true
                }
                _ => self.cancel.sleep_until(at),
            };
            if !woken {
                return settle;
            }
        }
    }

    /// Lets go on disk of what stands in a busy slot (a lease, or what a
    /// failed acquire left) and then frees the slot. With the host_id lease
    /// gone there is nothing to write: the lease ended with it. A failure
    /// is retried in the background, and the slot stays busy until the
    /// retry succeeds: the holder has stopped using the lease either way,
    /// but no new acquire of ours may run on the resource while a write of
    /// the old one may still land.
    fn let_go(self: &Arc<Self>, key: &LeaseKey, place: &Place, op: LetGo) {
        let (Ok(lockspace), Ok(disk)) = (self.lockspace(&key.lockspace), self.resource_disk(place))
        else {
            return self.settled(key, &op, &Settle::Gone, None);
        };
        let mut settling = Settling::default();
        match self.settle_until(&op, &mut settling, &lockspace, &disk, place.offset, Until::Once) {
            Settle::RetryAt(at) => {
                tracing::warn!(resource = %key.name, "{} failed; retrying", op.what());
                let (offset, then) = (place.offset, Box::new(|| {}));
                self.retry_later(key.clone(), lockspace, disk, offset, op, settling, at, then);
            }
            settle => self.settled(key, &op, &settle, Some(&lockspace)),
        }
    }

    /// [`Daemon::let_go`], with every attempt in the background; `then`
    /// runs once the slot is settled.
    fn let_go_later(self: &Arc<Self>, key: &LeaseKey, place: &Place, op: LetGo, then: Then) {
        let (Ok(lockspace), Ok(disk)) = (self.lockspace(&key.lockspace), self.resource_disk(place))
        else {
            self.settled(key, &op, &Settle::Gone, None);
            return then();
        };
        let at = OsClock.now();
        let (offset, settling) = (place.offset, Settling::default());
        self.retry_later(key.clone(), lockspace, disk, offset, op, settling, at, then);
    }

    /// Retries `op` from `at` on the workers, one attempt at a time, until
    /// it is settled; then frees `key`'s slot (or keeps it abandoned) and
    /// runs `then`.
    #[allow(clippy::too_many_arguments)]
    fn retry_later(
        self: &Arc<Self>,
        key: LeaseKey,
        lockspace: Arc<Lockspace>,
        disk: Arc<DirectFile>,
        offset: u64,
        op: LetGo,
        mut settling: Settling,
        at: MonoTime,
        then: Then,
    ) {
        let daemon = Arc::clone(self);
        let mut then = Some(then);
        let task = move || {
            let settle =
                daemon.settle_until(&op, &mut settling, &lockspace, &disk, offset, Until::Once);
            if let Settle::RetryAt(at) = settle {
                return Some(at);
            }
            daemon.settled(&key, &op, &settle, Some(&lockspace));
            if let Some(then) = then.take() {
                then();
            }
            None
        };
        self.workers.run_at(at, Box::new(task));
    }

    /// Letting go of `op` in `key`'s slot ended as `settle` says: the slot
    /// is freed, or kept abandoned (see [`crate::lease_table`]).
    fn settled(&self, key: &LeaseKey, op: &LetGo, settle: &Settle, lockspace: Option<&Lockspace>) {
        match settle {
            Settle::Done => {
                tracing::info!(resource = %key.name, lockspace = %key.lockspace, "{}", op.done());
            }
            Settle::GiveUp(err) => tracing::error!(
                resource = %key.name,
                "{} given up ({err}): nothing of it is in flight, but the disk may name us; the \
                 resource is not acquired again here until the lockspace is left",
                op.what()
            ),
            Settle::Gone | Settle::RetryAt(_) => {}
        }
        // Under the table's lock, as the leave forgets abandoned slots
        // under it once the generation ended: one that ended already has
        // nothing to guard.
        let mut table = self.leases.lock().expect("leases lock");
        let lives = lockspace.is_some_and(|ls| ls.writer(Some(op.held().generation)).is_some());
        table.settled(key, settle, lives);
        drop(table);
        self.slot_freed.notify_all();
    }

    /// The lockspaces of `keys` that are known here, by name.
    fn lockspaces_of<'k>(
        &self,
        keys: impl Iterator<Item = &'k LeaseKey>,
    ) -> BTreeMap<Name, Arc<Lockspace>> {
        keys.filter_map(|key| Some((key.lockspace, self.lockspace(&key.lockspace).ok()?))).collect()
    }

    /// The spec of the lease held here on `name` in `lockspace`, where it
    /// was taken: for clients that name a held resource without its disk.
    pub(super) fn held_spec(&self, lockspace: &Name, name: &Name) -> Option<String> {
        self.held_resource(lockspace, name).map(|spec| spec.to_string())
    }

    /// The resource held here under `name` in `lockspace`, wherever it lies.
    pub(super) fn held_resource(&self, lockspace: &Name, name: &Name) -> Option<ResourceSpec> {
        let key = LeaseKey { lockspace: *lockspace, name: *name };
        let table = self.leases.lock().expect("leases lock");
        let lease = table.get(&key)?;
        Some(ResourceSpec {
            lockspace: *lockspace,
            name: *name,
            disk: crate::spec::DiskLocation {
                path: lease.place.path.clone(),
                offset: lease.place.offset,
            },
            lver: None,
            shared: false,
        })
    }

    /// Whether an area this host uses overlaps `len` bytes at `offset` of
    /// `device`: a lease held here, or a lockspace joined here.
    pub(super) fn used_here(&self, device: DeviceId, offset: u64, len: u64) -> bool {
        let overlaps = |start: u64, bytes: u64| {
            start < offset.saturating_add(len) && offset < start.saturating_add(bytes)
        };
        let lockspaces = self.lockspace_list();
        let joined = lockspaces.iter().any(|ls| {
            DeviceId::of(&ls.spec.disk.path).is_ok_and(|id| id == device)
                && overlaps(ls.spec.disk.offset, ls.area.geometry.area_bytes())
        });
        let table = self.leases.lock().expect("leases lock");
        joined
            || table.held().any(|lease| {
                lease.place.device == device
                    && overlaps(lease.place.offset, lease.held.resource.geometry.area_bytes())
            })
    }

    /// Holds `key`'s slot busy until the guard is dropped, so that no
    /// operation of ours on that resource starts meanwhile; refused if one
    /// holds or works on it now.
    pub(super) fn reserve_for_write(&self, key: &LeaseKey) -> Result<SlotGuard<'_>, ApiError> {
        self.reserve(std::slice::from_ref(key), None, None)?;
        Ok(SlotGuard { daemon: self, key: key.clone() })
    }

    /// Sets the lock value block of a lease held here, acquired with its
    /// block read: it is written at release.
    pub(super) fn set_lvb(
        &self,
        lockspace: &Name,
        name: &Name,
        lvb: Vec<u8>,
    ) -> Result<(), ApiError> {
        let key = LeaseKey { lockspace: *lockspace, name: *name };
        let mut table = self.leases.lock().expect("leases lock");
        let mut lease = table.take(&key).ok_or_else(|| not_held(&key))?;
        let sector = lease.held.resource.sector_len();
        let refusal = match &lease.held.lvb {
            None => Some(ApiError::new(
                ErrorCode::BadRequest,
                format!("resource '{name}' was not acquired with its lock value block"),
            )),
            Some(_) if lvb.len() > sector => Some(ApiError::new(
                ErrorCode::Limit,
                format!(
                    "a lock value block of {} bytes exceeds the {sector}-byte sector",
                    lvb.len()
                ),
            )),
            Some(_) => None,
        };
        if refusal.is_none() {
            lease.held.lvb = Some(lvb);
        }
        table.put(lease);
        refusal.map_or(Ok(()), Err)
    }

    /// Has the leader of the EX lease `pid` holds on `name` take the name
    /// `to` when it is freed at release (sanlock's release with rename).
    pub(super) fn rename_on_release(
        &self,
        peer: &Peer,
        pid: u32,
        lockspace: &Name,
        name: &Name,
        to: Name,
    ) -> Result<(), ApiError> {
        self.authorize(peer, pid)?;
        let key = LeaseKey { lockspace: *lockspace, name: *name };
        let mut table = self.leases.lock().expect("leases lock");
        let mut lease = table.take(&key).ok_or_else(|| not_held(&key))?;
        let refusal = if lease.pid() != Some(pid) {
            Some(ApiError::new(
                ErrorCode::PermissionDenied,
                format!("resource '{name}' is not held by pid {pid}"),
            ))
        } else if lease.held.mode != Mode::Exclusive {
            Some(ApiError::new(
                ErrorCode::BadRequest,
                format!("resource '{name}' is held shared: only an exclusive lease is renamed"),
            ))
        } else {
            lease.held.rename = Some(to);
            None
        };
        table.put(lease);
        refusal.map_or(Ok(()), Err)
    }

    /// The lock value block of a lease held here, as read at acquire or
    /// set since.
    pub(super) fn get_lvb(&self, lockspace: &Name, name: &Name) -> Result<Vec<u8>, ApiError> {
        let key = LeaseKey { lockspace: *lockspace, name: *name };
        let table = self.leases.lock().expect("leases lock");
        let lease = table.get(&key).ok_or_else(|| not_held(&key))?;
        lease.held.lvb.clone().ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("resource '{name}' was not acquired with its lock value block"),
            )
        })
    }

    /// Queues a pass over the requests against our resources in
    /// `lockspace`.
    pub(super) fn examine(&self, lockspace: &Name) -> Result<(), ApiError> {
        let lockspace = self.lockspace(lockspace)?;
        self.chore(super::Chore::Requested(lockspace));
        Ok(())
    }

    /// Gives an exited process's persistent leases to `process`.
    fn adopt(
        &self,
        process: &Arc<Process>,
        client: Option<u64>,
        named: &[Named],
    ) -> Result<LeasesReply, ApiError> {
        let spaces = self.lockspaces_of(named.iter().map(|one| &one.key));
        let mut table = self.leases.lock().expect("leases lock");
        for one in named {
            let lease = held_at(&table, one)?;
            if !matches!(lease.owner, Owner::Orphan) {
                return Err(busy_error(&one.key, table.occupant(&one.key).expect("held")));
            }
            // Under the table's lock, as an acquired lease goes in: a
            // removal lists the holders to stop only after closing.
            let accepted = !table.is_closed(&one.key.lockspace)
                && spaces.get(&one.key.lockspace).is_some_and(|ls| ls.lives(lease.held.generation));
            if !accepted {
                return Err(ApiError::new(
                    ErrorCode::Retry,
                    format!(
                        "lockspace '{}' failed or is being left; nothing was adopted",
                        one.key.lockspace
                    ),
                ));
            }
            let mode = if one.spec.shared { Mode::Shared } else { Mode::Exclusive };
            if lease.held.mode != mode {
                return Err(ApiError::new(
                    ErrorCode::Refused,
                    format!("orphan '{}' is held {}, not {mode}", one.key.name, lease.held.mode),
                ));
            }
        }
        let mut adopted = Vec::new();
        for one in named {
            let mut lease = table.take(&one.key).expect("checked above");
            lease.owner = Owner::Process(Arc::clone(process));
            lease.client = client;
            adopted.push(lease.status());
            table.put(lease);
        }
        Ok(LeasesReply { leases: adopted })
    }

    /// Releases leases of a process (or orphans).
    pub(super) fn release(
        self: &Arc<Self>,
        peer: &Peer,
        args: Release,
    ) -> Result<LeasesReply, ApiError> {
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
        let every = args.all || (args.orphan && args.resources.is_empty());
        let named = if every { Vec::new() } else { self.name_resources(&args.resources, false)? };
        let leases = {
            let mut table = self.leases.lock().expect("leases lock");
            let keys: Vec<LeaseKey> = if every {
                table.held().filter(|l| owns(l)).map(|l| l.key.clone()).collect()
            } else {
                named.iter().map(|n| n.key.clone()).collect()
            };
            for one in &named {
                let lease = held_at(&table, one)?;
                if !owns(lease) {
                    return Err(ApiError::new(
                        ErrorCode::PermissionDenied,
                        format!(
                            "resource '{}' is held by {}, not by pid {pid}",
                            one.key.name,
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
        let reply = LeasesReply { leases: leases.iter().map(|lease| lease.status()).collect() };
        self.release_and_free(leases);
        Ok(reply)
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

    /// Switches a held lease between EX and SH. EX to SH adds our SHARED
    /// mode block before it lets the exclusive lease go; SH to EX runs a
    /// ballot whose every write keeps our SHARED mode block, so that a
    /// conversion that fails leaves the lease as it was on disk, never less.
    pub(super) fn convert(
        self: &Arc<Self>,
        peer: &Peer,
        args: Convert,
    ) -> Result<LeasesReply, ApiError> {
        self.refuse_if_shutting_down()?;
        let pid = args.pid.unwrap_or(peer.pid);
        self.authorize(peer, pid)?;
        let spec = ResourceSpec::parse(&args.resource)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
        let named = Named::new(spec)?;
        let check = |table: &LeaseTable| {
            held_at(table, &named)?;
            match table.occupant(&named.key) {
                Some(Occupant::Process(holder)) if holder == pid => Ok(()),
                Some(occupant) => Err(busy_error(&named.key, occupant)),
                None => Err(not_held(&named.key)),
            }
        };
        self.with_lease_out(&named.key, check, |lease| {
            self.convert_held(lease, args.mode)?;
            Ok(LeasesReply { leases: vec![lease.status()] })
        })
    }

    /// Runs `work` on the lease of `key` out of the table, once `check`
    /// (under the table's lock) finds it held by the process that asks:
    /// its slot stays busy meanwhile, so that no release, removal or
    /// shutdown runs on it, and any of them waits. It goes back afterwards,
    /// whatever `work` did. `work` is not run (retry) if the lockspace is
    /// being left.
    pub(super) fn with_lease_out<T>(
        self: &Arc<Self>,
        key: &LeaseKey,
        check: impl FnOnce(&LeaseTable) -> Result<(), ApiError>,
        work: impl FnOnce(&mut Lease) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let (mut lease, closing) = {
            let mut table = self.leases.lock().expect("leases lock");
            check(&table)?;
            // Checked as the slot turns busy: a removal that closes the
            // lockspace from now on waits for this work, and one that
            // closed it before may have listed the holders already.
            let closing = table.is_closed(&key.lockspace);
            let lease = table.take(key).ok_or_else(|| not_held(key))?;
            (lease, closing)
        };
        let done = match () {
            () if closing => Err(ApiError::new(
                ErrorCode::Retry,
                format!("lockspace '{}' is being left", key.lockspace),
            )),
            _ => work(&mut lease),
        };
        let holder = match &lease.owner {
            Owner::Process(process) => Some(Arc::clone(process)),
            Owner::Orphan => None,
        };
        self.leases.lock().expect("leases lock").put(lease);
        // Busy no more: a removal or shutdown may be waiting for that.
        self.slot_freed.notify_all();
        // The holder may have exited while its lease was out of the table,
        // where its exit did not find it.
        if let Some(holder) = holder.filter(|process| !process.alive()) {
            self.holder_exited(&holder);
        }
        done
    }

    /// Converts `lease` to `to`. A conversion that fails leaves the lease
    /// as it stands on disk: what a failed SH → EX ballot left is withdrawn
    /// here, keeping our SHARED mode block, before the shared lease is
    /// handed back; while the withdrawal cannot be written the caller
    /// waits, as the shared lease is not ours to hand back before.
    fn convert_held(&self, lease: &mut Lease, to: Mode) -> Result<(), ApiError> {
        let lockspace = self.lockspace(&lease.key.lockspace)?;
        let disk = self.resource_disk(&lease.place)?;
        let Some(writer) = lockspace.writer(Some(lease.held.generation)) else {
            return Err(lost_error(&lease.key));
        };
        let seed = OsClock.now().as_nanos();
        let Some(mut conversion) =
            Conversion::new(&lease.held, to, lockspace.timeouts, seed, Mutation::None)
        else {
            return Ok(());
        };
        // A write of the lease's last operation may still be in the kernel
        // (a leader write of an EX → SH conversion that timed out, which
        // leaves the lease shared all the same): the conversion's writes
        // would be refused beside it. It is given an io_timeout to leave.
        let area_bytes = lease.held.resource.geometry.area_bytes();
        let settled_by = OsClock.now() + lockspace.timeouts.io_timeout();
        disk.wait_writes_left_within(lease.place.offset, area_bytes, settled_by);
        let target = Target { disk: &*disk, offset: lease.place.offset };
        let mut driver = Driver::for_resource(target);
        let outcome = driver.run(&mut conversion, &lockspace.hosts);
        drop(writer);
        let err = match outcome {
            Ok(Ok(converted)) => {
                lease.held = converted;
                return Ok(());
            }
            Ok(Err(err)) => err,
            Err(_) => unreachable!("a conversion without a Cancel runs to the end"),
        };
        if let Some(op) = conversion.failed(&mut lease.held) {
            // Whatever the outcome, the writes that stood for the shared
            // lease are what the disk shows.
            let offset = lease.place.offset;
            let mut settling = Settling::default();
            self.settle_until(&op, &mut settling, &lockspace, &disk, offset, Until::Settled);
        }
        Err(convert_error(&err, lease, driver.cause()))
    }

    /// Writes a request against a resource and signals its owner.
    pub(super) fn request(&self, args: LeaseRequest) -> Result<RequestReply, ApiError> {
        let spec = ResourceSpec::parse(&args.resource)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
        let named = Named::new(spec)?;
        let spec = &named.spec;
        let lockspace = self.lockspace(&spec.lockspace)?;
        let _writer = self.writer(&lockspace)?;
        let disk = self.resource_disk(&named.place)?;
        let resource = self.resource_ref(spec, &disk)?;
        let mode = match args.force {
            Force::Force => ForceMode::Force,
            Force::Graceful => ForceMode::Graceful,
            Force::Clear => ForceMode::None,
        };
        let machine = PaxosRequest::new(resource, args.lver, mode, lockspace.timeouts);
        let mut driver = Driver::for_resource(Target { disk: &*disk, offset: spec.disk.offset });
        let owner = match driver.run(machine, &lockspace.hosts) {
            Ok(Ok(owner)) => owner,
            Ok(Err(err)) => return Err(paxos_error(&err, spec, driver.cause())),
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
        self.let_go_of_owned(&owned, &format!("lease holder {} exited", process.pid));
    }

    /// A registered connection of sanlock's protocol closed: the leases
    /// tied to it go as its process's exit would take them.
    pub(super) fn client_closed(self: &Arc<Self>, client: u64) {
        let owned = |lease: &Lease| {
            lease.client == Some(client) && matches!(lease.owner, Owner::Process(_))
        };
        self.let_go_of_owned(&owned, &format!("registered connection {client} closed"));
    }

    /// Releases the leases `owned` picks, or keeps them as orphans if
    /// persistent; `why` is logged.
    fn let_go_of_owned(self: &Arc<Self>, owned: &dyn Fn(&Lease) -> bool, why: &str) {
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
                    lease.client = None;
                    table.put(lease);
                    orphans += 1;
                } else {
                    leases.push(lease);
                }
            }
            (orphans, leases)
        };
        if orphans + leases.len() > 0 {
            tracing::info!(released = leases.len(), orphans, "{why}");
        }
        if leases.is_empty() {
            return;
        }
        // On the workers, one task per lease: a process that held
        // thousands of leases must not delay noticing the next exit, and a
        // slow device holds up one worker per lease on it, not the rest.
        // After a big holder, memory goes back to the system once the last
        // release is settled.
        let bulk = leases.len() >= memory::BULK_LEASES;
        let left = Arc::new(std::sync::atomic::AtomicUsize::new(leases.len()));
        for lease in leases {
            let Lease { key, place, held, .. } = *lease;
            let left = Arc::clone(&left);
            let then = Box::new(move || {
                let last = left.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1;
                if bulk && last {
                    memory::trim();
                }
            });
            self.let_go_later(&key, &place, LetGo::Release(held), then);
        }
    }

    /// Releases `leases` (whose slots are busy) on disk one by one; each
    /// slot is freed once its release is done.
    // Boxed as the table holds them.
    #[allow(clippy::vec_box)]
    pub(super) fn release_and_free(self: &Arc<Self>, leases: Vec<Box<Lease>>) {
        for lease in leases {
            let Lease { key, place, held, .. } = *lease;
            self.let_go(&key, &place, LetGo::Release(held));
        }
    }

    /// Releases every lease of a lockspace on disk (leaving it, or
    /// shutting down). The caller has closed it to new leases and stopped
    /// their holders; operations still under way are waited for, so that
    /// none is left out.
    pub(super) fn release_lockspace_leases(self: &Arc<Self>, lockspace: &Lockspace) {
        self.leases.lock().expect("leases lock").commit_leave(&lockspace.spec.name);
        self.settle(lockspace, None);
        let leases = self.leases.lock().expect("leases lock").take_in(&lockspace.spec.name);
        self.release_and_free(leases);
    }

    /// Refuses new leases in `lockspace` and waits for the acquires,
    /// conversions and releases under way there to end: from then on the
    /// table lists every lease of the lockspace that a process was told it
    /// holds, and no other will be added.
    /// With a `deadline`, false if that came first: the lockspace stays
    /// closed, for the caller to reopen. A leave that will go on whatever
    /// it meets (a shutdown, a forced removal) is committed at once
    /// ([`LeaseTable::commit_leave`]), so that releases failing on a device
    /// are given up rather than waited for.
    pub(super) fn close_and_settle(
        &self,
        lockspace: &Lockspace,
        deadline: Option<MonoTime>,
        committed: bool,
    ) -> bool {
        {
            let mut table = self.leases.lock().expect("leases lock");
            table.close(&lockspace.spec.name);
            if committed {
                table.commit_leave(&lockspace.spec.name);
            }
        }
        self.settle(lockspace, deadline)
    }

    /// Takes back a [`Daemon::close_and_settle`] that came to nothing.
    pub(super) fn reopen(&self, lockspace: &Lockspace) {
        self.leases.lock().expect("leases lock").reopen(&lockspace.spec.name);
    }

    /// Waits until `lockspace`, which is closed, is settled (see
    /// [`LeaseTable::settled_in`]), or until `deadline`; whether it is.
    fn settle(&self, lockspace: &Lockspace, deadline: Option<MonoTime>) -> bool {
        let name = &lockspace.spec.name;
        let mut table = self.leases.lock().expect("leases lock");
        assert!(table.is_closed(name), "only a closed lockspace settles");
        while !table.settled_in(name) {
            table = match deadline {
                None => self.slot_freed.wait(table).expect("leases lock"),
                Some(deadline) => {
                    let left = deadline.saturating_since(OsClock.now());
                    if left.is_zero() {
                        return false;
                    }
                    self.slot_freed.wait_timeout(table, left).expect("leases lock").0
                }
            };
        }
        true
    }

    /// Marks `keys` busy for an operation. A slot busy with another
    /// operation of ours (an acquire, a release, a withdrawal still to be
    /// written) is waited for until `deadline`, if given; so is one held
    /// by another process than `waiter` (an acquire for that process),
    /// woken as soon as it is released. A waiter stands in line only for
    /// the resources it cannot have now, behind the earlier waiters for
    /// each, so that what it could have is kept from nobody meanwhile. A
    /// request that cannot succeed by waiting (a resource held by `waiter`
    /// itself, an orphan, an abandoned one, or one of a lockspace being
    /// left) is refused at once, naming it; so is every wait once `waiter`
    /// has exited.
    fn reserve(
        &self,
        keys: &[LeaseKey],
        deadline: Option<MonoTime>,
        waiter: Option<&Process>,
    ) -> Result<(), ApiError> {
        let mut table = self.leases.lock().expect("leases lock");
        let mut ticket = None;
        let reserved = loop {
            let hopeless = keys.iter().find_map(|key| {
                let occupant = table.occupant(key)?;
                let hopeless = match occupant {
                    Occupant::Busy => table.is_closed(&key.lockspace) && deadline.is_some(),
                    Occupant::Process(pid) => waiter.is_some_and(|w| w.pid == pid),
                    Occupant::Orphan | Occupant::Abandoned => true,
                };
                hopeless.then(|| busy_error(key, occupant))
            });
            if let Some(err) = hopeless {
                break Err(err);
            }
            // None: the slots are free, but others wait for them first.
            let conflict = if table.waiting.turn(ticket, keys) {
                match table.reserve(keys) {
                    Ok(()) => break Ok(()),
                    Err(conflict) => Some(*conflict),
                }
            } else {
                None
            };
            let waitable = match conflict {
                None | Some((_, Occupant::Busy)) => true,
                Some((_, Occupant::Process(_))) => waiter.is_some(),
                Some((_, Occupant::Orphan | Occupant::Abandoned)) => false,
            };
            let now = OsClock.now();
            let gone = waiter.is_some_and(|w| !w.alive());
            let until =
                deadline.filter(|&d| now < d && waitable && !gone && !self.cancel.is_cancelled());
            let Some(until) = until else {
                break Err(match conflict {
                    Some((key, occupant)) => busy_error(&key, occupant),
                    None => queued_error(&table.waiting, keys, ticket),
                });
            };
            let mine = *ticket.get_or_insert_with(|| table.waiting.ticket());
            let taken: Vec<LeaseKey> =
                keys.iter().filter(|key| table.occupant(key).is_some()).cloned().collect();
            table.waiting.join(mine, &taken);
            // Woken by every freed slot; the cap lets a shutdown's cancel
            // be seen.
            let wait = until.saturating_since(now).min(Duration::from_millis(200));
            table = self.slot_freed.wait_timeout(table, wait).expect("leases lock").0;
        };
        if let Some(ticket) = ticket {
            table.waiting.leave(ticket, keys);
            drop(table);
            // The next in line may try now.
            self.slot_freed.notify_all();
        }
        reserved
    }

    /// Frees busy slots and wakes whoever waits for one.
    pub(super) fn free_slots<'k>(&self, keys: impl IntoIterator<Item = &'k LeaseKey>) {
        let mut table = self.leases.lock().expect("leases lock");
        for key in keys {
            table.free(key);
        }
        drop(table);
        self.slot_freed.notify_all();
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
            let Ok(disk) = self.resource_disk(&lease.place) else { continue };
            let examine =
                PaxosExamine::new(lease.held.resource, lease.held.lver, lockspace.timeouts);
            let mut driver =
                Driver::for_resource(Target { disk: &*disk, offset: lease.place.offset });
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

/// A slot held busy by [`Daemon::reserve_for_write`].
pub(super) struct SlotGuard<'a> {
    daemon: &'a Daemon,
    key: LeaseKey,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.daemon.free_slots(std::iter::once(&self.key));
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
    let error = ApiError::new(code, message);
    match paxos_cause(err) {
        Some(cause) => error.because(cause),
        None => error,
    }
}

/// What a client that tells refusals apart is told.
fn paxos_cause(err: &PaxosError) -> Option<Cause> {
    Some(match err {
        PaxosError::Corrupt { .. } => Cause::BadRecord,
        PaxosError::LverMismatch { .. } => Cause::Lver,
        PaxosError::OwnerAlive { .. }
        | PaxosError::OwnerFailing { .. }
        | PaxosError::ShortHold { .. } => Cause::OwnerAlive,
        PaxosError::SharedHeld { .. } => Cause::SharedHeld,
        PaxosError::OtherOwner { .. } | PaxosError::Contended { .. } => Cause::OtherOwner,
        _ => return None,
    })
}

fn busy_error(key: &LeaseKey, occupant: Occupant) -> ApiError {
    let by = match occupant {
        Occupant::Process(pid) => format!("held on this host by pid {pid}"),
        Occupant::Orphan => "held on this host as an orphan (adopt it)".to_owned(),
        Occupant::Busy => "being acquired or released on this host".to_owned(),
        Occupant::Abandoned => "unusable on this host until the lockspace is left: its last \
                                release failed on the device"
            .to_owned(),
    };
    let cause = match occupant {
        Occupant::Process(_) => Cause::HeldHere,
        Occupant::Orphan => Cause::Orphan,
        Occupant::Busy | Occupant::Abandoned => Cause::BusyHere,
    };
    ApiError::new(ErrorCode::Exists, format!("resource '{}' is already {by}", key.name))
        .because(cause)
}

/// Group leases (see [`crate::groups`]) are taken only through the group
/// calls, which write their records: an acquire by spec string is refused.
fn refuse_group_lease(spec: &ResourceSpec, acquiring: bool) -> Result<(), ApiError> {
    let name = spec.name.to_string();
    if acquiring && crate::groups::is_group_lease(&name) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("'{name}' is a group's lease: use the group calls"),
        ));
    }
    Ok(())
}

/// A name deleted (and perhaps added again elsewhere) while acquired.
fn moved_error(name: String) -> ApiError {
    ApiError::new(
        ErrorCode::Retry,
        format!("'{name}' was deleted from the name index meanwhile; nothing was acquired"),
    )
}

/// Refused without waiting: other acquires of this host wait for `keys`.
fn queued_error(lines: &WaitLines, keys: &[LeaseKey], ticket: Option<Ticket>) -> ApiError {
    let awaited = keys.iter().map(|key| (key, lines.others(key, ticket))).find(|(_, n)| *n > 0);
    let what = awaited.map_or_else(
        || "a resource".to_owned(),
        |(key, n)| format!("resource '{}' ({n} acquire(s) waiting)", key.name),
    );
    ApiError::new(ErrorCode::Exists, format!("{what} is awaited on this host by earlier acquires"))
        .because(Cause::BusyHere)
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

/// A resource named in a request: its spec, its key in the lease table,
/// and where its area lies.
struct Named {
    spec: ResourceSpec,
    key: LeaseKey,
    place: Place,
}

impl Named {
    fn new(spec: ResourceSpec) -> Result<Named, ApiError> {
        let path = &spec.disk.path;
        let device = DeviceId::of(path).map_err(|e| {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                ErrorCode::NotFound
            } else {
                ErrorCode::Io
            };
            ApiError::new(code, format!("{}: {e}", path.display()))
        })?;
        let place = Place { path: path.clone(), device, offset: spec.disk.offset };
        Ok(Named { key: key_of(&spec), place, spec })
    }
}

/// The lease held on `named`'s resource, which must lie where `named` says.
fn held_at<'t>(table: &'t LeaseTable, named: &Named) -> Result<&'t Lease, ApiError> {
    let lease = table.get(&named.key).ok_or_else(|| not_held(&named.key))?;
    if !lease.place.same_area(&named.place) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "resource '{}' of lockspace '{}' is held here at {} offset {}, which is not the \
                 area {} offset {} names",
                named.key.name,
                named.key.lockspace,
                lease.place.path.display(),
                lease.place.offset,
                named.place.path.display(),
                named.place.offset
            ),
        ));
    }
    Ok(lease)
}

/// How an acquire of one resource failed.
struct AcquireFailed {
    error: ApiError,
    /// What the ballot left on disk and is still to be withdrawn.
    left: Option<Box<Withdrawal>>,
}

/// What to do once a background let-go is settled.
type Then = Box<dyn FnOnce() + Send>;

/// How long [`Daemon::settle_until`] keeps at it.
#[derive(Clone, Copy)]
enum Until {
    /// One attempt.
    Once,
    /// Retries until then, unless a shutdown cuts the wait short.
    Deadline(MonoTime),
    /// Retries until it is settled.
    Settled,
}

/// Writes `op` once, under its generation.
fn attempt(
    op: &LetGo,
    lockspace: &Lockspace,
    disk: &DirectFile,
    offset: u64,
) -> Result<(), LetGoError> {
    let held = op.held();
    let Some(_writer) = lockspace.writer(Some(held.generation)) else {
        return Err(LetGoError::Gone);
    };
    let area_bytes = held.resource.geometry.area_bytes();
    // A group record (see crate::groups) written under this hold and still
    // in the kernel would land over the next holder's: not released
    // before it has left. No other lease writes there.
    let (record_at, record_len) = group_record_span(held.resource.geometry);
    if disk.writes_in_flight_within(offset + record_at, record_len as u64) {
        return Err(LetGoError::InFlight);
    }
    let machine = op.machine(lockspace.timeouts);
    // Whatever the outcome, a write of ours still in the kernel may land.
    match Driver::for_resource(Target { disk, offset }).run(machine, &lockspace.hosts) {
        Ok(_) if disk.writes_in_flight_within(offset, area_bytes) => Err(LetGoError::InFlight),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(LetGoError::Paxos(err)),
        Err(_) => unreachable!("a release without a Cancel runs to the end"),
    }
}

/// A conversion that failed, naming the resource and what is left held.
fn convert_error(err: &PaxosError, lease: &Lease, disk_error: Option<DiskError>) -> ApiError {
    let cause = match (err, disk_error) {
        (PaxosError::Io(_), Some(disk_error)) => disk_error.to_string(),
        (err, _) => err.to_string(),
    };
    let code = match err {
        PaxosError::Corrupt { .. } => ErrorCode::Data,
        PaxosError::Io(IoFailure::Error) => ErrorCode::Io,
        err if err.is_retryable() => ErrorCode::Retry,
        _ => ErrorCode::Refused,
    };
    let error = ApiError::new(
        code,
        format!(
            "resource '{}' was not converted ({cause}); it is still held {}",
            lease.key.name, lease.held.mode
        ),
    );
    match paxos_cause(err) {
        Some(cause) => error.because(cause),
        None => error,
    }
}

pub(super) fn lost_error(key: &LeaseKey) -> ApiError {
    ApiError::new(
        ErrorCode::Refused,
        format!(
            "the host_id lease of lockspace '{}' under which '{}' was held is gone",
            key.lockspace, key.name
        ),
    )
}
