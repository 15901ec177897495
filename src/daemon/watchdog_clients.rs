//! Local programs sharing the watchdog: the service, and its JSON front
//! end.
//!
//! [`WatchdogClients`] is the one place a program's expiry enters the
//! multiplexer, whichever socket it came through: leased's own (the
//! `watchdog_*` requests below) or wdmd's (`wdmd_server.rs`). From its
//! registration on, the host is reset if the program does not renew before
//! its expiry, whether it hangs, is paused, or dies; only an unregister
//! ends that. It also keeps the *holds*: wdmd clients that set a refcount,
//! which, like registrations, make SIGTERM refuse.
//!
//! Lock order: the service's lock, then the [`Watchdog`]'s own (taken by
//! its calls); nothing else is taken under it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{Daemon, Peer};
use crate::api::results::WatchdogReply;
use crate::api::{ApiError, ErrorCode, WatchdogRegister, WatchdogRenew};
use crate::clock::{Clock, MonoTime, OsClock};
use crate::watchdog::{ClientId, Watchdog};

/// Most programs registered at once, over both sockets.
const MAX_CLIENTS: usize = 64;
/// Longest name of a program on leased's socket.
const MAX_NAME: usize = 64;
/// Expiries accepted on leased's socket, in milliseconds from now: 1 s to
/// a day.
const EXPIRY_MS: std::ops::RangeInclusive<u64> = 1_000..=86_400_000;

/// What a clean shutdown does with a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtShutdown {
    /// Unregistered by a confirmed shutdown (a program on leased's socket,
    /// which leased can tell nothing more).
    Unregister,
    /// Kept: the device stays armed and resets the host. A wdmd client
    /// with an expiry is a sanlock lockspace whose leases no one else
    /// protects; wdmd itself never stops while one is tested.
    Keep,
}

/// A registration refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{MAX_CLIENTS} programs are registered with the watchdog already")]
    Full,
    #[error("leased is shutting down")]
    ShuttingDown,
}

/// A refcount held by a wdmd client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HoldId(u64);

struct Registered {
    label: String,
    at_shutdown: AtShutdown,
}

#[derive(Default)]
struct Clients {
    registered: BTreeMap<ClientId, Registered>,
    holds: BTreeMap<HoldId, String>,
    next_hold: u64,
    /// Set by shutdown: nothing registers or holds from then on.
    closed: bool,
}

/// The programs registered with the watchdog, over either socket.
pub struct WatchdogClients {
    watchdog: Arc<Watchdog>,
    clients: Mutex<Clients>,
}

