//! What this host knows of the other hosts in a lockspace: the liveness
//! table, fed by every read of their delta lease sectors.
//!
//! Clocks are never compared across hosts. A host is judged only by *when we
//! saw its sector change*, using *its* io_timeout and our watchdog fire
//! timeout. For each host the table keeps the value last seen (owner,
//! generation, timestamp) with two local times:
//!
//! - `first_seen`: completion of the first read that showed the value. The
//!   write that put it there was issued no later.
//! - `last_seen`: start of the latest read that still showed it. Any write
//!   that landed before this read started would have been seen.
//!
//! | state   | condition (N = its io_timeout, F = fire timeout)               |
//! |---------|----------------------------------------------------------------|
//! | FREE    | timestamp 0: the host_id is not held                           |
//! | UNKNOWN | no change seen yet, and `now - first_seen <= 8N`               |
//! | LIVE    | a change seen, and `now - first_seen <= 8N`                    |
//! | FAIL    | older than 8N, not yet provably dead                           |
//! | DEAD    | `now - first_seen > 8N + F` and `last_seen - first_seen >= 8N` |
//!
//! **Why DEAD is safe.** Every successful renewal is issued before its lease
//! expires and completes (lands) before that expiry too. Suppose the host
//! renewed after the write we saw first at `first_seen`; take its first such
//! renewal. It was issued within 8N of an earlier one issued before
//! `first_seen`, so it landed before `first_seen + 8N <= last_seen`, and the
//! read at `last_seen` would have shown its (unique, ever-increasing)
//! timestamp. It did not, so the host's last renewal was issued before
//! `first_seen`, its lease expired before `first_seen + 8N`, and its watchdog
//! reset it before `first_seen + 8N + F`. Until a read proves the second
//! condition, a silent host stays FAIL: a host whose own reads are failing
//! never declares anyone dead.

use std::collections::BTreeMap;
use std::fmt;

use crate::clock::MonoTime;
use crate::ondisk::leader::LeaderRecord;
use crate::ondisk::name::Name;
use crate::timeouts::Timeouts;

/// A host's liveness, as sanlock reports it (`sanlk_host` flags 1 to 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HostState {
    Unknown,
    Free,
    Live,
    Fail,
    Dead,
}

impl fmt::Display for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostState::Unknown => "UNKNOWN",
            HostState::Free => "FREE",
            HostState::Live => "LIVE",
            HostState::Fail => "FAIL",
            HostState::Dead => "DEAD",
        })
    }
}

/// What was last seen in one host's delta lease sector, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostEntry {
    pub owner_id: u64,
    pub generation: u64,
    pub timestamp: u64,
    pub io_timeout_s: u8,
    pub name: Name,
    /// Completion of the first read that showed this value.
    pub first_seen: MonoTime,
    /// Start of the latest read that showed this value.
    pub last_seen: MonoTime,
    /// How many times the value was seen to change.
    pub changes: u64,
}

impl HostEntry {
    fn same_value(&self, leader: &LeaderRecord) -> bool {
        self.owner_id == leader.owner_id
            && self.generation == leader.owner_generation
            && self.timestamp == leader.timestamp
    }
}

/// The liveness table of one lockspace, as one host sees it.
#[derive(Clone, Debug)]
pub struct HostTable {
    timeouts: Timeouts,
    hosts: BTreeMap<u64, HostEntry>,
}

impl HostTable {
    /// An empty table; `timeouts` supplies the watchdog fire timeout, which
    /// is the same on every host.
    pub fn new(timeouts: Timeouts) -> HostTable {
        HostTable { timeouts, hosts: BTreeMap::new() }
    }

    /// Records what a read of `host_id`'s sector showed. `leader` must be a
    /// verified delta lease record; `read_started` and `read_completed`
    /// bracket the read. Returns whether the value is new: first seen, or
    /// changed (the host renewed).
    pub fn observe(
        &mut self,
        host_id: u64,
        leader: &LeaderRecord,
        read_started: MonoTime,
        read_completed: MonoTime,
    ) -> bool {
        assert!(read_started <= read_completed, "a read completes after it starts");
        match self.hosts.get_mut(&host_id) {
            Some(entry) if entry.same_value(leader) => {
                entry.last_seen = entry.last_seen.max(read_started);
                false
            }
            previous => {
                let changes = previous.map_or(0, |entry| entry.changes + 1);
                self.hosts.insert(
                    host_id,
                    HostEntry {
                        owner_id: leader.owner_id,
                        generation: leader.owner_generation,
                        timestamp: leader.timestamp,
                        io_timeout_s: leader.io_timeout_s(),
                        name: leader.resource_name,
                        first_seen: read_completed,
                        last_seen: read_started,
                        changes,
                    },
                );
                true
            }
        }
    }

    /// What was last seen of `host_id`, if anything.
    pub fn get(&self, host_id: u64) -> Option<&HostEntry> {
        self.hosts.get(&host_id)
    }

    /// Every host seen, in host_id order.
    pub fn entries(&self) -> impl Iterator<Item = (u64, &HostEntry)> {
        self.hosts.iter().map(|(id, entry)| (*id, entry))
    }

    /// The timing `host_id` is judged by: its io_timeout and our F.
    pub fn timeouts_of(&self, entry: &HostEntry) -> Timeouts {
        self.timeouts.for_peer(entry.io_timeout_s)
    }

