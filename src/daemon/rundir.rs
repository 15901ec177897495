//! The run directory and the state directory: one daemon per directory (a
//! lock in each), and the little state that decides whether a rejoin may
//! skip the wait.
//!
//! After a crash of the daemon, processes that held leases through it may
//! still run, so taking its host_ids back at once (and letting other hosts
//! take over their leases) would be unsafe: the rejoin waits like anyone's.
//! After a reboot nothing of the old daemon survives, so a rejoin under our
//! own host name may be immediate. The state file records the kernel's boot
//! id of the boot it was written in; a different boot id now means the host
//! rebooted since. It lives in the state directory (/var/lib/leased, kept
//! across reboots), never in the run directory: /run is emptied at every
//! boot, which would make a reboot look like a first start.
//!
//! Even then, a sector under our name is taken back at once only at the
//! generation this host last joined the lockspace with, which the state
//! file records at every join: a sector under our name at another
//! generation was written by a clone given our name, or by a join that
//! failed but landed late after another machine took the host_id, and
//! whoever held leases under it may still run.
//!
//! It also records whether the daemon holds a watchdog device armed. A
//! daemon that died with it armed leaves the host to be reset; a new daemon
//! in the same boot must not open the device and keep it alive, which would
//! call that reset off while the old daemon's holders may still run. The
//! record counts only in the boot that wrote it. One left in the run
//! directory by an older leased of this boot counts too.
//!
//! A state file that cannot be parsed stops the start: guessing either way
//! would risk a fast rejoin after a crash or keeping a doomed device alive.
//! Writes go to a temporary file renamed over the old one, so a power loss
//! leaves the old record or the new one. Tests give the boot id through
//! `LEASED_BOOT_ID_FILE` (see [`BOOT_ID_FILE_ENV`]); covered by the tests
//! below and `tests/daemon.rs` (a restart with a new boot id).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::delta::Reacquire;

const PID_FILE: &str = "leased.pid";
const STATE_FILE: &str = "leased.state";
/// Held by the daemon using a state directory.
const STATE_LOCK: &str = "leased.lock";
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";
/// Names a file to read the boot id from instead of the kernel's, so that a
/// test can restart a daemon "after a reboot". For tests only: a wrong boot
/// id lets a restart after a crash rejoin at once.
pub const BOOT_ID_FILE_ENV: &str = "LEASED_BOOT_ID_FILE";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct State {
    boot_id: String,
    /// A watchdog device is armed by the daemon of this boot.
    #[serde(default)]
    watchdog_armed: bool,
    /// Each lockspace's last join, in whatever boot.
    #[serde(default)]
    joined: BTreeMap<String, Joined>,
}

/// The host_id and generation a lockspace was joined with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Joined {
    host_id: u64,
    generation: u64,
}

/// A run directory and a state directory held by this daemon.
pub struct RunDir {
    path: PathBuf,
    state_dir: PathBuf,
    _lock: Flock<File>,
    _state_lock: Flock<File>,
    boot_id: String,
    /// The host rebooted since the state directory was last used.
    rebooted: bool,
    /// The joins recorded before this boot, if the host rebooted since:
    /// their holders are gone.
    before_boot: BTreeMap<String, Joined>,
    armed_before: bool,
    /// What the state file says.
    state: Mutex<State>,
}

/// Why the run or state directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("{path}: {source}", path = path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("another leased (pid {pid}) already uses the {what} {path}", path = path.display())]
    Busy { what: &'static str, path: PathBuf, pid: String },
    #[error(
        "{path}: not a leased state file ({reason}); remove it to start anyway, and the next \
         rejoin waits as after a crash",
        path = path.display()
    )]
    BadState { path: PathBuf, reason: String },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> RunDirError + '_ {
    move |source| RunDirError::Io { path: path.to_owned(), source }
}

/// Why a pid file of sanlock's kind could not be locked.
#[derive(Debug)]
pub enum PidLock {
    /// Another process holds it; the pid it wrote there.
    Taken {
        pid: String,
    },
    Io(std::io::Error),
}

/// Opens `path` (made if missing) and takes an fcntl write lock on the
/// whole file, as sanlock and wdmd lock their pid files, so that one of
/// them or leased serves a directory. The lock lasts while the file stays
/// open in this process (closing any descriptor of it drops it).
pub fn lock_pid_file(path: &Path) -> Result<File, PidLock> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(PidLock::Io)?;
    let whole_file = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    match nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETLK(&whole_file)) {
        Ok(_) => Ok(file),
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => {
            let pid = std::fs::read_to_string(path).unwrap_or_default().trim().to_owned();
            Err(PidLock::Taken { pid })
        }
        Err(errno) => Err(PidLock::Io(errno.into())),
    }
}

