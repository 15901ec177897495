//! `lease-torture`: many real processes fight over a few resources through
//! several real `leased` daemons on one lease file, under chaos, and the
//! run is judged by what the lease holders saw on a separate witness file.
//!
//! ```text
//! lease-torture                                  # 60 s, 3 hosts x 4 clients, 4 resources, chaos
//! lease-torture --duration 30 --resources 16 --seed 7
//! lease-torture --no-chaos --hosts 4 --clients-per-host 6
//! ```
//!
//! The parent writes a lease file (a lockspace with io_timeout 1 s and
//! `--resources` resources) and a witness file (one 4 KiB block per
//! resource) in a scratch directory on a disk-backed filesystem, starts
//! `--hosts` daemons (this binary's hidden `leased` command, each with its
//! own run directory and the test watchdog device `file:PATH`, fire timeout
//! [`FIRE_S`]) that join with host_ids 1..=N, and runs `--clients-per-host`
//! client processes per host (this binary's hidden `client` command, see
//! `torture/client.rs`). It restarts clients that die while their host is up.
//!
//! Chaos (off with `--no-chaos`), one action every 1–3 s: SIGKILL of a
//! client; SIGKILL of a daemon with its clients (the host is restarted when
//! its watchdog would have reset it); SIGSTOP of a daemon for 0.5–6 s, then
//! SIGCONT; `rem-lockspace --force` and a re-join on a host; converts
//! EX→SH→EX (by the clients, one hold in eight); and stalled writes in every
//! daemon (the disk layer's test hook, `LEASED_TEST_FAULTS`: a write held
//! `--stall-ms` before it is issued, with probability `--stall-permille`).
//! Whenever a host's test watchdog log shows a keepalive gap longer than the
//! fire timeout (a stopped or hung daemon), the host counts as reset from
//! that moment: its clients stop touching the witness (they check the log
//! before each write and re-read), its daemon and clients are SIGKILLed at
//! the parent's next poll tick, and it is restarted. Other hosts may only
//! take its leases 8·io_timeout + fire timeout after its last renewal.
//!
//! At the end the clients' logs are judged (rules in `torture/check.rs`:
//! overlaps, lver regressions, takeover latency) and one JSON line is
//! printed; the exit status is 1 on any overlap or regression, 2 if the
//! harness itself failed. The scratch directory (daemon logs, client logs)
//! is kept on failure or with `--keep`.

#[path = "torture/check.rs"]
mod check;
#[path = "torture/client.rs"]
mod client;
#[path = "torture/record.rs"]
mod record;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Duration;

use clap::{Parser, Subcommand};
use lease::client::local_daemon::{LocalDaemon, start_own, tie_to_this_process};
use lease::clock::{Clock, MonoTime, OsClock};
use lease::direct::{self, InitOptions};
use lease::disk::direct::{TEST_FAULTS_ENV, on_memory_filesystem};
use lease::disk::{Access, DirectFile};
use lease::ondisk::name::Name;
use lease::rng::Rng;
use lease::watchdog::PetLog;
use nix::sys::signal::Signal;
use serde_json::json;

use check::{ClientRun, Hold, Tally};
use record::{Event, WITNESS_BLOCK};

const LOCKSPACE: &str = "torture";
const IO_TIMEOUT_S: u8 = 1;
/// The test watchdog's fire timeout, and a kill grace that lets leased's
/// own fencing finish before it.
const FIRE_S: u64 = 4;
const KILL_GRACE_S: u64 = 1;
/// With chaos, one hold in this many converts EX→SH→EX.
const CONVERT_ONE_IN: u64 = 8;
const AREA: u64 = 1 << 20;
/// How often the parent looks at its processes and the pet logs.
const TICK: Duration = Duration::from_millis(10);
/// Longer than any join or shutdown should take.
const LIMIT: Duration = Duration::from_secs(60);

