//! Leases shared with real sanlock 3.8 on one lease file: our host 1 (the
//! direct verbs, with its host_id renewed all along) and a sanlock daemon as
//! host 2 contend for one resource, and each is refused while the other
//! holds it. After every step both tools read the same owner from disk.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{have, is_root, lease, prerequisite, run, scratch, zero_file};
use lease::clock::{Clock, OsClock};
use lease::direct::{self, HostSpec};
use lease::disk::{Access, DirectFile};
use lease::ondisk::name::Name;

const PYTHON: &str = "/usr/bin/python3";
/// sanlock's `sanlk_host` flag for a live host.
const SANLK_HOST_LIVE: u64 = 3;
const MIB: u64 = 1 << 20;

fn reference_peer_present() -> bool {
    let python_module = Command::new(PYTHON)
        .args(["-c", "import sanlock"])
        .output()
        .is_ok_and(|o| o.status.success());
    prerequisite(have("sanlock"), "sanlock is not installed (apt-get install -y sanlock)")
        && prerequisite(python_module, "python3-sanlock is not installed for /usr/bin/python3")
        && prerequisite(is_root(), "the sanlock daemon needs root")
}

/// A sanlock daemon with its own run dir, standing for another host.
struct SanlockHost {
    daemon: Child,
    run_dir: tempfile::TempDir,
}

