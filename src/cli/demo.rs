//! `lease demo`: a three-host cluster on a scratch lease file, narrated as
//! it runs. Each host is a real `leased` process (this binary's hidden
//! `leased` command) with its own run directory and host_id; the demo talks
//! to them through the client library, as a hypervisor hook would.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use clap::Args;

use super::exit;
use super::output::{Failure, print};
use crate::api::results::{HostStatus, LeaseStatus, LockspaceState};
use crate::client::local_daemon::{LocalDaemon, start_holder, start_own};
use crate::client::{AcquireOptions, Client, ClientError};
use crate::clock::{Clock, MonoTime, OsClock};
use crate::delta::HostState;
use crate::direct::{self, InitOptions};
use crate::disk::direct::on_memory_filesystem;
use crate::disk::{Access, DirectFile};
use crate::ondisk::name::Name;
use crate::timeouts::Timeouts;
use crate::watchdog::PetLog;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the scratch lease file and the hosts' run directories
    /// [default: $TMPDIR, or /var/tmp if that is tmpfs]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the scratch directory (lease file, daemon logs) instead of
    /// removing it; it is always kept when the demo fails, but not when it
    /// is interrupted
    #[arg(long)]
    keep: bool,
}

const LOCKSPACE: &str = "demo";
const HOSTS: [&str; 3] = ["demo-a", "demo-b", "demo-c"];
/// Short, so that a crashed host is dead within seconds.
const IO_TIMEOUT_S: u8 = 1;
const WATCHDOG_FIRE_S: u64 = 3;
const AREA: u64 = 1 << 20;
/// Longer than any step should take; a step past it means something broke.
const STEP_LIMIT: Duration = Duration::from_secs(60);
/// The failure kind of a demo stopped by SIGINT or SIGTERM.
const INTERRUPTED: &str = "interrupted";
const POLL: Duration = Duration::from_millis(100);

pub fn run(args: &DemoArgs) -> Result<u8, Failure> {
    let base = args.dir.clone().unwrap_or_else(scratch_base);
    let scratch =
        tempfile::Builder::new().prefix("lease-demo-").tempdir_in(&base).map_err(|err| {
            io_failure(format!("cannot create a directory in {}: {err}", base.display()))
        })?;
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .map_err(|err| io_failure(format!("cannot handle signals: {err}")))?;
    }
    let narrator = Narrator { start: OsClock.now(), interrupted };
    let result = play(scratch.path(), &narrator);
    let failed = result.as_ref().is_err_and(|failure| failure.kind != INTERRUPTED);
    if args.keep || failed {
        let kept = scratch.keep();
        narrator.say(&format!("kept {} (lease file and daemon logs)", kept.display()))?;
    } else {
        let path = scratch.path().to_owned();
        scratch
            .close()
            .map_err(|err| io_failure(format!("cannot remove {}: {err}", path.display())))?;
        narrator.say(&format!("removed {}", path.display()))?;
    }
    result
}

