//! What a `leased` keeps across restarts and reboots, in its state
//! directory: the boot record that tells a reboot (host_ids taken back at
//! once) from a crash (a rejoin waits, and a watchdog left armed keeps the
//! host doomed), and the host name generated once per installation. Real
//! daemons, a real lease file; a reboot is a new boot id (through
//! `LEASED_BOOT_ID_FILE`) and an emptied run directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{lease_file, scratch, wait_for};
use lease::client::local_daemon::LocalDaemon;
use lease::client::{Client, SOCKET_NAME};
use lease::clock::{Clock, OsClock};

/// io_timeout 1 s and fire timeout 3 s: a rejoin that must wait takes at
/// least 8 + 3 = 11 s.
const IO_TIMEOUT_S: u8 = 1;
const HOST_DEAD_S: u64 = 8 * IO_TIMEOUT_S as u64 + 3;

/// A daemon with run directory `dir/run`, the given options and
/// environment, and no host name unless `args` gives one.
fn start(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Result<LocalDaemon, String> {
    let run_dir = dir.join("run");
    let log = dir.join(format!("leased-{}.log", std::fs::read_dir(dir).unwrap().count()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_leased"));
    command
        .args(["--config", "/dev/null", "--watchdog-fire-timeout", "3", "--run-dir"])
        .arg(&run_dir)
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut daemon = LocalDaemon {
        host_name: String::new(),
        socket: run_dir.join(SOCKET_NAME),
        run_dir,
        log,
        child: command.spawn().unwrap(),
    };
    let ready = wait_for(Duration::from_secs(10), "leased answers", || {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            return Some(Err(format!("{status}: {}", log_of(&daemon))));
        }
        daemon.client().and_then(|mut c| c.version()).ok().map(|v| Ok(v.host_name))
    })?;
    daemon.host_name = ready;
    Ok(daemon)
}

fn log_of(daemon: &LocalDaemon) -> String {
    std::fs::read_to_string(&daemon.log).unwrap()
}

fn client(daemon: &LocalDaemon) -> Client {
    daemon.client().unwrap()
}

fn lockspace_state(daemon: &LocalDaemon) -> String {
    let status = client(daemon).status().unwrap();
    serde_json::to_value(status.lockspaces[0].state).unwrap().as_str().unwrap().to_owned()
}

const REBOOTED: &str = "the host rebooted since the last run";

/// One machine named "a" with a state directory and a lease file, that
/// can be rebooted: its daemons read the boot id from a file of ours.
struct Machine {
    dir: tempfile::TempDir,
    /// host_id 1 in lockspace "ls" of the lease file.
    spec: String,
    boot_id: PathBuf,
}

impl Machine {
    fn new() -> Machine {
        let dir = scratch();
        let path = lease_file(dir.path(), 0, IO_TIMEOUT_S);
        let boot_id = dir.path().join("boot_id");
        std::fs::write(&boot_id, "boot-1\n").unwrap();
        Machine { spec: format!("ls:1:{path}:0"), boot_id, dir }
    }

    /// Starts a daemon with the test watchdog device ("file") or `watchdog`.
    fn start(&self, watchdog: &str) -> Result<LocalDaemon, String> {
        let pets = format!("file:{}", self.dir.path().join("pets").display());
        let watchdog = if watchdog == "file" { pets.as_str() } else { watchdog };
        let state_dir = self.dir.path().join("state");
        let args = ["--host-name", "a", "--state-dir", state_dir.to_str().unwrap()];
        let args = [&args[..], &["--watchdog", watchdog]].concat();
        start(self.dir.path(), &args, &[("LEASED_BOOT_ID_FILE", self.boot_id.as_path())])
    }

    /// A reboot: a new boot id, and /run emptied.
    fn reboot(&self, boot_id: &str) {
        std::fs::remove_dir_all(self.dir.path().join("run")).unwrap();
        std::fs::write(&self.boot_id, format!("{boot_id}\n")).unwrap();
    }
}

#[test]
fn a_restart_after_a_reboot_rejoins_at_once_and_one_after_a_crash_waits() {
    let machine = Machine::new();
    let spec = &machine.spec;
    let mut first = machine.start("file").unwrap();
    client(&first).add_lockspace(spec, None, true).unwrap();
    first.kill(); // a crash: the host_id stays held on disk, the device armed

    // The same boot: the armed device is not kept alive, and the rejoin
    // waits for our own host_id to expire like anyone's.
    let refused = machine.start("file").err().expect("refused: the old daemon's device is armed");
    assert!(refused.contains("watchdog armed"), "{refused}");
    let crashed = machine.start("none").unwrap();
    assert!(!log_of(&crashed).contains(REBOOTED), "{}", log_of(&crashed));
    client(&crashed).add_lockspace(spec, None, false).unwrap();
    assert_eq!(lockspace_state(&crashed), "joining");
    drop(crashed);

    // After a reboot, the record of the armed device was about the boot
    // that ended, and our host_id comes back at once, well before the 11 s
    // a stranger's would take.
    machine.reboot("boot-2");
    let rebooted = machine.start("file").unwrap();
    assert!(log_of(&rebooted).contains(REBOOTED), "{}", log_of(&rebooted));
    client(&rebooted).add_lockspace(spec, None, false).unwrap();
    let before_host_dead = Duration::from_secs(HOST_DEAD_S - 2);
    wait_for(before_host_dead, "joined at once after the reboot", || {
        (lockspace_state(&rebooted) == "joined").then_some(())
    });
}

#[test]
fn after_a_reboot_our_name_at_a_generation_we_did_not_hold_is_waited_out() {
    let machine = Machine::new();
    let spec = &machine.spec;
    let mut first = machine.start("none").unwrap();
    client(&first).add_lockspace(spec, None, true).unwrap();
    first.kill();
    // A machine given our host name by mistake takes the host_id under it
    // at a generation this host never held, and may hold leases under it.
    common::lease(&["direct", "acquire-id", "-s", spec, "--host-name", "a", "--fast-reacquire"])
        .ok();

    // After our reboot, the sector under our name is not ours to take back
    // at once: its writer is waited out like a stranger.
    machine.reboot("boot-2");
    let rebooted = machine.start("none").unwrap();
    assert!(log_of(&rebooted).contains(REBOOTED), "{}", log_of(&rebooted));
    let started = OsClock.now();
    client(&rebooted).add_lockspace(spec, None, true).unwrap();
    let took = OsClock.now().saturating_since(started);
    // The join can complete no sooner than HOST_DEAD_S after its first read.
    assert!(took >= Duration::from_secs(HOST_DEAD_S - 1), "joined after {took:?}");
}

#[test]
fn two_fresh_state_directories_give_two_host_names_each_kept_across_restarts() {
    let dir = scratch();
    let names: Vec<String> = ["one", "two"]
        .iter()
        .map(|sub| {
            let home = dir.path().join(sub);
            std::fs::create_dir_all(&home).unwrap();
            let state = home.join("state");
            let env = [("LEASED_STATE_DIR", state.as_path())];
            let first = start(&home, &["--watchdog", "none"], &env).unwrap().host_name.clone();
            let again = start(&home, &["--watchdog", "none"], &env).unwrap().host_name.clone();
            assert_eq!(first, again, "kept in {}", state.display());
            let stored = std::fs::read_to_string(state.join("host-name")).unwrap();
            assert_eq!(stored.trim(), first);
            first
        })
        .collect();
    assert_ne!(names[0], names[1]);
    let machine_id = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    assert!(!names.iter().any(|name| name == machine_id.trim()), "{names:?}");
}
