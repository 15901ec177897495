//! The simulator's oracle: the properties every run must keep.
//!
//! Hosts are named by their machine (the index of the simulated host), not
//! by host_id, since a misconfigured pair may share one host_id.
//!
//! 1. **Mutual exclusion.** A machine's use of a resource starts when its
//!    acquire returns success and ends when it starts releasing, when its
//!    holder process is killed, or when the machine is reset. In between the
//!    holder may write to whatever the resource protects, paused or not. On
//!    every start: no two holders of one resource overlap unless both are
//!    shared.
//! 2. **The lease version is a fencing token.** Per resource, in the order
//!    acquisitions succeed: an EX acquisition's lver is above the lver of
//!    every earlier acquisition, EX or SH; an SH acquisition's lver is above
//!    every earlier EX one's. Shared holders are not ordered among
//!    themselves: each SH acquire runs its own ballot and then writes its
//!    mode block and frees the leader, so one whose last writes are slow
//!    returns after another host's later SH ballot; no exclusive holder can
//!    come between them, and the token fences exclusive writers only.
//! 3. **No needless fencing.** A machine is fenced when lease recovery
//!    kills its holders because its lease expired, or when its watchdog
//!    resets it. Its lease, as its successful renewals prove, lasts until
//!    the issue time of the last one plus the failure threshold (8N). A
//!    recovery before that moment, or a watchdog reset whose keepalive was
//!    withheld by a test more than the client's margin (its io_timeout)
//!    before it, is
//!    needless unless the machine was stalled (paused or suspended) in the
//!    fire timeout before: a stalled machine cannot pet its watchdog.
//!
//! Covered by the tests below and by the canaries of `tests/sim.rs`.

use std::collections::BTreeMap;

use crate::paxos::Mode;

/// Who holds: a client slot of a machine, configured with a host_id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    pub machine: usize,
    pub host_id: u64,
    pub slot: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Holding {
    holder: Holder,
    mode: Mode,
    lver: u64,
    since_ns: u64,
}

/// The highest lease versions handed out for one resource.
#[derive(Clone, Copy, Debug, Default)]
struct Versions {
    any: u64,
    exclusive: u64,
    /// The acquisition that handed out `any`, and when.
    last: Option<(Holder, Mode, u64)>,
}

/// What the oracle knows of one machine's lease.
#[derive(Clone, Copy, Debug, Default)]
struct Renewed {
    /// Issue time of the last successful renewal plus 8N.
    valid_until_ns: u64,
    /// When the machine last stopped being stalled.
    stall_end_ns: u64,
}

/// Current holders of every resource, and the violations seen.
#[derive(Debug, Default)]
pub struct Oracle {
    holders: BTreeMap<usize, Vec<Holding>>,
    versions: BTreeMap<usize, Versions>,
    leases: BTreeMap<usize, Renewed>,
    pub violations: u64,
    pub first_violation: Option<String>,
    pub acquisitions: u64,
    pub needless_fences: u64,
    pub lver_regressions: u64,
}

impl Oracle {
    /// `who` starts using `resource` in `mode` under `lver` at `now_ns`.
    pub fn start(&mut self, resource: usize, who: Holder, mode: Mode, lver: u64, now_ns: u64) {
        let holders = self.holders.entry(resource).or_default();
        assert!(
            !holders.iter().any(|h| h.holder.machine == who.machine && h.holder.slot == who.slot),
            "a client slot holds a resource once"
        );
        let conflict = holders
            .iter()
            .find(|other| mode == Mode::Exclusive || other.mode == Mode::Exclusive)
            .copied();
        holders.push(Holding { holder: who, mode, lver, since_ns: now_ns });
        self.acquisitions += 1;
        if let Some(other) = conflict {
            self.violation(format!(
                "t={:.6}s resource {resource}: {} acquired it {mode} while {} has held it {} \
                 since t={:.6}s",
                seconds(now_ns),
                describe(who),
                describe(other.holder),
                other.mode,
                seconds(other.since_ns)
            ));
        }
        self.check_lver(resource, who, mode, lver, now_ns);
    }

