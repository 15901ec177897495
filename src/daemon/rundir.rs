//! The run directory: one daemon per directory (a lock on its pid file),
//! and the little state that decides whether a rejoin may skip the wait.
//!
//! After a crash of the daemon, processes that held leases through it may
//! still run, so taking its host_ids back at once (and letting other hosts
//! take over their leases) would be unsafe: the rejoin waits like anyone's.
//! After a reboot nothing of the old daemon survives, so a rejoin under our
//! own host name may be immediate. The state file records the boot it was
//! written in; a different boot id now means the host rebooted since.

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
}

/// A run directory held by this daemon.
pub struct RunDir {
    path: PathBuf,
    _lock: Flock<File>,
    fast_reacquire: bool,
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
        let fast_reacquire = previous.is_some_and(|p| !boot_id.is_empty() && p.boot_id != boot_id);
        let state = serde_json::to_string(&State { boot_id }).expect("state serializes");
        std::fs::write(&state_path, state).map_err(io_error(&state_path))?;
        Ok(RunDir { path: path.to_owned(), _lock: lock, fast_reacquire })
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
}
