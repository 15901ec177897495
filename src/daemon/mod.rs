//! `leased`: lockspaces, resource leases and the clients that hold them.
//!
//! ```text
//!  clients ──socket──▶ server (a thread per connection, limits, auth)
//!  sanlock ──wdmd.sock──▶ wdmd_server ──▶ watchdog clients (the service)
//!                         │
//!                         ▼
//!                      Daemon ─── lockspaces: a thread each, renewing
//!                         │   ─── leases: resource → holder process
//!                         │   ─── exits: pidfds; a holder's exit releases
//!                         ▼
//!                  lease machines on O_DIRECT disks (crate::driver)
//! ```
//!
//! A lease belongs to a process, watched by pidfd: when it exits, its
//! leases are released (or kept as orphans if persistent). Acquires that
//! wait run on their connection's thread and never hold up other clients.

mod areas;
mod collector;
pub mod config;
mod groups;
mod host_events;
mod leases;
mod lockspace;
mod log_ring;
mod memory;
mod names;
pub mod process;
mod recovery;
mod registered;
mod resources;
mod rundir;
mod sanlock_front;
mod server;
mod watchdog_clients;
mod wdmd_server;
mod workers;

use std::collections::BTreeMap;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, mpsc};

pub use config::{Config, ConfigError, LeasedArgs};
pub use recovery::Fencing;
pub use rundir::{RunDir, RunDirError};

use crate::api::results::{HostsReply, StatusReply, VersionReply};
use crate::api::{AddLockspace, ApiError, ErrorCode, RemLockspace};
use crate::client::SOCKET_NAME;
use crate::clock::{Clock, MonoTime, OsClock};
use crate::disk::DirectFile;
use crate::driver::Cancel;
use crate::ondisk::name::Name;
use crate::spec::LockspaceSpec;
use crate::watchdog::{DeviceSpec, Stopped, Watchdog};
use leases::{LeaseTable, Owner};
use lockspace::{Lockspace, LockspaceEvents, Membership};
use process::{ExitWatcher, Process};
use watchdog_clients::WatchdogClients;

/// Who sent a request, from the socket's peer credentials (pid in leased's
/// pid namespace), and who it acts for.
#[derive(Clone, Debug)]
pub struct Peer {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
    /// The process the request acts for, when the server holds it by
    /// pidfd (the caller's own, or one whose pidfd the caller sent).
    pub subject: Option<Arc<Process>>,
    /// The registered connection of sanlock's protocol the request acts
    /// for: leases it acquires are released when that connection closes.
    pub client: Option<u64>,
}

/// Why the daemon could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error("{0}")]
    Start(String),
}

/// The daemon's shared state.
///
/// Lock order: `leases` before a [`Lockspace`]'s own locks (its
/// membership, its writers' count, its host table); `lockspaces` (held
/// while a lockspace is opened and probed, so never under `leases`),
/// `disks`, `chores`, `term_refused_at` and `registrations` are taken
/// alone, as is `watchdog_clients`' own lock (it takes the [`Watchdog`]'s
/// under it); the wdmd front end's list of connections is taken alone too.
/// A thread never waits for I/O while it holds `leases`: slots marked busy
/// stand for the operations under way, and `slot_freed` wakes those who
/// wait for one.
pub struct Daemon {
    config: Config,
    host_name: Name,
    /// The state directory: when a rejoin may skip the wait, and where
    /// each join is recorded for the next boot.
    run_dir: Arc<RunDir>,
    socket_gid: Option<u32>,
    lockspaces: Mutex<BTreeMap<Name, Arc<Lockspace>>>,
    leases: Mutex<LeaseTable>,
    /// Notified whenever a slot of the lease table is freed.
    slot_freed: Condvar,
    /// Resource disks by path, opened once.
    disks: Mutex<BTreeMap<leases::DeviceId, Arc<DirectFile>>>,
    exits: OnceLock<ExitWatcher>,
    /// Work the exit watcher and lockspace threads hand over.
    chores: Mutex<mpsc::Sender<Chore>>,
    clients: AtomicUsize,
    shutting_down: AtomicBool,
    /// Set on the first SIGTERM refused because holders still run.
    term_refused_at: Mutex<Option<MonoTime>>,
    /// Ends waits (joins, acquires) at shutdown.
    cancel: Cancel,
    /// Kept alive while every lockspace renews in time and every local
    /// program registered with it renews its expiry.
    watchdog: Arc<Watchdog>,
    /// The local programs registered with the watchdog, over leased's
    /// socket or wdmd's. One that disconnects without unregistering stays:
    /// its expiry passes and the host is reset, as it asked.
    watchdog_clients: WatchdogClients,
    /// Background disk work: releases after an exit, retries.
    workers: workers::Workers,
    /// Lockspaces with a pass over their requests queued: one is enough,
    /// as it reads every request record of ours.
    examining: Mutex<std::collections::BTreeSet<Name>>,
    /// Connections registered through sanlock's protocol.
    registrations: Mutex<registered::Registrations>,
    /// Group members' times to live, and watches on groups.
    groups: groups::Groups,
}

