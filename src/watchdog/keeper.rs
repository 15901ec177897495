//! The multiplexer at work: a thread of its own tests the clients when the
//! multiplexer says and keeps the device alive only while the verdict is
//! to pet. Nothing else runs on that thread and it takes no lock but its
//! own, so no hung disk or busy client delays a test; a paused or dead
//! process stops petting altogether, which is what resets a hung host.
//! Each keepalive follows its own clock reading and decision with nothing
//! in between; logging and bookkeeping come after it.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::device::{self, Device, DeviceSpec, WatchdogError};
use super::mux::{ClientId, Decision, Multiplexer, Verdict, test_interval_for};
use crate::api::results::{WatchdogClientStatus, WatchdogStatus};
use crate::clock::{Clock, MonoTime, OsClock};

/// One watchdog device shared by every client of this process.
pub struct Watchdog {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    fire_timeout: Duration,
    device_name: String,
}

struct State {
    mux: Multiplexer,
    /// `None` once stopped.
    device: Option<Box<dyn Device>>,
    last_pet: Option<MonoTime>,
    /// From the last test to the next one.
    interval: Duration,
    /// The client that stopped the keepalives, while they are stopped.
    withheld_for: Option<String>,
    stopping: bool,
}

/// How the device was left at [`Watchdog::stop`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Disarmed: no client was left, the host will not be reset.
    Disarmed,
    /// Left armed for these clients: the host will be reset.
    Armed(Vec<String>),
}