    /// `host_id`'s state at `now`; UNKNOWN if never seen.
    pub fn state(&self, host_id: u64, now: MonoTime) -> HostState {
        let Some(entry) = self.hosts.get(&host_id) else { return HostState::Unknown };
        if entry.timestamp == 0 {
            return HostState::Free;
        }
        let timeouts = self.timeouts_of(entry);
        let age = now.saturating_since(entry.first_seen);
        if age <= timeouts.renewal_fail() {
            return if entry.changes == 0 { HostState::Unknown } else { HostState::Live };
        }
        let silent_long_enough = entry.last_seen >= entry.first_seen + timeouts.renewal_fail();
        if age > timeouts.host_dead() && silent_long_enough {
            HostState::Dead
        } else {
            HostState::Fail
        }
    }

    /// The earliest time `host_id` can be DEAD on the evidence so far, if it
    /// is not free: `first_seen + host_dead`. Reaching it also needs a read
    /// that starts after `first_seen + 8N` and sees no change.
    pub fn dead_at(&self, host_id: u64) -> Option<MonoTime> {
        let entry = self.hosts.get(&host_id)?;
        (entry.timestamp != 0).then(|| entry.first_seen + self.timeouts_of(entry).host_dead())
    }

    /// Forgets the hosts above `host_id`, whose sectors are not read any
    /// more: what was last seen of them would soon be stale.
    pub fn forget_beyond(&mut self, host_id: u64) {
        self.hosts.retain(|&id, _| id <= host_id);
    }

    /// Forgets everything (the lockspace was left).
    pub fn clear(&mut self) {
        self.hosts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ondisk::geometry::{Geometry, SectorSize};
    use std::time::Duration;

    fn record(generation: u64, timestamp: u64) -> LeaderRecord {
        let g = Geometry::default_for(SectorSize::B512);
        LeaderRecord {
            owner_id: 2,
            owner_generation: generation,
            timestamp,
            ..LeaderRecord::new_delta(g, Name::new("ls").unwrap(), 1)
        }
    }

    fn secs(s: u64) -> MonoTime {
        MonoTime::from_secs(s)
    }

    fn table() -> HostTable {
        // N = 1 s, F = 10 s: 8N = 8 s, host_dead = 18 s.
        HostTable::new(Timeouts::new(1, Duration::from_secs(10)))
    }

    #[test]
    fn states_follow_what_was_seen() {
        let mut t = table();
        assert_eq!(t.state(2, secs(0)), HostState::Unknown);
        t.observe(2, &record(1, 500), secs(100), secs(100));
        assert_eq!(t.state(2, secs(105)), HostState::Unknown, "no change seen yet");
        t.observe(2, &record(1, 502), secs(102), secs(102));
        assert_eq!(t.state(2, secs(105)), HostState::Live);
        assert_eq!(t.state(2, secs(110)), HostState::Live);
        assert_eq!(t.state(2, secs(111)), HostState::Fail);
        // Past host_dead, but no read has yet shown the silence lasting 8N.
        assert_eq!(t.state(2, secs(130)), HostState::Fail);
        t.observe(2, &record(1, 502), secs(109), secs(110));
        assert_eq!(t.state(2, secs(130)), HostState::Fail, "read started at 7 s of silence");
        t.observe(2, &record(1, 502), secs(110), secs(111));
        assert_eq!(t.state(2, secs(120)), HostState::Fail, "not yet 18 s");
        assert_eq!(t.state(2, secs(121)), HostState::Dead);
        assert_eq!(t.dead_at(2), Some(secs(120)));
        t.observe(2, &record(2, 3), secs(131), secs(132));
        assert_eq!(t.state(2, secs(133)), HostState::Live, "a new generation is a change");
        t.observe(2, &record(2, 0), secs(133), secs(134));
        assert_eq!(t.state(2, secs(200)), HostState::Free);
        assert_eq!(t.dead_at(2), None);
    }

    #[test]
    fn peers_are_judged_by_their_own_io_timeout() {
        let mut t = table();
        let mut slow = record(1, 7);
        slow.io_timeout = 5; // 8N = 40 s, host_dead = 50 s
        t.observe(3, &slow, secs(0), secs(1));
        t.observe(3, &slow, secs(41), secs(41));
        assert_eq!(t.state(3, secs(50)), HostState::Fail);
        assert_eq!(t.state(3, secs(52)), HostState::Dead);
    }

    #[test]
    fn a_peer_slower_than_our_watchdog_is_dead_only_after_its_own_rule() {
        let mut t = table();
        let mut slow = record(1, 7);
        slow.io_timeout = 255; // above our F of 10 s: 8N = 2040 s, F' = 255 s
        t.observe(3, &slow, secs(0), secs(1));
        t.observe(3, &slow, secs(2041), secs(2041));
        assert_eq!(t.state(3, secs(1 + 2040 + 10 + 1)), HostState::Fail, "not 8N + our F");
        assert_eq!(t.state(3, secs(1 + 2040 + 255)), HostState::Fail);
        assert_eq!(t.state(3, secs(1 + 2040 + 255 + 1)), HostState::Dead);
        assert_eq!(t.dead_at(3), Some(secs(1 + 2040 + 255)));
    }
}
