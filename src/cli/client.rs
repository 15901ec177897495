//! The `lease` commands that talk to `leased`.

use std::ffi::CString;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::exit;
use super::output::{Failure, print, print_json, table};
use crate::api::results::{HostsReply, LeaseStatus, RecoveryStatus, StatusReply, WatchdogStatus};
use crate::api::{Force, NamedResource, ResourceArg};
use crate::client::{AcquireOptions, Client, ClientError};
use crate::paxos::Mode;

impl Failure {
    /// A failed call to the daemon.
    pub fn client(err: &ClientError) -> Failure {
        let kind = match err.code() {
            Some(code) => code.as_str(),
            None => match err {
                ClientError::Unreachable { .. } | ClientError::Io(_) => "unreachable",
                ClientError::PermissionDenied { .. } => "permission_denied",
                _ => "protocol",
            },
        };
        Failure::new(err.exit_code(), kind, err.to_string())
    }
}

pub(super) fn connect(json: bool) -> Result<Client, Failure> {
    Client::connect_default().map_err(|e| Failure::client(&e).json(json))
}

/// `--wait[=SECONDS]`: wait for busy resources, for ever or this long.
fn parse_wait(text: &str) -> Result<Duration, String> {
    if text == "forever" {
        return Ok(Duration::from_secs(365 * 24 * 3600));
    }
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("--wait takes seconds, not '{text}'"))
}