impl Watchdog {
    /// Opens and arms the device and starts keeping it alive.
    pub fn start(spec: &DeviceSpec, fire_timeout: Duration) -> Result<Watchdog, WatchdogError> {
        let device = device::open(spec, fire_timeout)?;
        let device_name = device.describe();
        if *spec == DeviceSpec::None {
            tracing::warn!(
                "NO WATCHDOG: this host will never be reset. If leased hangs or its storage \
                 fails while a lease holder cannot be stopped, other hosts may take its leases \
                 while it still writes. Use this for testing only."
            );
        } else {
            tracing::info!(device = %device_name, fire_timeout_s = fire_timeout.as_secs(), "watchdog armed");
        }
        let longest = test_interval_for(fire_timeout);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                mux: Multiplexer::new(longest),
                device: Some(device),
                last_pet: None,
                interval: longest,
                withheld_for: None,
                stopping: false,
            }),
            changed: Condvar::new(),
            fire_timeout,
            device_name,
        });
        let keeper = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("leased-watchdog".to_owned())
            .spawn(move || keeper.keep())
            .map_err(|source| WatchdogError::Open {
                path: std::path::PathBuf::from(spec.to_string()),
                source,
            })?;
        Ok(Watchdog { shared, thread: Mutex::new(Some(thread)) })
    }

    /// The device's fire timeout (F).
    pub fn fire_timeout(&self) -> Duration {
        self.shared.fire_timeout
    }

    /// How long from the last test of the clients to the next: shorter
    /// while an expiry is near.
    pub fn test_interval(&self) -> Duration {
        self.shared.lock().interval
    }

    /// When the device was last kept alive, if it was.
    pub fn last_keepalive(&self) -> Option<MonoTime> {
        self.shared.lock().last_pet
    }

    /// Adds a client that must renew by `expiry`; the keepalives stop
    /// `margin` before it (see [`super::mux`]).
    pub fn register(&self, name: &str, expiry: MonoTime, margin: Duration) -> ClientId {
        let id = self.shared.lock().mux.register(name, expiry, margin);
        tracing::info!(client = name, "watchdog client registered");
        self.shared.changed.notify_all();
        id
    }

    /// Moves a client's expiry (it renewed) and returns it: an expiry
    /// earlier than the current one is ignored.
    pub fn renewed(&self, id: ClientId, expiry: MonoTime) -> MonoTime {
        let mut state = self.shared.lock();
        let expiry = state.mux.renewed(id, expiry);
        if state.withheld_for.is_some() {
            self.shared.changed.notify_all();
        }
        expiry
    }

    /// Removes a client: nothing it protects needs a reset any more.
    pub fn unregister(&self, id: ClientId) {
        self.shared.lock().mux.unregister(id);
        self.shared.changed.notify_all();
    }

    /// The device, its keepalives and its clients now.
    pub fn status(&self) -> WatchdogStatus {
        let now = OsClock.now();
        let state = self.shared.lock();
        let fire = self.shared.fire_timeout;
        let seconds = |from: MonoTime, to: MonoTime| {
            if to >= from {
                to.saturating_since(from).as_secs_f64()
            } else {
                -from.saturating_since(to).as_secs_f64()
            }
        };
        WatchdogStatus {
            device: self.shared.device_name.clone(),
            fire_timeout_s: fire.as_secs(),
            test_interval_s: state.interval.as_secs_f64(),
            petting: state.withheld_for.is_none() && state.device.is_some(),
            last_pet_s: state.last_pet.map(|at| now.saturating_since(at).as_secs_f64()),
            withheld_for: state.withheld_for.clone(),
            reset_in_s: state
                .withheld_for
                .as_ref()
                .and(state.last_pet)
                .map(|at| seconds(now, at + fire)),
            clients: state
                .mux
                .clients()
                .into_iter()
                .map(|(_, name, expiry)| WatchdogClientStatus {
                    name: name.to_owned(),
                    expires_in_s: seconds(now, expiry),
                })
                .collect(),
        }
    }

    /// Stops the keepalives. With no client left the device is disarmed;
    /// otherwise it stays armed and resets the host within F: the clients
    /// left still need the host stopped.
    pub fn stop(&self) -> Stopped {
        self.shared.lock().stopping = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.lock().expect("watchdog thread lock").take() {
            let _ = thread.join();
        }
        let mut state = self.shared.lock();
        let clients: Vec<String> =
            state.mux.clients().into_iter().map(|(_, name, _)| name.to_owned()).collect();
        let Some(device) = state.device.take() else { return Stopped::Disarmed };
        if !clients.is_empty() {
            tracing::error!(
                ?clients,
                "the watchdog stays armed for clients still registered: this host will be reset \
                 within {} s",
                self.shared.fire_timeout.as_secs()
            );
            // Dropped without the magic close: the device stays armed.
            drop(device);
            return Stopped::Armed(clients);
        }
        match device.disarm() {
            Ok(()) => tracing::info!("watchdog disarmed"),
            Err(err) => tracing::error!("disarming the watchdog failed: {err}"),
        }
        Stopped::Disarmed
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Ends the thread; the device, if not disarmed by `stop`, stays armed.
        self.shared.lock().stopping = true;
        self.shared.changed.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("watchdog lock")
    }

    /// The thread's body: test, pet or withhold, wait for the next test or
    /// a change.
    fn keep(&self) {
        raise_priority();
        let mut state = self.lock();
        while !state.stopping {
            // One fresh clock reading, the decision, and the keepalive, with
            // nothing in between (the lock is held already, and deciding
            // allocates nothing): the keepalive answers for the expiries as
            // they stand at `now`.
            let now = OsClock.now();
            let decision = state.mux.check(now);
            let petted = match (decision.verdict, state.device.as_mut()) {
                (Verdict::Pet, Some(device)) => Some(device.keepalive()),
                _ => None,
            };
            self.note(&mut state, now, decision, petted);
            let wait = decision.next_test.saturating_since(OsClock.now());
            state = self.changed.wait_timeout(state, wait).expect("watchdog lock").0;
        }
    }

    /// Records and logs a test once its keepalive, if any, is done.
    fn note(
        &self,
        state: &mut State,
        now: MonoTime,
        decision: Decision,
        petted: Option<std::io::Result<()>>,
    ) {
        state.interval = decision.next_test.saturating_since(now);
        match petted {
            Some(Ok(())) => state.last_pet = Some(now),
            Some(Err(err)) => tracing::error!("watchdog keepalive failed: {err}"),
            None => {}
        }
        match decision.verdict {
            Verdict::Pet => {
                if let Some(client) = state.withheld_for.take() {
                    tracing::warn!(client, "watchdog keepalives resume");
                }
            }
            Verdict::Withhold { client, expiry } if state.withheld_for.is_none() => {
                let client = state.mux.name(client).unwrap_or("a client").to_owned();
                let reset = state
                    .last_pet
                    .map_or(0.0, |at| (at + self.fire_timeout).saturating_since(now).as_secs_f64());
                tracing::error!(
                    client,
                    expires_in_s = expiry.saturating_since(now).as_secs_f64(),
                    "watchdog keepalives stop: the host will be reset in {reset:.1} s \
                     unless {client} renews or is stopped cleanly first"
                );
                state.withheld_for = Some(client);
            }
            Verdict::Withhold { .. } => {}
        }
    }
}