/// Creates `dir` (the `what`) if missing and locks `name` in it for this
/// process, which it records there.
fn lock_in(dir: &Path, what: &'static str, name: &str) -> Result<Flock<File>, RunDirError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let path = dir.join(name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_error(&path))?;
    let mut lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == nix::errno::Errno::EWOULDBLOCK {
            let pid = std::fs::read_to_string(&path).unwrap_or_default().trim().to_owned();
            RunDirError::Busy { what, path: dir.to_owned(), pid }
        } else {
            RunDirError::Io { path: path.clone(), source: errno.into() }
        }
    })?;
    lock.set_len(0).map_err(io_error(&path))?;
    writeln!(lock, "{}", std::process::id()).map_err(io_error(&path))?;
    Ok(lock)
}

/// The kernel's id of this boot (or the test's, see [`BOOT_ID_FILE_ENV`]);
/// empty if unknown, which never counts as a reboot.
fn boot_id() -> String {
    let source = std::env::var_os(BOOT_ID_FILE_ENV).map_or_else(|| BOOT_ID.into(), PathBuf::from);
    std::fs::read_to_string(source).unwrap_or_default().trim().to_owned()
}

/// The state recorded at `path`, if any.
fn read_state(path: &Path) -> Result<Option<State>, RunDirError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|err| RunDirError::BadState {
            path: path.to_owned(),
            reason: err.to_string(),
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RunDirError::Io { path: path.to_owned(), source }),
    }
}

/// Replaces the file at `path` by `text`, durably and all at once.
fn write_atomically(path: &Path, text: &str) -> Result<(), RunDirError> {
    let temporary = path.with_extension("new");
    let mut file = File::create(&temporary).map_err(io_error(&temporary))?;
    file.write_all(text.as_bytes()).map_err(io_error(&temporary))?;
    file.sync_all().map_err(io_error(&temporary))?;
    std::fs::rename(&temporary, path).map_err(io_error(path))?;
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir))?;
    }
    Ok(())
}

/// Whether a leased of this boot that kept its record in the run
/// directory (before the state directory existed) left its watchdog armed:
/// an upgrade must not call that reset off either.
fn armed_by_an_older_leased(run_dir: &Path, boot_id: &str) -> bool {
    let older = read_state(&run_dir.join(STATE_FILE)).ok().flatten();
    older.is_some_and(|state| state.boot_id == boot_id && state.watchdog_armed)
}

impl RunDir {
    /// Takes the run directory `path` and the state directory `state_dir`
    /// (each created if missing) for this daemon.
    pub fn take(path: &Path, state_dir: &Path) -> Result<RunDir, RunDirError> {
        let lock = lock_in(path, "run directory", PID_FILE)?;
        let state_lock = lock_in(state_dir, "state directory", STATE_LOCK)?;
        let boot_id = boot_id();
        let previous = read_state(&state_dir.join(STATE_FILE))?;
        let same_boot = previous.as_ref().is_some_and(|p| p.boot_id == boot_id);
        let rebooted = previous.is_some() && !boot_id.is_empty() && !same_boot;
        let armed_before = same_boot && previous.as_ref().is_some_and(|p| p.watchdog_armed)
            || armed_by_an_older_leased(path, &boot_id);
        let joined = previous.map(|p| p.joined).unwrap_or_default();
        let before_boot = if rebooted { joined.clone() } else { BTreeMap::new() };
        let state = State { boot_id: boot_id.clone(), watchdog_armed: armed_before, joined };
        let run_dir = RunDir {
            path: path.to_owned(),
            state_dir: state_dir.to_owned(),
            _lock: lock,
            _state_lock: state_lock,
            boot_id,
            rebooted,
            before_boot,
            armed_before,
            state: Mutex::new(state),
        };
        // An armed device left by an earlier daemon stays on record until
        // the reboot it causes.
        run_dir.record_watchdog(armed_before)?;
        Ok(run_dir)
    }

    /// Records whether this daemon holds a watchdog device armed.
    pub fn record_watchdog(&self, armed: bool) -> Result<(), RunDirError> {
        self.record(|state| state.watchdog_armed = armed)
    }

    /// Records that `lockspace` was joined as `host_id` at `generation`.
    pub fn record_join(
        &self,
        lockspace: &str,
        host_id: u64,
        generation: u64,
    ) -> Result<(), RunDirError> {
        self.record(|state| {
            state.joined.insert(lockspace.to_owned(), Joined { host_id, generation });
        })
    }

    /// Changes the state and writes it, under the state's lock so that
    /// concurrent records are written in the order they were made.
    fn record(&self, change: impl FnOnce(&mut State)) -> Result<(), RunDirError> {
        let mut state = self.state.lock().expect("state lock");
        change(&mut state);
        state.boot_id.clone_from(&self.boot_id);
        let text = serde_json::to_string(&*state).expect("state serializes");
        write_atomically(&self.state_file(), &text)
    }

    /// How a join of `lockspace` as `host_id` may take back a sector under
    /// our name: at once at the generation joined before a reboot.
    pub fn reacquire(&self, lockspace: &str, host_id: u64) -> Reacquire {
        match self.before_boot.get(lockspace) {
            Some(joined) if joined.host_id == host_id => Reacquire::Generation(joined.generation),
            _ => Reacquire::Wait,
        }
    }