/// Background work, done on the chores thread in order.
enum Chore {
    /// A lease holder exited.
    Exited(Arc<Process>),
    /// A lockspace's host_id lease was lost.
    LockspaceFailed(Arc<Lockspace>),
    /// Hosts asked us, through a lockspace, to look at our requests.
    Requested(Arc<Lockspace>),
}

/// How long a refused SIGTERM counts: a second one within this releases
/// everything regardless.
const TERM_CONFIRM_SECS: u64 = 60;

/// Threads for background disk work (releases after a holder's exit,
/// retries): enough that one slow device does not hold up the others.
const WORKERS: usize = 4;

/// How long a forced release waits for SIGKILLed holders to exit.
const KILL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Daemon {
    fn new(config: Config, run_dir: &Arc<RunDir>) -> Result<Arc<Daemon>, DaemonError> {
        let host_name = match &config.host_name {
            Some(name) => {
                Name::new(name).map_err(|e| DaemonError::Start(format!("host_name: {e}")))?
            }
            None => {
                crate::host::default_host_name(&config.state_dir()).map_err(DaemonError::Start)?
            }
        };
        let socket_gid = config.socket_group.as_deref().map(config::group_id).transpose()?;
        let fire = std::time::Duration::from_secs(config.watchdog_fire_timeout);
        let device = config.watchdog_device()?;
        if device != DeviceSpec::None && run_dir.watchdog_left_armed() {
            return Err(DaemonError::Start(format!(
                "the previous leased of this boot ({}) exited with its watchdog armed: the \
                 device resets this host within {} s of its last keepalive, which keeps other \
                 hosts safe from the lease holders that may still run. Keeping it alive now \
                 would call that off, so leased will not start before the host has rebooted. \
                 If that device was never armed, remove {} to start anyway.",
                run_dir.state_file().display(),
                config.watchdog_fire_timeout,
                run_dir.state_file().display()
            )));
        }
        let watchdog = Watchdog::start(&device, fire)
            .map_err(|e| DaemonError::Start(format!("watchdog: {e}")))?;
        // An armed device left by an earlier daemon stays on record (even
        // if this one runs without a device) until the reboot.
        let armed = run_dir.watchdog_left_armed() || device != DeviceSpec::None;
        if let Err(err) = run_dir.record_watchdog(armed) {
            watchdog.stop();
            return Err(err.into());
        }
        let watchdog = Arc::new(watchdog);
        // A failed lockspace's holders get SIGKILL kill_grace after its
        // expiry (renewal I/O is due by the expiry, so the loss is seen
        // then); the last keepalive comes at most a lockspace's margin (its
        // io_timeout, capped at the test interval) and a test before that
        // expiry, so the reset comes no sooner than F less that lead after
        // it when the keeper tests on time. Judged for the largest margin,
        // whatever a lockspace's io_timeout: at the defaults SIGKILL at
        // 40 s, reset from 49.9 s.
        let margin = crate::watchdog::test_interval_for(fire);
        let lead = crate::watchdog::last_keepalive_lead(margin);
        let reset = fire.saturating_sub(lead);
        if config.fencing == Fencing::Terminate
            && std::time::Duration::from_secs(config.kill_grace) >= reset
        {
            tracing::warn!(
                "kill_grace {} s leaves no time before the watchdog fires ({:.1} s after a \
                 lockspace's expiry): a lockspace failure will reset this host before SIGKILL \
                 is sent",
                config.kill_grace,
                reset.as_secs_f64()
            );
        }
        let started = Daemon::with_watchdog(config, host_name, socket_gid, run_dir, &watchdog);
        if started.is_err() && watchdog.stop() == Stopped::Disarmed {
            // Nothing was registered: disarmed rather than leave the host
            // to be reset by a daemon that never ran.
            run_dir.record_watchdog(run_dir.watchdog_left_armed())?;
        }
        started
    }

    fn with_watchdog(
        config: Config,
        host_name: Name,
        socket_gid: Option<u32>,
        run_dir: &Arc<RunDir>,
        watchdog: &Arc<Watchdog>,
    ) -> Result<Arc<Daemon>, DaemonError> {
        let (chores, queue) = mpsc::channel();
        let workers = workers::Workers::start("leased-worker", WORKERS)
            .map_err(|e| DaemonError::Start(format!("cannot start a thread: {e}")))?;
        let daemon = Arc::new(Daemon {
            config,
            host_name,
            run_dir: Arc::clone(run_dir),
            socket_gid,
            lockspaces: Mutex::default(),
            leases: Mutex::default(),
            slot_freed: Condvar::new(),
            disks: Mutex::default(),
            exits: OnceLock::new(),
            chores: Mutex::new(chores),
            clients: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            term_refused_at: Mutex::new(None),
            cancel: Cancel::default(),
            watchdog: Arc::clone(watchdog),
            watchdog_clients: WatchdogClients::new(Arc::clone(watchdog)),
            workers,
            examining: Mutex::default(),
            registrations: Mutex::default(),
            groups: groups::Groups::default(),
        });
        let weak = Arc::downgrade(&daemon);
        let watcher = ExitWatcher::start(move |process| {
            if let Some(daemon) = weak.upgrade() {
                daemon.chore(Chore::Exited(process));
            }
        })
        .map_err(|e| DaemonError::Start(format!("cannot watch processes: {e}")))?;
        let _ = daemon.exits.set(watcher);
        daemon
            .start_group_threads()
            .and_then(|()| daemon.start_collector())
            .map_err(|e| DaemonError::Start(format!("cannot start a thread: {e}")))?;
        let worker = Arc::clone(&daemon);
        std::thread::Builder::new()
            .name("leased-chores".to_owned())
            .spawn(move || {
                for chore in queue {
                    worker.do_chore(chore);
                }
            })
            .map_err(|e| DaemonError::Start(format!("cannot start a thread: {e}")))?;
        Ok(daemon)
    }

    fn chore(&self, chore: Chore) {
        let _ = self.chores.lock().expect("chores lock").send(chore);
    }

    fn do_chore(self: &Arc<Self>, chore: Chore) {
        match chore {
            Chore::Exited(process) => self.holder_exited(&process),
            Chore::LockspaceFailed(lockspace) => self.lockspace_failed(&lockspace),
            Chore::Requested(lockspace) => {
                let name = lockspace.spec.name;
                if !self.examining.lock().expect("examining lock").insert(name) {
                    return;
                }
                // Resource I/O, maybe slow: not on this thread, where it
                // would hold up noticing exits.
                let daemon = Arc::clone(self);
                self.workers.run(Box::new(move || {
                    // Taken off first: a request set after this pass began
                    // asks for another.
                    daemon.examining.lock().expect("examining lock").remove(&name);
                    daemon.examine_requests(&lockspace);
                    None
                }));
            }
        }
    }

    fn exits(&self) -> &ExitWatcher {
        self.exits.get().expect("the exit watcher starts with the daemon")
    }

    /// The process `pid` (the one `peer` holds for it, if any), watched
    /// from now on.
    fn process(&self, peer: &Peer, pid: u32) -> Result<Arc<Process>, ApiError> {
        let held = peer.subject.as_ref().filter(|subject| subject.pid == pid);
        if let Some(process) = self.exits().get(pid) {
            return match held {
                Some(held) if !process.same_as(held) => Err(ApiError::new(
                    ErrorCode::Retry,
                    format!(
                        "process {pid} has exited, or the exit of its pid's last user is still being handled"
                    ),
                )),
                _ => Ok(process),
            };
        }
        let process = match held {
            Some(held) => Arc::clone(held),
            None => Arc::new(Process::open(pid).map_err(|e| {
                ApiError::new(ErrorCode::BadRequest, format!("process {pid}: {e}"))
            })?),
        };
        self.exits().watch(Arc::clone(&process));
        Ok(self.exits().get(pid).unwrap_or(process))
    }

    fn lockspace(&self, name: &Name) -> Result<Arc<Lockspace>, ApiError> {
        self.lockspaces.lock().expect("lockspaces lock").get(name).cloned().ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound, format!("lockspace '{name}' is not joined here"))
                .because(crate::api::Cause::NoLockspace)
        })
    }

    /// Every lockspace listed, in name order.
    fn lockspace_list(&self) -> Vec<Arc<Lockspace>> {
        self.lockspaces.lock().expect("lockspaces lock").values().cloned().collect()
    }

    /// A shutdown asked for through sanlock's protocol: with `force`, every
    /// lease and lockspace is let go of at once (holders are killed);
    /// without, only when no lockspace is joined (the caller checked).
    /// The daemon then exits as on SIGTERM.
    fn shut_down_and_exit(self: &Arc<Self>, force: bool) {
        if force {
            self.shut_down();
            // Forced: the SIGTERM below counts as confirmed, as a second
            // one would, so that programs still registered with the
            // watchdog do not keep the daemon up with nothing to serve.
            *self.term_refused_at.lock().expect("term lock") = Some(OsClock.now());
        }
        // The signal loop of `serve` ends the process; with nothing left
        // to release, its SIGTERM handling refuses nothing.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM);
    }

    fn version(&self) -> VersionReply {
        VersionReply {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol: crate::api::PROTOCOL_VERSION,
            host_name: self.host_name.to_string(),
        }
    }

    /// Starts joining a lockspace; with `wait`, returns once joined.
    fn add_lockspace(self: &Arc<Self>, args: AddLockspace) -> Result<StatusReply, ApiError> {
        let spec = LockspaceSpec::parse(&args.lockspace)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
        let lockspace = {
            let mut lockspaces = self.lockspaces.lock().expect("lockspaces lock");
            // Under the lock that shutdown takes to list the lockspaces:
            // one added after that would keep the watchdog armed.
            self.refuse_if_shutting_down()?;
            if let Some(existing) = lockspaces.get(&spec.name)
                && !existing.membership().is_over()
            {
                return Err(ApiError::new(
                    ErrorCode::Exists,
                    format!(
                        "lockspace '{}' is already joined here as host_id {}",
                        spec.name, existing.spec.host_id
                    ),
                ));
            }
            let events: Arc<dyn LockspaceEvents> = Arc::clone(self) as Arc<dyn LockspaceEvents>;
            let reacquire = self.run_dir.reacquire(&spec.name.to_string(), spec.host_id);
            let lockspace = Lockspace::start(
                spec,
                args.io_timeout,
                self.host_name,
                Arc::clone(&self.watchdog),
                reacquire,
                events,
            )?;
            lockspaces.insert(lockspace.spec.name, Arc::clone(&lockspace));
            lockspace
        };
        if args.wait
            && let Membership::Failed { reason } = lockspace.wait_joined()
        {
            self.forget_lockspace(&lockspace);
            return Err(ApiError::new(ErrorCode::Refused, reason));
        }
        Ok(self.status())
    }

    /// Leaves a lockspace, releasing its leases first.
    fn rem_lockspace(self: &Arc<Self>, args: RemLockspace) -> Result<StatusReply, ApiError> {
        let name = Name::new(&args.lockspace)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
        let lockspace = self.lockspace(&name)?;
        if matches!(lockspace.membership(), Membership::Lost { .. }) {
            return Err(ApiError::new(
                ErrorCode::Retry,
                format!(
                    "lockspace '{name}' failed and its lease holders are being stopped; it can \
                     be removed once recovery is over"
                ),
            ));
        }
        let refuse_live = |live: Vec<u32>| {
            ApiError::new(
                ErrorCode::Refused,
                format!(
                    "lockspace '{name}' has leases held by running processes {live:?}; stop them, \
                     release their leases, or force"
                ),
            )
        };
        let live = self.live_holders(Some(&name));
        if !live.is_empty() && !args.force {
            return Err(refuse_live(live));
        }
        // The holders are listed only once no lease can be added: one
        // acquired after the listing would be released under a process
        // that was told it holds it and was not stopped. Operations that
        // keep failing on a resource's device are waited for 8
        // io_timeouts at most: the removal is refused, and nothing given
        // up, while the lockspace goes on (a forced one gives up failing
        // releases).
        let settled_by = OsClock.now() + lockspace.timeouts.renewal_fail();
        let settled = self.close_and_settle(&lockspace, Some(settled_by), args.force);
        if !self.is_current(&lockspace) {
            // Removed by another removal meanwhile, and maybe added again:
            // what its name now stands for is not this removal's.
            self.reopen(&lockspace);
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("lockspace '{name}' was removed meanwhile"),
            ));
        }
        if !settled {
            self.reopen(&lockspace);
            return Err(ApiError::new(
                ErrorCode::Retry,
                format!(
                    "lockspace '{name}' was not removed: operations on its resources are still \
                     being retried (is a device failing?); try again"
                ),
            ));
        }
        let live = self.live_holders(Some(&name));
        if !live.is_empty() && !args.force {
            self.reopen(&lockspace);
            return Err(refuse_live(live));
        }
        let stuck = self.kill_holders(Some(&name));
        if !stuck.is_empty() {
            self.reopen(&lockspace);
            return Err(ApiError::new(
                ErrorCode::Refused,
                format!(
                    "processes {stuck:?} holding leases in '{name}' did not exit after SIGKILL; \
                     the lockspace is kept, and its leases with it"
                ),
            ));
        }
        self.release_lockspace_leases(&lockspace);
        lockspace.leave(&|| self.resource_writes_in_flight());
        if matches!(lockspace.membership(), Membership::Lost { .. }) {
            // Kept listed: status shows the recovery until it is over.
            self.left(&lockspace);
            return Err(ApiError::new(
                ErrorCode::Retry,
                format!("lockspace '{name}' failed while leaving; recovery is under way"),
            ));
        }
        self.forget_lockspace(&lockspace);
        self.left(&lockspace);
        Ok(self.status())
    }

    /// Whether `lockspace` is the one listed under its name, and not over.
    fn is_current(&self, lockspace: &Arc<Lockspace>) -> bool {
        let lockspaces = self.lockspaces.lock().expect("lockspaces lock");
        lockspaces.get(&lockspace.spec.name).is_some_and(|ls| Arc::ptr_eq(ls, lockspace))
            && !lockspace.membership().is_over()
    }

    /// Takes `lockspace` out of the list, unless another lockspace of its
    /// name was added since.
    fn forget_lockspace(&self, lockspace: &Arc<Lockspace>) {
        let mut lockspaces = self.lockspaces.lock().expect("lockspaces lock");
        if lockspaces.get(&lockspace.spec.name).is_some_and(|ls| Arc::ptr_eq(ls, lockspace)) {
            lockspaces.remove(&lockspace.spec.name);
        }
    }

    /// The leave of `lockspace` is over: a lockspace joined again under
    /// its name takes leases again, and what the leave gave up on is
    /// forgotten with the host_id lease it was made under.
    fn left(&self, lockspace: &Lockspace) {
        let mut table = self.leases.lock().expect("leases lock");
        table.reopen(&lockspace.spec.name);
        table.forget_abandoned_in(&lockspace.spec.name);
    }

    /// Pids of running processes holding leases (in lockspace `name`, or
    /// anywhere).
    fn live_holders(&self, name: Option<&Name>) -> Vec<u32> {
        self.live_holder_processes(name).iter().map(|process| process.pid).collect()
    }

    /// The running processes holding leases (in lockspace `name`, or
    /// anywhere), each once, in pid order.
    fn live_holder_processes(&self, name: Option<&Name>) -> Vec<Arc<Process>> {
        let leases = self.leases.lock().expect("leases lock");
        let mut holders: Vec<Arc<Process>> = leases
            .held()
            .filter(|lease| name.is_none_or(|n| lease.held.resource.lockspace.same_as(n)))
            .filter_map(|lease| match &lease.owner {
                Owner::Process(process) if process.alive() => Some(Arc::clone(process)),
                _ => None,
            })
            .collect();
        holders.sort_by_key(|process| process.pid);
        holders.dedup_by_key(|process| process.pid);
        holders
    }

    fn status(&self) -> StatusReply {
        let lockspaces: Vec<Arc<Lockspace>> =
            self.lockspaces.lock().expect("lockspaces lock").values().cloned().collect();
        let leases = self.leases.lock().expect("leases lock");
        StatusReply {
            host_name: self.host_name.to_string(),
            clients: self.clients.load(Ordering::SeqCst),
            lockspaces: lockspaces
                .iter()
                .map(|ls| ls.status(leases.in_lockspace(&ls.spec.name).count()))
                .collect(),
            leases: leases
                .held()
                .map(|lease| crate::api::results::LeaseStatus {
                    waiting: leases.waiting.waiting(&lease.key),
                    ..lease.status()
                })
                .collect(),
            busy: leases.busy(),
            watchdog: self.watchdog.status(),
        }
    }

    fn hosts(&self, name: &str) -> Result<HostsReply, ApiError> {
        let name =
            Name::new(name).map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
        let lockspace = self.lockspace(&name)?;
        Ok(HostsReply { lockspace: name.to_string(), hosts: lockspace.hosts() })
    }

    /// SIGTERM: leave everything and exit, unless running processes hold
    /// leases (then a second SIGTERM within a minute is needed). True if the
    /// daemon should exit.
    fn terminate(self: &Arc<Self>) -> bool {
        let live = self.live_holders(None);
        let recovering = self.recovering();
        let watchdog_clients = self.watchdog_clients.names();
        let now = OsClock.now();
        let mut refused = self.term_refused_at.lock().expect("term lock");
        let confirmed =
            refused.is_some_and(|at| now.saturating_since(at).as_secs() < TERM_CONFIRM_SECS);
        let busy = !live.is_empty() || !recovering.is_empty() || !watchdog_clients.is_empty();
        if busy && !confirmed {
            tracing::error!(
                ?live,
                ?recovering,
                ?watchdog_clients,
                "SIGTERM refused: running processes hold leases, lockspaces are being \
                 recovered, or programs rely on the watchdog; stop them first, or send SIGTERM \
                 again within {TERM_CONFIRM_SECS} s to kill the holders, release every lease and \
                 unregister every program anyway (a holder that does not exit, or a recovery \
                 still under way, keeps the watchdog armed)"
            );
            *refused = Some(now);
            return false;
        }
        drop(refused);
        self.shut_down();
        true
    }

    /// SIGKILLs the running processes holding leases (in lockspace `name`,
    /// or anywhere) and waits a little for them to exit: a lease may be
    /// released only once nothing uses it. Returns the pids still running.
    fn kill_holders(&self, name: Option<&Name>) -> Vec<u32> {
        let holders = self.live_holder_processes(name);
        for holder in &holders {
            tracing::warn!(pid = holder.pid, "SIGKILL to a lease holder: forced release");
            let _ = holder.signal(libc::SIGKILL);
        }
        let deadline = OsClock.now() + KILL_WAIT;
        while holders.iter().any(|h| h.alive()) && OsClock.now() < deadline {
            OsClock.sleep_until(OsClock.now() + std::time::Duration::from_millis(10));
        }
        holders.iter().filter(|h| h.alive()).map(|h| h.pid).collect()
    }

    /// Releases every lease and leaves every lockspace.
    fn shut_down(self: &Arc<Self>) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.cancel.cancel();
        let lockspaces: Vec<Arc<Lockspace>> =
            self.lockspaces.lock().expect("lockspaces lock").values().cloned().collect();
        // No lease may be added once the holders to stop are listed.
        for lockspace in &lockspaces {
            self.close_and_settle(lockspace, None, true);
        }
        let stuck = self.kill_holders(None);
        for lockspace in &lockspaces {
            let name = &lockspace.spec.name;
            let kept = self.live_holders(Some(name)).iter().any(|pid| stuck.contains(pid));
            if kept {
                // Its holders still use its leases: they are not released,
                // and the lockspace's watchdog client stays, so that the
                // host is reset before other hosts may take them.
                tracing::error!(
                    lockspace = %name, holders = ?stuck,
                    "holders did not exit after SIGKILL: the lockspace is kept, and the watchdog \
                     will reset this host"
                );
                continue;
            }
            self.release_lockspace_leases(lockspace);
            lockspace.leave(&|| self.resource_writes_in_flight());
        }
        self.lockspaces.lock().expect("lockspaces lock").clear();
        self.watchdog_clients.close();
        tracing::info!("every lease and host_id released");
    }
}