    /// `who`, holding `resource`, converted its lease to `mode` under
    /// `lver` at `now_ns`. An exclusive lease made shared keeps its lver,
    /// which is the same token; a shared one made exclusive won a new
    /// ballot, and its lver must be above every earlier one.
    pub fn convert(&mut self, resource: usize, who: Holder, mode: Mode, lver: u64, now_ns: u64) {
        let holders = self.holders.get_mut(&resource).expect("a converted resource is held");
        let index = holders
            .iter()
            .position(|h| h.holder.machine == who.machine && h.holder.slot == who.slot)
            .expect("converting a holding that started");
        let was = holders.swap_remove(index);
        let conflict = holders
            .iter()
            .find(|other| mode == Mode::Exclusive || other.mode == Mode::Exclusive)
            .copied();
        holders.push(Holding { holder: who, mode, lver, since_ns: now_ns });
        if let Some(other) = conflict {
            self.violation(format!(
                "t={:.6}s resource {resource}: {} converted it from {} to {mode} while {} has \
                 held it {} since t={:.6}s",
                seconds(now_ns),
                describe(who),
                was.mode,
                describe(other.holder),
                other.mode,
                seconds(other.since_ns)
            ));
        }
        if mode == Mode::Exclusive {
            self.check_lver(resource, who, mode, lver, now_ns);
        }
    }

    fn check_lver(&mut self, resource: usize, who: Holder, mode: Mode, lver: u64, now_ns: u64) {
        let seen = self.versions.entry(resource).or_default();
        let stale = match mode {
            Mode::Exclusive => lver <= seen.any,
            Mode::Shared => lver <= seen.exclusive,
        };
        let before = *seen;
        if lver >= seen.any {
            seen.last = Some((who, mode, now_ns));
        }
        seen.any = seen.any.max(lver);
        if mode == Mode::Exclusive {
            seen.exclusive = seen.exclusive.max(lver);
        }
        if stale {
            self.lver_regressions += 1;
            let last = before.last.map_or(String::new(), |(holder, mode, at)| {
                format!(" to {} {mode} at t={:.6}s", describe(holder), seconds(at))
            });
            self.violation(format!(
                "t={:.6}s resource {resource}: {} acquired it {mode} at lver {lver}, but lver {} \
                 was handed out before{last} (EX up to {})",
                seconds(now_ns),
                describe(who),
                before.any,
                before.exclusive
            ));
        }
    }

    /// `machine`'s client `slot` stops using `resource`.
    pub fn end(&mut self, resource: usize, machine: usize, slot: usize) {
        let holders = self.holders.get_mut(&resource).expect("the resource has holders");
        let index = holders
            .iter()
            .position(|h| h.holder.machine == machine && h.holder.slot == slot)
            .expect("ending a holding that started");
        holders.swap_remove(index);
    }

    /// Everything `machine` holds ends: it was reset.
    pub fn reset(&mut self, machine: usize) {
        for holders in self.holders.values_mut() {
            holders.retain(|h| h.holder.machine != machine);
        }
        self.leases.remove(&machine);
    }

    /// `machine` renewed (or took) its lease: it lasts until `until_ns`.
    pub fn renewed(&mut self, machine: usize, until_ns: u64) {
        let lease = self.leases.entry(machine).or_default();
        lease.valid_until_ns = lease.valid_until_ns.max(until_ns);
    }

    /// `machine` was stalled until `now_ns`; its lease, as the oracle
    /// knows it, ends if it lost it.
    pub fn stalled(&mut self, machine: usize, now_ns: u64) {
        self.leases.entry(machine).or_default().stall_end_ns = now_ns;
    }

    /// `machine` lost its lease and starts over.
    pub fn lost(&mut self, machine: usize) {
        if let Some(lease) = self.leases.get_mut(&machine) {
            lease.valid_until_ns = 0;
        }
    }

    /// `machine` is fenced at `now_ns` for `why`; it was needless if its
    /// lease was still good at `due_ns` and nothing stalled it since
    /// `stall_window_ns` before now.
    pub fn fenced(
        &mut self,
        machine: usize,
        why: &str,
        now_ns: u64,
        due_ns: u64,
        stall_window_ns: u64,
    ) {
        let lease = self.leases.get(&machine).copied().unwrap_or_default();
        let stalled = lease.stall_end_ns + stall_window_ns >= now_ns && lease.stall_end_ns > 0;
        if lease.valid_until_ns > due_ns && !stalled {
            self.needless_fences += 1;
            self.violation(format!(
                "t={:.6}s machine {machine} was fenced ({why}) though its renewals landed in time: \
                 its lease lasts until t={:.6}s",
                seconds(now_ns),
                seconds(lease.valid_until_ns)
            ));
        }
        self.lost(machine);
    }

    /// A property broke: counted, and the first described.
    pub fn violation(&mut self, what: String) {
        self.violations += 1;
        if self.first_violation.is_none() {
            self.first_violation = Some(what);
        }
    }

