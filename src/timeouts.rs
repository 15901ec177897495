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
//!
//! **A peer whose N exceeds our F.** Every value read from a peer's sector
//! is untrusted, and such a peer breaks the rule above: a host running this
//! code refuses an N above its own F, so that peer's F is at least its N,
//! hence above ours. [`Timeouts::for_peer`] therefore judges a peer by
//! `F' = max(F, N)`: its host_dead `8N + F'` is never shorter than the
//! `8N + F` the peer's own lease rules give, so such a peer is only ever
//! believed alive for longer, never dead earlier. Our own N comes from an
//! operator or a sector and goes through [`Timeouts::try_new`], which
//! refuses it with [`TimeoutsError`] instead of panicking.

use std::time::Duration;

/// The timing of one lockspace for one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    io_timeout: Duration,
    watchdog_fire: Duration,
}

/// The default watchdog fire timeout, as sanlock's.
pub const DEFAULT_WATCHDOG_FIRE: Duration = Duration::from_secs(60);

/// An io_timeout this host cannot run a lockspace with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeoutsError {
    #[error("io_timeout must be at least 1 second")]
    ZeroIoTimeout,
    #[error(
        "io_timeout {} s exceeds the watchdog fire timeout {} s: the watchdog \
         cannot fire before an I/O times out",
        io_timeout.as_secs_f64(), watchdog_fire.as_secs_f64()
    )]
    FireBeforeIo { io_timeout: Duration, watchdog_fire: Duration },
}

impl Timeouts {
    /// The timing for io_timeout `io_timeout_s` seconds and a watchdog that
    /// fires `watchdog_fire` after its last keepalive, for values this
    /// program chose itself. Panics where [`Timeouts::try_new`] would fail.
    pub fn new(io_timeout_s: u8, watchdog_fire: Duration) -> Timeouts {
        Timeouts::from_durations(Duration::from_secs(u64::from(io_timeout_s)), watchdog_fire)
    }

    /// Like [`Timeouts::new`], for an io_timeout read from a disk or given by
    /// an operator: one that is zero or above `watchdog_fire` is an error.
    pub fn try_new(io_timeout_s: u8, watchdog_fire: Duration) -> Result<Timeouts, TimeoutsError> {
        let io_timeout = Duration::from_secs(u64::from(io_timeout_s));
        if io_timeout.is_zero() {
            return Err(TimeoutsError::ZeroIoTimeout);
        }
        if watchdog_fire < io_timeout {
            return Err(TimeoutsError::FireBeforeIo { io_timeout, watchdog_fire });
        }
        Ok(Timeouts::checked(io_timeout, watchdog_fire))
    }

    /// Like [`Timeouts::new`] with sub-second precision, for the simulator.
    pub fn from_durations(io_timeout: Duration, watchdog_fire: Duration) -> Timeouts {
        assert!(!io_timeout.is_zero(), "io_timeout must be positive");
        assert!(watchdog_fire >= io_timeout, "the watchdog cannot fire before an I/O times out");
        Timeouts::checked(io_timeout, watchdog_fire)
    }

    /// The timing of a positive `io_timeout` no longer than `watchdog_fire`.
    fn checked(io_timeout: Duration, watchdog_fire: Duration) -> Timeouts {
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

    /// 6N: how long a host event stays posted in our sector, its
    /// recipients' bits set with it: three renewals of each recipient
    /// (sanlock's set_bitmap_seconds).
    pub fn event_hold(&self) -> Duration {
        6 * self.io_timeout
    }

    /// N/2: how often a watched group is read again for changes made on
    /// other hosts (this host's own changes are sent at once).
    pub fn group_poll(&self) -> Duration {
        self.io_timeout / 2
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

    /// The timing another host is judged by: its io_timeout (as 1 s if its
    /// sector says 0) and our F, or its io_timeout where that is longer
    /// than our F (see the module docs): never a shorter host_dead than
    /// `8N + F`, whatever its sector holds.
    pub fn for_peer(&self, peer_io_timeout_s: u8) -> Timeouts {
        let io_timeout = Duration::from_secs(u64::from(peer_io_timeout_s.max(1)));
        Timeouts::checked(io_timeout, self.watchdog_fire.max(io_timeout))
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
    fn io_timeouts_from_outside_are_checked() {
        let fire = Duration::from_secs(60);
        assert_eq!(Timeouts::try_new(0, fire), Err(TimeoutsError::ZeroIoTimeout));
        let err = Timeouts::try_new(61, fire).unwrap_err();
        assert!(err.to_string().contains("io_timeout 61 s exceeds"), "{err}");
        assert_eq!(Timeouts::try_new(60, fire), Ok(Timeouts::new(60, fire)));
    }

    #[test]
    fn a_peer_slower_than_our_watchdog_is_judged_by_the_longer_rule() {
        let ours = Timeouts::new(10, DEFAULT_WATCHDOG_FIRE);
        let peer = ours.for_peer(200);
        assert_eq!(peer.renewal_fail(), Duration::from_secs(1600));
        // Not 8N + F = 1660 s: its own F is at least its N.
        assert_eq!(peer.host_dead(), Duration::from_secs(1800));
        for n in 0..=u8::MAX {
            let peer = ours.for_peer(n);
            let n = Duration::from_secs(u64::from(n.max(1)));
            assert!(peer.host_dead() >= 8 * n + DEFAULT_WATCHDOG_FIRE, "{n:?}");
        }
    }

    #[test]
    #[should_panic(expected = "cannot fire before")]
    fn fire_shorter_than_io_is_refused() {
        Timeouts::new(10, Duration::from_secs(5));
    }
}