impl LockspaceEvents for Daemon {
    fn failed(&self, lockspace: &Arc<Lockspace>) {
        self.chore(Chore::LockspaceFailed(Arc::clone(lockspace)));
    }

    fn requested(&self, lockspace: &Arc<Lockspace>, by: &[u64]) {
        tracing::info!(lockspace = %lockspace.spec.name, hosts = ?by, "hosts request our resources");
        self.chore(Chore::Requested(Arc::clone(lockspace)));
    }

    fn joined(&self, lockspace: &Arc<Lockspace>, generation: u64) {
        // Recorded before the lockspace counts as joined, so that a crash
        // once a join was reported is followed, after the reboot, by a
        // rejoin at once. A record that fails only makes that rejoin wait.
        let (name, host_id) = (lockspace.spec.name, lockspace.spec.host_id);
        if let Err(err) = self.run_dir.record_join(&name.to_string(), host_id, generation) {
            tracing::warn!(
                lockspace = %name,
                "cannot record the join ({err}): after a reboot, rejoining waits as after a crash"
            );
        }
    }
}

/// `leased`'s whole program: parse `args`, set up logging, load and check
/// the configuration, run. The `leased` binary is this function; `lease`
/// also runs it (hidden `lease leased ...`), so that one binary can start a
/// cluster for the demo.
pub fn main(args: &LeasedArgs) -> std::process::ExitCode {
    use std::process::ExitCode;
    prepare_process();
    let config = match Config::load(args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("leased: {err}");
            return ExitCode::from(crate::cli::exit::USAGE);
        }
    };
    if args.print_config {
        print!("{}", toml::to_string(&config).expect("the configuration serializes"));
        return ExitCode::SUCCESS;
    }
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("leased: {err}");
            ExitCode::from(crate::cli::exit::SOFTWARE)
        }
    }
}

