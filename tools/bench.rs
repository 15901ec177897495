//! `lease-bench`: what one `leased` costs. Starts a daemon on a scratch
//! lease file, has it hold many leases at once and measures its memory,
//! then measures requests per second on its socket and lease operations
//! per second on the disk. Prints what it measures as it goes, then one
//! JSON line.
//!
//! ```text
//! lease-bench                          # 10,000 leases (a 10 GiB sparse lease file)
//! lease-bench --leases 1000 --clients 8 --seconds 10
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::{Parser, Subcommand};
use lease::client::local_daemon::{LocalDaemon, start_holder, start_own};
use lease::client::{AcquireOptions, Client};
use lease::clock::{Clock, MonoTime, OsClock};
use lease::direct::{self, InitOptions};
use lease::disk::{Access, DirectFile};
use lease::ondisk::name::Name;
use serde_json::json;

const AREA: u64 = 1 << 20;
const LOCKSPACE: &str = "bench";

/// Measure one leased: memory at many leases, socket and disk throughput.
#[derive(Debug, Parser)]
#[command(name = "lease-bench", version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    daemon: Option<Daemon>,
    /// Leases to hold at once (one 1 MiB resource area each)
    #[arg(long, default_value_t = 10_000)]
    leases: u64,
    /// num_hosts of each resource: sectors read per Paxos pass
    #[arg(long, default_value_t = 8)]
    num_hosts: u64,
    /// Concurrent client connections
    #[arg(long, default_value_t = 4)]
    clients: u64,
    /// Seconds each throughput measurement runs
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Times to acquire and release every lease; RSS after each round
    /// shows whether memory levels off
    #[arg(long, default_value_t = 3)]
    rounds: u64,
    /// Directory for the scratch lease file [default: /var/tmp]
    #[arg(long, value_name = "DIR", default_value = "/var/tmp")]
    dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Daemon {
    /// Run the daemon (the benchmark starts itself this way, so it measures
    /// the daemon of its own build)
    #[command(hide = true)]
    Leased(lease::daemon::LeasedArgs),
}

