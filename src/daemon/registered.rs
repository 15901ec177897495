//! Registered connections of sanlock's protocol: a process registers a
//! connection it keeps open for its life, and the leases acquired for it
//! are tied to that connection, released when it closes (or kept as
//! orphans if persistent), as sanlock does. A registration also carries
//! how the process wants to be stopped if its leases become void: its own
//! killpath, and signals it restricts.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use super::Daemon;
use super::process::Process;
use crate::api::{ApiError, ErrorCode};

/// How many connections may be registered at once: sanlock's client table
/// holds 1024, listener and helper included.
pub const MAX_REGISTERED: usize = 1000;

/// A program run against a holder of void leases before it is signalled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Killpath {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// The holder's pid is appended to the arguments.
    pub append_pid: bool,
}

/// Signals a registered process asks not to be sent (sanlock's restrict
/// flags): each one is replaced by the other when fencing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Restrict {
    /// Send SIGTERM where SIGKILL would be sent.
    pub no_sigkill: bool,
    /// Send SIGKILL where SIGTERM would be sent.
    pub no_sigterm: bool,
}

impl Restrict {
    /// The signal to send in place of `signal`.
    pub fn signal(self, signal: i32) -> i32 {
        match signal {
            libc::SIGKILL if self.no_sigkill => libc::SIGTERM,
            libc::SIGTERM if self.no_sigterm => libc::SIGKILL,
            other => other,
        }
    }
}

/// One registered connection.
#[derive(Debug)]
pub struct Registered {
    pub token: u64,
    pub process: Arc<Process>,
    killpath: Mutex<Option<Killpath>>,
    restrict: AtomicU32,
    /// A command acting for this registration is under way: sanlock runs
    /// one at a time per client and answers others -EBUSY.
    busy: AtomicBool,
}

const NO_SIGKILL: u32 = 1;
const NO_SIGTERM: u32 = 2;

impl Registered {
    pub fn set_killpath(&self, killpath: Killpath) {
        *self.killpath.lock().expect("killpath lock") = Some(killpath);
    }

    pub fn killpath(&self) -> Option<Killpath> {
        self.killpath.lock().expect("killpath lock").clone()
    }

    pub fn set_restrict(&self, restrict: Restrict) {
        let mut bits = 0;
        if restrict.no_sigkill {
            bits |= NO_SIGKILL;
        }
        if restrict.no_sigterm {
            bits |= NO_SIGTERM;
        }
        self.restrict.store(bits, Ordering::SeqCst);
    }

    pub fn restrict(&self) -> Restrict {
        let bits = self.restrict.load(Ordering::SeqCst);
        Restrict { no_sigkill: bits & NO_SIGKILL != 0, no_sigterm: bits & NO_SIGTERM != 0 }
    }

    /// Marks a command under way; None if one already is. The command ends
    /// when the guard is dropped.
    pub fn begin(&self) -> Option<CommandGuard<'_>> {
        (!self.busy.swap(true, Ordering::SeqCst)).then_some(CommandGuard { registered: self })
    }
}

/// A command under way for a registration.
pub struct CommandGuard<'a> {
    registered: &'a Registered,
}

impl Drop for CommandGuard<'_> {
    fn drop(&mut self) {
        self.registered.busy.store(false, Ordering::SeqCst);
    }
}

/// Every registration, by token (registration order).
#[derive(Debug, Default)]
pub struct Registrations {
    next: u64,
    by_token: BTreeMap<u64, Arc<Registered>>,
}

impl Daemon {
    /// Registers a connection of `process`.
    pub(super) fn register(&self, process: Arc<Process>) -> Result<Arc<Registered>, ApiError> {
        self.refuse_if_shutting_down()?;
        let mut registrations = self.registrations.lock().expect("registrations lock");
        if registrations.by_token.len() >= MAX_REGISTERED {
            return Err(ApiError::new(
                ErrorCode::Limit,
                format!("{MAX_REGISTERED} connections are registered already"),
            ));
        }
        registrations.next += 1;
        let token = registrations.next;
        let registered = Arc::new(Registered {
            token,
            process,
            killpath: Mutex::new(None),
            restrict: AtomicU32::new(0),
            busy: AtomicBool::new(false),
        });
        registrations.by_token.insert(token, Arc::clone(&registered));
        Ok(registered)
    }

    /// The first connection registered by process `pid` that still runs.
    pub(super) fn registered(&self, pid: u32) -> Option<Arc<Registered>> {
        let registrations = self.registrations.lock().expect("registrations lock");
        registrations.by_token.values().find(|r| r.process.pid == pid && r.process.alive()).cloned()
    }

    /// The registration of this very process, for fencing.
    pub(super) fn registration_of(&self, process: &Arc<Process>) -> Option<Arc<Registered>> {
        let registrations = self.registrations.lock().expect("registrations lock");
        registrations.by_token.values().find(|r| process.same_as(&r.process)).cloned()
    }

    /// How many connections are registered.
    pub(super) fn registered_count(&self) -> usize {
        self.registrations.lock().expect("registrations lock").by_token.len()
    }

    /// Lets go of the leases tied to registration `token` if it closed:
    /// for commands that may have tied one to it after its close was
    /// handled.
    pub(super) fn recheck_registration(self: &Arc<Self>, token: u64) {
        let gone =
            !self.registrations.lock().expect("registrations lock").by_token.contains_key(&token);
        if gone {
            self.client_closed(token);
        }
    }

    /// A registered connection closed: its leases go.
    pub(super) fn unregister(self: &Arc<Self>, token: u64) {
        self.registrations.lock().expect("registrations lock").by_token.remove(&token);
        self.client_closed(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrict_swaps_only_the_signal_it_names() {
        let none = Restrict::default();
        assert_eq!(none.signal(libc::SIGKILL), libc::SIGKILL);
        let no_kill = Restrict { no_sigkill: true, no_sigterm: false };
        assert_eq!(no_kill.signal(libc::SIGKILL), libc::SIGTERM);
        assert_eq!(no_kill.signal(libc::SIGTERM), libc::SIGTERM);
        let no_term = Restrict { no_sigkill: false, no_sigterm: true };
        assert_eq!(no_term.signal(libc::SIGTERM), libc::SIGKILL);
        assert_eq!(no_term.signal(libc::SIGKILL), libc::SIGKILL);
    }
}
