//! The multiplexer's decision, pure: clients and their expiries in, pet or
//! not out. The simulator runs this same code for every simulated host.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::clock::MonoTime;

/// A registered client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(u64);

#[derive(Clone, Debug)]
struct Client {
    name: String,
    expiry: MonoTime,
}

/// What to do with the device at one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every client is well within its expiry: keep the host alive.
    Pet,
    /// This client's expiry is too close (or past): stop petting, so that
    /// the device fires within F of it.
    Withhold { client: String, expiry: MonoTime },
}

/// The test interval sanlock's wdmd uses for a fire timeout: 10 s for F >=
/// 60, 5 s for 30..60, 2 s for 10..30, else 1 s; never more than F / 4.
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

/// Clients with expiry deadlines over one watchdog device.
#[derive(Clone, Debug)]
pub struct Multiplexer {
    test_interval: Duration,
    clients: BTreeMap<ClientId, Client>,
    next_id: u64,
}

impl Multiplexer {
    pub fn new(test_interval: Duration) -> Multiplexer {
        assert!(!test_interval.is_zero(), "a test interval is positive");
        Multiplexer { test_interval, clients: BTreeMap::new(), next_id: 1 }
    }

    /// How often [`Multiplexer::check`] must run.
    pub fn test_interval(&self) -> Duration {
        self.test_interval
    }

    /// Adds a client that must renew by `expiry`.
    pub fn register(&mut self, name: &str, expiry: MonoTime) -> ClientId {
        let id = ClientId(self.next_id);
        self.next_id += 1;
        self.clients.insert(id, Client { name: name.to_owned(), expiry });
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

    /// The decision at `now`: pet only if every expiry is more than one test
    /// interval away, so the last pet comes before the earliest expiry and
    /// the device fires within F of it.
    pub fn check(&self, now: MonoTime) -> Verdict {
        let horizon = now + self.test_interval;
        match self.clients.values().min_by_key(|c| c.expiry) {
            Some(client) if client.expiry <= horizon => {
                Verdict::Withhold { client: client.name.clone(), expiry: client.expiry }
            }
            _ => Verdict::Pet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> MonoTime {
        MonoTime::from_secs(s)
    }

    #[test]
    fn pets_only_while_every_client_is_clear_of_its_expiry() {
        let mut mux = Multiplexer::new(Duration::from_secs(10));
        assert_eq!(mux.check(secs(0)), Verdict::Pet, "no clients");
        let a = mux.register("ls-a", secs(80));
        let b = mux.register("ls-b", secs(100));
        assert_eq!(mux.check(secs(69)), Verdict::Pet);
        assert_eq!(
            mux.check(secs(70)),
            Verdict::Withhold { client: "ls-a".into(), expiry: secs(80) }
        );
        assert_eq!(mux.renewed(a, secs(120)), secs(120));
        assert_eq!(mux.check(secs(70)), Verdict::Pet);
        assert!(
            matches!(mux.check(secs(95)), Verdict::Withhold { ref client, .. } if client == "ls-b")
        );
        mux.unregister(b);
        assert_eq!(mux.check(secs(95)), Verdict::Pet);
        assert_eq!(mux.renewed(a, secs(50)), secs(120), "expiries never move back");
        assert_eq!(mux.check(secs(105)), Verdict::Pet, "expiries never move back");
        assert_eq!(mux.len(), 1);
    }

    #[test]
    fn intervals_follow_the_fire_timeout() {
        assert_eq!(test_interval_for(Duration::from_secs(60)), Duration::from_secs(10));
        assert_eq!(test_interval_for(Duration::from_secs(30)), Duration::from_secs(5));
        assert_eq!(
            test_interval_for(Duration::from_secs(10)),
            Duration::from_millis(2500).min(Duration::from_secs(2))
        );
        assert_eq!(test_interval_for(Duration::from_secs(2)), Duration::from_millis(500));
    }
}