impl WatchdogClients {
    pub fn new(watchdog: Arc<Watchdog>) -> WatchdogClients {
        WatchdogClients { watchdog, clients: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Clients> {
        self.clients.lock().expect("watchdog clients lock")
    }

    /// The device behind the clients.
    pub fn watchdog(&self) -> &Watchdog {
        &self.watchdog
    }

    /// Registers `label`, to be tested from now until `expiry`, the
    /// keepalives stopping `margin` before it.
    pub fn register(
        &self,
        label: &str,
        expiry: MonoTime,
        margin: Duration,
        at_shutdown: AtShutdown,
    ) -> Result<ClientId, Refused> {
        let mut clients = self.lock();
        // Under the lock that shutdown closes the service with: one
        // registered after that would keep the watchdog armed.
        if clients.closed {
            return Err(Refused::ShuttingDown);
        }
        if clients.registered.len() >= MAX_CLIENTS {
            return Err(Refused::Full);
        }
        let client = self.watchdog.register(label, expiry, margin);
        clients.registered.insert(client, Registered { label: label.to_owned(), at_shutdown });
        Ok(client)
    }

    /// Moves `client`'s expiry (never earlier) and returns it; `None` if
    /// it is no longer registered (a shutdown unregistered it).
    pub fn renew(&self, client: ClientId, expiry: MonoTime) -> Option<MonoTime> {
        let clients = self.lock();
        clients.registered.contains_key(&client).then(|| self.watchdog.renewed(client, expiry))
    }

    /// Ends `client`'s registration; its label, if it was registered.
    pub fn unregister(&self, client: ClientId) -> Option<String> {
        let mut clients = self.lock();
        let registered = clients.registered.remove(&client)?;
        self.watchdog.unregister(client);
        tracing::info!(client = registered.label, "watchdog client unregistered");
        Some(registered.label)
    }

    /// `client`'s label, while it is registered.
    pub fn label(&self, client: ClientId) -> Option<String> {
        self.lock().registered.get(&client).map(|r| r.label.clone())
    }

    /// A connection closed: a registration it left stands.
    pub fn disconnected(&self, client: ClientId) {
        if let Some(label) = self.label(client) {
            tracing::error!(
                client = label,
                "a watchdog client disconnected without unregistering: its expiry stands, and \
                 this host will be reset when it passes"
            );
        }
    }

    /// Holds leased running for `label` (wdmd's refcount); `None` once
    /// shutting down.
    pub fn hold(&self, label: &str) -> Option<HoldId> {
        let mut clients = self.lock();
        if clients.closed {
            return None;
        }
        clients.next_hold += 1;
        let hold = HoldId(clients.next_hold);
        clients.holds.insert(hold, label.to_owned());
        Some(hold)
    }

    /// Ends a hold.
    pub fn release(&self, hold: HoldId) {
        self.lock().holds.remove(&hold);
    }

    /// Who relies on the watchdog now: every registration and hold.
    pub fn names(&self) -> Vec<String> {
        let clients = self.lock();
        let registered = clients.registered.values().map(|r| r.label.clone());
        let mut names: Vec<String> = registered.chain(clients.holds.values().cloned()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// Shutdown: nothing registers or holds from now on; every hold ends,
    /// and every registration but those kept at shutdown is unregistered.
    /// Returns the labels kept, whose expiries keep the device armed.
    pub fn close(&self) -> Vec<String> {
        let mut clients = self.lock();
        clients.closed = true;
        clients.holds.clear();
        let mut kept = Vec::new();
        for (client, registered) in std::mem::take(&mut clients.registered) {
            if registered.at_shutdown == AtShutdown::Keep {
                tracing::error!(
                    client = registered.label,
                    "watchdog client kept at shutdown: the device stays armed for it"
                );
                kept.push(registered.label.clone());
                clients.registered.insert(client, registered);
            } else {
                tracing::warn!(
                    client = registered.label,
                    "watchdog client unregistered at shutdown"
                );
                self.watchdog.unregister(client);
            }
        }
        kept
    }
}

/// A connection's registration on leased's socket.
#[derive(Default)]
pub struct Registration {
    client: Option<ClientId>,
}

impl Daemon {
    pub(super) fn watchdog_register(
        &self,
        peer: &Peer,
        registration: &mut Registration,
        args: WatchdogRegister,
    ) -> Result<WatchdogReply, ApiError> {
        let name = &args.name;
        if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("watchdog client name {name:?}: 1 to {MAX_NAME} printable characters"),
            ));
        }
        let expiry = expiry(args.expiry_ms)?;
        self.refuse_if_shutting_down()?;
        if let Some(client) = registration.client {
            let current = self.watchdog_clients.label(client);
            let current = current.as_deref().unwrap_or("an unregistered client");
            return Err(ApiError::new(
                ErrorCode::Exists,
                format!("this connection is already registered with the watchdog as {current}"),
            ));
        }
        let label = format!("{name} (pid {})", peer.pid);
        let at = OsClock.now() + expiry;
        let guard = crate::watchdog::GUARD;
        let client = self
            .watchdog_clients
            .register(&label, at, guard, AtShutdown::Unregister)
            .map_err(|refused| {
                let code = match refused {
                    Refused::Full => ErrorCode::Limit,
                    Refused::ShuttingDown => ErrorCode::ShuttingDown,
                };
                ApiError::new(code, refused.to_string())
            })?;
        registration.client = Some(client);
        Ok(self.watchdog_reply(label, Some(at)))
    }

    pub(super) fn watchdog_renew(
        &self,
        registration: &Registration,
        args: &WatchdogRenew,
    ) -> Result<WatchdogReply, ApiError> {
        let expiry = expiry(args.expiry_ms)?;
        let client = registration.client.ok_or_else(not_registered)?;
        let at = self
            .watchdog_clients
            .renew(client, OsClock.now() + expiry)
            .ok_or_else(not_registered)?;
        let label = self.watchdog_clients.label(client).ok_or_else(not_registered)?;
        Ok(self.watchdog_reply(label, Some(at)))
    }

    pub(super) fn watchdog_unregister(
        &self,
        registration: &mut Registration,
    ) -> Result<WatchdogReply, ApiError> {
        let client = registration.client.take().ok_or_else(not_registered)?;
        let label = self.watchdog_clients.unregister(client).ok_or_else(not_registered)?;
        Ok(self.watchdog_reply(label, None))
    }

    /// A connection closed: a registration it left stands.
    pub(super) fn watchdog_disconnected(&self, registration: &Registration) {
        if let Some(client) = registration.client {
            self.watchdog_clients.disconnected(client);
        }
    }

    fn watchdog_reply(&self, name: String, expiry: Option<MonoTime>) -> WatchdogReply {
        let now = OsClock.now();
        WatchdogReply {
            name,
            expires_in_s: expiry.map(|at| at.saturating_since(now).as_secs_f64()),
            test_interval_s: self.watchdog.test_interval().as_secs_f64(),
            fire_timeout_s: self.watchdog.fire_timeout().as_secs(),
        }
    }
}

fn expiry(expiry_ms: u64) -> Result<Duration, ApiError> {
    if !EXPIRY_MS.contains(&expiry_ms) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "watchdog expiry {expiry_ms} ms is out of range ({} to {} ms)",
                EXPIRY_MS.start(),
                EXPIRY_MS.end()
            ),
        ));
    }
    Ok(Duration::from_millis(expiry_ms))
}

fn not_registered() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "this connection is not registered with the watchdog")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watchdog::{DeviceSpec, GUARD, Stopped};

    #[test]
    fn shutdown_keeps_only_what_must_keep_the_device_armed() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let device = DeviceSpec::File(dir.path().join("pets"));
        let watchdog = Arc::new(Watchdog::start(&device, Duration::from_secs(60)).unwrap());
        let clients = WatchdogClients::new(Arc::clone(&watchdog));
        let far = OsClock.now() + Duration::from_secs(3600);
        let program = clients.register("program", far, GUARD, AtShutdown::Unregister).unwrap();
        clients.register("sanlock", far, GUARD, AtShutdown::Keep).unwrap();
        let hold = clients.hold("held").unwrap();
        assert_eq!(clients.names(), ["held", "program", "sanlock"]);
        clients.release(hold);
        assert_eq!(clients.renew(program, far), Some(far));

        assert_eq!(clients.close(), ["sanlock"]);
        assert_eq!(clients.names(), ["sanlock"]);
        assert_eq!(clients.renew(program, far), None, "unregistered at shutdown");
        let late = clients.register("late", far, GUARD, AtShutdown::Keep);
        assert_eq!(late, Err(Refused::ShuttingDown));
        assert_eq!(clients.hold("late"), None);
        assert_eq!(watchdog.stop(), Stopped::Armed(vec!["sanlock".to_owned()]));
    }
}
