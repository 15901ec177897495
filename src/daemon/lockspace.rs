//! One joined lockspace: its host_id lease and the thread that keeps it.
//!
//! The thread joins in the background, then renews every 2N with its own
//! disk handle (its own I/O workers), so no resource operation, hung or
//! slow, can delay a renewal. Acquires only read the host table and the
//! membership, each under a lock held for a step.

use std::sync::{Arc, Condvar, Mutex};

use crate::api::results::{HostStatus, LockspaceState, LockspaceStatus};
use crate::api::{ApiError, ErrorCode};
use crate::clock::{Clock, MonoTime, OsClock};
use crate::delta::{
    DeltaAcquire, DeltaError, DeltaRelease, DeltaRenew, HostLease, HostState, HostTable,
    JoinOptions, LockspaceRef,
};
use crate::direct::{DirectError, probe_area};
use crate::disk::{Access, DirectFile};
use crate::driver::{Cancel, Driver, Target};
use crate::ondisk::leader::LeaderKind;
use crate::ondisk::name::Name;
use crate::spec::LockspaceSpec;
use crate::timeouts::Timeouts;

/// Where the host_id lease stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Membership {
    Joining { since: MonoTime },
    Joined { generation: u64, last_success: MonoTime, expiry: MonoTime, failures: u64 },
    Failed { reason: String },
    Leaving,
    Left,
}