/// Real-process torture test of leased: overlaps and lver regressions.
#[derive(Debug, Parser)]
#[command(name = "lease-torture", version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    role: Option<Role>,
    /// Seconds the clients run
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Resources the clients fight over
    #[arg(long, default_value_t = 4)]
    resources: usize,
    #[arg(long, default_value_t = 3)]
    hosts: usize,
    #[arg(long, default_value_t = 4)]
    clients_per_host: usize,
    /// Seed of the chaos and the clients' choices [default: from the clock]
    #[arg(long)]
    seed: Option<u64>,
    /// No kills, stops, lockspace removals or stalled writes
    #[arg(long)]
    no_chaos: bool,
    /// Chance, per thousand, that a daemon's write stalls (with chaos)
    #[arg(long, default_value_t = 5)]
    stall_permille: u64,
    /// How long a stalled write is held before it is issued
    #[arg(long, default_value_t = 1500)]
    stall_ms: u64,
    /// Directory for the scratch directory [default: $TMPDIR, or /var/tmp if that is tmpfs]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the scratch directory even when the run passes
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Run a daemon, with the disk layer's test faults if asked
    #[command(hide = true)]
    Leased {
        #[arg(long)]
        test_faults: Option<String>,
        #[command(flatten)]
        daemon: lease::daemon::LeasedArgs,
    },
    /// Run one client
    #[command(hide = true)]
    Client(client::ClientArgs),
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> ExitCode {
    let args = Args::parse();
    match &args.role {
        Some(Role::Leased { test_faults, daemon }) => {
            if let Some(spec) = test_faults {
                // SAFETY: nothing else runs yet: no thread has been started
                // that could read the environment concurrently.
                unsafe { std::env::set_var(TEST_FAULTS_ENV, spec) };
            }
            lease::daemon::main(daemon)
        }
        Some(Role::Client(client)) => match client::run(client) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("lease-torture client: {err}");
                ExitCode::from(2)
            }
        },
        None => match torture(&args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(err) => {
                eprintln!("lease-torture: {err}");
                ExitCode::from(2)
            }
        },
    }
}

/// Runs in a scratch directory, kept unless the run passed.
fn torture(args: &Args) -> Result<bool> {
    if args.hosts == 0 || args.clients_per_host == 0 || args.resources == 0 || args.duration == 0 {
        return Err(
            "--hosts, --clients-per-host, --resources and --duration must be positive".into()
        );
    }
    let base = args.dir.clone().unwrap_or_else(scratch_base);
    let scratch = tempfile::Builder::new().prefix("lease-torture-").tempdir_in(&base)?;
    let result = run(scratch.path(), args);
    if args.keep || !matches!(result, Ok(true)) {
        eprintln!("lease-torture: kept {}", scratch.keep().display());
    }
    result
}

fn scratch_base() -> PathBuf {
    let tmp = std::env::temp_dir();
    if on_memory_filesystem(&tmp).unwrap_or(false) { PathBuf::from("/var/tmp") } else { tmp }
}

fn run(dir: &Path, args: &Args) -> Result<bool> {
    let seed = args.seed.unwrap_or_else(|| OsClock.now().as_nanos());
    let files = Files::create(dir, args)?;
    let mut cluster = Cluster::start(dir, files, args, seed)?;
    let started = OsClock.now();
    cluster.play(started + Duration::from_secs(args.duration), !args.no_chaos)?;
    cluster.finish()?;
    let verdict = cluster.judge();
    let clean = verdict.clean();
    println!("{}", verdict.report(args, seed, started, &cluster));
    Ok(clean)
}

/// The shared files: the lease file and the witness file.
struct Files {
    lease: PathBuf,
    witness: PathBuf,
    specs: Vec<String>,
}

impl Files {
    fn create(dir: &Path, args: &Args) -> Result<Files> {
        let lease = dir.join("leases.img");
        let count = args.resources as u64;
        std::fs::write(&lease, vec![0u8; ((count + 1) * AREA) as usize])?;
        let disk = DirectFile::open(&lease, Access::ReadWrite)?;
        let lockspace = Name::new(LOCKSPACE)?;
        direct::init_lockspace(
            &disk,
            &OsClock,
            0,
            lockspace,
            IO_TIMEOUT_S,
            InitOptions::default(),
        )?;
        let mut specs = Vec::new();
        for index in 0..count {
            let name = format!("r{index}");
            let offset = (index + 1) * AREA;
            let max_hosts = Some(args.hosts as u64 + 1);
            let options = InitOptions::default();
            direct::init_resource(
                &disk,
                &OsClock,
                offset,
                lockspace,
                Name::new(&name)?,
                max_hosts,
                options,
            )?;
            specs.push(format!("{LOCKSPACE}:{name}:{}:{offset}", lease.display()));
        }
        let witness = dir.join("witness.img");
        std::fs::write(&witness, vec![0u8; args.resources * WITNESS_BLOCK])?;
        Ok(Files { lease, witness, specs })
    }
}