/// Runs the calling thread round-robin at the highest real-time priority,
/// as wdmd does, so that a busy host does not delay the keepalives (and
/// children do not inherit it). Without the privilege, it runs as it is.
fn raise_priority() {
    // SAFETY: plain syscalls on the calling thread with a valid sched_param.
    let rc = unsafe {
        let priority = libc::sched_get_priority_max(libc::SCHED_RR);
        let param = libc::sched_param { sched_priority: priority };
        libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &raw const param)
    };
    if rc != 0 {
        tracing::debug!(
            "the watchdog thread keeps the normal priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watchdog::GUARD;
    use crate::watchdog::PetLog;

    /// Polls `done` until it holds or `limit` passes.
    fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
        let deadline = OsClock.now() + limit;
        while !done() {
            if OsClock.now() > deadline {
                return false;
            }
            OsClock.sleep_until(OsClock.now() + Duration::from_millis(20));
        }
        true
    }

    #[test]
    fn one_client_near_its_expiry_stops_the_keepalives_for_all() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let path = dir.path().join("pets");
        let fire = Duration::from_secs(2);
        let watchdog = Watchdog::start(&DeviceSpec::File(path.clone()), fire).unwrap();
        let interval = watchdog.test_interval();
        assert_eq!(interval, Duration::from_millis(500));
        let far = OsClock.now() + Duration::from_secs(3600);
        let _steady = watchdog.register("steady", far, GUARD);
        let pets = || PetLog::read(&path).unwrap().pets.len();
        assert!(eventually(Duration::from_secs(5), || pets() >= 3), "petted while all are clear");

        let lapse_at = OsClock.now() + Duration::from_secs(1);
        let lapsing = watchdog.register("lapsing", lapse_at, GUARD);
        assert!(
            eventually(Duration::from_secs(5), || !watchdog.status().petting),
            "a client within one interval of its expiry stops the keepalives"
        );
        let status = watchdog.status();
        assert_eq!(status.withheld_for.as_deref(), Some("lapsing"));
        let last_keepalive = watchdog.last_keepalive().expect("petted before");
        // Read just before the device recorded it.
        let recorded = PetLog::read(&path).unwrap().last_pet();
        assert!(last_keepalive <= recorded && recorded < last_keepalive + interval);
        assert_eq!(status.clients.len(), 2);
        let last = PetLog::read(&path).unwrap().last_pet();
        assert!(last < lapse_at, "the last keepalive came before the expiry");

        // Gone: the keepalives resume at once, well before a reset.
        watchdog.unregister(lapsing);
        assert!(
            eventually(Duration::from_secs(5), || PetLog::read(&path).unwrap().last_pet() > last)
        );
        assert!(watchdog.status().petting);
        assert_eq!(watchdog.stop(), Stopped::Armed(vec!["steady".to_owned()]));
        assert_eq!(PetLog::read(&path).unwrap().disarmed, None, "armed for the client left");
    }

    #[test]
    fn with_no_client_left_the_device_is_disarmed() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let path = dir.path().join("pets");
        let watchdog =
            Watchdog::start(&DeviceSpec::File(path.clone()), Duration::from_secs(4)).unwrap();
        let client = watchdog.register("ls", OsClock.now() + Duration::from_secs(60), GUARD);
        let petted = || !PetLog::read(&path).unwrap().pets.is_empty();
        assert!(eventually(Duration::from_secs(5), petted));
        watchdog.unregister(client);
        assert_eq!(watchdog.stop(), Stopped::Disarmed);
        let log = PetLog::read(&path).unwrap();
        assert!(log.disarmed.is_some());
    }
}
