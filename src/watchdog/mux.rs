//! The multiplexer's decision, pure: the clients' expiries and the time in;
//! pet or not, and when to test next, out. The keeper thread and the
//! simulator both run this same code.
//!
//! Safety: the device fires F after the last keepalive, and other hosts
//! may take a client's leases from its expiry + F on. So the last
//! keepalive must come before the earliest expiry: [`Multiplexer::check`]
//! says pet only while every client's expiry is more than its margin
//! ahead. The margin covers the time from the clock reading to the
//! keepalive's ioctl, which nothing bounds in general (a thread left at
//! normal priority, a page fault on failing storage, a cgroup freeze): a
//! lockspace's margin is its io_timeout N capped at wdmd's test interval
//! ([`lockspace_margin`]: 10 s at sanlock's defaults; 1 s at N = 1, where a
//! renewed lockspace's expiry is never less than 6N ahead, so healthy
//! clients are still petted), and never less than [`GUARD`]. This holds
//! however late or early the tests run.
//!
//! Liveness: the keepalives must not stop while every expiry is
//! comfortably ahead, nor stop long before an expiry (that resets the host
//! early and cuts into the time its lease holders get to stop). A fixed
//! interval cannot do both: sanlock's 10 s at F = 60 s withholds at once
//! against a lockspace with io_timeout 1, whose expiry is never more than
//! 8 s away. So the next test follows the shortest horizon: halfway to the
//! earliest cut (expiry − margin), never later than the longest interval
//! (at most F / 4, so the device is petted well within F) and never sooner
//! than [`CLOSEST_TESTS`]. A client renewed to now + 8 s every 2 s is then
//! tested every 3–4 s and always petted; one that stops renewing gets its
//! last keepalive within [`last_keepalive_lead`] of its expiry, when the
//! tests run on time.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::clock::MonoTime;

/// How far ahead of every expiry a keepalive must be decided. The keeper
/// reads the clock, decides and pets with nothing in between, on a thread
/// at real-time priority: microseconds. The margin is for a preemption
/// there all the same.
pub const GUARD: Duration = Duration::from_millis(100);

/// The closest two tests come, near a cut: tests at half the time left
/// would otherwise come ever closer.
pub const CLOSEST_TESTS: Duration = Duration::from_millis(100);

/// How long before the expiry of a client with `margin` the last keepalive
/// comes at most, when the tests run on time: the test before the cut is at
/// most [`CLOSEST_TESTS`] before it, and the cut is the margin before the
/// expiry. The device then resets the host no earlier than expiry + F
/// minus this.
pub fn last_keepalive_lead(margin: Duration) -> Duration {
    margin.max(GUARD).saturating_add(CLOSEST_TESTS)
}

/// A registered client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(u64);

#[derive(Clone, Debug)]
struct Client {
    name: String,
    expiry: MonoTime,
    /// How far ahead of the expiry the keepalives stop.
    margin: Duration,
}

impl Client {
    fn cut(&self) -> MonoTime {
        self.expiry - self.margin
    }
}

/// What to do with the device at one test. Built without allocating, so
/// that nothing slows the keepalive that follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every client is clear of its expiry: keep the host alive.
    Pet,
    /// This client's expiry is too close (or past): stop petting, so that
    /// the device fires within F of it.
    Withhold { client: ClientId, expiry: MonoTime },
}

/// The verdict at one test and when the next test is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub next_test: MonoTime,
}

/// The longest interval between tests for a fire timeout: sanlock's wdmd
/// values (10 s for F >= 60, 5 s for 30..60, 2 s for 10..30, else 1 s),
/// never more than F / 4. Tests come sooner as an expiry nears.
pub fn test_interval_for(fire_timeout: Duration) -> Duration {
    let secs = fire_timeout.as_secs();
    let interval = match secs {
        60.. => Duration::from_secs(10),
        30..=59 => Duration::from_secs(5),
        10..=29 => Duration::from_secs(2),
        _ => Duration::from_secs(1),
    };
    interval.min(fire_timeout / 4)
}

/// How far ahead of a lockspace's expiry its keepalives stop: its
/// io_timeout, but no more than wdmd's test interval for the fire timeout,
/// so that the reset (at least F less this after the expiry) still comes
/// after recovery's SIGKILL at the default kill grace, whatever the
/// io_timeout.
pub fn lockspace_margin(io_timeout: Duration, fire_timeout: Duration) -> Duration {
    io_timeout.min(test_interval_for(fire_timeout))
}

