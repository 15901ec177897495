//! This host's identity in lockspaces, and the state directory that keeps
//! it across reboots.
//!
//! The default host name is generated once per installation (a random UUID
//! from the kernel, then the hostname for operators to read) and stored in
//! the state directory. /etc/machine-id is never used: clones of one disk
//! image share it, and two hosts with one name would each take the other's
//! host_id back as its own after a reboot. Covered by the tests below and
//! `tests/daemon.rs` (two fresh state directories, two names).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ondisk::name::{NAME_BYTES, Name};

/// The state directory when neither the configuration nor the environment
/// names one: where systemd's `StateDirectory=leased` puts it.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/leased";
/// Moves the state directory (for tests and unprivileged use).
pub const STATE_DIR_ENV: &str = "LEASED_STATE_DIR";
/// The generated host name's file in the state directory.
pub const HOST_NAME_FILE: &str = "host-name";
/// A random version 4 UUID, new at each read.
const RANDOM_UUID: &str = "/proc/sys/kernel/random/uuid";

/// The state directory of a daemon whose run directory is `run_dir`:
/// `$LEASED_STATE_DIR`, else /var/lib/leased for the default run directory,
/// else `RUN_DIR/state`, so that two daemons run side by side as two hosts
/// (tests, the demo) never share a host name or a boot record.
pub fn default_state_dir(run_dir: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os(STATE_DIR_ENV) {
        return PathBuf::from(dir);
    }
    if run_dir == Path::new(crate::client::DEFAULT_RUN_DIR) {
        PathBuf::from(DEFAULT_STATE_DIR)
    } else {
        run_dir.join("state")
    }
}

/// This installation's host name, stored in `state_dir`; generated and
/// stored there on first use. A host that rejoins under the same name
/// after a reboot is recognised as itself.
pub fn default_host_name(state_dir: &Path) -> Result<Name, String> {
    let path = state_dir.join(HOST_NAME_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => return stored_name(&path, &text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(format!("{}: {err}", path.display())),
    }
    let generated = generate()?;
    store(state_dir, &path, &generated)?;
    // Another process may have stored its own first: the file decides.
    let text =
        std::fs::read_to_string(&path).map_err(|err| format!("{}: {err}", path.display()))?;
    stored_name(&path, &text)
}

fn stored_name(path: &Path, text: &str) -> Result<Name, String> {
    Name::new(text.trim()).map_err(|err| {
        format!("{}: not a host name ({err}); set host_name or remove the file", path.display())
    })
}

/// A new name: a random UUID, a dot and as much of the hostname as fits.
fn generate() -> Result<String, String> {
    let uuid = std::fs::read_to_string(RANDOM_UUID)
        .map_err(|err| format!("cannot generate a host name from {RANDOM_UUID}: {err}"))?;
    let hostname =
        nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let name = format!("{}.{hostname}", uuid.trim());
    Ok(name
        .chars()
        .scan(0, |bytes, c| {
            *bytes += c.len_utf8();
            (*bytes <= NAME_BYTES).then_some(c)
        })
        .collect())
}

/// Stores `name` at `path` unless a name is already there.
fn store(state_dir: &Path, path: &Path, name: &str) -> Result<(), String> {
    let cannot = |err: std::io::Error| {
        format!(
            "cannot store a generated host name in {}: {err} (or set host_name)",
            path.display()
        )
    };
    std::fs::create_dir_all(state_dir).map_err(cannot)?;
    let temporary = state_dir.join(format!("{HOST_NAME_FILE}.{}", std::process::id()));
    let mut file = std::fs::File::create(&temporary).map_err(cannot)?;
    let written = writeln!(file, "{name}").and_then(|()| file.sync_all());
    // A hard link never replaces an existing file: the first stored wins.
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(cannot(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_name_is_generated_once_and_kept() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let first = default_host_name(dir.path()).unwrap();
        assert_eq!(default_host_name(dir.path()).unwrap(), first);
        let machine_id = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
        assert_ne!(first.to_string(), machine_id.trim());
        assert_eq!(first.to_string().split('.').next().unwrap().len(), 36, "{first}");
        std::fs::write(dir.path().join(HOST_NAME_FILE), "x".repeat(49)).unwrap();
        let refused = default_host_name(dir.path()).unwrap_err();
        assert!(refused.contains(HOST_NAME_FILE), "{refused}");
    }
}
