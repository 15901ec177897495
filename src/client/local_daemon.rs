//! A `leased` started by this process: the demo's hosts, the benchmark's
//! daemon, the tests' clusters. Each has its own run directory, so several
//! run side by side as distinct hosts, and the test watchdog device, which
//! records its keepalives in the run directory ([`LocalDaemon::pet_log`])
//! and never resets anything.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{Client, ClientError, SOCKET_NAME};
use crate::clock::{Clock, OsClock};

const POLL: Duration = Duration::from_millis(20);
/// The test watchdog device's record, in the run directory.
const PET_LOG: &str = "watchdog.pets";

/// How to start one daemon.
pub struct Launch<'a> {
    /// The program and the arguments before leased's own: `leased`, or
    /// `lease` with `["leased"]`.
    pub program: &'a Path,
    pub program_args: &'a [&'a str],
    /// This host's name in lockspaces.
    pub host_name: &'a str,
    pub run_dir: PathBuf,
    /// Where the daemon's stderr (its log) goes.
    pub log: PathBuf,
    /// Further `leased` options.
    pub args: &'a [&'a str],
    /// Put the daemon in a process group of its own and have the kernel
    /// kill it if this process dies first: for a tool that must not leave
    /// daemons behind when interrupted.
    pub tied: bool,
}

/// A running `leased`; killed when dropped.
pub struct LocalDaemon {
    pub host_name: String,
    pub run_dir: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub child: Child,
}

impl LocalDaemon {
    /// Starts a daemon and waits up to `ready` for it to answer on its
    /// socket. Environment `RUST_LOG` and `LEASED_RUN_DIR` are overridden.
    pub fn start(launch: Launch<'_>, log_level: &str, ready: Duration) -> io::Result<LocalDaemon> {
        let log = File::create(&launch.log)?;
        let mut watchdog = std::ffi::OsString::from("file:");
        watchdog.push(launch.run_dir.join(PET_LOG));
        let mut command = Command::new(launch.program);
        command
            .args(launch.program_args)
            .args(["--host-name", launch.host_name])
            .arg("--run-dir")
            .arg(&launch.run_dir)
            .arg("--watchdog")
            .arg(watchdog)
            .args(launch.args)
            .env("RUST_LOG", log_level)
            .env("LEASED_RUN_DIR", &launch.run_dir)
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if launch.tied {
            tie_to_this_process(&mut command);
        }
        let child = command.spawn().map_err(|err| {
            io::Error::new(err.kind(), format!("cannot start {}: {err}", launch.program.display()))
        })?;
        let mut daemon = LocalDaemon {
            host_name: launch.host_name.to_owned(),
            socket: launch.run_dir.join(SOCKET_NAME),
            run_dir: launch.run_dir,
            log: launch.log,
            child,
        };
        daemon.wait_ready(ready)?;
        Ok(daemon)
    }

    fn wait_ready(&mut self, limit: Duration) -> io::Result<()> {
        let deadline = OsClock.now() + limit;
        while self.client().and_then(|mut client| client.version()).is_err() {
            if let Some(status) = self.child.try_wait()? {
                return Err(self.error(&format!("exited at start ({status})")));
            }
            if OsClock.now() > deadline {
                return Err(self.error("did not answer on its socket"));
            }
            OsClock.sleep_until(OsClock.now() + POLL);
        }
        Ok(())
    }

    fn error(&self, what: &str) -> io::Error {
        io::Error::other(format!(
            "leased {} {what}; its log: {}",
            self.host_name,
            self.log.display()
        ))
    }

    /// Where the test watchdog device records its keepalives.
    pub fn pet_log(&self) -> PathBuf {
        self.run_dir.join(PET_LOG)
    }

    pub fn client(&self) -> Result<Client, ClientError> {
        Client::connect(&self.socket)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        let pid = Pid::from_raw(i32::try_from(self.pid()).expect("pids fit in i32"));
        kill(pid, signal).map_err(io::Error::from)
    }

    /// Stops the daemon with SIGTERM (it releases what it holds) and reaps
    /// it; if it has not exited within `limit`, kills it and says so.
    pub fn stop(&mut self, limit: Duration) -> io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        self.signal(Signal::SIGTERM)?;
        let deadline = OsClock.now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if OsClock.now() > deadline {
                self.kill();
                return Err(self.error("did not stop after SIGTERM: killed"));
            }
            OsClock.sleep_until(OsClock.now() + POLL);
        }
    }

    /// SIGKILLs the daemon and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The daemon's resident set size and its peak, in KiB, from
    /// /proc/PID/status.
    pub fn memory_kib(&self) -> io::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .ok_or_else(|| io::Error::other(format!("no {name} in /proc status")))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }
}

impl Drop for LocalDaemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts this program's hidden `leased` command (the daemon of this very
/// build) as host `host_name`, with `leased` options `args`: run directory
/// `dir/run-NAME`, log `dir/NAME.log`, and an empty configuration file in
/// `dir` so that /etc/leased is not read. Tied to this process (see
/// [`tie_to_this_process`]): for tools that start their own hosts.
pub fn start_own(dir: &Path, host_name: &str, args: &[&str]) -> io::Result<LocalDaemon> {
    let program = std::env::current_exe()?;
    let config = dir.join("leased.conf");
    std::fs::write(&config, "")?;
    let config = config.to_str().ok_or_else(|| io::Error::other("a path that is not UTF-8"))?;
    let launch = Launch {
        program: &program,
        program_args: &["leased"],
        host_name,
        run_dir: dir.join(format!("run-{host_name}")),
        log: dir.join(format!("{host_name}.log")),
        args: &[&["--config", config], args].concat(),
        tied: true,
    };
    LocalDaemon::start(launch, "info", Duration::from_secs(10))
}

/// Starts a stand-in for a process that holds leases, such as a VM:
/// `sleep` until killed, tied to this process.
pub fn start_holder() -> io::Result<Child> {
    let mut command = Command::new("sleep");
    command.arg("86400");
    tie_to_this_process(&mut command);
    command.spawn()
}

/// Starts `command` in a process group of its own, so that a Ctrl-C reaches
/// only this process (which then stops its children in order), and has the
/// kernel SIGKILL it if this process dies first. Spawn from the main thread:
/// the death signal follows the spawning thread.
pub fn tie_to_this_process(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no
    // memory of the parent; it is all that runs between fork and exec.
    unsafe {
        command
            .pre_exec(|| nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from));
    }
}
