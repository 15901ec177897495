//! Helpers shared by the integration tests: scratch files on a filesystem
//! with direct I/O, running the real `lease` binary, and the rule for tests
//! that need something the machine may lack.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Set to 1 (as CI does) to make a missing prerequisite fail a test instead
/// of skipping it.
pub const STRICT_ENV: &str = "LEASE_TEST_STRICT";

/// A scratch directory under the target directory, which is on a disk-backed
/// filesystem (unlike /tmp on some machines) so O_DIRECT works.
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("create a scratch directory")
}

/// A file of `size` zero bytes, really written (not sparse), so reads and
/// writes behave as on an allocated device.
pub fn zero_file(dir: &Path, name: &str, size: usize) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, vec![0u8; size]).expect("write a zero file");
    path
}

/// The result of running a command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().expect("exited, not killed by a signal"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with the output unless the command succeeded.
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// The stdout parsed as one JSON value.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}):\n{}", self.stdout))
    }
}

/// Runs the `lease` binary built for these tests.
pub fn lease(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_lease"))
        .args(args)
        .output()
        .expect("run the lease binary");
    Run::from(output)
}

/// Runs any program.
pub fn run(program: &str, args: &[&str]) -> Run {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("run {program}: {err}"));
    Run::from(output)
}

/// Whether a prerequisite is met. If not, prints "skipped: why" and returns
/// false, or panics when LEASE_TEST_STRICT=1 (CI installs everything).
pub fn prerequisite(met: bool, why: &str) -> bool {
    if met {
        return true;
    }
    assert!(std::env::var(STRICT_ENV).as_deref() != Ok("1"), "{why}, and {STRICT_ENV}=1");
    eprintln!("skipped: {why}");
    false
}

/// Whether `program` is on the PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A loop device over a scratch image, detached when dropped.
pub struct LoopDevice {
    pub device: PathBuf,
}

impl LoopDevice {
    /// Attaches `image` with the given logical sector size.
    pub fn attach(image: &Path, sector_size: u32) -> Result<LoopDevice, String> {
        let out = run(
            "losetup",
            &[
                "--sector-size",
                &sector_size.to_string(),
                "-f",
                "--show",
                &image.display().to_string(),
            ],
        );
        if out.code != 0 {
            return Err(format!("losetup failed: {}", out.stderr.trim()));
        }
        Ok(LoopDevice { device: PathBuf::from(out.stdout.trim()) })
    }

    pub fn path(&self) -> &str {
        self.device.to_str().expect("device paths are UTF-8")
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = run("losetup", &["-d", self.path()]);
    }
}