/// What a daemon process sets up before [`run`]: a bound on malloc's
/// arenas and logging to stderr. Called once per process.
pub fn prepare_process() {
    memory::limit_arenas();
    init_logging();
}

/// Logs to stderr; under systemd (JOURNAL_STREAM set) without timestamps,
/// which the journal adds. `RUST_LOG` sets the level (default info).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // To stderr, and into the ring sanlock's LOG_DUMP reads.
        .with_writer(|| log_ring::Tee)
        .with_ansi(ansi);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

/// Runs the daemon until SIGTERM or SIGINT: takes the run directory, binds
/// the socket, joins the configured lockspaces, tells systemd it is ready,
/// and serves.
pub fn run(config: Config) -> Result<(), DaemonError> {
    let run_dir = Arc::new(RunDir::take(&config.run_dir, &config.state_dir())?);
    let socket = run_dir.path().join(SOCKET_NAME);
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)
        .map_err(|e| DaemonError::Start(format!("{}: cannot bind: {e}", socket.display())))?;
    let sanlock = match config.sanlock_run_dir() {
        None => None,
        Some(dir) => match sanlock_front::SanlockRunDir::take(&dir) {
            Ok(taken) => Some(taken),
            // Asked for by name (the sanlock command line does): a start
            // that cannot serve it fails, as a second sanlock does.
            Err(err) if config.sanlock_run_dir.is_some() => {
                return Err(DaemonError::Start(err.to_string()));
            }
            Err(err) => {
                tracing::warn!("sanlock's protocol is not served: {err}");
                None
            }
        },
    };
    // wdmd's place is taken before the device is opened: a marker left by
    // an unclean stop must keep it closed.
    let wdmd = wdmd_server::take(&config)?;
    let daemon = match Daemon::new(config, &run_dir) {
        Ok(daemon) => daemon,
        Err(err) => {
            if let Some(wdmd) = wdmd {
                wdmd.close(true);
            }
            return Err(err);
        }
    };
    let served = serve(&daemon, &run_dir, listener, &socket, sanlock, wdmd.as_ref());
    if served.is_err() {
        // Lockspaces joined before the failure are left, so that nothing
        // keeps the watchdog armed.
        daemon.shut_down();
    }
    let stopped = daemon.watchdog.stop();
    if let Some(wdmd) = wdmd {
        wdmd.close(stopped == Stopped::Disarmed);
    }
    match stopped {
        Stopped::Disarmed => run_dir.record_watchdog(run_dir.watchdog_left_armed())?,
        Stopped::Armed(clients) => tracing::error!(
            ?clients,
            "leased exits with the watchdog armed: this host will be reset"
        ),
    }
    served
}