fn play(dir: &Path, narrator: &Narrator) -> Result<u8, Failure> {
    let path = lease_file(dir, narrator)?;
    let timeouts = Timeouts::new(IO_TIMEOUT_S, Duration::from_secs(WATCHDOG_FIRE_S));
    narrator.say(&format!(
        "starting {} hosts, one leased each with its own run directory: {}",
        HOSTS.len(),
        HOSTS.join(", ")
    ))?;
    narrator.say(&format!(
        "  a host that stops renewing is FAIL after {} s, and DEAD after {} s (its watchdog, \
         firing within {WATCHDOG_FIRE_S} s, has reset it): only then may others take its leases",
        timeouts.renewal_fail().as_secs(),
        timeouts.host_dead().as_secs()
    ))?;
    let mut cluster = Cluster::start(dir, narrator)?;
    cluster.join(&path, narrator)?;
    let [a, b, c] = [0, 1, 2];
    let vm1 = resource(&path, "vm1", 1);
    let vm2 = resource(&path, "vm2", 2);

    // Each VM is a process; its lease lives exactly as long as it does.
    let vm1_on_a = cluster.holder()?;
    cluster.acquire(a, &vm1, vm1_on_a, narrator)?;
    let vm2_on_c = cluster.holder()?;
    cluster.acquire(c, &vm2, vm2_on_c, narrator)?;
    let vm1_on_b = cluster.holder()?;
    cluster.refused(b, &vm1, vm1_on_b, narrator)?;

    narrator.say("demo-b asks for vm1 again, waiting up to 10 s for it")?;
    let handover = cluster.acquire_in_background(b, &vm1, vm1_on_b, Duration::from_secs(10))?;
    narrator.pause(Duration::from_secs(1))?;
    cluster.end_holder(vm1_on_a);
    let exited = OsClock.now();
    narrator.say(&format!(
        "the vm1 process on demo-a (pid {vm1_on_a}) exits: demo-a's leased releases vm1"
    ))?;
    let lease = narrator.wait_for(handover, STEP_LIMIT)?.map_err(|err| cluster.failure(b, &err))?;
    narrator.say(&format!(
        "demo-b: acquired vm1 {:.3} s after the process on demo-a exited ({})",
        OsClock.now().saturating_since(exited).as_secs_f64(),
        describe(&lease)
    ))?;

    // Wait for a renewal of every host to be seen, so that the silence
    // after the crash is measured from a known renewal.
    cluster.all_live(a, narrator)?;
    cluster.all_live(b, narrator)?;
    crash(&mut cluster, c, vm2_on_c, narrator)?;
    let crashed = OsClock.now();
    let vm2_on_a = cluster.holder()?;
    cluster.refused(a, &vm2, vm2_on_a, narrator)?;
    narrator
        .say("demo-a asks for vm2 again, waiting for it; meanwhile both hosts watch host_id 3")?;
    let takeover = cluster.acquire_in_background(a, &vm2, vm2_on_a, STEP_LIMIT)?;
    let lease = watch_until_taken(&cluster, &[a, b], 3, takeover, crashed, narrator)?;
    narrator.say(&format!(
        "demo-a: acquired vm2 {:.1} s after demo-c crashed ({})",
        OsClock.now().saturating_since(crashed).as_secs_f64(),
        describe(&lease)
    ))?;

    narrator.say("stopping demo-a and demo-b: their VM processes end, leased releases every lease and host_id")?;
    cluster.stop(narrator)?;
    narrator.say("done")?;
    Ok(exit::OK)
}

/// Writes the lockspace and two resources to a fresh file in `dir`.
fn lease_file(dir: &Path, narrator: &Narrator) -> Result<PathBuf, Failure> {
    let path = dir.join("leases.img");
    std::fs::write(&path, vec![0u8; 3 * AREA as usize])
        .map_err(|err| io_failure(format!("cannot create {}: {err}", path.display())))?;
    let disk =
        DirectFile::open(&path, Access::ReadWrite).map_err(|err| Failure::direct(&err.into()))?;
    let name = |text| Name::new(text).expect("a valid name");
    direct::init_lockspace(
        &disk,
        &OsClock,
        0,
        name(LOCKSPACE),
        IO_TIMEOUT_S,
        InitOptions::default(),
    )
    .map_err(|err| Failure::direct(&err))?;
    for (index, vm) in ["vm1", "vm2"].into_iter().enumerate() {
        let offset = (index as u64 + 1) * AREA;
        direct::init_resource(
            &disk,
            &OsClock,
            offset,
            name(LOCKSPACE),
            name(vm),
            Some(HOSTS.len() as u64 + 5),
            InitOptions::default(),
        )
        .map_err(|err| Failure::direct(&err))?;
    }
    narrator.say(&format!(
        "lease file {}: lockspace '{LOCKSPACE}' (io_timeout {IO_TIMEOUT_S} s), resources vm1 and \
         vm2 (as `lease direct init` writes them)",
        path.display()
    ))?;
    Ok(path)
}

/// SIGKILLs host `c`'s daemon and its VM: a host that stops dead.
fn crash(cluster: &mut Cluster, c: usize, vm: u32, narrator: &Narrator) -> Result<(), Failure> {
    cluster.end_holder(vm);
    let host = &mut cluster.hosts[c];
    host.daemon.kill();
    let crashed = OsClock.now();
    // The demo's hosts use the test watchdog device, which records its
    // keepalives instead of resetting anything.
    let reset = PetLog::read(&host.daemon.pet_log()).map(|log| log.last_pet() + log.fire_timeout);
    let fenced = match reset {
        Ok(at) if at > crashed => format!(
            "its watchdog, no longer kept alive, would reset it {:.1} s from now",
            at.saturating_since(crashed).as_secs_f64()
        ),
        _ => "its watchdog would reset it".to_owned(),
    };
    narrator.say(&format!(
        "{} crashes (SIGKILL to its leased and its VM; {fenced}): nothing renews host_id {} any \
         more, and vm2 stays owned by it on disk",
        host.name, host.host_id
    ))
}

