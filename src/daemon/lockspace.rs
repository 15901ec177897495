//! One joined lockspace: its host_id lease and the thread that keeps it.
//!
//! The thread joins in the background, then does what the
//! [`RenewalSchedule`] says (renew, wait, await a slow write, fail) with its
//! own disk handle (its own I/O workers), so no resource operation, hung or
//! slow, can delay a renewal. Acquires only read the host table and the
//! membership, each under a lock held for a step.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::host_events::EventListeners;
use super::recovery::RecoveryProgress;
use crate::api::results::{HostStatus, LockspaceState, LockspaceStatus, RecoveryStatus};
use crate::api::{ApiError, ErrorCode};
use crate::clock::{Clock, MonoTime, OsClock};
use crate::delta::{
    DeltaAcquire, DeltaError, DeltaRelease, EventError, HostState, HostTable, JoinOptions,
    LockspaceRef, Outbox, PendingBits, PostEvent, Reacquire, RenewalCommand, RenewalSchedule,
    Watch,
};
use crate::direct::{DirectError, probe_area};
use crate::disk::{Access, DirectFile};
use crate::driver::{Cancel, Driver, Target};
use crate::ondisk::leader::LeaderKind;
use crate::ondisk::name::Name;
use crate::spec::LockspaceSpec;
use crate::step::IoFailure;
use crate::timeouts::Timeouts;
use crate::watchdog::{ClientId, Watchdog};

/// Where the host_id lease stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Membership {
    Joining {
        since: MonoTime,
    },
    Joined {
        generation: u64,
        last_success: MonoTime,
        expiry: MonoTime,
        failures: u64,
        /// A failed renewal write is still in the kernel: the next renewal
        /// waits for it.
        awaiting_write: bool,
    },
    /// The join failed; nothing was held.
    Failed {
        reason: String,
    },
    /// The host_id lease was held and is lost (renewals failed past the
    /// expiry, or the sector is corrupt or taken): recovery stops the
    /// holders of its leases.
    Lost {
        reason: String,
        since: MonoTime,
        last_success: MonoTime,
        failures: u64,
    },
    /// Recovery is over: every holder is gone and no write is in flight,
    /// so the watchdog no longer needs to reset the host for it.
    Stopped {
        reason: String,
        since: MonoTime,
    },
    Leaving,
    Left,
}

impl Membership {
    /// Whether the lockspace is done with, for good or bad, and holds nothing.
    pub fn is_over(&self) -> bool {
        matches!(self, Membership::Failed { .. } | Membership::Stopped { .. } | Membership::Left)
    }
}

/// What a lockspace tells the daemon.
pub trait LockspaceEvents: Send + Sync {
    /// The host_id lease was lost or expired (the membership is
    /// [`Membership::Lost`]): every lease in the lockspace is void and its
    /// holders must stop.
    fn failed(&self, lockspace: &Arc<Lockspace>);
    /// Hosts set our bit: look at the requests against our resources.
    fn requested(&self, lockspace: &Arc<Lockspace>, by: &[u64]);
    /// The host_id lease was taken at `generation`.
    fn joined(&self, lockspace: &Arc<Lockspace>, generation: u64);
}

/// A lockspace this host is in.
pub struct Lockspace {
    pub spec: LockspaceSpec,
    pub area: LockspaceRef,
    pub timeouts: Timeouts,
    pub hosts: Mutex<HostTable>,
    disk: DirectFile,
    host_name: Name,
    state: Mutex<Membership>,
    changed: Condvar,
    cancel: Cancel,
    /// The host sectors renewals read.
    watch: Mutex<Watch>,
    /// Host bit changes for the next renewal.
    bits: Mutex<PendingBits>,
    /// Resource operations under way under the host_id lease: it is not
    /// released while any is (see [`Lockspace::writer`]).
    writers: Mutex<usize>,
    drained: Condvar,
    /// The watchdog, kept alive while this lockspace renews in time.
    watchdog: Arc<Watchdog>,
    /// Registered at the join, renewed with each renewal, unregistered once
    /// the host_id is released or recovery is over.
    watchdog_client: Mutex<Option<ClientId>>,
    /// Where recovery stands, once the host_id lease is lost.
    pub recovery: Mutex<Option<RecoveryProgress>>,
    /// When the join completed.
    joined_at: Mutex<Option<MonoTime>>,
    /// The last renewals, oldest first (sanlock's renewal history).
    renewals: Mutex<std::collections::VecDeque<RenewalRecord>>,
    /// The host event we post to others.
    outbox: Mutex<Outbox>,
    /// Where the events others post to us go; closed when the thread ends.
    pub listeners: EventListeners,
}

