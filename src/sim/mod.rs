//! The deterministic simulator: many hosts, one simulated disk, virtual time.
//!
//! Every host runs the real delta and Paxos state machines and the real
//! watchdog multiplexer; only the disk, the clock and the watchdog device
//! are simulated. A run is fixed by its seed: the same seed replays the same
//! run, event for event.
//!
//! **Faults** (during the fault phase):
//! - I/O: latency with a slow tail beyond the io_timeout, read and write
//!   errors, writes that time out and never land or land late, torn
//!   multi-sector writes (sector writes themselves are atomic, as Disk Paxos
//!   and every real device assume), reads that sample their sectors at
//!   different moments while other hosts' writes land in between;
//! - hosts: crashes (a reset: processes gone, in-flight writes land at once
//!   or never), pauses shorter or longer than their lease, after which they
//!   resume where they stopped, and storage outages of one host, whose I/O
//!   all times out while it runs on (its lease expires, its holders are
//!   killed, a quarter of the kills fail);
//! - the watchdog: a host whose multiplexer stops petting is reset by its
//!   device F after the last pet; a paused host pets nothing.
//!
//! **Oracle** ([`oracle::Oracle`]): at every acquisition, no two live hosts
//! use one resource unless both hold it shared. A host uses a resource from
//! its acquire's success until it starts releasing, its holder is killed by
//! lease recovery, or it is reset.
//!
//! **Liveness phase**: after the faults stop, every client wants one
//! resource; each must get it within a bound.
//!
//! **Canaries**: [`Mutation`]s break the algorithm on purpose; the oracle
//! must catch them.

mod host;
mod io;
pub mod oracle;
mod world;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::paxos::Mutation;

/// A deliberately broken variant the oracle must catch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Canary {
    #[default]
    None,
    /// Take a lease over without waiting for its owner to be dead.
    NoDeadWait,
    /// Commit right after ballot phase 1.
    SkipPhase2,
    /// The watchdog multiplexer keeps petting after a lease expired.
    KeepPetting,
}

impl Canary {
    /// The broken lease algorithm this canary runs, if any.
    pub fn mutation(self) -> Mutation {
        match self {
            Canary::NoDeadWait => Mutation::NoDeadWait,
            Canary::SkipPhase2 => Mutation::SkipPhase2,
            Canary::None | Canary::KeepPetting => Mutation::None,
        }
    }
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
    pub canary: Canary,
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
            canary: Canary::None,
        }
    }
}

/// Counts of injected faults.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FaultCounts {
    pub crashes: u64,
    pub pauses: u64,
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
    pub writes_refused_in_flight: u64,
}

/// The liveness phase's outcome.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Liveness {
    pub wants: u64,
    pub granted: u64,
    /// Wants not granted within the bound, each described.
    pub starved: Vec<String>,
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
    pub watchdog_fire_s: u64,
    pub sector_size: u32,
    pub steps: u64,
    pub virtual_seconds: f64,
    pub attempts: u64,
    pub acquisitions: u64,
    pub joins: u64,
    pub renewals: u64,
    /// Failed acquires by reason.
    pub refusals: BTreeMap<String, u64>,
    /// Leases taken from another host, by why that was allowed.
    pub takeovers: BTreeMap<String, u64>,
    pub faults: FaultCounts,
    pub violations: u64,
    pub first_violation: Option<String>,
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