/// Prints how `watchers` see `host_id` change state until the background
/// acquire `taken` ends and every watcher has seen it DEAD.
fn watch_until_taken(
    cluster: &Cluster,
    watchers: &[usize],
    host_id: u64,
    taken: Receiver<Result<LeaseStatus, ClientError>>,
    since: MonoTime,
    narrator: &Narrator,
) -> Result<LeaseStatus, Failure> {
    let mut clients = Vec::new();
    for &w in watchers {
        clients.push(cluster.hosts[w].client()?);
    }
    let mut seen = vec![HostState::Live; watchers.len()];
    let mut lease = None;
    let deadline = OsClock.now() + STEP_LIMIT;
    while lease.is_none() || seen.iter().any(|s| *s != HostState::Dead) {
        if OsClock.now() > deadline {
            return Err(stuck("the crashed host's lease was not taken over"));
        }
        for (index, client) in clients.iter_mut().enumerate() {
            let w = watchers[index];
            let hosts = client.hosts(LOCKSPACE).map_err(|err| cluster.failure(w, &err))?;
            let Some(status) = hosts.hosts.iter().find(|h| h.host_id == host_id) else {
                continue;
            };
            if status.state != seen[index] {
                seen[index] = status.state;
                narrator.say(&format!(
                    "{} sees host_id {host_id} {} ({:.1} s after the crash{})",
                    cluster.hosts[w].name,
                    status.state,
                    OsClock.now().saturating_since(since).as_secs_f64(),
                    silence(status)
                ))?;
            }
        }
        // Once answered, the acquire's thread is gone: its channel is
        // looked at no more while the watchers catch up.
        if lease.is_none() {
            match taken.try_recv() {
                Ok(result) => {
                    lease = Some(result.map_err(|err| cluster.failure(watchers[0], &err))?);
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err(stuck("the waiting acquire ended without an answer"));
                }
            }
        }
        narrator.pause(POLL)?;
    }
    Ok(lease.expect("the loop ends with the lease"))
}

fn silence(status: &HostStatus) -> String {
    match status.dead_in_s {
        Some(s) if status.state != HostState::Dead => {
            format!("; no renewal seen for {:.1} s, DEAD in {s:.1} s", status.last_renewal_s)
        }
        _ => format!("; no renewal seen for {:.1} s", status.last_renewal_s),
    }
}

fn describe(lease: &LeaseStatus) -> String {
    let mut text = format!("{} lver {}", lease.mode, lease.lver);
    match lease.takeover.as_deref() {
        Some("owner_dead") => text.push_str(", taken over from a dead host"),
        Some(how) => text.push_str(&format!(", taken over: {how}")),
        None => {}
    }
    text
}

fn resource(path: &Path, name: &str, index: u64) -> String {
    format!("{LOCKSPACE}:{name}:{}:{}", path.display(), index * AREA)
}

/// One host: a `leased` process.
struct Host {
    name: &'static str,
    host_id: u64,
    daemon: LocalDaemon,
}

impl Host {
    fn client(&self) -> Result<Client, Failure> {
        self.daemon.client().map_err(|err| self.failure(&err))
    }

    fn failure(&self, err: &ClientError) -> Failure {
        Failure::new(
            exit::SOFTWARE,
            "demo",
            format!("{}: {err} (its log: {})", self.name, self.daemon.log.display()),
        )
    }
}

/// The hosts and the VM processes they hold leases for. Dropping it stops
/// everything.
struct Cluster {
    hosts: Vec<Host>,
    vms: Vec<Child>,
}

impl Cluster {
    /// Starts every host's daemon and waits until each answers.
    fn start(dir: &Path, narrator: &Narrator) -> Result<Cluster, Failure> {
        let fire = WATCHDOG_FIRE_S.to_string();
        let mut cluster = Cluster { hosts: Vec::new(), vms: Vec::new() };
        for (index, name) in HOSTS.into_iter().enumerate() {
            let daemon = start_own(dir, name, &["--watchdog-fire-timeout", &fire])
                .map_err(|err| io_failure(err.to_string()))?;
            narrator.say(&format!(
                "{name} is up: pid {}, socket {}",
                daemon.pid(),
                daemon.socket.display()
            ))?;
            cluster.hosts.push(Host { name, host_id: index as u64 + 1, daemon });
        }
        Ok(cluster)
    }