/// One successful renewal, and the failed attempts after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenewalRecord {
    /// The timestamp written (our monotonic seconds).
    pub timestamp: u64,
    pub read_ms: u64,
    pub write_ms: u64,
    /// Attempts after it that timed out, and that failed otherwise,
    /// until the next success.
    pub next_timeouts: u32,
    pub next_errors: u32,
}

/// Renewals kept per lockspace: sanlock's default history size.
const RENEWAL_HISTORY: usize = 180;

/// Why a host event was not posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    #[error("the lockspace is not joined")]
    NotJoined,
    #[error(transparent)]
    Refused(#[from] EventError),
}

/// Closes a lockspace's event listeners when dropped.
struct CloseListeners(Arc<Lockspace>);

impl Drop for CloseListeners {
    fn drop(&mut self) {
        self.0.listeners.close();
    }
}

/// Leave to write to resource areas under the host_id lease of
/// `generation`, while it lives.
pub struct Writer<'a> {
    lockspace: &'a Lockspace,
    pub generation: u64,
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        let mut writers = self.lockspace.writers.lock().expect("writers lock");
        *writers -= 1;
        if *writers == 0 {
            self.lockspace.drained.notify_all();
        }
    }
}

impl Lockspace {
    /// Checks the lockspace area and starts joining it in the background.
    pub fn start(
        spec: LockspaceSpec,
        io_timeout: Option<u8>,
        host_name: Name,
        watchdog: Arc<Watchdog>,
        reacquire: Reacquire,
        events: Arc<dyn LockspaceEvents>,
    ) -> Result<Arc<Lockspace>, ApiError> {
        let disk = DirectFile::open(&spec.disk.path, Access::ReadWrite)
            .map_err(|err| direct_error(&DirectError::Disk(err)))?;
        let (geometry, first) =
            probe_area(&disk, &OsClock, spec.disk.offset, LeaderKind::Delta, Some(&spec.name))
                .map_err(|err| direct_error(&err))?;
        if spec.host_id == 0 || spec.host_id > geometry.max_hosts() {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("host_id {} is out of range: 1 to {}", spec.host_id, geometry.max_hosts()),
            ));
        }
        // The leader's io_timeout comes from disk: zero means sanlock's
        // default of 1 s there, and one above the fire timeout is refused.
        let io_timeout = io_timeout.unwrap_or(first.io_timeout_s()).max(1);
        let timeouts = Timeouts::try_new(io_timeout, watchdog.fire_timeout()).map_err(|err| {
            ApiError::new(ErrorCode::BadRequest, format!("lockspace '{}': {err}", spec.name))
        })?;
        let lockspace = Arc::new(Lockspace {
            area: LockspaceRef { name: spec.name, geometry },
            timeouts,
            hosts: Mutex::new(HostTable::new(timeouts)),
            disk,
            host_name,
            state: Mutex::new(Membership::Joining { since: OsClock.now() }),
            changed: Condvar::new(),
            cancel: Cancel::default(),
            bits: Mutex::default(),
            watch: Mutex::new(Watch::new(
                geometry.max_hosts(),
                spec.host_id,
                Watch::CHUNK,
                Watch::FULL_EVERY,
            )),
            writers: Mutex::new(0),
            drained: Condvar::new(),
            watchdog,
            watchdog_client: Mutex::new(None),
            recovery: Mutex::new(None),
            joined_at: Mutex::new(None),
            renewals: Mutex::default(),
            outbox: Mutex::default(),
            listeners: EventListeners::default(),
            spec,
        });
        let keeper = Arc::clone(&lockspace);
        std::thread::Builder::new()
            .name(format!("leased-ls-{}", lockspace.spec.name))
            .spawn(move || {
                // However the thread ends, listeners see their lockspace go.
                let _close = CloseListeners(Arc::clone(&keeper));
                keeper.keep(reacquire, &*events);
            })
            .map_err(|err| {
                ApiError::new(ErrorCode::Internal, format!("cannot start a thread: {err}"))
            })?;
        Ok(lockspace)
    }

    /// The membership now.
    pub fn membership(&self) -> Membership {
        self.state.lock().expect("membership lock").clone()
    }

    fn set(&self, membership: Membership) {
        *self.state.lock().expect("membership lock") = membership;
        self.changed.notify_all();
    }

    /// Leave to write resource areas, if the host_id lease is held and valid
    /// now (and of `generation`, if given). Leaving the lockspace waits
    /// until every writer is dropped before it releases the host_id: a
    /// resource write that landed after the release could undo what
    /// another host did with the resource once it saw our host_id free.
    pub fn writer(&self, generation: Option<u64>) -> Option<Writer<'_>> {
        // Counted under the membership lock, so `leave` sees every writer
        // given out before it set Leaving.
        let state = self.state.lock().expect("membership lock");
        let ours = valid_generation(&state, generation)?;
        *self.writers.lock().expect("writers lock") += 1;
        Some(Writer { lockspace: self, generation: ours })
    }

    /// Whether the host_id lease of `generation` is held and valid now: a
    /// lease acquired under it may be handed to its process. Checked under
    /// the lease table's lock as the lease goes in, so that a recovery that
    /// takes the table's leases afterwards finds it, and one before refuses
    /// it.
    pub fn lives(&self, generation: u64) -> bool {
        valid_generation(&self.membership(), Some(generation)).is_some()
    }

    /// Waits until the join is over (joined, failed or left).
    pub fn wait_joined(&self) -> Membership {
        let mut state = self.state.lock().expect("membership lock");
        while matches!(*state, Membership::Joining { .. }) {
            state = self.changed.wait(state).expect("membership lock");
        }
        state.clone()
    }

    /// Stops renewing and releases the host_id (the caller has released
    /// the lockspace's resources first). Returns once left. `resource_writes`
    /// counts the daemon's resource writes still in the kernel.
    pub fn leave(&self, resource_writes: &dyn Fn() -> usize) {
        {
            let mut state = self.state.lock().expect("membership lock");
            if !state.is_over() && !matches!(*state, Membership::Lost { .. }) {
                *state = Membership::Leaving;
            }
        }
        // No writer is given out from now on; the renewals go on until
        // those under way are done.
        let mut writers = self.writers.lock().expect("writers lock");
        while *writers > 0 {
            writers = self.drained.wait(writers).expect("writers lock");
        }
        drop(writers);
        // A write timed out but still in the kernel could land after the
        // release, over what another host wrote once it saw us gone: keep
        // renewing until there is none. If the storage never gives them
        // back, the lease expires and recovery has the host reset.
        while self.disk.writes_in_flight() + resource_writes() > 0
            && !matches!(self.membership(), Membership::Lost { .. })
        {
            OsClock.sleep_until(OsClock.now() + std::time::Duration::from_millis(10));
        }
        self.cancel.cancel();
        let mut state = self.state.lock().expect("membership lock");
        while !state.is_over() && !matches!(*state, Membership::Lost { .. }) {
            state = self.changed.wait(state).expect("membership lock");
        }
    }

    /// Resource operations under way and writes still in the kernel on the
    /// host_id's disk: recovery is not over while there are any.
    pub fn writes_pending(&self) -> usize {
        *self.writers.lock().expect("writers lock") + self.disk.writes_in_flight()
    }

    /// Ends recovery: every holder is gone and nothing is written any more
    /// under the lost host_id, so the host need not be reset for it.
    pub fn stopped(&self) {
        let mut state = self.state.lock().expect("membership lock");
        let Membership::Lost { reason, since, .. } = &*state else {
            unreachable!("only a lost lockspace is stopped, not {state:?}")
        };
        *state = Membership::Stopped { reason: reason.clone(), since: *since };
        drop(state);
        self.changed.notify_all();
        if let Some(client) = self.watchdog_client.lock().expect("watchdog client lock").take() {
            self.watchdog.unregister(client);
        }
    }

    /// Reads `host_id`'s sector at every renewal from now on (it owns a
    /// resource we want).
    pub fn watch_host(&self, host_id: u64) {
        self.watch.lock().expect("watch lock").cover(host_id);
    }

    /// Asks `host_id` to look at our requests, for 6 io_timeouts.
    pub fn signal_host(&self, host_id: u64) {
        // Long enough for an owner that reads our sector only at its whole
        // area reads (see `Watch`) to see the bit.
        let every = self.timeouts.renewal_interval()
            * u32::try_from(Watch::FULL_EVERY + 1).expect("a small count");
        let until = OsClock.now() + self.timeouts.renewal_warn().max(every);
        self.bits.lock().expect("bits lock").set(host_id, until);
    }

    /// Posts a host event to other hosts (sanlock's set_event): it is
    /// written, with the recipients' bits, from the next renewal on. Only
    /// while joined: no renewal writes it otherwise.
    pub fn post_event(&self, post: &PostEvent) -> Result<(), PostError> {
        if !matches!(self.membership(), Membership::Joined { .. }) {
            return Err(PostError::NotJoined);
        }
        let seen =
            self.hosts.lock().expect("host table lock").get(post.host_id).map(|e| e.generation);
        let change = self.outbox.lock().expect("outbox lock").apply(
            post,
            self.timeouts.event_hold(),
            OsClock.now(),
            seen,
        )?;
        let max_hosts = self.area.geometry.max_hosts();
        self.bits.lock().expect("bits lock").change(change, self.spec.host_id, max_hosts);
        Ok(())
    }

    /// The thread's body: join, then renew until told to leave or lost.
    fn keep(self: Arc<Self>, reacquire: Reacquire, events: &dyn LockspaceEvents) {
        let target = Target { disk: &self.disk, offset: self.spec.disk.offset };
        let mut driver = Driver::new(target).cancelled_by(&self.cancel);
        let join = DeltaAcquire::new(
            self.area,
            self.spec.host_id,
            self.host_name,
            self.timeouts,
            JoinOptions { reacquire },
        );
        let lease = match driver.run(join, &self.hosts) {
            Err(_) => return self.set(Membership::Left),
            Ok(Err(err)) => {
                let reason = self.describe(&err, &mut driver);
                tracing::error!(lockspace = %self.spec.name, "join failed: {reason}");
                return self.set(Membership::Failed { reason });
            }
            Ok(Ok(lease)) => lease,
        };
        tracing::info!(
            lockspace = %self.spec.name, host_id = lease.host_id, generation = lease.generation,
            "joined"
        );
        events.joined(&self, lease.generation);
        let mut schedule = RenewalSchedule::new(lease);
        self.joined(&schedule);
        if !self.renew(&mut schedule, &mut driver, events) {
            return;
        }
        let Some(lease) = schedule.into_lease() else {
            unreachable!("no renewal runs once the schedule stops")
        };
        let released = driver.run(DeltaRelease::new(lease), &self.hosts);
        if let Ok(Err(err)) = released {
            tracing::warn!(lockspace = %self.spec.name, "releasing the host_id failed: {err}");
        }
        tracing::info!(lockspace = %self.spec.name, "left");
        self.set(Membership::Left);
        if let Some(client) = self.watchdog_client.lock().expect("watchdog client lock").take() {
            self.watchdog.unregister(client);
        }
    }

    /// Does what the renewal schedule says until told to leave (true) or
    /// the host_id lease is lost (false). Only I/O and sleeps happen here;
    /// every decision is the schedule's.
    fn renew(
        self: &Arc<Self>,
        schedule: &mut RenewalSchedule,
        driver: &mut Driver<'_>,
        events: &dyn LockspaceEvents,
    ) -> bool {
        // Why the last renewal failed, for the logs.
        let mut last_error = String::new();
        loop {
            match schedule.next(OsClock.now()) {
                RenewalCommand::Renew => {
                    // Taken at once, applied without the lock: clients
                    // posting meanwhile never hold this thread up.
                    let bits = std::mem::take(&mut *self.bits.lock().expect("bits lock"));
                    schedule.apply_bits(bits);
                    schedule
                        .set_event(self.outbox.lock().expect("outbox lock").current(OsClock.now()));
                    // Events may come from any host: listened for, the
                    // whole area is read, as sanlock reads it.
                    let read = if self.listeners.is_empty() {
                        self.watch.lock().expect("watch lock").next_read()
                    } else {
                        self.area.geometry.max_hosts()
                    };
                    driver.read_time = Duration::ZERO;
                    driver.write_time = Duration::ZERO;
                    let Ok(mut renewal) = driver.run(schedule.renewal(read), &self.hosts) else {
                        unreachable!("a renewal does not wait")
                    };
                    {
                        let mut watch = self.watch.lock().expect("watch lock");
                        watch.settle(&mut self.hosts.lock().expect("host table lock"));
                    }
                    self.listeners.deliver(self.spec.host_id, &renewal.events);
                    let requested_by = std::mem::take(&mut renewal.requested_by);
                    if !requested_by.is_empty() {
                        events.requested(self, &requested_by);
                    }
                    if let Err(err) = &renewal.result {
                        last_error = self.describe(err, driver);
                    }
                    // This disk handle writes only our own sector.
                    let in_flight = self.disk.writes_in_flight() > 0;
                    let outcome = match &renewal.result {
                        Ok(_) => None,
                        Err(DeltaError::Io(IoFailure::Timeout)) => Some(true),
                        Err(_) => Some(false),
                    };
                    schedule.renewed(OsClock.now(), renewal, in_flight);
                    self.record_renewal(outcome, schedule, driver);
                }
                RenewalCommand::WaitUntil(until) => {
                    if !self.cancel.sleep_until(until) {
                        return true;
                    }
                }
                RenewalCommand::AwaitWrite { until } => {
                    // Not cut short by leaving: the host_id is not released
                    // while a write to its sector may still land.
                    if self.disk.wait_writes_left(until) {
                        schedule.write_settled();
                        self.joined(schedule);
                    }
                }
                RenewalCommand::Renewed { .. } => self.joined(schedule),
                RenewalCommand::Retry { failures, .. } => {
                    tracing::warn!(
                        lockspace = %self.spec.name, failures,
                        "renewal failed: {last_error}"
                    );
                    self.joined(schedule);
                }
                RenewalCommand::Warn { failures, expiry } => tracing::warn!(
                    lockspace = %self.spec.name, failures,
                    "no renewal for {:.1} s; the host_id lease expires in {:.1} s",
                    OsClock.now().saturating_since(schedule.last_success()).as_secs_f64(),
                    expiry.saturating_since(OsClock.now()).as_secs_f64()
                ),
                RenewalCommand::Fail(err) => {
                    let reason = match err {
                        DeltaError::Expired if !last_error.is_empty() => {
                            format!("{err}; the last renewal failed: {last_error}")
                        }
                        other => self.describe(&other, driver),
                    };
                    tracing::error!(
                        lockspace = %self.spec.name, failures = schedule.failures(),
                        "host_id lease lost: {reason}"
                    );
                    self.set(Membership::Lost {
                        reason,
                        since: OsClock.now(),
                        last_success: schedule.last_success(),
                        failures: schedule.failures(),
                    });
                    events.failed(self);
                    return false;
                }
            }
        }
    }

    /// Records a join or renewal, unless the lockspace is being left, and
    /// moves the watchdog expiry: the host must be reset if it neither
    /// renews nor stops its holders by the time the lease expires.
    fn joined(&self, schedule: &RenewalSchedule) {
        let expiry = schedule.expiry();
        if schedule.failures() == 0 {
            let mut client = self.watchdog_client.lock().expect("watchdog client lock");
            match *client {
                Some(id) => {
                    self.watchdog.renewed(id, expiry);
                }
                None => {
                    let name = format!("lockspace {}", self.spec.name);
                    let margin = crate::watchdog::lockspace_margin(
                        self.timeouts.io_timeout(),
                        self.timeouts.watchdog_fire(),
                    );
                    *client = Some(self.watchdog.register(&name, expiry, margin));
                    *self.joined_at.lock().expect("joined_at lock") = Some(OsClock.now());
                }
            }
        }
        let mut state = self.state.lock().expect("membership lock");
        if matches!(*state, Membership::Joining { .. } | Membership::Joined { .. }) {
            *state = Membership::Joined {
                generation: schedule.generation(),
                last_success: schedule.last_success(),
                expiry,
                failures: schedule.failures(),
                awaiting_write: schedule.awaiting_write(),
            };
            self.changed.notify_all();
        }
    }

    fn describe_io(&self, driver: &mut Driver<'_>) -> String {
        driver.disk_errors.pop().map_or_else(|| "I/O failed".to_owned(), |e| e.to_string())
    }

    fn describe(&self, err: &DeltaError, driver: &mut Driver<'_>) -> String {
        match err {
            DeltaError::Io(_) => self.describe_io(driver),
            DeltaError::Corrupt { offset, problem } => format!(
                "{}: offset {}: {problem}",
                self.spec.disk.path.display(),
                self.spec.disk.offset + offset
            ),
            other => format!("host_id {}: {other}", self.spec.host_id),
        }
    }

    /// This lockspace as `status` shows it.
    pub fn status(&self, leases: usize) -> LockspaceStatus {
        let now = OsClock.now();
        let membership = self.membership();
        let age = |at: MonoTime| Some(now.saturating_since(at).as_secs_f64());
        let mut status = LockspaceStatus {
            name: self.spec.name.to_string(),
            host_id: self.spec.host_id,
            path: self.spec.disk.path.display().to_string(),
            offset: self.spec.disk.offset,
            io_timeout: u8::try_from(self.timeouts.io_timeout().as_secs()).unwrap_or(u8::MAX),
            state: LockspaceState::Leaving,
            detail: "leaving".to_owned(),
            generation: None,
            last_renewal_s: None,
            renewal_failures: 0,
            expires_in_s: None,
            leases,
            recovery: None,
        };
        match membership {
            Membership::Joining { since } => {
                status.state = LockspaceState::Joining;
                status.detail =
                    format!("joining for {:.1} s", now.saturating_since(since).as_secs_f64());
            }
            Membership::Joined { generation, last_success, expiry, failures, awaiting_write } => {
                status.state = LockspaceState::Joined;
                status.detail = match (failures, awaiting_write) {
                    (0, _) => "renewing".to_owned(),
                    (_, false) => format!("{failures} renewals failed in a row"),
                    (_, true) => format!(
                        "{failures} renewals failed in a row; waiting for a renewal write \
                         still in the kernel"
                    ),
                };
                status.generation = Some(generation);
                status.last_renewal_s = age(last_success);
                status.renewal_failures = failures;
                status.expires_in_s = Some(expiry.saturating_since(now).as_secs_f64());
            }
            Membership::Failed { reason } => {
                status.state = LockspaceState::Failed;
                status.detail = reason;
            }
            Membership::Lost { reason, since, last_success, failures } => {
                let recovery = self.recovery_status(since, now);
                let alive = recovery.holders.iter().filter(|h| h.alive).count();
                status.state = LockspaceState::Failed;
                status.detail = format!(
                    "{reason}; recovery: {alive} holder(s) running, {} write(s) pending",
                    recovery.writes_pending
                );
                status.last_renewal_s = age(last_success);
                status.renewal_failures = failures;
                status.expires_in_s = Some(0.0);
                status.recovery = Some(recovery);
            }
            Membership::Stopped { reason, since } => {
                status.state = LockspaceState::Stopped;
                status.detail = format!("stopped after: {reason}");
                status.recovery = Some(self.recovery_status(since, now));
            }
            Membership::Leaving | Membership::Left => {}
        }
        status
    }

    fn recovery_status(&self, since: MonoTime, now: MonoTime) -> RecoveryStatus {
        let progress = self.recovery.lock().expect("recovery lock").clone().unwrap_or_default();
        RecoveryStatus {
            fencing: progress.fencing.to_owned(),
            elapsed_s: now.saturating_since(since).as_secs_f64(),
            holders: progress.holders,
            writes_pending: progress.writes_pending,
        }
    }

    /// Waits while the lockspace is being joined or left, and returns what
    /// it then is.
    pub fn wait_settled(&self) -> Membership {
        let mut state = self.state.lock().expect("membership lock");
        while matches!(*state, Membership::Joining { .. } | Membership::Leaving) {
            state = self.changed.wait(state).expect("membership lock");
        }
        state.clone()
    }

    /// Adds a renewal attempt to the history: a success (`None`) as a new
    /// record, a failure (timed out or not) counted on the last one.
    fn record_renewal(
        &self,
        failed: Option<bool>,
        schedule: &RenewalSchedule,
        driver: &Driver<'_>,
    ) {
        let mut renewals = self.renewals.lock().expect("renewals lock");
        match failed {
            None => {
                if renewals.len() == RENEWAL_HISTORY {
                    renewals.pop_front();
                }
                let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                renewals.push_back(RenewalRecord {
                    timestamp: schedule.last_success().as_secs(),
                    read_ms: ms(driver.read_time),
                    write_ms: ms(driver.write_time),
                    next_timeouts: 0,
                    next_errors: 0,
                });
            }
            Some(timed_out) => {
                if let Some(last) = renewals.back_mut() {
                    if timed_out {
                        last.next_timeouts = last.next_timeouts.saturating_add(1);
                    } else {
                        last.next_errors = last.next_errors.saturating_add(1);
                    }
                }
            }
        }
    }

    /// The renewal history, oldest first.
    pub fn renewal_history(&self) -> Vec<RenewalRecord> {
        self.renewals.lock().expect("renewals lock").iter().copied().collect()
    }

    /// When the join completed, once it has.
    pub fn joined_at(&self) -> Option<MonoTime> {
        *self.joined_at.lock().expect("joined_at lock")
    }

    /// The hosts of this lockspace as this host sees them, itself included.
    pub fn hosts(&self) -> Vec<HostStatus> {
        let now = OsClock.now();
        let table = self.hosts.lock().expect("host table lock");
        // Most of the area's sectors were never used: skip them before
        // building anything.
        let mut hosts: Vec<HostStatus> = table
            .entries()
            .filter(|(_, entry)| entry.timestamp != 0 || entry.generation > 0)
            .map(|(host_id, entry)| {
                let state = table.state(host_id, now);
                let silent =
                    matches!(state, HostState::Live | HostState::Unknown | HostState::Fail);
                HostStatus {
                    host_id,
                    generation: entry.generation,
                    state,
                    name: entry.name.to_string(),
                    timestamp: entry.timestamp,
                    io_timeout: entry.io_timeout_s,
                    last_renewal_s: now.saturating_since(entry.first_seen).as_secs_f64(),
                    dead_in_s: table
                        .dead_at(host_id)
                        .filter(|_| silent)
                        .map(|at| at.saturating_since(now).as_secs_f64()),
                    local: false,
                }
            })
            .collect();
        drop(table);
        if let Membership::Joined { generation, last_success, .. } = self.membership() {
            hosts.retain(|h| h.host_id != self.spec.host_id);
            hosts.push(HostStatus {
                host_id: self.spec.host_id,
                generation,
                state: HostState::Live,
                name: self.host_name.to_string(),
                timestamp: last_success.as_secs(),
                io_timeout: u8::try_from(self.timeouts.io_timeout().as_secs()).unwrap_or(u8::MAX),
                last_renewal_s: now.saturating_since(last_success).as_secs_f64(),
                dead_in_s: None,
                local: true,
            });
            hosts.sort_by_key(|h| h.host_id);
        }
        hosts
    }
}

