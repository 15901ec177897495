//! `lease-sim`: runs the deterministic simulator over many seeds in
//! parallel and prints one JSON line per run, then a summary line.
//!
//! ```text
//! lease-sim --seeds 16 --attempts 70000            # 16 runs, ~1.1M acquire attempts
//! lease-sim --seed 42                               # replay one run exactly
//! lease-sim --mutant no-dead-wait --expect-violations
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::{Parser, ValueEnum};
use lease::sim::{self, Canary, Geometries, SimConfig, SimReport};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum GeometryArg {
    /// Drawn per seed among the others
    Mixed,
    #[value(name = "512")]
    B512,
    #[value(name = "4096")]
    B4096,
    /// 4096-byte sectors, 8M alignment
    #[value(name = "4096-8m")]
    B4096M8,
}

/// Deterministic simulation of many hosts sharing one disk.
#[derive(Debug, Parser)]
#[command(name = "lease-sim", version)]
struct Args {
    /// First seed; each run's seed replays it exactly
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of runs, with seeds seed, seed+1, ...
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Acquire attempts per run before the faults stop
    #[arg(long, default_value_t = 20_000)]
    attempts: u64,
    #[arg(long, default_value_t = 8)]
    hosts: u64,
    #[arg(long, default_value_t = 32)]
    resources: u64,
    /// Concurrent clients per host
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Run without faults
    #[arg(long)]
    no_faults: bool,
    /// Make every second renewal write of each host time out and land late
    #[arg(long)]
    slow_renewal_writes: bool,
    /// Leave suspensions (a stopped monotonic clock) out of the faults
    #[arg(long)]
    no_suspend: bool,
    /// Sector size and alignment of the simulated disk
    #[arg(long, value_enum, default_value_t = GeometryArg::Mixed)]
    geometry: GeometryArg,
    /// A deliberately broken algorithm the oracle must catch
    #[arg(long, value_enum, default_value_t = Canary::None)]
    mutant: Canary,
    /// Succeed only if violations are found (for mutants)
    #[arg(long)]
    expect_violations: bool,
    /// Worker threads [default: all cores]
    #[arg(long)]
    threads: Option<usize>,
}

#[allow(clippy::disallowed_methods)] // wall-clock time of the whole tool
fn main() -> ExitCode {
    let args = Args::parse();
    let started = std::time::Instant::now();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let next = AtomicU64::new(0);
    let reports = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if index >= args.seeds {
                        return;
                    }
                    let report = sim::run(&config(&args, args.seed + index));
                    print_line(&serde_json::to_string(&report).expect("reports serialize"));
                    reports.lock().expect("reports lock").push(report);
                }
            });
        }
    });
    let reports: Vec<SimReport> = reports.into_inner().expect("reports lock");
    let violations: u64 = reports.iter().map(|r| r.violations).sum();
    let starved: usize = reports.iter().map(|r| r.liveness.starved.len()).sum();
    let summary = serde_json::json!({
        "summary": true,
        "runs": reports.len(),
        "hosts": args.hosts,
        "resources": args.resources,
        "mutant": format!("{:?}", args.mutant),
        "attempts": reports.iter().map(|r| r.attempts).sum::<u64>(),
        "acquisitions": reports.iter().map(|r| r.acquisitions).sum::<u64>(),
        "steps": reports.iter().map(|r| r.steps).sum::<u64>(),
        "virtual_seconds": reports.iter().map(|r| r.virtual_seconds).sum::<f64>(),
        "violations": violations,
        "lver_regressions": reports.iter().map(|r| r.lver_regressions).sum::<u64>(),
        "needless_fences": reports.iter().map(|r| r.needless_fences).sum::<u64>(),
        "blocked_by_damage": reports.iter().map(|r| r.liveness.blocked_by_damage).sum::<u64>(),
        "blocked_by_abandoned": reports.iter().map(|r| r.liveness.blocked_by_abandoned).sum::<u64>(),
        "crash_torn_writes": reports.iter().map(|r| r.faults.crash_torn_writes).sum::<u64>(),
        "corrupt_reports": reports.iter().map(|r| r.faults.corrupt_reports).sum::<u64>(),
        "starved": starved,
        "first_violation": reports.iter().find_map(|r| r.first_violation.clone()),
        "wall_seconds": started.elapsed().as_secs_f64(),
        "threads": threads,
    });
    print_line(&summary.to_string());
    let passed =
        if args.expect_violations { violations > 0 } else { violations == 0 && starved == 0 };
    if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Prints one line; a closed stdout (`lease-sim | head`) is not an error.
fn print_line(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn config(args: &Args, seed: u64) -> SimConfig {
    SimConfig {
        seed,
        hosts: args.hosts,
        resources: args.resources,
        attempts: args.attempts,
        clients_per_host: args.clients,
        faults: !args.no_faults,
        slow_renewal_writes: args.slow_renewal_writes,
        suspensions: !args.no_suspend,
        canary: args.mutant,
        geometries: match args.geometry {
            GeometryArg::Mixed => Geometries::Mixed,
            GeometryArg::B512 => Geometries::B512,
            GeometryArg::B4096 => Geometries::B4096,
            GeometryArg::B4096M8 => Geometries::B4096M8,
        },
    }
}