/// Clients with expiry deadlines over one watchdog device.
#[derive(Clone, Debug)]
pub struct Multiplexer {
    longest_interval: Duration,
    clients: BTreeMap<ClientId, Client>,
    next_id: u64,
}

impl Multiplexer {
    /// A multiplexer testing at least every `longest_interval`.
    pub fn new(longest_interval: Duration) -> Multiplexer {
        assert!(!longest_interval.is_zero(), "a test interval is positive");
        Multiplexer { longest_interval, clients: BTreeMap::new(), next_id: 1 }
    }

    /// Adds a client that must renew by `expiry`.
    /// Adds a client that must renew by `expiry`; the keepalives stop
    /// `margin` (at least [`GUARD`]) before it.
    pub fn register(&mut self, name: &str, expiry: MonoTime, margin: Duration) -> ClientId {
        let id = ClientId(self.next_id);
        self.next_id += 1;
        let margin = margin.max(GUARD);
        self.clients.insert(id, Client { name: name.to_owned(), expiry, margin });
        id
    }

    /// Moves a client's expiry (a renewal succeeded) and returns it.
    /// Expiries only grow.
    pub fn renewed(&mut self, id: ClientId, expiry: MonoTime) -> MonoTime {
        let client = self.clients.get_mut(&id).expect("renewed by a registered client");
        client.expiry = client.expiry.max(expiry);
        client.expiry
    }

    /// Removes a client: it no longer needs the host reset on its behalf
    /// (it stopped cleanly, or everything it protected is gone).
    pub fn unregister(&mut self, id: ClientId) {
        self.clients.remove(&id);
    }

    /// Registered clients.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no client is registered: only then may the device be closed
    /// cleanly.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Every client's name and expiry, earliest expiry first.
    pub fn clients(&self) -> Vec<(ClientId, &str, MonoTime)> {
        let mut clients: Vec<(ClientId, &str, MonoTime)> =
            self.clients.iter().map(|(id, c)| (*id, c.name.as_str(), c.expiry)).collect();
        clients.sort_by_key(|&(id, _, expiry)| (expiry, id));
        clients
    }

    /// A client's name, while it is registered.
    pub fn name(&self, id: ClientId) -> Option<&str> {
        self.clients.get(&id).map(|c| c.name.as_str())
    }