    /// Every host joins the lockspace at once, each with its own host_id;
    /// their status shows the join in progress until it is done.
    fn join(&mut self, path: &Path, narrator: &Narrator) -> Result<(), Failure> {
        let mut pending = Vec::new();
        for (index, host) in self.hosts.iter().enumerate() {
            let spec = format!("{LOCKSPACE}:{}:{}:0", host.host_id, path.display());
            let mut client = host.client()?;
            client.add_lockspace(&spec, None, false).map_err(|err| host.failure(&err))?;
            pending.push((index, client));
        }
        narrator.say(&format!(
            "every host joins lockspace '{LOCKSPACE}' in the background, as host_ids 1 to {}",
            self.hosts.len()
        ))?;
        let started = OsClock.now();
        let deadline = started + STEP_LIMIT;
        while !pending.is_empty() {
            if OsClock.now() > deadline {
                return Err(stuck("joining the lockspace did not finish"));
            }
            let mut still = Vec::new();
            for (index, mut client) in pending {
                let host = &self.hosts[index];
                let status = client.status().map_err(|err| host.failure(&err))?;
                let Some(ls) = status.lockspaces.iter().find(|ls| ls.name == LOCKSPACE) else {
                    return Err(stuck(&format!("{} forgot the lockspace", host.name)));
                };
                match ls.state {
                    LockspaceState::Joined => narrator.say(&format!(
                        "{} joined as host_id {} generation {}, in {:.1} s",
                        host.name,
                        ls.host_id,
                        ls.generation.unwrap_or_default(),
                        OsClock.now().saturating_since(started).as_secs_f64()
                    ))?,
                    LockspaceState::Joining => still.push((index, client)),
                    LockspaceState::Failed | LockspaceState::Stopped | LockspaceState::Leaving => {
                        return Err(stuck(&format!("{} could not join: {}", host.name, ls.detail)));
                    }
                }
            }
            pending = still;
            if !pending.is_empty() {
                narrator.pause(POLL)?;
            }
        }
        Ok(())
    }

    /// Waits until `watcher` has seen every host renew, and prints its view.
    fn all_live(&self, watcher: usize, narrator: &Narrator) -> Result<(), Failure> {
        let host = &self.hosts[watcher];
        let mut client = host.client()?;
        let deadline = OsClock.now() + STEP_LIMIT;
        loop {
            let hosts = client.hosts(LOCKSPACE).map_err(|err| host.failure(&err))?.hosts;
            let live = hosts.iter().filter(|h| h.state == HostState::Live).count();
            if live == self.hosts.len() {
                let view: Vec<String> =
                    hosts.iter().map(|h| format!("{} {} {}", h.host_id, h.name, h.state)).collect();
                return narrator.say(&format!(
                    "{} sees every host renew: {}",
                    host.name,
                    view.join(", ")
                ));
            }
            if OsClock.now() > deadline {
                return Err(stuck("the hosts did not see each other renew"));
            }
            narrator.pause(POLL)?;
        }
    }

    /// Starts a VM: a process that sleeps until it is ended.
    fn holder(&mut self) -> Result<u32, Failure> {
        let child =
            start_holder().map_err(|err| io_failure(format!("cannot start sleep: {err}")))?;
        let pid = child.id();
        self.vms.push(child);
        Ok(pid)
    }

