//! The run directory: one daemon per directory (a lock on its pid file),
//! and the little state that decides whether a rejoin may skip the wait.
//!
//! After a crash of the daemon, processes that held leases through it may
//! still run, so taking its host_ids back at once (and letting other hosts
//! take over their leases) would be unsafe: the rejoin waits like anyone's.
//! After a reboot nothing of the old daemon survives, so a rejoin under our
//! own host name may be immediate. The state file records the boot it was
//! written in; a different boot id now means the host rebooted since.
//!
//! It also records whether the daemon holds a watchdog device armed. A
//! daemon that died with it armed leaves the host to be reset; a new daemon
//! in the same boot must not open the device and keep it alive, which would
//! call that reset off while the old daemon's holders may still run.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

const PID_FILE: &str = "leased.pid";
const STATE_FILE: &str = "leased.state";
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    boot_id: String,
    /// A watchdog device is armed by the daemon of this boot.
    #[serde(default)]
    watchdog_armed: bool,
}

/// A run directory held by this daemon.
pub struct RunDir {
    path: PathBuf,
    _lock: Flock<File>,
    boot_id: String,
    fast_reacquire: bool,
    armed_before: bool,
}

/// Why the run directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("{path}: {source}", path = path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("another leased (pid {pid}) already uses the run directory {path}", path = path.display())]
    Busy { path: PathBuf, pid: String },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> RunDirError + '_ {
    move |source| RunDirError::Io { path: path.to_owned(), source }
}

impl RunDir {
    /// Takes `path` (created if missing) for this daemon.
    pub fn take(path: &Path) -> Result<RunDir, RunDirError> {
        std::fs::create_dir_all(path).map_err(io_error(path))?;
        let pid_path = path.join(PID_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&pid_path)
            .map_err(io_error(&pid_path))?;
        let mut lock =
            Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
                if errno == nix::errno::Errno::EWOULDBLOCK {
                    let pid =
                        std::fs::read_to_string(&pid_path).unwrap_or_default().trim().to_owned();
                    RunDirError::Busy { path: path.to_owned(), pid }
                } else {
                    RunDirError::Io { path: pid_path.clone(), source: errno.into() }
                }
            })?;
        lock.set_len(0).map_err(io_error(&pid_path))?;
        writeln!(lock, "{}", std::process::id()).map_err(io_error(&pid_path))?;
        let boot_id = std::fs::read_to_string(BOOT_ID).unwrap_or_default().trim().to_owned();
        let state_path = path.join(STATE_FILE);
        let previous: Option<State> = std::fs::read_to_string(&state_path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        let same_boot = previous.as_ref().is_some_and(|p| p.boot_id == boot_id);
        let fast_reacquire = previous.is_some() && !boot_id.is_empty() && !same_boot;
        let armed_before = same_boot && previous.is_some_and(|p| p.watchdog_armed);
        let run_dir =
            RunDir { path: path.to_owned(), _lock: lock, boot_id, fast_reacquire, armed_before };
        // An armed device left by an earlier daemon stays on record until
        // the reboot it causes.
        run_dir.record_watchdog(armed_before)?;
        Ok(run_dir)
    }

    /// Records whether this daemon holds a watchdog device armed.
    pub fn record_watchdog(&self, armed: bool) -> Result<(), RunDirError> {
        let state = State { boot_id: self.boot_id.clone(), watchdog_armed: armed };
        let text = serde_json::to_string(&state).expect("state serializes");
        let state_path = self.path.join(STATE_FILE);
        std::fs::write(&state_path, text).map_err(io_error(&state_path))
    }

    /// Whether an earlier daemon of this boot exited with its watchdog
    /// device armed: the host is to be reset, and no daemon may keep the
    /// device alive before that.
    pub fn watchdog_left_armed(&self) -> bool {
        self.armed_before
    }

    /// The state file, which an operator may remove to start anyway.
    pub fn state_file(&self) -> PathBuf {
        self.path.join(STATE_FILE)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the host rebooted since this directory was last used, so
    /// that nothing of an earlier daemon can still hold leases.
    pub fn fast_reacquire(&self) -> bool {
        self.fast_reacquire
    }

    /// Makes the socket usable by root and `group` only (0660).
    pub fn secure_socket(&self, socket: &Path, group: Option<u32>) -> Result<(), RunDirError> {
        if let Some(gid) = group {
            nix::unistd::chown(socket, None, Some(nix::unistd::Gid::from_raw(gid))).map_err(
                |errno| RunDirError::Io { path: socket.to_owned(), source: errno.into() },
            )?;
        }
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660))
            .map_err(io_error(socket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_daemon_per_directory_and_reboots_are_noticed() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let first = RunDir::take(dir.path()).unwrap();
        assert!(!first.fast_reacquire(), "first use: no state to trust");
        let busy = RunDir::take(dir.path()).err().expect("the directory is taken");
        assert!(busy.to_string().contains(&std::process::id().to_string()), "{busy}");
        drop(first);
        let again = RunDir::take(dir.path()).unwrap();
        assert!(!again.fast_reacquire(), "same boot: an earlier daemon's holders may run");
        drop(again);
        std::fs::write(dir.path().join(STATE_FILE), r#"{"boot_id":"another-boot"}"#).unwrap();
        assert!(RunDir::take(dir.path()).unwrap().fast_reacquire());
    }

    #[test]
    fn a_watchdog_left_armed_is_remembered_until_a_reboot() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let first = RunDir::take(dir.path()).unwrap();
        assert!(!first.watchdog_left_armed());
        first.record_watchdog(true).unwrap();
        drop(first); // as if the daemon died with the device armed
        let second = RunDir::take(dir.path()).unwrap();
        assert!(second.watchdog_left_armed());
        drop(second); // refused to start: the record stays
        let third = RunDir::take(dir.path()).unwrap();
        assert!(third.watchdog_left_armed(), "kept until the reboot");
        third.record_watchdog(false).unwrap();
        drop(third);
        let armed_elsewhere = r#"{"boot_id":"another-boot","watchdog_armed":true}"#;
        std::fs::write(dir.path().join(STATE_FILE), armed_elsewhere).unwrap();
        let after_reboot = RunDir::take(dir.path()).unwrap();
        assert!(!after_reboot.watchdog_left_armed(), "the reset came");
        assert!(after_reboot.fast_reacquire());
    }
}
