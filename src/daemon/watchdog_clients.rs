//! Local programs sharing the watchdog through the socket. Each connection
//! may register once; from then on the host is reset if that program does
//! not renew before its expiry, whether it hangs, is paused, or dies. A
//! clean unregister is the only way out.

use std::time::Duration;

use super::{Daemon, Peer};
use crate::api::results::WatchdogReply;
use crate::api::{ApiError, ErrorCode, WatchdogRegister, WatchdogRenew};
use crate::clock::{Clock, MonoTime, OsClock};
use crate::watchdog::ClientId;

/// Most local programs registered at once.
const MAX_CLIENTS: usize = 64;
/// Longest name of a program.
const MAX_NAME: usize = 64;
/// Expiries accepted, in milliseconds from now: 1 s to a day.
const EXPIRY_MS: std::ops::RangeInclusive<u64> = 1_000..=86_400_000;

/// A connection's registration.
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
        let mut clients = self.watchdog_clients.lock().expect("watchdog clients lock");
        // Under the lock that shutdown clears the clients with: one
        // registered after that would keep the watchdog armed.
        self.refuse_if_shutting_down()?;
        if let Some(client) = registration.client {
            let current = clients.get(&client).map_or("an unregistered client", String::as_str);
            return Err(ApiError::new(
                ErrorCode::Exists,
                format!("this connection is already registered with the watchdog as {current}"),
            ));
        }
        if clients.len() >= MAX_CLIENTS {
            return Err(ApiError::new(
                ErrorCode::Limit,
                format!("{MAX_CLIENTS} programs are registered with the watchdog already"),
            ));
        }
        let label = format!("{name} (pid {})", peer.pid);
        let at = OsClock.now() + expiry;
        let client = self.watchdog.register(&label, at, crate::watchdog::GUARD);
        clients.insert(client, label.clone());
        registration.client = Some(client);
        Ok(self.watchdog_reply(label, Some(at)))
    }

    pub(super) fn watchdog_renew(
        &self,
        registration: &Registration,
        args: &WatchdogRenew,
    ) -> Result<WatchdogReply, ApiError> {
        let expiry = expiry(args.expiry_ms)?;
        let clients = self.watchdog_clients.lock().expect("watchdog clients lock");
        // Looked up under the lock: a shutdown may have unregistered it.
        let Some((client, label)) =
            registration.client.and_then(|c| clients.get(&c).map(|label| (c, label)))
        else {
            return Err(not_registered());
        };
        let at = self.watchdog.renewed(client, OsClock.now() + expiry);
        Ok(self.watchdog_reply(label.clone(), Some(at)))
    }

    pub(super) fn watchdog_unregister(
        &self,
        registration: &mut Registration,
    ) -> Result<WatchdogReply, ApiError> {
        let mut clients = self.watchdog_clients.lock().expect("watchdog clients lock");
        let Some(client) = registration.client.take() else { return Err(not_registered()) };
        let Some(label) = clients.remove(&client) else { return Err(not_registered()) };
        self.watchdog.unregister(client);
        tracing::info!(client = label, "watchdog client unregistered");
        Ok(self.watchdog_reply(label, None))
    }

    /// A connection closed: a registration it left stands.
    pub(super) fn watchdog_disconnected(&self, registration: &Registration) {
        let clients = self.watchdog_clients.lock().expect("watchdog clients lock");
        if let Some(label) = registration.client.and_then(|c| clients.get(&c)) {
            tracing::error!(
                client = label,
                "a watchdog client disconnected without unregistering: its expiry stands, and \
                 this host will be reset when it passes"
            );
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
