//! sanlock's watchdog multiplexer protocol (wdmd), so that a real sanlock,
//! or any other wdmd client, shares `leased`'s watchdog device.
//!
//! [`wire`] is the 176-byte message, byte for byte. This module holds the
//! translation rules, pure: wdmd's times are whole seconds of
//! `CLOCK_MONOTONIC`, leased's are `CLOCK_BOOTTIME` ([`crate::clock`]), and
//! wdmd's warn window becomes a [`crate::watchdog::Multiplexer`] margin.
//! The daemon's front end (`daemon/wdmd_server.rs`) reads the two clocks
//! and the socket and calls these; the expiry bookkeeping itself is the
//! multiplexer's, shared with every other watchdog client.

pub mod wire;

use std::time::Duration;

use crate::clock::MonoTime;
use crate::watchdog::{lockspace_margin, test_interval_for};

/// Where wdmd listens, and so where sanlock connects: fixed in sanlock,
/// with no way to move it.
pub const SOCKET: &str = "/run/wdmd/wdmd.sock";
/// wdmd's pid file, locked (fcntl) while it runs, beside [`SOCKET`].
pub const PID_FILE: &str = "wdmd.pid";
/// The shared memory object wdmd creates while it runs and removes at a
/// clean stop: `wdmd --probe` refuses while it exists, and a wdmd that
/// finds it at start refuses too ("other wdmd not cleanly stopped"), so as
/// not to call off the reset an unclean stop left pending.
pub const SHM_MARKER: &str = "/dev/shm/wdmd";

/// The farthest ahead an expiry is taken: a day, as for programs on
/// leased's own socket. A client asking for more is tested against this.
pub const LONGEST_EXPIRY: Duration = Duration::from_secs(86_400);

/// `secs` whole seconds of a clock, saturating: the value came from a
/// socket.
fn at_secs(secs: u64) -> MonoTime {
    MonoTime::from_nanos(secs.saturating_mul(1_000_000_000))
}

/// The instant on leased's clock of `expire_s`, a `CLOCK_MONOTONIC`
/// second, given both clocks read together (`monotonic_now`, `now`):
/// the time left on the monotonic clock, from now on ours. The two clocks
/// differ by the time the host was suspended, which counts on ours only,
/// so an expiry is never moved later than the client meant. Never more
/// than [`LONGEST_EXPIRY`] ahead.
pub fn expiry(expire_s: u64, monotonic_now: MonoTime, now: MonoTime) -> MonoTime {
    let left = at_secs(expire_s).saturating_since(monotonic_now);
    now + left.min(LONGEST_EXPIRY)
}

/// `at`, an instant on leased's clock in the past, as a whole
/// `CLOCK_MONOTONIC` second (for STATUS's last_keepalive).
pub fn monotonic_secs(at: MonoTime, monotonic_now: MonoTime, now: MonoTime) -> u64 {
    (monotonic_now - now.saturating_since(at)).as_secs()
}

/// How far ahead of a client's expiry the keepalives stop (see
/// [`crate::watchdog`]'s margin).
///
/// wdmd counts the last test interval before an expiry as a failure
/// because it tests only once per interval (10 s at F = 60 s): a test
/// passed just before the expiry would otherwise keep the device alive up
/// to an interval past it. leased's keeper tests sooner as an expiry
/// nears, so it needs only the margin it gives its own lockspaces: the
/// io_timeout, capped at that same interval ([`lockspace_margin`]).
/// sanlock's expiry is its renewal plus 8 io_timeouts, so its io_timeout
/// is an eighth of `expire − renewal`: at sanlock's default of 10 s the
/// margin is wdmd's window exactly, and at io_timeout 1 s it is 1 s, where
/// wdmd's 10 s window would withhold every keepalive from a lockspace that
/// renews in time (its expiry is never more than 8 s ahead). A client
/// whose renewal does not precede its expiry gets wdmd's whole window.
pub fn margin(renewal_s: u64, expire_s: u64, fire_timeout: Duration) -> Duration {
    match expire_s.checked_sub(renewal_s) {
        Some(span) if renewal_s != 0 && span != 0 => {
            lockspace_margin(Duration::from_secs(span / 8), fire_timeout)
        }
        _ => test_interval_for(fire_timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Duration = Duration::from_secs(60);

    #[test]
    fn a_monotonic_expiry_lands_as_far_ahead_on_our_clock() {
        // The host was suspended for 100 s: our clock is that far ahead.
        let monotonic_now = MonoTime::from_nanos(604_500_000_000);
        let now = MonoTime::from_nanos(704_500_000_000);
        assert_eq!(expiry(613, monotonic_now, now), MonoTime::from_nanos(713_000_000_000));
        assert_eq!(expiry(600, monotonic_now, now), now, "already past: now");
        assert_eq!(expiry(u64::MAX, monotonic_now, now), now + LONGEST_EXPIRY);
        let keepalive = MonoTime::from_nanos(702_000_000_000);
        assert_eq!(monotonic_secs(keepalive, monotonic_now, now), 602);
        assert_eq!(monotonic_secs(MonoTime::ZERO, monotonic_now, now), 0, "saturates");
    }

    #[test]
    fn the_margin_is_the_clients_io_timeout_up_to_wdmds_window() {
        let secs = Duration::from_secs;
        assert_eq!(margin(605, 613, F), secs(1), "sanlock at io_timeout 1");
        assert_eq!(margin(600, 680, F), secs(10), "sanlock's default: wdmd's window");
        assert_eq!(margin(600, 760, F), secs(10), "never more than the window");
        assert_eq!(margin(0, 613, F), secs(10), "no renewal: wdmd's window");
        assert_eq!(margin(700, 613, F), secs(10));
        assert_eq!(margin(613, 613, F), secs(10));
        assert_eq!(margin(610, 613, F), Duration::ZERO, "the multiplexer's guard applies");
    }
}