/// Where a host is in its life.
enum State {
    /// Joining the lockspace (at start, after a restart or a removal).
    Joining(Receiver<std::result::Result<(), String>>),
    Up,
    /// SIGSTOPped until then.
    Stopped(MonoTime),
    /// Reset (or killed): to be restarted then.
    Down(MonoTime),
}

/// A client process.
struct Proc {
    child: Child,
    serial: usize,
    log: PathBuf,
}

/// A client process that ended.
struct Ended {
    host: usize,
    serial: usize,
    log: PathBuf,
    /// When the parent saw it dead (CLOCK_BOOTTIME ns).
    died: u64,
}

/// One host: a daemon and its clients.
struct Host {
    name: String,
    daemon: Option<LocalDaemon>,
    incarnation: u32,
    state: State,
    clients: Vec<Proc>,
}

/// Counts of what the chaos did.
#[derive(Debug, Default)]
struct Chaos {
    client_kills: u64,
    daemon_kills: u64,
    daemon_stops: u64,
    watchdog_resets: u64,
    rem_lockspace: u64,
    daemon_restarts: u64,
}

struct Cluster {
    dir: PathBuf,
    files: Files,
    hosts: Vec<Host>,
    clients_per_host: usize,
    convert_one_in: u64,
    daemon_args: Vec<String>,
    rng: Rng,
    /// When the clients stop.
    until: Option<MonoTime>,
    serial: usize,
    /// Client processes that ended.
    ended: Vec<Ended>,
    harness_errors: BTreeMap<String, u64>,
    chaos: Chaos,
}

impl Cluster {
    /// Starts every daemon and waits until all have joined.
    fn start(dir: &Path, files: Files, args: &Args, seed: u64) -> Result<Cluster> {
        let mut daemon_args = vec![
            "--watchdog-fire-timeout".to_owned(),
            FIRE_S.to_string(),
            "--kill-grace".to_owned(),
            KILL_GRACE_S.to_string(),
        ];
        if !args.no_chaos && args.stall_permille > 0 {
            let faults =
                format!("write_stall_permille={},stall_ms={}", args.stall_permille, args.stall_ms);
            daemon_args.extend(["--test-faults".to_owned(), faults]);
        }
        let mut cluster = Cluster {
            dir: dir.to_owned(),
            files,
            hosts: Vec::new(),
            clients_per_host: args.clients_per_host,
            convert_one_in: if args.no_chaos { 0 } else { CONVERT_ONE_IN },
            daemon_args,
            rng: Rng::new(seed),
            until: None,
            serial: 0,
            ended: Vec::new(),
            harness_errors: BTreeMap::new(),
            chaos: Chaos::default(),
        };
        for index in 0..args.hosts {
            let name = format!("host{}", index + 1);
            let host = Host {
                name,
                daemon: None,
                incarnation: 0,
                state: State::Down(OsClock.now()),
                clients: Vec::new(),
            };
            cluster.hosts.push(host);
            cluster.boot(index)?;
        }
        let deadline = OsClock.now() + LIMIT;
        while cluster.hosts.iter().any(|host| !matches!(host.state, State::Up)) {
            if OsClock.now() > deadline {
                return Err("the hosts did not all join the lockspace".into());
            }
            for index in 0..cluster.hosts.len() {
                cluster.tend(index)?;
            }
            OsClock.sleep_until(OsClock.now() + TICK);
        }
        Ok(cluster)
    }

    /// Runs the clients, and the chaos if `chaos`, until `until`.
    fn play(&mut self, until: MonoTime, chaos: bool) -> Result<()> {
        self.until = Some(until);
        let mut next_chaos = OsClock.now() + Duration::from_secs(1);
        while OsClock.now() < until {
            for index in 0..self.hosts.len() {
                self.tend(index)?;
            }
            if chaos && OsClock.now() >= next_chaos {
                self.strike()?;
                next_chaos = OsClock.now() + Duration::from_millis(self.rng.between(1000, 3000));
            }
            OsClock.sleep_until(OsClock.now() + TICK);
        }
        Ok(())
    }