    /// Whether an earlier daemon of this boot exited with its watchdog
    /// device armed: the host is to be reset, and no daemon may keep the
    /// device alive before that.
    pub fn watchdog_left_armed(&self) -> bool {
        self.armed_before
    }

    /// The state file, which an operator may remove to start anyway.
    pub fn state_file(&self) -> PathBuf {
        self.state_dir.join(STATE_FILE)
    }

    /// The run directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the host rebooted since the state directory was last used,
    /// so that nothing of an earlier daemon can still hold leases.
    pub fn rebooted(&self) -> bool {
        self.rebooted
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
        let take = || RunDir::take(&dir.path().join("run"), &dir.path().join("state"));
        let first = take().unwrap();
        assert!(!first.rebooted(), "first use: no state to trust");
        let busy = take().err().expect("the directory is taken");
        assert!(busy.to_string().contains(&std::process::id().to_string()), "{busy}");
        let state_busy = RunDir::take(&dir.path().join("run2"), &dir.path().join("state"))
            .err()
            .expect("the state directory is taken too");
        assert!(state_busy.to_string().contains("uses the state directory"), "{state_busy}");
        drop(first);
        let again = take().unwrap();
        assert!(!again.rebooted(), "same boot: an earlier daemon's holders may run");
        drop(again);
        std::fs::write(dir.path().join("state").join(STATE_FILE), r#"{"boot_id":"another-boot"}"#)
            .unwrap();
        assert!(take().unwrap().rebooted());
    }

    #[test]
    fn a_watchdog_left_armed_is_remembered_until_a_reboot() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let take = || RunDir::take(&dir.path().join("run"), &dir.path().join("state"));
        let first = take().unwrap();
        assert!(!first.watchdog_left_armed());
        first.record_watchdog(true).unwrap();
        drop(first); // as if the daemon died with the device armed
        let second = take().unwrap();
        assert!(second.watchdog_left_armed());
        drop(second); // refused to start: the record stays
        let third = take().unwrap();
        assert!(third.watchdog_left_armed(), "kept until the reboot");
        third.record_watchdog(false).unwrap();
        drop(third);
        let armed_elsewhere = r#"{"boot_id":"another-boot","watchdog_armed":true}"#;
        std::fs::write(dir.path().join("state").join(STATE_FILE), armed_elsewhere).unwrap();
        let after_reboot = take().unwrap();
        assert!(!after_reboot.watchdog_left_armed(), "the reset came");
        assert!(after_reboot.rebooted());
    }

    #[test]
    fn a_watchdog_left_armed_by_an_older_leased_in_the_run_directory_counts() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        let armed = State { boot_id: boot_id(), watchdog_armed: true, ..State::default() };
        std::fs::write(run.join(STATE_FILE), serde_json::to_string(&armed).unwrap()).unwrap();
        let taken = RunDir::take(&run, &dir.path().join("state")).unwrap();
        assert!(taken.watchdog_left_armed());
    }

    #[test]
    fn only_the_generation_joined_before_a_reboot_is_taken_back_at_once() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let take = || RunDir::take(&dir.path().join("run"), &dir.path().join("state"));
        let first = take().unwrap();
        assert_eq!(first.reacquire("ls", 3), Reacquire::Wait);
        first.record_join("ls", 3, 7).unwrap();
        first.record_watchdog(true).unwrap();
        drop(first);
        let same_boot = take().unwrap();
        assert_eq!(same_boot.reacquire("ls", 3), Reacquire::Wait, "its holders may run");
        drop(same_boot);
        let state_file = dir.path().join("state").join(STATE_FILE);
        let text = std::fs::read_to_string(&state_file).unwrap();
        let rebooted = text.replace(&boot_id(), "another-boot");
        assert_ne!(rebooted, text, "the boot id is recorded");
        std::fs::write(&state_file, rebooted).unwrap();
        let after_reboot = take().unwrap();
        assert_eq!(after_reboot.reacquire("ls", 3), Reacquire::Generation(7));
        assert_eq!(after_reboot.reacquire("ls", 4), Reacquire::Wait, "another host_id");
        assert_eq!(after_reboot.reacquire("other", 3), Reacquire::Wait);
        // A join in this boot is recorded for the next reboot; this boot's
        // rejoins still compare with the generation before the reboot.
        after_reboot.record_join("ls", 3, 8).unwrap();
        assert_eq!(after_reboot.reacquire("ls", 3), Reacquire::Generation(7));
        assert!(std::fs::read_to_string(&state_file).unwrap().contains("\"generation\":8"));
    }

    #[test]
    fn a_damaged_state_file_stops_the_start() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join(STATE_FILE), "{\"boot_id\":").unwrap();
        let refused = RunDir::take(&dir.path().join("run"), &state).err().expect("refused");
        assert!(refused.to_string().contains("leased.state"), "{refused}");
    }
}
