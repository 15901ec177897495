//! Short seeded runs of the deterministic simulator, in the suite. The long
//! runs (a million acquire attempts) are `lease-sim`'s job; these prove on
//! every build that the oracle finds nothing in the real algorithm, finds the
//! canaries' bugs, and that a run replays from its seed.

use lease::sim::{self, Canary, SimConfig};

fn config(seed: u64, attempts: u64) -> SimConfig {
    SimConfig::new(seed, attempts)
}

#[test]
fn seeded_runs_find_no_violation_and_every_want_is_granted() {
    let mut seen_4k = false;
    let mut seen_512 = false;
    for seed in 3..=6 {
        let report = sim::run(&config(seed, 4_000));
        assert_eq!(report.violations, 0, "seed {seed}: {:?}", report.first_violation);
        assert!(report.liveness.starved.is_empty(), "seed {seed}: {:?}", report.liveness.starved);
        assert_eq!(report.liveness.granted, report.liveness.wants, "seed {seed}");
        assert!(report.attempts >= 4_000 && report.acquisitions > 1_000, "seed {seed}: {report:?}");
        seen_4k |= report.sector_size == 4096;
        seen_512 |= report.sector_size == 512;
    }
    assert!(seen_4k && seen_512, "both geometries were simulated");
}

#[test]
fn every_fault_kind_happens() {
    let mut totals = std::collections::BTreeMap::<&str, u64>::new();
    let mut takeovers = std::collections::BTreeMap::<String, u64>::new();
    for seed in 3..=6 {
        let r = sim::run(&config(seed, 6_000));
        let f = &r.faults;
        for (name, count) in [
            ("crashes", f.crashes),
            ("pauses", f.pauses),
            ("watchdog_resets", f.watchdog_resets),
            ("read_errors", f.read_errors),
            ("write_errors", f.write_errors),
            ("torn_writes", f.torn_writes),
            ("lost_writes", f.lost_writes),
            ("late_writes", f.late_writes),
            ("slow_ios", f.slow_ios),
            ("torn_reads", f.torn_reads),
        ] {
            *totals.entry(name).or_default() += count;
        }
        for (how, count) in r.takeovers {
            *takeovers.entry(how).or_default() += count;
        }
    }
    for (name, count) in &totals {
        assert!(*count > 0, "no {name} in the runs: {totals:?}");
    }
    for how in ["owner_dead", "owner_restarted", "released"] {
        assert!(takeovers.get(how).is_some_and(|n| *n > 0), "no {how} takeover: {takeovers:?}");
    }
}

/// Renewal writes that take between one and two io_timeouts: each times
/// out and lands late, well within the 8N the lease allows. No lease is
/// lost for it, so no holder is ever stopped and no host reset.
#[test]
fn slow_renewal_writes_that_land_in_time_fence_nobody() {
    for seed in 3..=5 {
        let config = SimConfig { faults: false, slow_renewal_writes: true, ..config(seed, 3_000) };
        let report = sim::run(&config);
        let f = &report.faults;
        assert!(f.late_writes > 100, "seed {seed}: slow writes were simulated: {f:?}");
        assert_eq!(f.recoveries, 0, "seed {seed}: a host_id lease was lost: {report:?}");
        assert_eq!(f.watchdog_resets, 0, "seed {seed}: {report:?}");
        assert_eq!(f.writes_refused_in_flight, 0, "seed {seed}: a retry was refused: {f:?}");
        assert_eq!(report.violations, 0, "seed {seed}: {:?}", report.first_violation);
        assert_eq!(report.liveness.granted, report.liveness.wants, "seed {seed}");
    }
}

#[test]
fn a_run_replays_exactly_from_its_seed() {
    let first = serde_json::to_string(&sim::run(&config(77, 2_000))).unwrap();
    let again = serde_json::to_string(&sim::run(&config(77, 2_000))).unwrap();
    assert_eq!(first, again);
    let other = serde_json::to_string(&sim::run(&config(78, 2_000))).unwrap();
    assert_ne!(first, other);
}

/// Runs seeds until the canary is caught; it must be within a few.
fn caught(canary: Canary) -> u64 {
    (1..=6)
        .map(|seed| sim::run(&SimConfig { canary, ..config(seed, 5_000) }).violations)
        .find(|violations| *violations > 0)
        .unwrap_or_else(|| panic!("{canary:?} was not caught in 6 seeds"))
}

#[test]
fn canary_no_dead_wait_is_caught() {
    assert!(caught(Canary::NoDeadWait) > 0);
}

#[test]
fn canary_skip_phase2_is_caught() {
    assert!(caught(Canary::SkipPhase2) > 0);
}

#[test]
fn canary_keep_petting_is_caught() {
    assert!(caught(Canary::KeepPetting) > 0);
}