    /// Lets the clients finish their last holds, then stops the daemons.
    fn finish(&mut self) -> Result<()> {
        for host in &mut self.hosts {
            if let (State::Stopped(_), Some(daemon)) = (&host.state, &host.daemon) {
                daemon.signal(Signal::SIGCONT)?;
                host.state = State::Up;
            }
        }
        let deadline = OsClock.now() + LIMIT;
        while self.hosts.iter().any(|host| !host.clients.is_empty()) && OsClock.now() < deadline {
            for index in 0..self.hosts.len() {
                self.reap(index)?;
            }
            OsClock.sleep_until(OsClock.now() + TICK);
        }
        for index in 0..self.hosts.len() {
            self.kill_clients(index)?;
            if let Some(mut daemon) = self.hosts[index].daemon.take()
                && let Err(err) = daemon.stop(LIMIT)
            {
                eprintln!("lease-torture: {err}");
                *self.harness_errors.entry("daemon_stop".to_owned()).or_default() += 1;
            }
        }
        Ok(())
    }

    /// Starts host `index`'s daemon (a new incarnation: a rebooted host
    /// has a fresh run directory) and has it join.
    fn boot(&mut self, index: usize) -> Result<()> {
        let host = &mut self.hosts[index];
        host.incarnation += 1;
        let dir = self.dir.join(format!("{}.{}", host.name, host.incarnation));
        std::fs::create_dir(&dir)?;
        let args: Vec<&str> = self.daemon_args.iter().map(String::as_str).collect();
        let daemon = start_own(&dir, &host.name, &args)?;
        host.state = State::Joining(join(&daemon, &self.files.lease, index, false)?);
        host.daemon = Some(daemon);
        if host.incarnation > 1 {
            self.chaos.daemon_restarts += 1;
        }
        Ok(())
    }

    /// One look at host `index`: its clients, its daemon, its watchdog.
    fn tend(&mut self, index: usize) -> Result<()> {
        self.reap(index)?;
        let now = OsClock.now();
        let host = &mut self.hosts[index];
        let Some(daemon) = host.daemon.as_mut() else {
            if let State::Down(at) = host.state
                && now >= at
            {
                self.boot(index)?;
            }
            return Ok(());
        };
        if daemon.child.try_wait()?.is_some() {
            *self.harness_errors.entry("daemon_exited".to_owned()).or_default() += 1;
            return self.crash(index, now);
        }
        if PetLog::read(&daemon.pet_log())?.reset_at(now).is_some() {
            // A real watchdog would have reset this host by now.
            self.chaos.watchdog_resets += 1;
            return self.crash(index, now);
        }
        match &host.state {
            State::Joining(done) => match done.try_recv() {
                Ok(Ok(())) => host.state = State::Up,
                Ok(Err(err)) => {
                    eprintln!("lease-torture: {} could not join: {err}", host.name);
                    *self.harness_errors.entry("join".to_owned()).or_default() += 1;
                    self.crash(index, now)?;
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => return Err("a join thread vanished".into()),
            },
            State::Stopped(until) if now >= *until => {
                daemon.signal(Signal::SIGCONT)?;
                host.state = State::Up;
            }
            State::Up => self.fill(index)?,
            State::Stopped(_) | State::Down(_) => {}
        }
        Ok(())
    }

    /// Reaps host `index`'s clients that have exited.
    fn reap(&mut self, index: usize) -> Result<()> {
        let mut still = Vec::new();
        for mut proc in std::mem::take(&mut self.hosts[index].clients) {
            match proc.child.try_wait()? {
                Some(status) => {
                    if status.code() == Some(2) {
                        *self.harness_errors.entry("client_failed".to_owned()).or_default() += 1;
                    }
                    self.ended(index, proc);
                }
                None => still.push(proc),
            }
        }
        self.hosts[index].clients = still;
        Ok(())
    }

    /// Records that client `proc` of host `index` has been reaped.
    fn ended(&mut self, host: usize, proc: Proc) {
        let died = OsClock.now().as_nanos();
        self.ended.push(Ended { host, serial: proc.serial, log: proc.log, died });
    }

    /// SIGKILLs a client and reaps it: from then on it surely writes no
    /// more.
    fn kill_client(&mut self, host: usize, mut proc: Proc) -> Result<()> {
        proc.child.kill()?;
        proc.child.wait()?;
        self.ended(host, proc);
        Ok(())
    }

    /// Starts clients on host `index` up to its count, while time remains.
    fn fill(&mut self, index: usize) -> Result<()> {
        let Some(until) = self.until else { return Ok(()) };
        while self.hosts[index].clients.len() < self.clients_per_host && OsClock.now() < until {
            self.serial += 1;
            let serial = self.serial;
            let log = self.dir.join(format!("client-{serial}.log"));
            let Some(daemon) = self.hosts[index].daemon.as_ref() else { return Ok(()) };
            let mut command = Command::new(std::env::current_exe()?);
            command
                .arg("client")
                .arg("--socket")
                .arg(&daemon.socket)
                .arg("--pet-log")
                .arg(daemon.pet_log())
                .args(["--host", &index.to_string(), "--seed", &self.rng.next_u64().to_string()])
                .args(["--until", &until.as_nanos().to_string()])
                .args(["--convert-one-in", &self.convert_one_in.to_string()])
                .arg("--witness")
                .arg(&self.files.witness)
                .arg("--log")
                .arg(&log)
                .arg("--resources")
                .args(&self.files.specs)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(self.dir.join(format!("client-{serial}.err")))?);
            tie_to_this_process(&mut command);
            let child = command.spawn()?;
            self.hosts[index].clients.push(Proc { child, serial, log });
        }
        Ok(())
    }