    /// Holdings currently open.
    pub fn open(&self) -> usize {
        self.holders.values().map(Vec::len).sum()
    }
}

fn describe(who: Holder) -> String {
    format!("machine {} (host_id {}) slot {}", who.machine, who.host_id, who.slot)
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(machine: usize, slot: usize) -> Holder {
        Holder { machine, host_id: machine as u64 + 1, slot }
    }

    #[test]
    fn shared_overlaps_are_fine_exclusive_ones_are_not() {
        let mut oracle = Oracle::default();
        oracle.start(1, who(1, 0), Mode::Shared, 1, 10);
        oracle.start(1, who(2, 0), Mode::Shared, 2, 20);
        assert_eq!(oracle.violations, 0);
        oracle.start(1, who(3, 1), Mode::Exclusive, 3, 30);
        assert_eq!(oracle.violations, 1);
        assert!(
            oracle.first_violation.as_deref().unwrap().contains("machine 3 (host_id 4) slot 1")
        );
        oracle.end(1, 3, 1);
        oracle.reset(1);
        oracle.end(1, 2, 0);
        assert_eq!(oracle.open(), 0);
        oracle.start(1, who(3, 1), Mode::Exclusive, 4, 40);
        assert_eq!(oracle.violations, 1);
        assert_eq!(oracle.acquisitions, 4);
    }

    #[test]
    fn lease_versions_must_rise() {
        let mut oracle = Oracle::default();
        oracle.start(7, who(0, 0), Mode::Exclusive, 5, 10);
        oracle.end(7, 0, 0);
        oracle.start(7, who(1, 0), Mode::Shared, 6, 20);
        // A second shared holder at the same version is fine.
        oracle.start(7, who(2, 0), Mode::Shared, 6, 30);
        // And one whose ballot came first but whose acquire ended later.
        oracle.start(7, who(3, 0), Mode::Shared, 7, 31);
        oracle.start(7, who(4, 0), Mode::Shared, 6, 32);
        assert_eq!(oracle.violations, 0);
        oracle.reset(3);
        oracle.reset(4);
        oracle.reset(1);
        oracle.reset(2);
        // An exclusive holder must be above every earlier one.
        oracle.start(7, who(0, 0), Mode::Exclusive, 7, 40);
        assert_eq!((oracle.violations, oracle.lver_regressions), (1, 1));
        oracle.end(7, 0, 0);
        oracle.start(7, who(1, 0), Mode::Shared, 6, 50);
        assert_eq!(oracle.lver_regressions, 2, "SH must be above the last EX");
        oracle.start(3, who(1, 1), Mode::Exclusive, 1, 60);
        assert_eq!(oracle.lver_regressions, 2, "versions are per resource");
    }

    #[test]
    fn a_conversion_must_not_meet_another_holder_and_ex_must_rise() {
        let mut oracle = Oracle::default();
        oracle.start(2, who(0, 0), Mode::Exclusive, 3, 10);
        oracle.convert(2, who(0, 0), Mode::Shared, 3, 20);
        oracle.start(2, who(1, 0), Mode::Shared, 4, 30);
        assert_eq!(oracle.violations, 0, "EX made SH keeps its lver; others may share");
        oracle.convert(2, who(0, 0), Mode::Exclusive, 5, 40);
        assert_eq!(oracle.violations, 1, "SH made EX beside a shared holder");
        oracle.end(2, 1, 0);
        oracle.convert(2, who(0, 0), Mode::Shared, 5, 50);
        oracle.convert(2, who(0, 0), Mode::Exclusive, 5, 60);
        assert_eq!(oracle.lver_regressions, 1, "a new exclusive ballot hands out a new lver");
    }

    #[test]
    fn fencing_a_host_whose_renewals_land_is_needless() {
        let mut oracle = Oracle::default();
        oracle.renewed(0, 100);
        oracle.fenced(0, "recovery", 80, 80, 10);
        assert_eq!(oracle.needless_fences, 1);
        // Once fenced its lease is gone: fencing it again is no news.
        oracle.fenced(0, "watchdog", 90, 90, 10);
        assert_eq!(oracle.needless_fences, 1);
        oracle.renewed(1, 100);
        oracle.fenced(1, "recovery", 100, 100, 10);
        assert_eq!(oracle.needless_fences, 1, "at expiry it is due");
        oracle.renewed(2, 500);
        oracle.stalled(2, 300);
        oracle.fenced(2, "watchdog", 305, 305, 10);
        assert_eq!(oracle.needless_fences, 1, "a stalled host cannot pet");
        assert_eq!(oracle.violations, 1);
    }
}