    /// The decision at `now`: pet only while the earliest expiry is more
    /// than [`GUARD`] ahead, so the keepalive lands before it and the
    /// device fires by expiry + F; test next halfway to that cut (see the
    /// module header). Past the cut, test again after the longest interval:
    /// only a renewal or an unregistration can lift the verdict, and the
    /// keeper is woken for those.
    pub fn check(&self, now: MonoTime) -> Decision {
        let earliest = self.clients.iter().min_by_key(|(id, c)| (c.cut(), **id));
        let Some((&id, client)) = earliest else {
            return Decision { verdict: Verdict::Pet, next_test: now + self.longest_interval };
        };
        let cut = client.cut();
        if now >= cut {
            let verdict = Verdict::Withhold { client: id, expiry: client.expiry };
            return Decision { verdict, next_test: now + self.longest_interval };
        }
        let wait = (cut.saturating_since(now) / 2).max(CLOSEST_TESTS).min(self.longest_interval);
        Decision { verdict: Verdict::Pet, next_test: now + wait }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> MonoTime {
        MonoTime::from_secs(s)
    }

    fn verdict(mux: &Multiplexer, now: MonoTime) -> Verdict {
        mux.check(now).verdict
    }

    #[test]
    fn pets_only_while_every_client_is_clear_of_its_expiry() {
        let mut mux = Multiplexer::new(Duration::from_secs(10));
        assert_eq!(mux.check(secs(0)), Decision { verdict: Verdict::Pet, next_test: secs(10) });
        let a = mux.register("ls-a", secs(80), GUARD);
        let b = mux.register("ls-b", secs(100), Duration::from_secs(10));
        assert_eq!(mux.name(a), Some("ls-a"));
        assert_eq!(verdict(&mux, secs(79)), Verdict::Pet);
        assert_eq!(
            verdict(&mux, secs(80) - GUARD),
            Verdict::Withhold { client: a, expiry: secs(80) }
        );
        assert_eq!(mux.renewed(a, secs(120)), secs(120));
        assert_eq!(verdict(&mux, secs(80)), Verdict::Pet);
        assert_eq!(verdict(&mux, secs(89)), Verdict::Pet);
        assert_eq!(verdict(&mux, secs(90)), Verdict::Withhold { client: b, expiry: secs(100) });
        mux.unregister(b);
        assert_eq!(mux.name(b), None);
        assert_eq!(verdict(&mux, secs(100)), Verdict::Pet);
        assert_eq!(mux.renewed(a, secs(50)), secs(120), "expiries never move back");
        assert_eq!(verdict(&mux, secs(105)), Verdict::Pet, "expiries never move back");
        assert_eq!(mux.len(), 1);
    }

    #[test]
    fn tests_come_halfway_to_the_earliest_cut_within_bounds() {
        let mut mux = Multiplexer::new(Duration::from_secs(10));
        mux.register("far", secs(3600), GUARD);
        assert_eq!(mux.check(secs(0)).next_test, secs(10), "never longer than the interval");
        mux.register("near", secs(9), GUARD);
        let cut = secs(9) - GUARD;
        assert_eq!(mux.check(secs(1)).next_test, secs(1) + cut.saturating_since(secs(1)) / 2);
        let close = cut - Duration::from_millis(50);
        assert_eq!(mux.check(close).next_test, close + CLOSEST_TESTS, "never closer than that");
        assert_eq!(mux.check(cut).next_test, cut + Duration::from_secs(10), "withheld");
    }

    /// F = 60 s (a 10 s interval) and a lockspace with io_timeout 1: its
    /// expiry is renewed every 2 s to 8 s ahead, never 10 s away. The
    /// keeper, testing when told, pets throughout; once the renewals stop,
    /// the keepalives stop before the expiry, and not long before it.
    #[test]
    fn a_short_expiry_renewed_in_time_keeps_the_keepalives_going() {
        let mut mux = Multiplexer::new(test_interval_for(Duration::from_secs(60)));
        let start = secs(100);
        // Its margin is its io_timeout.
        let margin = Duration::from_secs(1);
        let client = mux.register("lockspace ls", start + Duration::from_secs(8), margin);
        let (mut now, mut renewal, mut pets) = (start, start, Vec::new());
        while now < start + Duration::from_secs(60) {
            if now >= renewal + Duration::from_secs(2) {
                renewal = now;
                mux.renewed(client, now + Duration::from_secs(8));
            }
            let decision = mux.check(now);
            assert_eq!(decision.verdict, Verdict::Pet, "at {now}, renewed at {renewal}");
            pets.push(now);
            now = decision.next_test;
        }
        let gaps = pets.windows(2).map(|w| w[1].saturating_since(w[0]));
        assert!(gaps.max() <= Some(Duration::from_secs(4)), "{pets:?}");

        let expiry = renewal + Duration::from_secs(8);
        let mut last_pet = *pets.last().unwrap();
        let withheld = loop {
            let decision = mux.check(now);
            match decision.verdict {
                Verdict::Pet => last_pet = now,
                Verdict::Withhold { client: c, expiry: e } => {
                    assert_eq!((c, e), (client, expiry));
                    break now;
                }
            }
            now = decision.next_test;
        };
        assert!(withheld < expiry, "withheld at {withheld}, expiry {expiry}");
        assert!(last_pet < expiry - margin, "the last keepalive comes a margin before the expiry");
        let lead = last_keepalive_lead(margin);
        assert!(last_pet + lead >= expiry, "last keepalive {last_pet}, {expiry}");
    }

    /// A lockspace's keepalives stop its io_timeout before its expiry, but
    /// never more than a test interval: with io_timeout 20 s and F 60 s the
    /// reset comes from expiry + 49.9 s, after SIGKILL at the default kill
    /// grace of 40 s, not at expiry + 39.9 s.
    #[test]
    fn a_lockspace_margin_is_its_io_timeout_up_to_a_test_interval() {
        let f = Duration::from_secs(60);
        assert_eq!(lockspace_margin(Duration::from_secs(1), f), Duration::from_secs(1));
        assert_eq!(lockspace_margin(Duration::from_secs(10), f), Duration::from_secs(10));
        assert_eq!(lockspace_margin(Duration::from_secs(20), f), Duration::from_secs(10));
        let reset_after_expiry = f - last_keepalive_lead(lockspace_margin(f / 3, f));
        assert!(reset_after_expiry > Duration::from_secs(40), "{reset_after_expiry:?}");
    }

    #[test]
    fn longest_intervals_follow_the_fire_timeout() {
        assert_eq!(test_interval_for(Duration::from_secs(60)), Duration::from_secs(10));
        assert_eq!(test_interval_for(Duration::from_secs(30)), Duration::from_secs(5));
        assert_eq!(
            test_interval_for(Duration::from_secs(10)),
            Duration::from_millis(2500).min(Duration::from_secs(2))
        );
        assert_eq!(test_interval_for(Duration::from_secs(2)), Duration::from_millis(500));
    }
}
