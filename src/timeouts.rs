//! Every delay of the lease protocols, derived from two numbers.
//!
//! N is a lockspace's io_timeout (stored in every delta lease sector) and F
//! the watchdog fire timeout (the same on every host). sanlock's timing
//! model, made explicit:
//!
//! ```text
//!  T = issue time of a host's last successful renewal
//!  T + 2N       next renewal is due
//!  T + 6N       warning: renewals are failing
//!  T + 8N       expiry: the host stops its lease holders (recovery)
//!  T + 8N + F   latest moment its watchdog resets it
//!
//!  an observer that first saw the renewal at C >= T waits until
//!  C + 8N + F (host_dead) before taking the host's leases
//! ```
//!
//! **Safety argument.** A host's lease ends at its expiry T + 8N: from then
//! on it never renews (a renewal that completes after expiry does not count)
//! and its watchdog resets it by T + 8N + F. An observer learns of that last
//! renewal no earlier than when it lands, so C >= T, and waiting for
//! C + 8N + F = C + host_dead means waiting past the reset. This requires
//! host_dead >= renewal_fail + F, asserted below; the observer must also
//! prove the host did *not* renew after C, which [`crate::delta::HostTable`]
//! does with a read that starts at least `renewal_fail` after C (any later
//! successful renewal would have landed before that read).
//!
//! Timeouts of other hosts are judged with *their* N, read from their
//! sectors, and our F: F must be the same everywhere.

use std::time::Duration;

/// The timing of one lockspace for one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    io_timeout: Duration,
    watchdog_fire: Duration,
}

/// The default watchdog fire timeout, as sanlock's.
pub const DEFAULT_WATCHDOG_FIRE: Duration = Duration::from_secs(60);

impl Timeouts {
    /// The timing for io_timeout `io_timeout_s` seconds and a watchdog that
    /// fires `watchdog_fire` after its last keepalive.
    pub fn new(io_timeout_s: u8, watchdog_fire: Duration) -> Timeouts {
        Timeouts::from_durations(Duration::from_secs(u64::from(io_timeout_s)), watchdog_fire)
    }

    /// Like [`Timeouts::new`] with sub-second precision, for the simulator.
    pub fn from_durations(io_timeout: Duration, watchdog_fire: Duration) -> Timeouts {
        assert!(!io_timeout.is_zero(), "io_timeout must be positive");
        assert!(watchdog_fire >= io_timeout, "the watchdog cannot fire before an I/O times out");
        let timeouts = Timeouts { io_timeout, watchdog_fire };
        // The inequality the whole protocol rests on (see the module docs).
        assert!(timeouts.host_dead() >= timeouts.renewal_fail() + timeouts.watchdog_fire);
        assert!(timeouts.renewal_fail() > timeouts.renewal_interval() + timeouts.io_timeout);
        timeouts
    }

    /// N: the deadline of every lease I/O.
    pub const fn io_timeout(&self) -> Duration {
        self.io_timeout
    }

    /// F: how long the watchdog takes to fire after its last keepalive.
    pub const fn watchdog_fire(&self) -> Duration {
        self.watchdog_fire
    }

    /// 2N: time between renewals.
    pub fn renewal_interval(&self) -> Duration {
        2 * self.io_timeout
    }

    /// Time between attempts after a renewal failed: soon enough for several
    /// tries before expiry, not so soon as to flood a struggling device.
    pub fn renewal_retry(&self) -> Duration {
        (self.io_timeout / 2).max(Duration::from_millis(500)).min(self.io_timeout)
    }

    /// 6N: renewals have been failing long enough to warn.
    pub fn renewal_warn(&self) -> Duration {
        6 * self.io_timeout
    }

    /// 8N: a lease expires this long after the issue of its last successful
    /// renewal.
    pub fn renewal_fail(&self) -> Duration {
        8 * self.io_timeout
    }

    /// 8N + F: a host not seen renewing for this long has been reset.
    pub fn host_dead(&self) -> Duration {
        self.renewal_fail() + self.watchdog_fire
    }

    /// 2N: how long a new host_id owner waits before checking that nobody
    /// else took the host_id at the same time.
    pub fn delta_short_delay(&self) -> Duration {
        2 * self.io_timeout
    }

    /// How long to wait before taking a host_id last held by another host
    /// name: that host must be dead. `max(host_dead, 8N)` of the holder's
    /// timeouts, as sanlock waits.
    pub fn delta_takeover_wait(&self) -> Duration {
        self.host_dead().max(self.renewal_fail())
    }

    /// The longest pause after losing `losses` ballots in a row: 10 ms,
    /// doubling with each loss, up to the smaller of 1 s and N. Random
    /// pauses below it break ties between contending hosts.
    pub fn ballot_backoff_max(&self, losses: u32) -> Duration {
        let cap = self.io_timeout.min(Duration::from_secs(1));
        (Duration::from_millis(10) * 2u32.pow(losses.min(7))).min(cap)
    }

    /// The timing another host is judged by: its io_timeout, our F.
    pub fn for_peer(&self, peer_io_timeout_s: u8) -> Timeouts {
        Timeouts::new(peer_io_timeout_s.max(1), self.watchdog_fire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanlock_defaults() {
        let t = Timeouts::new(10, DEFAULT_WATCHDOG_FIRE);
        assert_eq!(t.renewal_interval(), Duration::from_secs(20));
        assert_eq!(t.renewal_warn(), Duration::from_secs(60));
        assert_eq!(t.renewal_fail(), Duration::from_secs(80));
        assert_eq!(t.host_dead(), Duration::from_secs(140));
        assert_eq!(t.delta_takeover_wait(), Duration::from_secs(140));
        assert_eq!(t.renewal_retry(), Duration::from_secs(5));
        let fast = Timeouts::new(1, Duration::from_secs(10));
        assert_eq!(fast.host_dead(), Duration::from_secs(18));
        assert_eq!(fast.renewal_retry(), Duration::from_millis(500));
        assert_eq!(t.for_peer(5).host_dead(), Duration::from_secs(100));
        assert_eq!(t.ballot_backoff_max(0), Duration::from_millis(10));
        assert_eq!(t.ballot_backoff_max(3), Duration::from_millis(80));
        assert_eq!(t.ballot_backoff_max(30), Duration::from_secs(1));
    }

    #[test]
    #[should_panic(expected = "cannot fire before")]
    fn fire_shorter_than_io_is_refused() {
        Timeouts::new(10, Duration::from_secs(5));
    }
}
