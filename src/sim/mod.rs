//! The deterministic simulator: many hosts, one simulated disk, virtual time.
//!
//! Every host runs the real delta and Paxos state machines, the daemon's
//! lease table and its rules ([`crate::lease_table`]: several clients per
//! host, withdrawals, retried releases, conversions, leaves), requests (an
//! owner asked through the request record and the host bitmap stops its
//! holder), acquires at an expected lver, the renewal schedule and the real
//! watchdog multiplexer; only the disk, the clock and
//! the watchdog device are simulated. A run is fixed by its seed: the same
//! seed replays the same run, event for event.
//!
//! **Faults** (during the fault phase), all from the one simulated-disk
//! fault model of [`crate::disk::SimDisk`] plus the hosts':
//! - I/O: latency with a slow tail beyond the io_timeout, read and write
//!   errors, writes that time out and never land or land late, torn
//!   multi-unit writes, reads that sample their sectors at different moments
//!   while other hosts' writes land in between;
//! - crashes (a reset: processes gone; each write in the device lands whole,
//!   not at all, or torn where the run's device allows: between 512-byte
//!   units, or at any byte on a device that promises nothing, which damages
//!   the record, see `disk/sim.rs`); a record reported corrupt must be one a
//!   crash tore, and a want it blocks is reported, not starved;
//! - pauses shorter or longer than a lease (the clock runs on), and
//!   suspensions of the whole host (CLOCK_BOOTTIME, which hosts read, runs
//!   on through them, as CLOCK_MONOTONIC would not: the `monotonic-clock`
//!   canary; the watchdog device counts real time, so a suspension longer
//!   than the fire timeout after the last keepalive ends in a reset);
//! - storage outages of one host, whose I/O all times out while it runs on
//!   (its lease expires, its holders are killed, a quarter of the kills
//!   fail);
//! - the watchdog: a host whose multiplexer stops petting is reset by its
//!   device F after the last pet;
//! - leaves: a host leaves the lockspace as `rem-lockspace --force` or a
//!   shutdown does (the daemon's lease table closes it, its holders are
//!   stopped once acquires under way have ended, their leases and then
//!   the host_id are released) and joins again;
//! - configuration: hosts of one lockspace with different io_timeouts (as
//!   sanlock allows per host), a second machine configured with another's
//!   host_id (the join must refuse one of them, or one lose its lease before
//!   both act; the operator retires it before the liveness phase), and two
//!   hosts sharing one host name.
//!
//! **Oracle** ([`oracle::Oracle`]): mutual exclusion, the lease version as
//! a fencing token, and no needless fencing.
//!
//! **Liveness phase**: after the faults stop, every client wants one
//! resource; each must get it within a bound, unless a record it needs was
//! damaged by a torn write.
//!
//! **Canaries**: [`Canary`]s break the algorithm or its configuration on
//! purpose; the oracle must catch each.

mod host;
mod io;
pub mod oracle;
mod world;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::lease_table::TableMutation;
use crate::paxos::Mutation;

/// A deliberately broken variant the oracle must catch (`lease-sim
/// --mutant`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Canary {
    #[default]
    None,
    /// Take a lease over without waiting for its owner to be dead.
    NoDeadWait,
    /// Commit right after ballot phase 1.
    SkipPhase2,
    /// The watchdog multiplexer keeps petting after a lease expired.
    KeepPetting,
    /// A commit keeps the lease version it found instead of the next one.
    ReuseLver,
    /// A machine configured with another's host_id also carries its host
    /// name, and joins take back any sector under their name whatever its
    /// generation: the duplicate goes undetected.
    TwinSameName,
    /// A host gives its lease up (and kills its holders) after 4N, not 8N.
    FenceEarly,
    /// Hosts read `CLOCK_MONOTONIC`, which stands still while the host is
    /// suspended, instead of `CLOCK_BOOTTIME`.
    MonotonicClock,
    /// The lease table frees a failed acquire's slot at once and withdraws
    /// what its ballot left later, beside the host's next acquire of the
    /// resource.
    LateWithdrawal,
    /// A shared lease converted to exclusive drops its SHARED mode block
    /// with the ballot's first write: a failed conversion leaves the holder
    /// holding SH while the disk says it holds nothing.
    ConvertDropsShared,
    /// Leaving a lockspace lists the holders to stop without waiting for
    /// the acquires under way, which hand their leases out after the host_id
    /// is released.
    LeaveUnsettled,
}

impl Canary {
    /// The broken lease algorithm this canary runs, if any.
    pub fn mutation(self) -> Mutation {
        match self {
            Canary::NoDeadWait => Mutation::NoDeadWait,
            Canary::SkipPhase2 => Mutation::SkipPhase2,
            Canary::ReuseLver => Mutation::ReuseLver,
            Canary::ConvertDropsShared => Mutation::ConvertDropsShared,
            Canary::LateWithdrawal
            | Canary::LeaveUnsettled
            | Canary::None
            | Canary::KeepPetting
            | Canary::TwinSameName
            | Canary::FenceEarly
            | Canary::MonotonicClock => Mutation::None,
        }
    }