    /// SIGKILLs host `index`'s clients and reaps them.
    fn kill_clients(&mut self, index: usize) -> Result<()> {
        for proc in std::mem::take(&mut self.hosts[index].clients) {
            self.kill_client(index, proc)?;
        }
        Ok(())
    }

    /// Host `index` dies: its daemon and clients are SIGKILLed, and it
    /// comes back when its watchdog would have reset it (at once if that
    /// time has passed).
    fn crash(&mut self, index: usize, now: MonoTime) -> Result<()> {
        let Some(mut daemon) = self.hosts[index].daemon.take() else { return Ok(()) };
        daemon.kill();
        self.kill_clients(index)?;
        let reset = PetLog::read(&daemon.pet_log())?;
        let reboot = (reset.last_pet() + reset.fire_timeout).max(now);
        self.hosts[index].state = State::Down(reboot);
        Ok(())
    }

    /// One chaos action: a daemon SIGKILLed (1 in 10), SIGSTOPped (3 in
    /// 10) or made to leave and rejoin (1 in 10) if every host is up, else
    /// a client SIGKILLed. Only one host at a time is disturbed beyond
    /// losing a client.
    fn strike(&mut self) -> Result<()> {
        let now = OsClock.now();
        let calm = self.hosts.iter().all(|host| matches!(host.state, State::Up));
        let index = self.rng.below(self.hosts.len() as u64) as usize;
        match (calm, self.rng.below(10)) {
            (true, 0) => {
                self.chaos.daemon_kills += 1;
                self.crash(index, now)
            }
            (true, 1..=3) => {
                let Some(daemon) = self.hosts[index].daemon.as_ref() else { return Ok(()) };
                daemon.signal(Signal::SIGSTOP)?;
                let stop = Duration::from_millis(self.rng.between(500, 6000));
                self.hosts[index].state = State::Stopped(now + stop);
                self.chaos.daemon_stops += 1;
                Ok(())
            }
            (true, 4) => {
                let Some(daemon) = self.hosts[index].daemon.as_ref() else { return Ok(()) };
                self.hosts[index].state =
                    State::Joining(join(daemon, &self.files.lease, index, true)?);
                self.chaos.rem_lockspace += 1;
                Ok(())
            }
            _ => {
                let host = &mut self.hosts[index];
                if host.clients.is_empty() {
                    return Ok(());
                }
                let victim = self.rng.below(host.clients.len() as u64) as usize;
                let proc = host.clients.swap_remove(victim);
                self.chaos.client_kills += 1;
                self.kill_client(index, proc)
            }
        }
    }

