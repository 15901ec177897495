//! Processes that hold leases, tracked by pidfd: a pidfd names one process
//! for good, so a reused pid can never inherit another process's leases,
//! and it becomes readable the moment the process exits.
//!
//! A process comes from a pidfd a client sent ([`Process::from_pidfd`]),
//! from the socket's peer, or (for a client in leased's own pid namespace
//! only) from a pid number ([`Process::open`]): a number written by a
//! client in another pid namespace means another process here, so it is
//! never opened ([`in_our_pid_namespace`]).

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::pidfd::{self, PidfdError};

/// A process, held by pidfd.
#[derive(Debug)]
pub struct Process {
    /// Its pid in leased's pid namespace.
    pub pid: u32,
    pidfd: OwnedFd,
}

impl Process {
    /// Opens `pid` of leased's namespace; fails if it does not exist.
    pub fn open(pid: u32) -> io::Result<Process> {
        Ok(Process { pid, pidfd: pidfd::open(pid)? })
    }

    /// The process of `pidfd`, from any pid namespace, under its pid in
    /// leased's.
    pub fn from_pidfd(pidfd: OwnedFd) -> Result<Process, PidfdError> {
        Ok(Process { pid: pidfd::pid_of(pidfd.as_fd())?, pidfd })
    }

    /// Whether the process still runs (a zombie counts as exited).
    pub fn alive(&self) -> bool {
        let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
        !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
    }

    /// Whether `self` and `earlier` (opened before this call) are one
    /// process: `earlier` runs now, after `self` ran, so both ran at once
    /// under one pid.
    pub fn same_as(&self, earlier: &Process) -> bool {
        self.pid == earlier.pid && self.alive() && earlier.alive()
    }

    /// Sends `signal` to this very process (never to a reused pid).
    pub fn signal(&self, signal: i32) -> io::Result<()> {
        pidfd::send_signal(self.pidfd.as_fd(), signal)
    }
}

/// Whether `process` lives in leased's own pid namespace, so that pid
/// numbers it writes mean the same processes here. Unknown counts as no.
pub fn in_our_pid_namespace(process: &Process) -> bool {
    let ours = std::fs::metadata("/proc/self/ns/pid");
    let theirs = std::fs::metadata(format!("/proc/{}/ns/pid", process.pid));
    let same = match (ours, theirs) {
        (Ok(ours), Ok(theirs)) => {
            use std::os::unix::fs::MetadataExt;
            (ours.dev(), ours.ino()) == (theirs.dev(), theirs.ino())
        }
        _ => false,
    };
    // Still running after the read: /proc spoke of this very process.
    same && process.alive()
}

/// The parent of `pid`, from /proc.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after_name = stat.rsplit_once(')')?.1;
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// The supplementary groups of `pid`, from /proc.
pub fn groups_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| line.strip_prefix("Groups:").map(str::to_owned))
        })
        .map(|groups| groups.split_whitespace().filter_map(|g| g.parse().ok()).collect())
        .unwrap_or_default()
}

/// Watches processes and reports each one's exit once, from one thread.
pub struct ExitWatcher {
    watched: Arc<Mutex<BTreeMap<u32, Arc<Process>>>>,
    wake: OwnedFd,
}

impl ExitWatcher {
    /// Starts the watcher; `on_exit` runs on its thread for each exit.
    pub fn start(on_exit: impl Fn(Arc<Process>) + Send + 'static) -> io::Result<ExitWatcher> {
        let (wake_read, wake_write) = nix::unistd::pipe().map_err(io::Error::from)?;
        let watched: Arc<Mutex<BTreeMap<u32, Arc<Process>>>> = Arc::default();
        let list = Arc::clone(&watched);
        std::thread::Builder::new()
            .name("leased-exits".to_owned())
            .spawn(move || watch(&list, &wake_read, &on_exit))?;
        Ok(ExitWatcher { watched, wake: wake_write })
    }

    /// Watches `process` until it exits (once per pid).
    pub fn watch(&self, process: Arc<Process>) {
        self.watched.lock().expect("watch lock").entry(process.pid).or_insert(process);
        // A byte in the pipe makes the thread rebuild its poll set.
        let _ = nix::unistd::write(&self.wake, &[1]);
    }

    /// Stops watching `pid`.
    pub fn forget(&self, pid: u32) {
        self.watched.lock().expect("watch lock").remove(&pid);
        let _ = nix::unistd::write(&self.wake, &[1]);
    }

    /// The process watched under `pid`, if any.
    pub fn get(&self, pid: u32) -> Option<Arc<Process>> {
        self.watched.lock().expect("watch lock").get(&pid).cloned()
    }
}

fn watch(
    watched: &Mutex<BTreeMap<u32, Arc<Process>>>,
    wake: &OwnedFd,
    on_exit: &dyn Fn(Arc<Process>),
) {
    loop {
        let processes: Vec<Arc<Process>> =
            watched.lock().expect("watch lock").values().cloned().collect();
        let mut fds = vec![PollFd::new(wake.as_fd(), PollFlags::POLLIN)];
        fds.extend(processes.iter().map(|p| PollFd::new(p.pidfd.as_fd(), PollFlags::POLLIN)));
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let woken = fds[0].revents().is_some_and(|r| !r.is_empty());
        let exited: Vec<Arc<Process>> = fds[1..]
            .iter()
            .zip(&processes)
            .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, p)| Arc::clone(p))
            .collect();
        drop(fds);
        if woken {
            let mut buf = [0u8; 64];
            let _ = nix::unistd::read(wake, &mut buf);
        }
        for process in exited {
            let removed = watched.lock().expect("watch lock").remove(&process.pid);
            if removed.is_some_and(|p| Arc::ptr_eq(&p, &process)) {
                on_exit(process);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn an_exit_is_reported_once_and_signals_reach_the_process() {
        let (tx, rx) = mpsc::channel();
        let watcher = ExitWatcher::start(move |p| tx.send(p.pid).unwrap()).unwrap();
        let mut child = std::process::Command::new("sleep").arg("600").spawn().unwrap();
        let process = Arc::new(Process::open(child.id()).unwrap());
        assert!(process.alive());
        assert_eq!(parent_of(child.id()), Some(std::process::id()));
        watcher.watch(Arc::clone(&process));
        process.signal(libc::SIGKILL).unwrap();
        assert_eq!(rx.recv().unwrap(), child.id());
        child.wait().unwrap();
        assert!(!process.alive());
        assert!(rx.try_recv().is_err(), "reported once");
        assert!(Process::open(u32::MAX).is_err());
        let me = Process::from_pidfd(pidfd::open(std::process::id()).unwrap()).unwrap();
        assert!(in_our_pid_namespace(&me));
        assert!(me.same_as(&Process::open(std::process::id()).unwrap()));
        assert!(!process.same_as(&me));
    }
}
