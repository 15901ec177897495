//! The simulator's safety oracle: who may be writing to each resource.
//!
//! A host's use of a resource starts when its acquire returns success and
//! ends when it starts releasing, when its holder process is killed, or when
//! the host is reset. In between the holder may write to whatever the
//! resource protects, paused host or not. The invariant checked on every
//! start: no two holders of one resource overlap unless both are shared.

use std::collections::BTreeMap;

use crate::paxos::Mode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Holding {
    host: u64,
    slot: usize,
    mode: Mode,
    since_ns: u64,
}

/// Current holders of every resource, and the violations seen.
#[derive(Debug, Default)]
pub struct Oracle {
    holders: BTreeMap<usize, Vec<Holding>>,
    pub violations: u64,
    pub first_violation: Option<String>,
    pub acquisitions: u64,
}

impl Oracle {
    /// `host`'s client `slot` starts using `resource` in `mode` at `now_ns`.
    pub fn start(&mut self, resource: usize, host: u64, slot: usize, mode: Mode, now_ns: u64) {
        let holders = self.holders.entry(resource).or_default();
        assert!(
            !holders.iter().any(|h| h.host == host && h.slot == slot),
            "a client slot holds a resource once"
        );
        let conflict = holders
            .iter()
            .find(|other| mode == Mode::Exclusive || other.mode == Mode::Exclusive)
            .copied();
        holders.push(Holding { host, slot, mode, since_ns: now_ns });
        self.acquisitions += 1;
        if let Some(other) = conflict {
            self.violations += 1;
            if self.first_violation.is_none() {
                self.first_violation = Some(format!(
                    "t={:.6}s resource {resource}: host {host} slot {slot} acquired it {mode} \
                     while host {} slot {} has held it {} since t={:.6}s",
                    seconds(now_ns),
                    other.host,
                    other.slot,
                    other.mode,
                    seconds(other.since_ns)
                ));
            }
        }
    }

    /// `host`'s client `slot` stops using `resource`.
    pub fn end(&mut self, resource: usize, host: u64, slot: usize) {
        let holders = self.holders.get_mut(&resource).expect("the resource has holders");
        let index = holders
            .iter()
            .position(|h| h.host == host && h.slot == slot)
            .expect("ending a holding that started");
        holders.swap_remove(index);
    }

    /// Everything `host` holds ends: it was reset.
    pub fn reset(&mut self, host: u64) {
        for holders in self.holders.values_mut() {
            holders.retain(|h| h.host != host);
        }
    }

    /// Holdings currently open.
    pub fn open(&self) -> usize {
        self.holders.values().map(Vec::len).sum()
    }
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_overlaps_are_fine_exclusive_ones_are_not() {
        let mut oracle = Oracle::default();
        oracle.start(1, 1, 0, Mode::Shared, 10);
        oracle.start(1, 2, 0, Mode::Shared, 20);
        assert_eq!(oracle.violations, 0);
        oracle.start(1, 3, 1, Mode::Exclusive, 30);
        assert_eq!(oracle.violations, 1);
        assert!(
            oracle.first_violation.as_deref().unwrap().contains("host 3 slot 1 acquired it EX")
        );
        oracle.end(1, 3, 1);
        oracle.reset(1);
        oracle.end(1, 2, 0);
        assert_eq!(oracle.open(), 0);
        oracle.start(1, 3, 1, Mode::Exclusive, 40);
        assert_eq!(oracle.violations, 1);
        assert_eq!(oracle.acquisitions, 4);
    }
}