/// Leases a client process may hold and resources one request may carry:
/// leased's defaults.
const LEASES_PER_PROCESS: u64 = 4096;
const RESOURCES_PER_REQUEST: u64 = 64;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Daemon::Leased(daemon)) = &args.daemon {
        return lease::daemon::main(daemon);
    }
    match bench(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lease-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn bench(args: &Args) -> Result<()> {
    if args.leases == 0 || args.clients == 0 || args.seconds == 0 || args.rounds == 0 {
        return Err("--leases, --clients, --seconds and --rounds must be positive".into());
    }
    let scratch = tempfile::Builder::new().prefix("lease-bench-").tempdir_in(&args.dir)?;
    let path = scratch.path().join("leases.img");
    let started = OsClock.now();
    lease_file(&path, args)?;
    say(&format!(
        "lease file {}: {} resources of num_hosts {}, written in {:.1} s",
        path.display(),
        args.leases,
        args.num_hosts,
        seconds_since(started)
    ));

    let daemon = start_own(scratch.path(), "bench", &[])?;
    let started = OsClock.now();
    daemon.client()?.add_lockspace(&format!("{LOCKSPACE}:1:{}:0", path.display()), None, true)?;
    say(&format!("joined lockspace '{LOCKSPACE}' as host_id 1 in {:.1} s", seconds_since(started)));
    let idle = daemon.memory_kib()?;
    say(&format!("leased memory, joined, no leases: RSS {} KiB", idle.0));

    let mut holders = Holders::start(args.leases.div_ceil(LEASES_PER_PROCESS))?;
    let started = OsClock.now();
    acquire_all(&daemon, &path, args, &holders.pids())?;
    let acquire_s = seconds_since(started);
    // Measured before any reply lists every lease.
    let holding = daemon.memory_kib()?;
    let started = OsClock.now();
    let status = daemon.client()?.status()?;
    let status_ms = seconds_since(started) * 1e3;
    let status_bytes = serde_json::to_vec(&status)?.len();
    let held = status.leases.len() as u64;
    if held != args.leases {
        return Err(format!("leased holds {held} leases, not {}", args.leases).into());
    }
    say(&format!(
        "acquired {held} leases in {acquire_s:.1} s ({:.0} leases/s, {} clients, {} per request)",
        held as f64 / acquire_s,
        args.clients,
        RESOURCES_PER_REQUEST
    ));
    say(&format!(
        "leased memory holding {held} leases: RSS {} KiB, peak {} KiB ({:.0} bytes per lease over idle)",
        holding.0,
        holding.1,
        (holding.0.saturating_sub(idle.0) * 1024) as f64 / held as f64
    ));
    let after_status = daemon.memory_kib()?;
    say(&format!(
        "status at {held} leases: {status_ms:.1} ms, {} KiB of reply; RSS after it {} KiB",
        status_bytes / 1024,
        after_status.0
    ));

    let window = Duration::from_secs(args.seconds);
    let version_rate = rate(&daemon, args.clients, window, |client, _| client.version().map(drop))?;
    say(&format!("version requests: {version_rate:.0}/s over {} connections", args.clients));
    let hosts_rate =
        rate(&daemon, args.clients, window, |client, _| client.hosts(LOCKSPACE).map(drop))?;
    say(&format!("hosts requests: {hosts_rate:.0}/s over {} connections", args.clients));

    let started = OsClock.now();
    holders.end();
    wait_until_released(&daemon)?;
    let release_s = seconds_since(started);
    let released = daemon.memory_kib()?;
    say(&format!(
        "holders exited: leased released {held} leases in {release_s:.1} s ({:.0} leases/s); RSS {} KiB",
        held as f64 / release_s,
        released.0
    ));

    // Lease operations on the disk: each connection acquires and releases
    // a resource of its own for a process of its own, over and over.
    let cyclers = Holders::start(args.clients)?;
    let pids = cyclers.pids();
    let cycle_rate = rate(&daemon, args.clients, window, |client, index| {
        let spec = resource_spec(&path, index as u64);
        let pid = Some(pids[index]);
        client.acquire(&[&spec], AcquireOptions { pid, ..AcquireOptions::default() })?;
        client.release(&[&spec], pid, false, false).map(drop)
    })?;
    say(&format!(
        "acquire + release pairs: {cycle_rate:.0}/s over {} connections (one resource each)",
        args.clients
    ));
    drop(cyclers);

    // Everything again: memory freed by one round is reused by the next,
    // so RSS must level off (steady growth would be a leak).
    let mut rounds = Vec::new();
    for round in 2..=args.rounds {
        let mut holders = Holders::start(args.leases.div_ceil(LEASES_PER_PROCESS))?;
        acquire_all(&daemon, &path, args, &holders.pids())?;
        let holding = daemon.memory_kib()?.0;
        holders.end();
        wait_until_released(&daemon)?;
        let released = daemon.memory_kib()?.0;
        say(&format!(
            "round {round}: RSS {holding} KiB holding {held} leases, {released} KiB after releasing them"
        ));
        rounds.push(json!({"holding_kib": holding, "released_kib": released}));
    }

    let mut daemon = daemon;
    let status = daemon.stop(Duration::from_secs(30))?;
    let summary = json!({
        "leases": held,
        "num_hosts": args.num_hosts,
        "clients": args.clients,
        "rss_idle_kib": idle.0,
        "rss_holding_kib": holding.0,
        "rss_peak_kib": holding.1,
        "rss_after_status_kib": after_status.0,
        "status_ms": status_ms,
        "rss_after_release_kib": released.0,
        "later_rounds": rounds,
        "acquire_leases_per_s": held as f64 / acquire_s,
        "release_on_exit_leases_per_s": held as f64 / release_s,
        "status_reply_bytes": status_bytes,
        "version_requests_per_s": version_rate,
        "hosts_requests_per_s": hosts_rate,
        "acquire_release_pairs_per_s": cycle_rate,
        "daemon_exit": status.code(),
    });
    println!("{summary}");
    Ok(())
}

/// Writes the lockspace at 0 and `leases` resources after it, on two
/// threads: 1 MiB per area is most of the time.
fn lease_file(path: &Path, args: &Args) -> Result<()> {
    let file = std::fs::File::create(path)?;
    file.set_len((args.leases + 1) * AREA)?;
    drop(file);
    let disk = DirectFile::open(path, Access::ReadWrite)?;
    let name = |text: &str| Name::new(text).map_err(|err| err.to_string());
    direct::init_lockspace(&disk, &OsClock, 0, name(LOCKSPACE)?, 10, InitOptions::default())?;
    let next = AtomicU64::new(0);
    on_threads(2, |_| {
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index >= args.leases {
                return Ok(());
            }
            direct::init_resource(
                &disk,
                &OsClock,
                (index + 1) * AREA,
                name(LOCKSPACE)?,
                name(&format!("r{index}"))?,
                Some(args.num_hosts),
                InitOptions::default(),
            )?;
        }
    })
}

