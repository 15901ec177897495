//! Real sanlock 3.8 as a peer host: a daemon with its own run dir, and
//! python3-sanlock client processes that hold its leases.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use lease::clock::{Clock, OsClock};

/// The interpreter that has the sanlock module (pyenv's python does not).
pub const PYTHON: &str = "/usr/bin/python3";
/// sanlock's `sanlk_host` flag for a live host.
pub const SANLK_HOST_LIVE: u64 = 3;

/// Whether real sanlock, its Python binding and root are all here; if not,
/// says "skipped: why" (or fails under LEASE_TEST_STRICT=1).
pub fn present() -> bool {
    let python_module = Command::new(PYTHON)
        .args(["-c", "import sanlock"])
        .output()
        .is_ok_and(|o| o.status.success());
    super::prerequisite(
        super::have("sanlock"),
        "sanlock is not installed (apt-get install -y sanlock)",
    ) && super::prerequisite(python_module, "python3-sanlock is not installed for /usr/bin/python3")
        && super::prerequisite(super::is_root(), "the sanlock daemon needs root")
}

/// A sanlock daemon with its own run dir, standing for another host.
pub struct SanlockHost {
    daemon: Child,
    run_dir: tempfile::TempDir,
}

impl SanlockHost {
    pub fn start(host_name: &str) -> SanlockHost {
        let run_dir = super::scratch();
        let daemon = Command::new("sanlock")
            .args(["daemon", "-D", "-w", "0", "-U", "root", "-G", "root", "-e", host_name])
            .env("SANLOCK_RUN_DIR", run_dir.path())
            .env("SANLOCK_PRIVILEGED", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the sanlock daemon");
        let host = SanlockHost { daemon, run_dir };
        let socket = host.run_dir.path().join("sanlock.sock");
        let deadline = OsClock.now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(OsClock.now() < deadline, "sanlock did not create {}", socket.display());
            OsClock.sleep_until(OsClock.now() + Duration::from_millis(20));
        }
        host
    }

    /// The daemon's run directory: `SANLOCK_RUN_DIR` for its clients.
    pub fn run_dir(&self) -> &Path {
        self.run_dir.path()
    }

    pub fn client(&self, args: &[&str]) -> super::Run {
        let mut full = vec!["client"];
        full.extend_from_slice(args);
        let output = Command::new("sanlock")
            .args(&full)
            .env("SANLOCK_RUN_DIR", self.run_dir.path())
            .output()
            .expect("run sanlock client");
        super::Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// (host_id, flags) of every host sanlock knows in lockspace `ls`.
    pub fn host_states(&self, ls: &str) -> Vec<(u64, u64)> {
        let script = format!(
            "import sanlock\n\
             try:\n    hosts = sanlock.get_hosts(b'{ls}')\n\
             except sanlock.SanlockException:\n    hosts = []\n\
             for h in hosts:\n    print(h['host_id'], h['flags'])\n"
        );
        let output = Command::new(PYTHON)
            .args(["-c", &script])
            .env("SANLOCK_RUN_DIR", self.run_dir.path())
            .output()
            .expect("run python3-sanlock");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(id, flags)| (id.parse().unwrap(), flags.parse().unwrap()))
            .collect()
    }

    /// A client process of this host that acquires resource `res` of
    /// lockspace `ls` at `offset` of `path` and holds it until told to
    /// release.
    pub fn holder(&self, ls: &str, res: &str, path: &Path, offset: u64) -> SanlockClient {
        let script = format!(
            "import sanlock, sys\n\
             fd = sanlock.register()\n\
             disks = [({path:?}, {offset})]\n\
             try:\n    sanlock.acquire(b'{ls}', b'{res}', disks, slkfd=fd)\n\
             except sanlock.SanlockException as e:\n    print('error', e.errno, flush=True)\n    sys.exit(0)\n\
             print('acquired', flush=True)\n\
             sys.stdin.readline()\n\
             sanlock.release(b'{ls}', b'{res}', disks, slkfd=fd)\n\
             print('released', flush=True)\n\
             sys.stdin.readline()\n",
            path = path.display().to_string()
        );
        let mut child = Command::new(PYTHON)
            .args(["-c", &script])
            .env("SANLOCK_RUN_DIR", self.run_dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a python3-sanlock client");
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        SanlockClient { child, stdin, stdout }
    }
}

impl Drop for SanlockHost {
    fn drop(&mut self) {
        let _ = self.client(&["shutdown", "-f", "1"]);
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

pub struct SanlockClient {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl SanlockClient {
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from the python client");
        line.trim().to_owned()
    }

    pub fn release(&mut self) -> String {
        writeln!(self.stdin).expect("tell the python client to release");
        self.line()
    }
}

impl Drop for SanlockClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