    /// Reads every client's log and judges the run.
    fn judge(&self) -> Verdict {
        let mut tally = Tally::default();
        let mut holds = Vec::new();
        for ended in &self.ended {
            let text = std::fs::read_to_string(&ended.log).unwrap_or_default();
            let events: Vec<Event> =
                text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
            let run =
                ClientRun { host: ended.host, client: ended.serial, events, died: ended.died };
            holds.extend(check::holds(&run, &mut tally));
        }
        let overlaps = check::overlaps(&holds);
        let regressions = check::lver_regressions(&holds);
        let takeovers = check::takeovers_ms(&holds);
        Verdict { tally, overlaps, regressions, takeovers }
    }

    /// Writes the disk layer's test hook stalled, from the daemons' logs.
    fn stalled_writes(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return 0 };
        entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().is_dir())
            .filter_map(|entry| std::fs::read_dir(entry.path()).ok())
            .flatten()
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "log"))
            .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
            .map(|text| text.matches("test fault: write stalled").count())
            .sum()
    }
}

/// Has `daemon` join the lockspace as host_id `index + 1` in the
/// background, after leaving it (`--force`) if `rejoin`.
fn join(
    daemon: &LocalDaemon,
    lease: &Path,
    index: usize,
    rejoin: bool,
) -> Result<Receiver<std::result::Result<(), String>>> {
    let mut client = daemon.client()?;
    let spec = format!("{LOCKSPACE}:{}:{}:0", index + 1, lease.display());
    let (done, result) = mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let mut steps = || {
            if rejoin {
                client.rem_lockspace(LOCKSPACE, true)?;
            }
            client.add_lockspace(&spec, None, true).map(drop)
        };
        let _ = done.send(steps().map_err(|err: lease::client::ClientError| err.to_string()));
    });
    Ok(result)
}

struct Verdict {
    tally: Tally,
    overlaps: Vec<(Hold, Hold)>,
    regressions: Vec<(Hold, Hold)>,
    takeovers: Vec<f64>,
}

impl Verdict {
    fn clean(&self) -> bool {
        self.overlaps.is_empty() && self.regressions.is_empty() && self.tally.overwritten.is_empty()
    }

    /// The JSON line; details of what went wrong go to stderr.
    fn report(
        mut self,
        args: &Args,
        seed: u64,
        started: MonoTime,
        cluster: &Cluster,
    ) -> serde_json::Value {
        for (a, b) in self.overlaps.iter().take(10) {
            eprintln!("OVERLAP: {a:?} and {b:?}");
        }
        for found in self.tally.overwritten.iter().take(10) {
            eprintln!("OVERLAP (witness overwritten): {found}");
        }
        for (earlier, later) in self.regressions.iter().take(10) {
            eprintln!("LVER REGRESSION: {later:?} after {earlier:?}");
        }
        for (kind, (count, sample)) in &self.tally.errors {
            eprintln!("error {kind} x{count}, e.g.: {sample}");
        }
        let mut errors: BTreeMap<String, u64> =
            self.tally.errors.iter().map(|(kind, (count, _))| (kind.clone(), *count)).collect();
        errors.extend(cluster.harness_errors.clone());
        let chaos = &cluster.chaos;
        json!({
            "duration_s": (OsClock.now().saturating_since(started).as_secs_f64() * 10.0).round() / 10.0,
            "seed": seed,
            "hosts": args.hosts,
            "clients": args.hosts * args.clients_per_host,
            "client_processes": cluster.serial,
            "resources": args.resources,
            "acquisitions": self.tally.acquisitions,
            "busy": self.tally.busy,
            "errors": errors,
            "overlaps": self.overlaps.len() + self.tally.overwritten.len(),
            "overlap_kinds": {"intervals": self.overlaps.len(), "witness": self.tally.overwritten.len()},
            "lver_regressions": self.regressions.len(),
            "takeover_ms": {
                "n": self.takeovers.len(),
                "p50": check::percentile(&mut self.takeovers, 50),
                "p99": check::percentile(&mut self.takeovers, 99),
                "max": check::percentile(&mut self.takeovers, 100),
            },
            "chaos": {
                "client_kills": chaos.client_kills,
                "daemon_kills": chaos.daemon_kills,
                "daemon_stops": chaos.daemon_stops,
                "watchdog_resets": chaos.watchdog_resets,
                "daemon_restarts": chaos.daemon_restarts,
                "rem_lockspace": chaos.rem_lockspace,
                "converts": self.tally.converts,
                "stalled_writes": cluster.stalled_writes(),
            },
        })
    }
}