fn resource_spec(path: &Path, index: u64) -> String {
    format!("{LOCKSPACE}:r{index}:{}:{}", path.display(), (index + 1) * AREA)
}

/// Acquires every resource, in requests of [`RESOURCES_PER_REQUEST`], each
/// lease for one of `pids`, over `args.clients` connections.
fn acquire_all(daemon: &LocalDaemon, path: &Path, args: &Args, pids: &[u32]) -> Result<()> {
    let batches = args.leases.div_ceil(RESOURCES_PER_REQUEST);
    let next = AtomicU64::new(0);
    on_threads(args.clients, |_| {
        let mut client = daemon.client()?;
        loop {
            let batch = next.fetch_add(1, Ordering::Relaxed);
            if batch >= batches {
                return Ok(());
            }
            let first = batch * RESOURCES_PER_REQUEST;
            let last = (first + RESOURCES_PER_REQUEST).min(args.leases);
            let specs: Vec<String> = (first..last).map(|i| resource_spec(path, i)).collect();
            let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
            // Batches never straddle two processes: 4096 is a multiple of 64.
            let pid = pids[usize::try_from(first / LEASES_PER_PROCESS)?];
            client
                .acquire(&specs, AcquireOptions { pid: Some(pid), ..AcquireOptions::default() })?;
        }
    })
}

/// Calls `request` over `clients` connections for `window`; the calls
/// completed per second. Each connection gets its index.
fn rate<F>(daemon: &LocalDaemon, clients: u64, window: Duration, request: F) -> Result<f64>
where
    F: Fn(&mut Client, usize) -> std::result::Result<(), lease::client::ClientError> + Sync,
{
    let done = AtomicU64::new(0);
    let started = OsClock.now();
    let end = started + window;
    on_threads(clients, |index| {
        let mut client = daemon.client()?;
        while OsClock.now() < end {
            request(&mut client, usize::try_from(index)?)?;
            done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    })?;
    Ok(done.into_inner() as f64 / seconds_since(started))
}

/// Runs `work(index)` for every index below `count`, each on a thread of
/// its own, all at once; the first error, if any.
fn on_threads(count: u64, work: impl Fn(u64) -> Result<()> + Sync) -> Result<()> {
    std::thread::scope(|scope| {
        let work = &work;
        let workers: Vec<_> = (0..count).map(|index| scope.spawn(move || work(index))).collect();
        workers.into_iter().try_for_each(|w| w.join().expect("a worker thread panicked"))
    })
}

/// Waits until leased holds no lease and has no release under way.
fn wait_until_released(daemon: &LocalDaemon) -> Result<()> {
    let mut client = daemon.client()?;
    let deadline = OsClock.now() + Duration::from_secs(600);
    loop {
        let status = client.status()?;
        if status.leases.is_empty() && status.busy == 0 {
            return Ok(());
        }
        if OsClock.now() > deadline {
            return Err("leases were not released after their holders exited".into());
        }
        OsClock.sleep_until(OsClock.now() + Duration::from_millis(10));
    }
}

/// Processes that hold leases, ended together.
struct Holders {
    children: Vec<Child>,
}

impl Holders {
    fn start(count: u64) -> Result<Holders> {
        let mut children = Vec::new();
        for _ in 0..count {
            children.push(start_holder()?);
        }
        Ok(Holders { children })
    }

    fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    fn end(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for Holders {
    fn drop(&mut self) {
        self.end();
    }
}

fn seconds_since(start: MonoTime) -> f64 {
    OsClock.now().saturating_since(start).as_secs_f64()
}

fn say(line: &str) {
    eprintln!("lease-bench: {line}");
}
