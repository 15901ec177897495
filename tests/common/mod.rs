//! Helpers shared by the integration tests: scratch files on a filesystem
//! with direct I/O, running the real `lease` binary, and the rule for tests
//! that need something the machine may lack.

#![allow(dead_code)] // each test binary uses its own subset

pub mod sanlock;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use lease::client::local_daemon::{self, Launch, LocalDaemon};
use lease::clock::{Clock, OsClock};

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

/// The count before `word` in a pytest summary line, e.g. 103 for "passed"
/// in "1 failed, 103 passed, 26 skipped in 24.49s"; 0 if it is not there.
pub fn pytest_count(line: &str, word: &str) -> u32 {
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    words.windows(2).find(|pair| pair[1] == word).and_then(|pair| pair[0].parse().ok()).unwrap_or(0)
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

/// A `leased` process with its own run dir, as one host of a test cluster.
pub struct Leased {
    pub daemon: LocalDaemon,
}

impl Leased {
    /// Starts `leased` as host `name` with watchdog fire timeout `fire_s`,
    /// and waits until it answers.
    pub fn start(dir: &Path, name: &str, fire_s: u64) -> Leased {
        Leased::start_with(dir, name, &["--watchdog-fire-timeout", &fire_s.to_string()])
    }

    pub fn start_with(dir: &Path, name: &str, args: &[&str]) -> Leased {
        let launch = Launch {
            program: Path::new(env!("CARGO_BIN_EXE_leased")),
            program_args: &[],
            host_name: name,
            run_dir: dir.join(format!("run-{name}")),
            log: dir.join(format!("{name}.log")),
            args,
            tied: false,
        };
        let daemon = LocalDaemon::start(launch, "debug", Duration::from_secs(10))
            .unwrap_or_else(|err| panic!("start leased {name}: {err}"));
        Leased { daemon }
    }

    /// `lease` with `args`, against this daemon.
    fn lease_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lease"));
        command.args(args).env("LEASED_RUN_DIR", &self.run_dir);
        command
    }

    /// Runs `lease` against this daemon.
    pub fn lease(&self, args: &[&str]) -> Run {
        Run::from(self.lease_command(args).output().expect("run the lease binary"))
    }

    /// Starts `lease` against this daemon in the background (a waiting
    /// acquire, say), its output piped.
    pub fn spawn_lease(&self, args: &[&str]) -> std::process::Child {
        let mut command = self.lease_command(args);
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        command.spawn().expect("start the lease binary")
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        self.daemon.signal(signal).expect("signal leased");
    }

    /// Whether the daemon process has exited (reaping it if so).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.daemon.child.try_wait().expect("poll leased")
    }
}

impl std::ops::Deref for Leased {
    type Target = LocalDaemon;
    fn deref(&self) -> &LocalDaemon {
        &self.daemon
    }
}

impl std::ops::DerefMut for Leased {
    fn deref_mut(&mut self) -> &mut LocalDaemon {
        &mut self.daemon
    }
}

/// A process that holds leases in tests: `sleep` until killed.
pub struct Holder {
    pub child: std::process::Child,
}

impl Holder {
    pub fn start() -> Holder {
        Holder { child: local_daemon::start_holder().expect("start a holder") }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// SIGKILLs the holder and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A lease file with a lockspace "ls" (io_timeout `io_timeout_s`) at 0 and
/// resources r1, r2, ... at 1 MiB steps.
pub fn lease_file(dir: &Path, resources: usize, io_timeout_s: u8) -> String {
    let img = zero_file(dir, "leases.img", (resources + 1) << 20);
    let path = img.to_str().expect("UTF-8 path").to_owned();
    lease(&[
        "direct",
        "init",
        "-s",
        &format!("ls:0:{path}:0"),
        "--io-timeout",
        &io_timeout_s.to_string(),
    ])
    .ok();
    for r in 1..=resources {
        lease(&["direct", "init", "-r", &format!("ls:r{r}:{path}:{r}M"), "--num-hosts", "8"]).ok();
    }
    path
}

/// Polls `probe` every 50 ms until it returns something, for up to `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = OsClock.now() + limit;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(OsClock.now() < deadline, "{what}: not within {limit:?}");
        OsClock.sleep_until(OsClock.now() + Duration::from_millis(50));
    }
}

/// Whether a filesystem can be frozen here (root, mkfs.ext4, fsfreeze);
/// if not, says why `purpose` is skipped (or fails in strict mode).
pub fn can_freeze(purpose: &str) -> bool {
    let tools = have("mkfs.ext4") && have("fsfreeze");
    prerequisite(
        is_root() && tools,
        &format!("{purpose} needs a frozen filesystem: root, mkfs.ext4 and fsfreeze"),
    )
}

/// An ext4 filesystem on a loop device, mounted under a scratch directory;
/// unmounted and detached when dropped.
pub struct Mount {
    pub dir: std::path::PathBuf,
    _device: LoopDevice,
}

impl Mount {
    pub fn new(scratch: &std::path::Path) -> Mount {
        let image = scratch.join("fs.img");
        std::fs::File::create(&image).unwrap().set_len(64 << 20).unwrap();
        run("mkfs.ext4", &["-q", image.to_str().unwrap()]).ok();
        let device = LoopDevice::attach(&image, 512).unwrap();
        let dir = scratch.join("mnt");
        std::fs::create_dir(&dir).unwrap();
        run("mount", &[device.path(), dir.to_str().unwrap()]).ok();
        Mount { dir, _device: device }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = run("umount", &[self.dir.to_str().unwrap()]);
    }
}

/// A frozen filesystem: every write to it blocks until it is thawed, as
/// on a storage path that hangs. Thawed when dropped.
pub struct Frozen<'a>(&'a std::path::Path);

impl<'a> Frozen<'a> {
    pub fn new(dir: &'a std::path::Path) -> Frozen<'a> {
        run("fsfreeze", &["--freeze", dir.to_str().unwrap()]).ok();
        Frozen(dir)
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        let _ = run("fsfreeze", &["--unfreeze", self.0.to_str().unwrap()]);
    }
}