impl SanlockHost {
    fn start(host_name: &str) -> SanlockHost {
        let run_dir = common::scratch();
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

    fn client(&self, args: &[&str]) -> common::Run {
        let mut full = vec!["client"];
        full.extend_from_slice(args);
        let output = Command::new("sanlock")
            .args(&full)
            .env("SANLOCK_RUN_DIR", self.run_dir.path())
            .output()
            .expect("run sanlock client");
        common::Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// (host_id, flags) of every host sanlock knows in lockspace LS.
    fn host_states(&self) -> Vec<(u64, u64)> {
        let script = "import sanlock\n\
                      try:\n    hosts = sanlock.get_hosts(b'LS')\n\
                      except sanlock.SanlockException:\n    hosts = []\n\
                      for h in hosts:\n    print(h['host_id'], h['flags'])\n";
        let output = Command::new(PYTHON)
            .args(["-c", script])
            .env("SANLOCK_RUN_DIR", self.run_dir.path())
            .output()
            .expect("run python3-sanlock");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(id, flags)| (id.parse().unwrap(), flags.parse().unwrap()))
            .collect()
    }

    /// A client process of this host that acquires the resource and holds
    /// it until told to release.
    fn holder(&self, path: &Path) -> Holder {
        let script = format!(
            "import sanlock, sys\n\
             fd = sanlock.register()\n\
             disks = [({path:?}, {MIB})]\n\
             try:\n    sanlock.acquire(b'LS', b'res', disks, slkfd=fd)\n\
             except sanlock.SanlockException as e:\n    print('error', e.errno, flush=True)\n    sys.exit(0)\n\
             print('acquired', flush=True)\n\
             sys.stdin.readline()\n\
             sanlock.release(b'LS', b'res', disks, slkfd=fd)\n\
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
        Holder { child, stdin, stdout }
    }
}

impl Drop for SanlockHost {
    fn drop(&mut self) {
        let _ = self.client(&["shutdown", "-f", "1"]);
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

struct Holder {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Holder {
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from the python client");
        line.trim().to_owned()
    }

    fn release(&mut self) -> String {
        writeln!(self.stdin).expect("tell the python client to release");
        self.line()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Renews our host_id every io_timeout until dropped.
struct Renewer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Renewer {
    fn start(path: PathBuf) -> Renewer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let disk = DirectFile::open(&path, Access::ReadWrite).unwrap();
            let host = our_host(&disk);
            while !flag.load(Ordering::SeqCst) {
                direct::renew_id(&host).expect("our host_id renews");
                OsClock.sleep_until(OsClock.now() + Duration::from_secs(1));
            }
        });
        Renewer { stop, thread: Some(thread) }
    }
}

impl Drop for Renewer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn our_host(disk: &DirectFile) -> HostSpec<'_> {
    HostSpec {
        disk,
        offset: 0,
        lockspace: Name::new("LS").unwrap(),
        host_id: 1,
        host_name: Name::new("ours").unwrap(),
    }
}

/// The resource's owner and lver as both tools read them; they must agree.
fn owner_seen_by_both(path: &str) -> (u64, u64, u64) {
    let ours =
        lease(&["direct", "read-leader", "-r", &format!("LS:res:{path}:1M"), "--json"]).ok().json();
    let theirs = run("sanlock", &["direct", "read_leader", "-r", &format!("LS:res:{path}:{MIB}")]);
    assert_eq!(theirs.code, 0, "{}", theirs.stderr);
    let field = |key: &str| {
        theirs
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .unwrap_or_else(|| panic!("sanlock printed no {key}"))
            .parse::<u64>()
            .unwrap()
    };
    let seen = (field("owner_id"), field("lver"), field("timestamp"));
    assert_eq!(
        (
            ours["owner_id"].as_u64().unwrap(),
            ours["lver"].as_u64().unwrap(),
            ours["timestamp"].as_u64().unwrap()
        ),
        seen,
        "lease and sanlock disagree"
    );
    let dump = lease(&["direct", "dump", path, "--json"]).ok().json();
    assert!(dump["problems"].as_array().unwrap().is_empty());
    assert_eq!(run("sanlock", &["direct", "dump", path]).code, 0);
    seen
}

#[test]
fn lease_and_sanlock_exclude_each_other_on_one_resource() {
    if !reference_peer_present() {
        return;
    }
    let dir = scratch();
    let img = zero_file(dir.path(), "shared.img", 2 * MIB as usize);
    let path = img.to_str().unwrap();
    let ls1 = format!("LS:1:{path}:0");
    let res = format!("LS:res:{path}:1M");
    let ours = ["--host-name", "ours"];
    lease(&["direct", "init", "-s", &format!("LS:0:{path}:0"), "--io-timeout", "1"]).ok();
    lease(&["direct", "init", "-r", &res, "--num-hosts", "8"]).ok();
    lease(&["direct", "acquire-id", "-s", &ls1, ours[0], ours[1]]).ok();
    let renewer = Renewer::start(img.clone());

    // We hold it: sanlock as host 2 is refused.
    lease(&["direct", "acquire", "-s", &ls1, "-r", &res, ours[0], ours[1]]).ok();
    assert_eq!(owner_seen_by_both(path).0, 1);
    let sanlock = SanlockHost::start("sanhost");
    let joined = sanlock.client(&["add_lockspace", "-s", &format!("LS:2:{path}:0"), "-o", "1"]);
    assert!(joined.stdout.contains("done 0"), "{}{}", joined.stdout, joined.stderr);
    let mut refused = sanlock.holder(&img);
    assert_eq!(refused.line(), "error -243", "sanlock: lease held by another host");
    assert_eq!(owner_seen_by_both(path).0, 1);

    // We release it: sanlock gets it.
    lease(&["direct", "release", "-s", &ls1, "-r", &res, ours[0], ours[1]]).ok();
    assert_eq!(owner_seen_by_both(path).2, 0, "released: timestamp 0");
    let mut holder = sanlock.holder(&img);
    assert_eq!(holder.line(), "acquired");
    let (owner, lver, _) = owner_seen_by_both(path);
    assert_eq!((owner, lver), (2, 2));

    // sanlock holds it: we are refused, and nothing on disk changes.
    let out = lease(&["direct", "acquire", "-s", &ls1, "-r", &res, ours[0], ours[1]]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("owner alive: held by host_id 2"), "{}", out.stderr);
    assert_eq!(owner_seen_by_both(path).0, 2);

    // sanlock releases it: we get it.
    assert_eq!(holder.release(), "released");
    assert_eq!(owner_seen_by_both(path).2, 0);
    let got = lease(&["direct", "acquire", "-s", &ls1, "-r", &res, ours[0], ours[1], "--json"])
        .ok()
        .json();
    assert_eq!(got["lver"], 3);
    assert_eq!(owner_seen_by_both(path), (1, 3, owner_seen_by_both(path).2));

    // Each lists the other: sanlock sees host 1 LIVE, we see host 2's
    // sector. sanlock reports a host UNKNOWN until it has seen it renew.
    let deadline = OsClock.now() + Duration::from_secs(10);
    loop {
        let states = sanlock.host_states();
        if states.contains(&(1, SANLK_HOST_LIVE)) {
            break;
        }
        assert!(OsClock.now() < deadline, "sanlock never saw host 1 live: {states:?}");
        OsClock.sleep_until(OsClock.now() + Duration::from_millis(200));
    }
    let dump = lease(&["direct", "dump", path, "--json"]).ok().json();
    let names: Vec<&str> = dump["areas"][0]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["owner_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ours", "sanhost"]);
    lease(&["direct", "release", "-s", &ls1, "-r", &res, ours[0], ours[1]]).ok();
    drop(renewer);
}