    /// Ends the VM process `pid`.
    fn end_holder(&mut self, pid: u32) {
        if let Some(index) = self.vms.iter().position(|c| c.id() == pid) {
            let mut child = self.vms.swap_remove(index);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn acquire(
        &self,
        host: usize,
        spec: &str,
        pid: u32,
        narrator: &Narrator,
    ) -> Result<LeaseStatus, Failure> {
        let host = &self.hosts[host];
        let options = AcquireOptions { pid: Some(pid), ..AcquireOptions::default() };
        let mut leases =
            host.client()?.acquire(&[spec], options).map_err(|err| host.failure(&err))?;
        let lease = leases.pop().ok_or_else(|| stuck("an acquire granted nothing"))?;
        narrator.say(&format!(
            "{}: acquired {} for its VM process {pid} ({})",
            host.name,
            lease.resource,
            describe(&lease)
        ))?;
        Ok(lease)
    }

    /// Asks `host` for `spec`, which another live host holds: refused.
    fn refused(
        &self,
        host: usize,
        spec: &str,
        pid: u32,
        narrator: &Narrator,
    ) -> Result<(), Failure> {
        let host = &self.hosts[host];
        let options = AcquireOptions { pid: Some(pid), ..AcquireOptions::default() };
        match host.client()?.acquire(&[spec], options) {
            Err(err @ ClientError::Api(_)) => {
                narrator.say(&format!("{}: refused, as it must be: {err}", host.name))
            }
            Err(err) => Err(host.failure(&err)),
            Ok(_) => Err(stuck(&format!("{} acquired a resource another host holds", host.name))),
        }
    }

    /// Acquires on a thread of its own, waiting up to `wait` for the
    /// resource; the answer arrives on the returned channel.
    fn acquire_in_background(
        &self,
        host: usize,
        spec: &str,
        pid: u32,
        wait: Duration,
    ) -> Result<Receiver<Result<LeaseStatus, ClientError>>, Failure> {
        let mut client = self.hosts[host].client()?;
        let spec = spec.to_owned();
        let (send, receive) = mpsc::channel();
        std::thread::spawn(move || {
            let options = AcquireOptions { pid: Some(pid), wait: Some(wait), ..Default::default() };
            let result = client.acquire(&[&spec], options).and_then(|mut leases| {
                leases.pop().ok_or_else(|| ClientError::Protocol("no lease granted".to_owned()))
            });
            let _ = send.send(result);
        });
        Ok(receive)
    }

    fn failure(&self, host: usize, err: &ClientError) -> Failure {
        self.hosts[host].failure(err)
    }

    /// Ends the VMs, then stops each daemon with SIGTERM (it releases its
    /// leases and host_id).
    fn stop(&mut self, narrator: &Narrator) -> Result<(), Failure> {
        for mut vm in self.vms.drain(..) {
            let _ = vm.kill();
            let _ = vm.wait();
        }
        for host in &mut self.hosts {
            if !matches!(host.daemon.child.try_wait(), Ok(None)) {
                continue;
            }
            let status = host
                .daemon
                .stop(Duration::from_secs(10))
                .map_err(|err| io_failure(err.to_string()))?;
            narrator.say(&format!("{} stopped ({status})", host.name))?;
            if !status.success() {
                return Err(stuck(&format!("{} did not stop cleanly", host.name)));
            }
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for vm in &mut self.vms {
            let _ = vm.kill();
            let _ = vm.wait();
        }
    }
}

/// Prints what happens, with the time since the demo began.
struct Narrator {
    start: MonoTime,
    interrupted: Arc<AtomicBool>,
}

impl Narrator {
    fn say(&self, line: &str) -> Result<(), Failure> {
        let elapsed = OsClock.now().saturating_since(self.start).as_secs_f64();
        print(&format!("[{elapsed:5.1}s] {line}\n"))
    }

    /// Waits `duration`, unless interrupted.
    fn pause(&self, duration: Duration) -> Result<(), Failure> {
        if self.interrupted.load(Ordering::Relaxed) {
            return Err(Failure::new(exit::TEMPFAIL, INTERRUPTED, "interrupted"));
        }
        OsClock.sleep_until(OsClock.now() + duration);
        Ok(())
    }

    /// The answer on `receiver`, waiting up to `limit`, unless interrupted.
    fn wait_for<T>(&self, receiver: Receiver<T>, limit: Duration) -> Result<T, Failure> {
        let deadline = OsClock.now() + limit;
        loop {
            match receiver.recv_timeout(POLL) {
                Ok(value) => return Ok(value),
                Err(RecvTimeoutError::Timeout) if OsClock.now() < deadline => {
                    self.pause(Duration::ZERO)?
                }
                Err(_) => return Err(stuck("no answer in time")),
            }
        }
    }
}

fn stuck(message: &str) -> Failure {
    Failure::new(exit::SOFTWARE, "demo", message)
}

fn io_failure(message: String) -> Failure {
    Failure::new(exit::IO, "io", message)
}

/// A directory on a filesystem with direct I/O: $TMPDIR (or /tmp) unless it
/// is tmpfs, else /var/tmp.
fn scratch_base() -> PathBuf {
    let tmp = std::env::temp_dir();
    if on_memory_filesystem(&tmp).unwrap_or(false) { PathBuf::from("/var/tmp") } else { tmp }
}