#[derive(Debug, Args)]
pub struct AddLockspaceArgs {
    /// Lockspace and our host_id, as NAME:HOST_ID:PATH:OFFSET
    #[arg(short = 's', long = "lockspace", value_name = "LOCKSPACE")]
    lockspace: String,
    /// io_timeout to renew with [default: the lockspace's]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u8).range(1..))]
    io_timeout: Option<u8>,
    /// Return once joined (2 io_timeouts for a free host_id, longer if another host held it)
    #[arg(long)]
    wait: bool,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RemLockspaceArgs {
    /// The lockspace's name
    #[arg(value_name = "NAME")]
    name: String,
    /// Kill (SIGKILL) the processes still holding its leases, then release them
    #[arg(long)]
    force: bool,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

/// The resources of a request: by spec, or by name in a name index.
#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
pub struct ResourceArgs {
    /// Resource, as LOCKSPACE:NAME:PATH:OFFSET[:LVER|:SH] (repeatable; all or none)
    #[arg(short = 'r', long = "resource", value_name = "RESOURCE")]
    resources: Vec<String>,
    /// Resource found by name in the lockspace's name index, as
    /// LOCKSPACE:NAME (repeatable); an acquire adds a name not there yet
    #[arg(short = 'n', long = "name", value_name = "LOCKSPACE:NAME", value_parser = parse_named)]
    names: Vec<(String, String)>,
    /// Take the named resources (-n) in SHARED mode
    #[arg(long)]
    shared: bool,
}

impl ResourceArgs {
    fn to_args(&self) -> Vec<ResourceArg> {
        let specs = self.resources.iter().map(|spec| ResourceArg::Spec(spec.clone()));
        let names = self.names.iter().map(|(lockspace, name)| {
            ResourceArg::Named(NamedResource {
                lockspace: lockspace.clone(),
                name: name.clone(),
                shared: self.shared,
                create: true,
                ..NamedResource::default()
            })
        });
        specs.chain(names).collect()
    }
}

/// `LOCKSPACE:NAME`: the name is everything after the first colon.
pub(super) fn parse_named(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((lockspace, name)) if !lockspace.is_empty() && !name.is_empty() => {
            Ok((lockspace.to_owned(), name.to_owned()))
        }
        _ => Err(format!("expected LOCKSPACE:NAME, not '{text}'")),
    }
}

#[derive(Debug, Args)]
pub struct AcquireArgs {
    #[command(flatten)]
    resources: ResourceArgs,
    /// The process the leases belong to: they are released when it exits
    #[arg(short = 'p', long, value_name = "PID", required_unless_present = "persistent")]
    pid: Option<u32>,
    /// Keep the leases after their process exits, until released or adopted
    #[arg(long)]
    persistent: bool,
    /// Take over persistent leases whose process exited
    #[arg(long)]
    adopt: bool,
    /// Wait for busy resources instead of failing, for ever or SECONDS (behind earlier waiters of this host)
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "forever", value_parser = parse_wait)]
    wait: Option<Duration>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// Resource, as LOCKSPACE:NAME:PATH:OFFSET (repeatable)
    #[arg(short = 'r', long = "resource", value_name = "RESOURCE", required_unless_present_any = ["all", "orphan", "names"])]
    resources: Vec<String>,
    /// Resource found by name in the lockspace's name index, as LOCKSPACE:NAME (repeatable)
    #[arg(short = 'n', long = "name", value_name = "LOCKSPACE:NAME", value_parser = parse_named)]
    names: Vec<(String, String)>,
    /// The process whose leases to release
    #[arg(short = 'p', long, value_name = "PID")]
    pid: Option<u32>,
    /// Every lease of the process
    #[arg(long, requires = "pid")]
    all: bool,
    /// Release orphans (persistent leases whose process exited); all of them without -r
    #[arg(long)]
    orphan: bool,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct InquireArgs {
    /// Only this process's leases [default: every lease of this host]
    #[arg(short = 'p', long, value_name = "PID")]
    pid: Option<u32>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModeArg {
    Ex,
    Sh,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Resource, as LOCKSPACE:NAME:PATH:OFFSET
    #[arg(short = 'r', long = "resource", value_name = "RESOURCE")]
    resource: String,
    /// The mode to switch to
    #[arg(long, value_enum)]
    mode: ModeArg,
    /// The process holding it
    #[arg(short = 'p', long, value_name = "PID")]
    pid: Option<u32>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
#[group(id = "how", required = true, multiple = false)]
pub struct RequestHow {
    /// Kill the holder (SIGKILL)
    #[arg(long)]
    force: bool,
    /// Ask the holder to stop (SIGTERM)
    #[arg(long)]
    graceful: bool,
    /// Withdraw a pending request
    #[arg(long)]
    clear: bool,
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Resource, as LOCKSPACE:NAME:PATH:OFFSET
    #[arg(short = 'r', long = "resource", value_name = "RESOURCE")]
    resource: String,
    #[command(flatten)]
    how: RequestHow,
    /// The lease version to ask for [default: one above the current]
    #[arg(long, value_name = "LVER")]
    lver: Option<u64>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct HostsArgs {
    /// The lockspace's name
    #[arg(value_name = "NAME")]
    name: String,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    resources: ResourceArgs,
    /// Wait for busy resources instead of failing, for ever or SECONDS (behind earlier waiters of this host)
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "forever", value_parser = parse_wait)]
    wait: Option<Duration>,
    /// The command and its arguments
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub fn add_lockspace(args: &AddLockspaceArgs) -> Result<u8, Failure> {
    let mut client = connect(args.json)?;
    let status = client
        .add_lockspace(&args.lockspace, args.io_timeout, args.wait)
        .map_err(|e| Failure::client(&e).json(args.json))?;
    report_status(&status, args.json)
}

pub fn rem_lockspace(args: &RemLockspaceArgs) -> Result<u8, Failure> {
    let mut client = connect(args.json)?;
    let status = client
        .rem_lockspace(&args.name, args.force)
        .map_err(|e| Failure::client(&e).json(args.json))?;
    report_status(&status, args.json)
}

pub fn status(args: &StatusArgs) -> Result<u8, Failure> {
    let mut client = connect(args.json)?;
    let status = client.status().map_err(|e| Failure::client(&e).json(args.json))?;
    report_status(&status, args.json)
}

fn seconds(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |s| format!("{s:.1}s"))
}

fn report_status(status: &StatusReply, json: bool) -> Result<u8, Failure> {
    if json {
        print_json(status)?;
        return Ok(exit::OK);
    }
    let mut text = format!(
        "host {}, {} client(s), {} resource(s) being acquired or released\n",
        status.host_name, status.clients, status.busy
    );
    let rows: Vec<Vec<String>> = status
        .lockspaces
        .iter()
        .map(|ls| {
            vec![
                ls.name.clone(),
                ls.host_id.to_string(),
                format!("{:?}", ls.state).to_lowercase(),
                ls.generation.map_or_else(|| "-".to_owned(), |g| g.to_string()),
                seconds(ls.last_renewal_s),
                seconds(ls.expires_in_s),
                ls.renewal_failures.to_string(),
                ls.leases.to_string(),
                ls.detail.clone(),
            ]
        })
        .collect();
    text.push_str(&table(
        &[
            "LOCKSPACE",
            "HOST_ID",
            "STATE",
            "GEN",
            "RENEWED",
            "EXPIRES_IN",
            "FAILURES",
            "LEASES",
            "DETAIL",
        ],
        &rows,
    ));
    for ls in &status.lockspaces {
        if let Some(recovery) = &ls.recovery {
            text.push_str(&recovery_text(&ls.name, recovery));
        }
    }
    text.push('\n');
    text.push_str(&watchdog_text(&status.watchdog));
    if !status.leases.is_empty() {
        text.push('\n');
        text.push_str(&lease_table(&status.leases));
    }
    print(&text)?;
    Ok(exit::OK)
}

/// A failed lockspace's recovery, a line per holder.
fn recovery_text(lockspace: &str, recovery: &RecoveryStatus) -> String {
    let mut text = format!(
        "recovery of {lockspace}: fencing {}, {:.1} s since the host_id lease was lost, {} \
         write(s) pending\n",
        recovery.fencing, recovery.elapsed_s, recovery.writes_pending
    );
    for holder in &recovery.holders {
        let step = match (&holder.step, holder.step_at_s) {
            (Some(step), Some(at)) => format!("{step} at {at:.1} s"),
            _ => "nothing sent".to_owned(),
        };
        let state = if holder.alive { "running" } else { "gone" };
        text.push_str(&format!("  pid {}: {step}, {state}\n", holder.pid));
    }
    text
}

/// The watchdog: its device, whether it is kept alive, and its clients.
fn watchdog_text(watchdog: &WatchdogStatus) -> String {
    let state = match (&watchdog.withheld_for, watchdog.reset_in_s) {
        (Some(client), Some(reset)) => {
            format!("KEEPALIVES STOPPED for {client}: the host is reset in {:.1} s", reset.max(0.0))
        }
        (Some(client), None) => format!("KEEPALIVES STOPPED for {client}"),
        (None, _) => format!("last keepalive {} ago", seconds(watchdog.last_pet_s)),
    };
    let mut text = format!(
        "watchdog {}: {state}; fires {} s after a keepalive, tested every {:.1} s\n",
        watchdog.device, watchdog.fire_timeout_s, watchdog.test_interval_s
    );
    if !watchdog.clients.is_empty() {
        let rows: Vec<Vec<String>> = watchdog
            .clients
            .iter()
            .map(|c| vec![c.name.clone(), format!("{:.1}s", c.expires_in_s)])
            .collect();
        text.push_str(&table(&["WATCHDOG CLIENT", "EXPIRES_IN"], &rows));
    }
    text
}

fn lease_table(leases: &[LeaseStatus]) -> String {
    let rows: Vec<Vec<String>> = leases
        .iter()
        .map(|l| {
            vec![
                l.resource.clone(),
                l.lockspace.clone(),
                l.mode.to_string(),
                l.lver.to_string(),
                l.pid.map_or_else(|| "orphan".to_owned(), |p| p.to_string()),
                format!("{}:{}", l.path, l.offset),
            ]
        })
        .collect();
    table(&["RESOURCE", "LOCKSPACE", "MODE", "LVER", "PID", "PATH:OFFSET"], &rows)
}

fn report_leases(verb: &str, leases: &[LeaseStatus], json: bool) -> Result<u8, Failure> {
    if json {
        print_json(&serde_json::json!({ "leases": leases }))?;
    } else {
        let mut text = String::new();
        for lease in leases {
            let pid =
                lease.pid.map_or_else(|| "no process (orphan)".to_owned(), |p| format!("pid {p}"));
            text.push_str(&format!("{verb} {} ({}) for {pid}\n", lease.spec, lease.mode));
        }
        print(&text)?;
    }
    Ok(exit::OK)
}

pub fn hosts(args: &HostsArgs) -> Result<u8, Failure> {
    let mut client = connect(args.json)?;
    let reply: HostsReply =
        client.hosts(&args.name).map_err(|e| Failure::client(&e).json(args.json))?;
    if args.json {
        print_json(&reply)?;
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = reply
        .hosts
        .iter()
        .map(|h| {
            let mut name = h.name.clone();
            if h.local {
                name.push_str(" (this host)");
            }
            vec![
                h.host_id.to_string(),
                h.generation.to_string(),
                h.state.to_string(),
                format!("{:.1}s ago", h.last_renewal_s),
                h.dead_in_s.map_or_else(|| "-".to_owned(), |s| format!("{s:.1}s")),
                name,
            ]
        })
        .collect();
    print(&table(&["HOST_ID", "GEN", "STATE", "LAST_RENEWAL", "DEAD_IN", "NAME"], &rows))?;
    Ok(exit::OK)
}

pub fn acquire(args: &AcquireArgs) -> Result<u8, Failure> {
    let mut client = connect(args.json)?;
    let specs = args.resources.to_args();
    let options = AcquireOptions {
        pid: args.pid,
        wait: args.wait,
        persistent: args.persistent,
        adopt: args.adopt,
    };
    let leases =
        client.acquire(&specs, options).map_err(|e| Failure::client(&e).json(args.json))?;
    report_leases("acquired", &leases, args.json)
}

pub fn release(args: &ReleaseArgs) -> Result<u8, Failure> {
    let mut client = connect(args.json)?;
    let named = args.names.iter().map(|(lockspace, name)| {
        ResourceArg::Named(NamedResource {
            lockspace: lockspace.clone(),
            name: name.clone(),
            ..NamedResource::default()
        })
    });
    let specs: Vec<ResourceArg> =
        args.resources.iter().map(|spec| ResourceArg::Spec(spec.clone())).chain(named).collect();
    let leases = client
        .release(&specs, args.pid, args.all, args.orphan)
        .map_err(|e| Failure::client(&e).json(args.json))?;
    report_leases("released", &leases, args.json)
}

pub fn inquire(args: &InquireArgs) -> Result<u8, Failure> {
    let mut client = connect(args.json)?;
    let leases = client.inquire(args.pid).map_err(|e| Failure::client(&e).json(args.json))?;
    if args.json {
        print_json(&serde_json::json!({ "leases": leases }))?;
    } else {
        print(&lease_table(&leases))?;
    }
    Ok(exit::OK)
}

pub fn convert(args: &ConvertArgs) -> Result<u8, Failure> {
    let mut client = connect(args.json)?;
    let mode = match args.mode {
        ModeArg::Ex => Mode::Exclusive,
        ModeArg::Sh => Mode::Shared,
    };
    let leases = client
        .convert(&args.resource, mode, args.pid)
        .map_err(|e| Failure::client(&e).json(args.json))?;
    report_leases("converted", &leases, args.json)
}

pub fn request(args: &RequestArgs) -> Result<u8, Failure> {
    let mut client = connect(args.json)?;
    let force = match (args.how.force, args.how.graceful) {
        (true, _) => Force::Force,
        (_, true) => Force::Graceful,
        _ => Force::Clear,
    };
    let reply = client
        .request(&args.resource, force, args.lver)
        .map_err(|e| Failure::client(&e).json(args.json))?;
    if args.json {
        print_json(&reply)?;
    } else {
        match reply.owner_id {
            Some(owner) => {
                print(&format!("request written; host_id {owner} is asked to give it up\n"))?
            }
            None => print("request written; the resource has no owner\n")?,
        }
    }
    Ok(exit::OK)
}

/// `lease run`: holds the resources while a command runs. The command is
/// started stopped, the leases are acquired for its pid, and only then does
/// it run; they are released when it exits, whatever happens to us.
pub fn run(args: &RunArgs) -> Result<u8, Failure> {
    let program = CString::new(args.command[0].as_bytes())
        .map_err(|_| Failure::new(exit::USAGE, "usage", "the command contains a NUL byte"))?;
    let argv: Vec<CString> = args
        .command
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| Failure::new(exit::USAGE, "usage", "an argument contains a NUL byte"))?;
    let mut client = connect(false)?;
    let (go_read, go_write) = nix::unistd::pipe()
        .map_err(|e| Failure::new(exit::SOFTWARE, "internal", format!("pipe: {e}")))?;
    // SAFETY: the child only reads a pipe and execs (or exits); this
    // process is single-threaded here.
    let child = match unsafe { nix::unistd::fork() } {
        Err(e) => return Err(Failure::new(exit::SOFTWARE, "internal", format!("fork: {e}"))),
        Ok(nix::unistd::ForkResult::Child) => {
            drop(go_write);
            let mut go = [0u8; 1];
            if nix::unistd::read(&go_read, &mut go) != Ok(1) {
                // SAFETY: leaving the forked child without running any
                // destructor of the parent's state.
                unsafe { libc::_exit(exit::REFUSED.into()) };
            }
            let err =
                nix::unistd::execvp(&program, &argv).expect_err("execvp returns only on error");
            eprintln!("lease: cannot run {}: {err}", args.command[0]);
            // SAFETY: as above.
            unsafe { libc::_exit(127) };
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => child,
    };
    drop(go_read);
    let pid = u32::try_from(child.as_raw()).expect("pids are positive");
    let specs = args.resources.to_args();
    let options = AcquireOptions { pid: Some(pid), wait: args.wait, ..AcquireOptions::default() };
    if let Err(err) = client.acquire(&specs, options) {
        drop(go_write);
        let _ = nix::sys::wait::waitpid(child, None);
        return Err(Failure::client(&err));
    }
    drop(client);
    nix::unistd::write(&go_write, &[1]).map_err(|e| {
        Failure::new(exit::SOFTWARE, "internal", format!("starting the command: {e}"))
    })?;
    match nix::sys::wait::waitpid(child, None) {
        Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => {
            Ok(u8::try_from(code).unwrap_or(exit::SOFTWARE))
        }
        Ok(nix::sys::wait::WaitStatus::Signaled(_, signal, _)) => {
            Ok(128u8.saturating_add(signal as u8))
        }
        Ok(other) => Err(Failure::new(
            exit::SOFTWARE,
            "internal",
            format!("the command ended oddly: {other:?}"),
        )),
        Err(e) => {
            Err(Failure::new(exit::SOFTWARE, "internal", format!("waiting for the command: {e}")))
        }
    }
}