/// The generation of the host_id lease `state` holds, if it is joined and
/// unexpired now (and of `generation`, if given).
fn valid_generation(state: &Membership, generation: Option<u64>) -> Option<u64> {
    match *state {
        Membership::Joined { generation: ours, expiry, .. }
            if OsClock.now() < expiry && generation.is_none_or(|g| g == ours) =>
        {
            Some(ours)
        }
        _ => None,
    }
}

/// A direct-mode failure as an API error.
pub fn direct_error(err: &DirectError) -> ApiError {
    use crate::direct::ErrorClass;
    let code = match err.class() {
        ErrorClass::Usage => ErrorCode::BadRequest,
        ErrorClass::Refused => ErrorCode::Refused,
        ErrorClass::Data => ErrorCode::Data,
        ErrorClass::Io => ErrorCode::Io,
        ErrorClass::Retryable => ErrorCode::Retry,
    };
    ApiError::new(code, err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::direct::{InitOptions, init_lockspace, read_lockspace_leader};
    use crate::watchdog::DeviceSpec;

    struct NoEvents;

    impl LockspaceEvents for NoEvents {
        fn failed(&self, _: &Arc<Lockspace>) {}
        fn requested(&self, _: &Arc<Lockspace>, _: &[u64]) {}
        fn joined(&self, _: &Arc<Lockspace>, _: u64) {}
    }

    #[test]
    fn leaving_keeps_the_host_id_renewed_until_resource_writers_are_done() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let path = dir.path().join("leases.img");
        std::fs::write(&path, vec![0u8; 1 << 20]).unwrap();
        let disk = DirectFile::open(&path, Access::ReadWrite).unwrap();
        let name = Name::new("ls").unwrap();
        init_lockspace(&disk, &OsClock, 0, name, 1, InitOptions::default()).unwrap();
        let spec = LockspaceSpec::parse(&format!("ls:1:{}:0", path.display())).unwrap();
        let host = Name::new("host").unwrap();
        let pets = dir.path().join("pets");
        let fire = std::time::Duration::from_secs(3);
        let watchdog = Arc::new(Watchdog::start(&DeviceSpec::File(pets), fire).unwrap());
        let lockspace = Lockspace::start(
            spec,
            None,
            host,
            Arc::clone(&watchdog),
            Reacquire::Wait,
            Arc::new(NoEvents),
        )
        .unwrap();
        let Membership::Joined { generation, .. } = lockspace.wait_joined() else {
            panic!("join failed: {:?}", lockspace.membership())
        };
        let clients = watchdog.status().clients;
        assert_eq!(clients.len(), 1, "joined: a watchdog client");
        assert_eq!(clients[0].name, "lockspace ls");
        let writer = lockspace.writer(Some(generation)).expect("joined: writes allowed");
        assert!(lockspace.writer(Some(generation + 1)).is_none(), "not for another generation");
        let timestamp =
            || read_lockspace_leader(&disk, &OsClock, 0, &name, 1).unwrap().leader.timestamp;

        std::thread::scope(|scope| {
            let leaving = scope.spawn(|| lockspace.leave(&|| 0));
            while lockspace.membership() != Membership::Leaving {
                OsClock.sleep_until(OsClock.now() + std::time::Duration::from_millis(1));
            }
            assert!(lockspace.writer(None).is_none(), "no new writer once leaving");
            // The host_id lease goes on being renewed while the writer lives.
            let seen = timestamp();
            loop {
                let now = timestamp();
                assert_ne!(now, 0, "the host_id was released under a writer");
                if now > seen {
                    break;
                }
                OsClock.sleep_until(OsClock.now() + std::time::Duration::from_millis(50));
            }
            drop(writer);
            leaving.join().unwrap();
        });
        assert_eq!(lockspace.membership(), Membership::Left);
        assert_eq!(timestamp(), 0, "released once the writer was done");
        assert!(watchdog.status().clients.is_empty(), "no longer a watchdog client once left");
    }
}
