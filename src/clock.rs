//! Monotonic time, behind a trait so the simulator can drive it.
//!
//! Lease logic never reads the real clock: it is handed `MonoTime` values by a
//! driver that owns a [`Clock`]. [`OsClock`] reads `CLOCK_BOOTTIME`: monotonic
//! like the `CLOCK_MONOTONIC` sanlock uses, in the same units from the same
//! origin (boot), but it also counts the time the system was suspended. A
//! host resumed from a suspension sees how long its renewals really stopped,
//! so it stops its keepalives for a lease that expired meanwhile instead of
//! carrying on as if no time had passed, while other hosts, whose clocks ran,
//! take that lease over. [`SimClock`] is virtual time that only moves when
//! the simulator advances it.
//!
//! Clocks are never compared across hosts: a timestamp read from another
//! host's sector is only ever compared with the same host's earlier timestamps.

use std::fmt;
use std::ops::{Add, Sub};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A point on one host's monotonic clock, in nanoseconds since the clock's
/// origin (boot, for the OS clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonoTime {
    nanos: u64,
}

impl MonoTime {
    /// The clock's origin.
    pub const ZERO: MonoTime = MonoTime { nanos: 0 };

    /// A time `nanos` after the origin.
    pub const fn from_nanos(nanos: u64) -> MonoTime {
        MonoTime { nanos }
    }

    /// A time `secs` after the origin.
    pub const fn from_secs(secs: u64) -> MonoTime {
        MonoTime { nanos: secs * 1_000_000_000 }
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// Whole seconds since the origin: the unit of on-disk timestamps.
    pub const fn as_secs(self) -> u64 {
        self.nanos / 1_000_000_000
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: MonoTime) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }
}

impl Add<Duration> for MonoTime {
    type Output = MonoTime;

    fn add(self, rhs: Duration) -> MonoTime {
        let rhs_nanos = u64::try_from(rhs.as_nanos()).unwrap_or(u64::MAX);
        MonoTime { nanos: self.nanos.saturating_add(rhs_nanos) }
    }
}

impl Sub<Duration> for MonoTime {
    type Output = MonoTime;

    fn sub(self, rhs: Duration) -> MonoTime {
        let rhs_nanos = u64::try_from(rhs.as_nanos()).unwrap_or(u64::MAX);
        MonoTime { nanos: self.nanos.saturating_sub(rhs_nanos) }
    }
}

impl fmt::Display for MonoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.nanos / 1_000_000_000, self.nanos % 1_000_000_000)
    }
}

/// A source of monotonic time.
pub trait Clock: Send + Sync {
    /// The current time. Never goes backwards.
    fn now(&self) -> MonoTime;
}

/// The host's `CLOCK_BOOTTIME` (see the module header).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsClock;

impl Clock for OsClock {
    fn now(&self) -> MonoTime {
        let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
            .expect("CLOCK_BOOTTIME is always available on Linux");
        let secs = u64::try_from(ts.tv_sec()).expect("CLOCK_BOOTTIME is never negative");
        let nanos = u64::try_from(ts.tv_nsec()).expect("tv_nsec is in [0, 1e9)");
        MonoTime::from_nanos(secs * 1_000_000_000 + nanos)
    }
}

impl OsClock {
    /// The host's `CLOCK_MONOTONIC`, which stops while the system is
    /// suspended: the clock sanlock and wdmd speak in. Only the wdmd front
    /// end reads it, to translate their times onto [`OsClock::now`].
    pub fn monotonic(&self) -> MonoTime {
        let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .expect("CLOCK_MONOTONIC is always available on Linux");
        let secs = u64::try_from(ts.tv_sec()).expect("CLOCK_MONOTONIC is never negative");
        let nanos = u64::try_from(ts.tv_nsec()).expect("tv_nsec is in [0, 1e9)");
        MonoTime::from_nanos(secs * 1_000_000_000 + nanos)
    }

    /// Blocks the calling thread until `deadline`. Only drivers of real I/O
    /// call this; lease logic asks its driver to wait instead.
    #[allow(clippy::disallowed_methods)]
    pub fn sleep_until(&self, deadline: MonoTime) {
        let remaining = deadline.saturating_since(self.now());
        if !remaining.is_zero() {
            std::thread::sleep(remaining);
        }
    }
}

/// Virtual time for the simulator and for tests: it moves only when told to.
/// Clones share one time.
#[derive(Clone, Debug, Default)]
pub struct SimClock {
    nanos: Arc<AtomicU64>,
}

impl SimClock {
    /// A clock that starts at `start`.
    pub fn starting_at(start: MonoTime) -> SimClock {
        SimClock { nanos: Arc::new(AtomicU64::new(start.as_nanos())) }
    }

    /// Moves time forward by `step`.
    pub fn advance(&self, step: Duration) {
        let step_nanos = u64::try_from(step.as_nanos()).expect("simulated steps fit in u64 ns");
        self.nanos.fetch_add(step_nanos, Ordering::SeqCst);
    }

    /// Moves time forward to `target`; a target in the past is ignored, so
    /// time never goes backwards.
    pub fn advance_to(&self, target: MonoTime) {
        self.nanos.fetch_max(target.as_nanos(), Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn now(&self) -> MonoTime {
        MonoTime::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_clock_never_goes_backwards() {
        let clock = OsClock;
        let first = clock.now();
        let second = clock.now();
        assert!(second >= first);
        assert!(first.as_secs() > 0, "CLOCK_BOOTTIME counts from boot");
        // Both count from boot; CLOCK_MONOTONIC leaves out suspensions.
        let monotonic = clock.monotonic();
        assert!(monotonic <= clock.now());
        assert!(monotonic.as_secs() > 0);
    }

    #[test]
    fn sim_clock_moves_only_forward() {
        let clock = SimClock::starting_at(MonoTime::from_secs(100));
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), MonoTime::from_nanos(101_500_000_000));
        clock.advance_to(MonoTime::from_secs(50));
        assert_eq!(clock.now().as_secs(), 101);
        let shared = clock.clone();
        shared.advance_to(MonoTime::from_secs(200));
        assert_eq!(clock.now(), MonoTime::from_secs(200));
    }

    #[test]
    fn arithmetic_saturates() {
        let t = MonoTime::from_secs(5);
        assert_eq!(t - Duration::from_secs(10), MonoTime::ZERO);
        assert_eq!(t.saturating_since(MonoTime::from_secs(9)), Duration::ZERO);
        assert_eq!((t + Duration::from_secs(1)).as_secs(), 6);
        assert_eq!(format!("{}", MonoTime::from_nanos(1_000_000_007)), "1.000000007");
    }
}
