//! Short seeded runs of the deterministic simulator, in the suite. The long
//! runs (a million acquire attempts) are `lease-sim`'s job; these prove on
//! every build that the oracle finds nothing in the real algorithm, finds the
//! canaries' bugs, and that a run replays from its seed.
//!
//! The runs are strict: every violation counts, suspensions included.
//!
//! Fixed since they were found here: a host that left the lockspace and
//! joined again before another host's next read of its sector had its new
//! leases taken as "owner left" (the stale released sector was trusted over
//! the newer generation the leader names); a duplicate host_id whose join write
//! timed out but landed late put its own name back in the sector after the
//! twin joined, rejoined at once by name, and its new generation let others
//! take the twin's leases as "owner restarted" while the twin's hung holder
//! ran (a sector under our name is now taken back at once only at the
//! generation this host last joined with); an instance this host won and
//! released won again behind a stale leader (one EX lver handed out twice),
//! and a
//! host resumed from a suspension petting its watchdog as if no time had
//! passed (hosts now read CLOCK_BOOTTIME; the `monotonic-clock` canary keeps
//! the old clock). Shared holders are not ordered by lver among themselves
//! (see the oracle).

use lease::sim::{self, Canary, SimConfig, SimReport};

fn config(seed: u64, attempts: u64) -> SimConfig {
    SimConfig::new(seed, attempts)
}

/// Every violation the oracle found.
fn violations(report: &SimReport) -> u64 {
    report.violations
}

#[test]
fn seeded_runs_find_no_violation_and_every_want_is_granted() {
    let mut seen_4k = false;
    let mut seen_512 = false;
    for seed in 3..=6 {
        let report = sim::run(&config(seed, 4_000));
        assert_eq!(violations(&report), 0, "seed {seed}: {:?}", report.first_violation);
        assert_eq!(report.needless_fences, 0, "seed {seed}");
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
    for seed in 1..=4 {
        let r = sim::run(&SimConfig::new(seed, 6_000));
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
            ("suspensions", f.suspensions),
            ("joins_refused", f.joins_refused),
            // Lease recovery (an expired host_id lease). A lease lost to
            // another writer needs the duplicate host_id race below, which
            // these seeds do not meet.
            ("recoveries", f.recoveries),
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

/// Runs seeds until `found` counts more in the canary's run than ten times
/// what the same seed shows without it; it must be within a few seeds.
fn caught_by(canary: Canary, found: impl Fn(&SimReport) -> u64) -> u64 {
    (1..=6)
        .map(|seed| {
            let clean = found(&sim::run(&config(seed, 5_000)));
            let broken = found(&sim::run(&SimConfig { canary, ..config(seed, 5_000) }));
            broken.saturating_sub(10 * clean)
        })
        .find(|excess| *excess > 0)
        .unwrap_or_else(|| panic!("{canary:?} was not caught in 6 seeds"))
}

/// Caught by a violation.
fn caught(canary: Canary) -> u64 {
    caught_by(canary, violations)
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

#[test]
fn canary_reuse_lver_is_caught() {
    assert!(caught_by(Canary::ReuseLver, |r| r.lver_regressions) > 0);
}

#[test]
fn canary_twin_same_name_is_caught() {
    assert!(caught(Canary::TwinSameName) > 0);
}

#[test]
fn canary_fence_early_is_caught() {
    assert!(caught_by(Canary::FenceEarly, |r| r.needless_fences) > 0);
}

/// Canaries whose bug needs a rare interleaving are checked at seeds
/// known to meet it (found by `lease-sim --seeds 128 --attempts 5000
/// --mutant ...`; a change to what a run draws moves them): the same seed
/// without the canary must find nothing.
fn caught_at(canary: Canary, seeds: &[u64]) {
    for &seed in seeds {
        let clean = sim::run(&config(seed, 5_000));
        assert_eq!(violations(&clean), 0, "seed {seed}: {:?}", clean.first_violation);
        let broken = sim::run(&SimConfig { canary, ..config(seed, 5_000) });
        assert!(violations(&broken) > 0, "{canary:?} was not caught at seed {seed}");
    }
}

#[test]
fn canary_monotonic_clock_is_caught() {
    caught_at(Canary::MonotonicClock, &[78]);
}

#[test]
fn canary_late_withdrawal_is_caught() {
    caught_at(Canary::LateWithdrawal, &[25, 51]);
}

#[test]
fn canary_leave_unsettled_is_caught() {
    caught_at(Canary::LeaveUnsettled, &[61]);
}

#[test]
fn canary_convert_drops_shared_is_caught() {
    assert!(caught(Canary::ConvertDropsShared) > 0);
}

#[test]
fn several_clients_of_a_host_contend_holders_convert_and_requests_stop_them() {
    let report = sim::run(&config(5, 5_000));
    let busy = report.refusals.get("busy on this host").copied().unwrap_or(0);
    assert!(busy > 0, "the host's lease table refused a second client: {report:?}");
    assert!(report.conversions > 100, "{report:?}");
    assert!(report.faults.leaves > 0, "hosts left the lockspace and joined again: {report:?}");
    assert!(report.requested_releases > 0, "requests stopped holders: {report:?}");
    assert!(report.refusals.get("lver_mismatch").is_some_and(|n| *n > 0), "{report:?}");
    let converted_failed: u64 =
        report.refusals.iter().filter(|(k, _)| k.starts_with("convert: ")).map(|(_, n)| n).sum();
    assert!(converted_failed < report.conversions, "most conversions succeed");
    assert_eq!(violations(&report), 0, "{:?}", report.first_violation);
}

#[test]
fn damaged_records_are_reported_only_where_a_crash_tore_them() {
    // Every corrupt report is checked against the sectors crashes tore: an
    // unexplained one is a violation. Some tears must have happened: a
    // crash must catch a write inside the device, which a run of this
    // length meets about one seed in three.
    let mut torn = 0;
    for seed in 1..=24 {
        let r = sim::run(&config(seed, 6_000));
        assert_eq!(violations(&r), 0, "seed {seed}: {:?}", r.first_violation);
        torn += r.faults.crash_torn_writes;
        if seed >= 6 && torn > 0 {
            break;
        }
    }
    assert!(torn > 0, "no write was torn by a crash");
}

#[test]
fn a_4k_8m_geometry_runs_clean() {
    let geometries = lease::sim::Geometries::B4096M8;
    let report = sim::run(&SimConfig { geometries, ..config(11, 3_000) });
    assert_eq!(report.sector_size, 4096);
    assert_eq!(violations(&report), 0, "{:?}", report.first_violation);
    assert!(report.liveness.starved.is_empty(), "{:?}", report.liveness.starved);
}