    /// The broken lease-table policy this canary runs, if any.
    pub fn table_mutation(self) -> TableMutation {
        match self {
            Canary::LateWithdrawal => TableMutation::LateWithdrawal,
            Canary::LeaveUnsettled => TableMutation::LeaveUnsettled,
            _ => TableMutation::None,
        }
    }
}

/// Which disk geometries a run may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Geometries {
    /// Drawn per seed: 512/1M, 4096/1M or 4096/8M.
    #[default]
    Mixed,
    B512,
    B4096,
    /// 4096-byte sectors with sanlock's 8M alignment.
    B4096M8,
}

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub hosts: u64,
    pub resources: u64,
    /// Acquire attempts before faults stop and the liveness phase begins.
    pub attempts: u64,
    /// Concurrent clients on each host.
    pub clients_per_host: usize,
    /// Inject faults during the first phase.
    pub faults: bool,
    /// Every second renewal write of each host is slow: it times out and
    /// lands within one io_timeout after its deadline.
    pub slow_renewal_writes: bool,
    /// Among the faults, suspensions with the monotonic clock stopped.
    pub suspensions: bool,
    pub canary: Canary,
    pub geometries: Geometries,
}

impl SimConfig {
    /// A run of `attempts` acquire attempts over 8 hosts and 32 resources
    /// with every fault on.
    pub fn new(seed: u64, attempts: u64) -> SimConfig {
        SimConfig {
            seed,
            hosts: 8,
            resources: 32,
            attempts,
            clients_per_host: 2,
            faults: true,
            slow_renewal_writes: false,
            suspensions: true,
            canary: Canary::None,
            geometries: Geometries::Mixed,
        }
    }
}

/// Counts of injected faults.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FaultCounts {
    pub crashes: u64,
    pub pauses: u64,
    /// Pauses with the monotonic clock stopped.
    pub suspensions: u64,
    /// Periods in which one host's I/O all timed out.
    pub outages: u64,
    pub watchdog_resets: u64,
    pub recoveries: u64,
    pub kills_failed: u64,
    pub read_errors: u64,
    pub write_errors: u64,
    pub torn_writes: u64,
    pub lost_writes: u64,
    pub late_writes: u64,
    pub slow_ios: u64,
    pub torn_reads: u64,
    /// Writes a crash cut short mid-write.
    pub crash_torn_writes: u64,
    /// Errors naming a record a crash had torn.
    pub corrupt_reports: u64,
    /// Joins refused because another host wrote the host_id sector.
    pub joins_refused: u64,
    /// Renewals that found another host had taken the host_id.
    pub leases_lost: u64,
    pub writes_refused_in_flight: u64,
    /// Lockspaces left (as `rem-lockspace --force` does) and rejoined.
    pub leaves: u64,
    /// Releases and withdrawals given up after failing in ways that leave
    /// nothing in flight: their resource stays refused on that host until
    /// its host_id lease ends.
    pub let_go_given_up: u64,
}

/// The liveness phase's outcome.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Liveness {
    pub wants: u64,
    pub granted: u64,
    /// Wants not granted within the bound, each described.
    pub starved: Vec<String>,
    /// Wants a record damaged by a torn write made impossible.
    pub blocked_by_damage: u64,
    /// Wants refused on their host because a release of the resource there
    /// was given up (a device error three times in a row): the resource
    /// stays refused on that host until its host_id lease ends.
    pub blocked_by_abandoned: u64,
    pub seconds: f64,
}

/// One run's result, printed as one JSON line.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SimReport {
    pub seed: u64,
    pub canary: String,
    pub hosts: u64,
    pub resources: u64,
    pub io_timeout_s: u64,
    /// Each machine's io_timeout, when they differ.
    pub host_io_timeouts_s: Vec<u64>,
    /// The machine configured with another's host_id, if any.
    pub twin_of_host_id: Option<u64>,
    /// Two hosts configured with one host name, if so: their host_ids.
    pub shared_name: Option<(u64, u64)>,
    /// The device's crash tears fall at any byte (else between 512-byte
    /// units).
    pub torn_at_any_byte: bool,
    pub watchdog_fire_s: u64,
    pub sector_size: u32,
    pub steps: u64,
    pub virtual_seconds: f64,
    pub attempts: u64,
    pub acquisitions: u64,
    /// Conversions between EX and SH started.
    pub conversions: u64,
    /// Requests written against a resource a live owner refused.
    pub requests: u64,
    /// Holders stopped (and their leases released) for a request.
    pub requested_releases: u64,
    pub joins: u64,
    pub renewals: u64,
    /// Failed acquires by reason.
    pub refusals: BTreeMap<String, u64>,
    /// Leases taken from another host, by why that was allowed.
    pub takeovers: BTreeMap<String, u64>,
    pub faults: FaultCounts,
    pub violations: u64,
    pub lver_regressions: u64,
    pub needless_fences: u64,
    pub first_violation: Option<String>,
    /// The step (event count) at which the first violation was seen.
    pub first_violation_step: Option<u64>,
    pub liveness: Liveness,
}

impl SimReport {
    /// Whether the run found nothing wrong.
    pub fn passed(&self) -> bool {
        self.violations == 0 && self.liveness.starved.is_empty()
    }
}

/// Runs one simulation to the end.
pub fn run(config: &SimConfig) -> SimReport {
    world::World::new(config).run()
}