/// What a lockspace tells the daemon.
pub trait LockspaceEvents: Send + Sync {
    /// The host_id lease was lost or expired: every lease in the lockspace
    /// is void and its holders must stop.
    fn failed(&self, lockspace: &Arc<Lockspace>);
    /// Hosts set our bit: look at the requests against our resources.
    fn requested(&self, lockspace: &Arc<Lockspace>, by: &[u64]);
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
    /// Host bits to set at the next renewal, each until a time.
    bits: Mutex<Vec<(u64, MonoTime)>>,
    /// Resource operations under way under the host_id lease: it is not
    /// released while any is (see [`Lockspace::writer`]).
    writers: Mutex<usize>,
    drained: Condvar,
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
        fire_timeout_s: u64,
        fast_reacquire: bool,
        events: Arc<dyn LockspaceEvents>,
    ) -> Result<Arc<Lockspace>, ApiError> {
        let disk = DirectFile::open(&spec.disk.path, Access::ReadWrite)
            .map_err(|err| direct_error(&DirectError::Disk(err)))?;
        let (geometry, first) =
            probe_area(&disk, &OsClock, spec.disk.offset, LeaderKind::Delta, &spec.name)
                .map_err(|err| direct_error(&err))?;
        if spec.host_id == 0 || spec.host_id > geometry.max_hosts() {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("host_id {} is out of range: 1 to {}", spec.host_id, geometry.max_hosts()),
            ));
        }
        let io_timeout = io_timeout.unwrap_or(first.io_timeout_s()).max(1);
        let fire = std::time::Duration::from_secs(fire_timeout_s);
        if fire < std::time::Duration::from_secs(u64::from(io_timeout)) {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "io_timeout {io_timeout} s exceeds the watchdog fire timeout {fire_timeout_s} s"
                ),
            ));
        }
        let timeouts = Timeouts::new(io_timeout, fire);
        let lockspace = Arc::new(Lockspace {
            area: LockspaceRef { name: spec.name, geometry },
            timeouts,
            hosts: Mutex::new(HostTable::new(timeouts)),
            disk,
            host_name,
            state: Mutex::new(Membership::Joining { since: OsClock.now() }),
            changed: Condvar::new(),
            cancel: Cancel::default(),
            bits: Mutex::new(Vec::new()),
            writers: Mutex::new(0),
            drained: Condvar::new(),
            spec,
        });
        let keeper = Arc::clone(&lockspace);
        std::thread::Builder::new()
            .name(format!("leased-ls-{}", lockspace.spec.name))
            .spawn(move || keeper.keep(fast_reacquire, &*events))
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
        match *state {
            Membership::Joined { generation: ours, expiry, .. }
                if OsClock.now() < expiry && generation.is_none_or(|g| g == ours) =>
            {
                *self.writers.lock().expect("writers lock") += 1;
                Some(Writer { lockspace: self, generation: ours })
            }
            _ => None,
        }
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
    /// the lockspace's resources first). Returns once left.
    pub fn leave(&self) {
        {
            let mut state = self.state.lock().expect("membership lock");
            if !matches!(*state, Membership::Failed { .. } | Membership::Left) {
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
        self.cancel.cancel();
        let mut state = self.state.lock().expect("membership lock");
        while !matches!(*state, Membership::Left | Membership::Failed { .. }) {
            state = self.changed.wait(state).expect("membership lock");
        }
    }

    /// Asks `host_id` to look at our requests, for 6 io_timeouts.
    pub fn signal_host(&self, host_id: u64) {
        let until = OsClock.now() + self.timeouts.renewal_warn();
        self.bits.lock().expect("bits lock").push((host_id, until));
    }

    /// The thread's body: join, then renew until told to leave or lost.
    fn keep(self: Arc<Self>, fast_reacquire: bool, events: &dyn LockspaceEvents) {
        let target = Target { disk: &self.disk, offset: self.spec.disk.offset };
        let mut driver = Driver::new(target).cancelled_by(&self.cancel);
        let join = DeltaAcquire::new(
            self.area,
            self.spec.host_id,
            self.host_name,
            self.timeouts,
            JoinOptions { fast_reacquire },
        );
        let mut lease = match driver.run(join, &self.hosts) {
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
        self.joined(&lease, 0);
        let mut next = lease.last_success + self.timeouts.renewal_interval();
        loop {
            if !self.cancel.sleep_until(next) {
                break;
            }
            for (host_id, until) in self.bits.lock().expect("bits lock").drain(..) {
                lease.set_bit(host_id, until);
            }
            let read = lease.lockspace.geometry.max_hosts();
            let renewal = match driver.run(DeltaRenew::new(lease, read), &self.hosts) {
                Ok(renewal) => renewal,
                Err(_) => unreachable!("a renewal does not wait"),
            };
            lease = renewal.lease;
            if !renewal.requested_by.is_empty() {
                events.requested(&self, &renewal.requested_by);
            }
            match renewal.result {
                Ok(()) => {
                    self.joined(&lease, 0);
                    next = lease.last_success + self.timeouts.renewal_interval();
                }
                Err(DeltaError::Io(_)) if OsClock.now() < lease.expiry() => {
                    let failures = self.failures() + 1;
                    tracing::warn!(
                        lockspace = %self.spec.name, failures,
                        "renewal failed: {}", self.describe_io(&mut driver)
                    );
                    self.joined(&lease, failures);
                    next = OsClock.now() + self.timeouts.renewal_retry();
                }
                Err(err) => {
                    let reason = self.describe(&err, &mut driver);
                    tracing::error!(lockspace = %self.spec.name, "host_id lease lost: {reason}");
                    self.set(Membership::Failed { reason });
                    events.failed(&self);
                    return;
                }
            }
        }
        let released = driver.run(DeltaRelease::new(lease), &self.hosts);
        if let Ok(Err(err)) = released {
            tracing::warn!(lockspace = %self.spec.name, "releasing the host_id failed: {err}");
        }
        tracing::info!(lockspace = %self.spec.name, "left");
        self.set(Membership::Left);
    }

    /// Records a join or renewal, unless the lockspace is being left.
    fn joined(&self, lease: &HostLease, failures: u64) {
        let mut state = self.state.lock().expect("membership lock");
        if matches!(*state, Membership::Joining { .. } | Membership::Joined { .. }) {
            *state = Membership::Joined {
                generation: lease.generation,
                last_success: lease.last_success,
                expiry: lease.expiry(),
                failures,
            };
            self.changed.notify_all();
        }
    }

    fn failures(&self) -> u64 {
        match self.membership() {
            Membership::Joined { failures, .. } => failures,
            _ => 0,
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
        let (state, detail, generation, last_renewal_s, renewal_failures, expires_in_s) =
            match &membership {
                Membership::Joining { since } => (
                    LockspaceState::Joining,
                    format!("joining for {:.1} s", now.saturating_since(*since).as_secs_f64()),
                    None,
                    None,
                    0,
                    None,
                ),
                Membership::Joined { generation, last_success, expiry, failures } => (
                    LockspaceState::Joined,
                    if *failures > 0 {
                        format!("{failures} renewals failed in a row")
                    } else {
                        "renewing".to_owned()
                    },
                    Some(*generation),
                    Some(now.saturating_since(*last_success).as_secs_f64()),
                    *failures,
                    Some(expiry.saturating_since(now).as_secs_f64()),
                ),
                Membership::Failed { reason } => {
                    (LockspaceState::Failed, reason.clone(), None, None, 0, None)
                }
                Membership::Leaving | Membership::Left => {
                    (LockspaceState::Leaving, "leaving".to_owned(), None, None, 0, None)
                }
            };
        LockspaceStatus {
            name: self.spec.name.to_string(),
            host_id: self.spec.host_id,
            path: self.spec.disk.path.display().to_string(),
            offset: self.spec.disk.offset,
            io_timeout: u8::try_from(self.timeouts.io_timeout().as_secs()).unwrap_or(u8::MAX),
            state,
            detail,
            generation,
            last_renewal_s,
            renewal_failures,
            expires_in_s,
            leases,
        }
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

    struct NoEvents;

    impl LockspaceEvents for NoEvents {
        fn failed(&self, _: &Arc<Lockspace>) {}
        fn requested(&self, _: &Arc<Lockspace>, _: &[u64]) {}
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
        let lockspace = Lockspace::start(spec, None, host, 3, false, Arc::new(NoEvents)).unwrap();
        let Membership::Joined { generation, .. } = lockspace.wait_joined() else {
            panic!("join failed: {:?}", lockspace.membership())
        };
        let writer = lockspace.writer(Some(generation)).expect("joined: writes allowed");
        assert!(lockspace.writer(Some(generation + 1)).is_none(), "not for another generation");
        let timestamp =
            || read_lockspace_leader(&disk, &OsClock, 0, &name, 1).unwrap().leader.timestamp;

        std::thread::scope(|scope| {
            let leaving = scope.spawn(|| lockspace.leave());
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
    }
}