/// Serves until SIGTERM or SIGINT, once the daemon is set up.
fn serve(
    daemon: &Arc<Daemon>,
    run_dir: &RunDir,
    listener: UnixListener,
    socket: &std::path::Path,
    sanlock: Option<(sanlock_front::SanlockRunDir, UnixListener)>,
    wdmd: Option<&wdmd_server::Endpoint>,
) -> Result<(), DaemonError> {
    run_dir.secure_socket(socket, daemon.socket_gid)?;
    if let Some((dir, _)) = &sanlock {
        run_dir.secure_socket(&dir.socket, daemon.socket_gid)?;
    }
    if let Some(wdmd) = wdmd {
        run_dir.secure_socket(wdmd.socket(), daemon.socket_gid)?;
    }
    if run_dir.rebooted() {
        tracing::info!(
            "the host rebooted since the last run: our host_ids may be taken back at once"
        );
    }
    for spec in daemon.config.lockspaces.clone() {
        let args = AddLockspace { lockspace: spec.clone(), io_timeout: None, wait: false };
        if let Err(err) = daemon.add_lockspace(args) {
            return Err(DaemonError::Start(format!("lockspace {spec}: {err}")));
        }
    }
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .map_err(|e| DaemonError::Start(format!("cannot handle signals: {e}")))?;
    let server = server::start(Arc::clone(daemon), listener)
        .map_err(|e| DaemonError::Start(format!("cannot serve: {e}")))?;
    let sanlock = match sanlock {
        Some((dir, listener)) => {
            let server = sanlock_front::start(Arc::clone(daemon), listener)
                .map_err(|e| DaemonError::Start(format!("cannot serve: {e}")))?;
            tracing::info!(socket = %dir.socket.display(), "serving sanlock's protocol");
            Some((dir, server))
        }
        None => None,
    };
    let wdmd_server = match wdmd {
        Some(endpoint) => Some(
            wdmd_server::WdmdServer::start(Arc::clone(daemon), endpoint)
                .map_err(|e| DaemonError::Start(format!("cannot serve wdmd's socket: {e}")))?,
        ),
        None => None,
    };
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    tracing::info!(
        host_name = %daemon.host_name, socket = %socket.display(), "leased {} ready",
        env!("CARGO_PKG_VERSION")
    );
    let mut signals = signals;
    for signal in signals.forever() {
        tracing::info!("signal {signal}");
        if daemon.terminate() {
            break;
        }
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    server.stop();
    if let Some((dir, server)) = sanlock {
        server.stop();
        let _ = std::fs::remove_file(&dir.socket);
    }
    if let Some(wdmd_server) = wdmd_server {
        wdmd_server.stop();
    }
    let _ = std::fs::remove_file(socket);
    tracing::info!("leased stopped");
    Ok(())
}
