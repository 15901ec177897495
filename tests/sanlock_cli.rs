//! The `sanlock` personality: the `leased` binary run through a link named
//! `sanlock`, as sanlock's own test suite and scripts run it. Output is
//! compared byte for byte with Debian's sanlock 3.8.5 where it is installed.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::sanlock::SanlockHost;
use common::{Run, have, prerequisite, scratch, zero_file};
use lease::clock::{Clock, OsClock};

const MIB: usize = 1 << 20;

/// A directory holding `sanlock` → the built `leased`.
struct Personality {
    dir: tempfile::TempDir,
}

impl Personality {
    fn new() -> Personality {
        let dir = scratch();
        symlink(env!("CARGO_BIN_EXE_leased"), dir.path().join("sanlock")).expect("link sanlock");
        Personality { dir }
    }

    fn program(&self) -> PathBuf {
        self.dir.path().join("sanlock")
    }

    fn command(&self, run_dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(self.program());
        command.args(args).env("SANLOCK_RUN_DIR", run_dir).env("SANLOCK_PRIVILEGED", "0");
        command
    }

    /// Runs `sanlock ARGS` with `run_dir` as SANLOCK_RUN_DIR.
    fn run(&self, run_dir: &Path, args: &[&str]) -> Run {
        let output = self.command(run_dir, args).output().expect("run sanlock");
        Run {
            code: output.status.code().expect("exited"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs Debian's sanlock with `args`.
fn debian(args: &[&str]) -> Run {
    common::run("sanlock", args)
}

const DUMP_HEADER: &str = "  offset                            lockspace                                         resource  timestamp  own  gen lver\n";

#[test]
fn direct_init_and_dump_print_sanlocks_columns() {
    let sanlock = Personality::new();
    let dir = scratch();
    let colon_dir = dir.path().join("with:colon");
    std::fs::create_dir(&colon_dir).unwrap();
    let path = zero_file(&colon_dir, "resources", 8 * MIB);
    let escaped = path.to_str().unwrap().replace(':', "\\:");
    for i in [0, 2] {
        // sanlock's init takes no escapes: run it beside the file.
        let res = format!("ls_name:res_{i}:resources:{i}M");
        let out = sanlock
            .command(dir.path(), &["direct", "init", "-r", &res])
            .current_dir(&colon_dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout, b"init done 0\n");
    }
    let dump = sanlock.run(dir.path(), &["direct", "dump", &format!("{escaped}:0:8M")]).ok();
    let row = |offset: &str, name: &str| {
        format!("{offset} {:>36} {name:>48} 0000000000 0000 0000 0\n", "ls_name")
    };
    assert_eq!(
        dump.stdout,
        format!("{DUMP_HEADER}{}{}", row("00000000", "res_0"), row("02097152", "res_2"))
    );
    let from_2m = sanlock.run(dir.path(), &["direct", "dump", &format!("{escaped}:2M:6M")]).ok();
    assert_eq!(from_2m.stdout, format!("{DUMP_HEADER}{}", row("02097152", "res_2")));

    if prerequisite(have("sanlock"), "sanlock is not installed (apt-get install -y sanlock)") {
        let theirs = debian(&["direct", "dump", &format!("{escaped}:0:8M")]).ok();
        assert_eq!(dump.stdout, theirs.stdout);
    }
}

#[test]
fn direct_lockspace_dump_lists_used_hosts_only() {
    let sanlock = Personality::new();
    let dir = scratch();
    let path = zero_file(dir.path(), "lockspace", MIB);
    let spec = format!("name:1:{}:0", path.display());
    sanlock.run(dir.path(), &["direct", "init", "-s", &spec]).ok();
    let location = format!("{}:0:1M", path.display());
    let dump = sanlock.run(dir.path(), &["direct", "dump", &location]).ok();
    assert_eq!(dump.stdout, DUMP_HEADER, "an empty lockspace has no hosts");
    if !prerequisite(have("sanlock"), "sanlock is not installed (apt-get install -y sanlock)") {
        return;
    }
    // A host that joined, as Debian's sanlock writes it: both list it alike.
    debian(&["direct", "acquire_id", "-s", &format!("name:3:{}:0", path.display())]).ok();
    let ours = sanlock.run(dir.path(), &["direct", "dump", &location]).ok();
    let theirs = debian(&["direct", "dump", &location]).ok();
    assert_eq!(ours.stdout, theirs.stdout);
    assert_eq!(ours.stdout.lines().count(), 2, "{}", ours.stdout);
    let host = format!("name:3:{}:0", path.display());
    let args = ["direct", "read_leader", "-s", host.as_str()];
    assert_eq!(sanlock.run(dir.path(), &args).ok().stdout, debian(&args).ok().stdout);
}

#[test]
fn direct_init_of_a_missing_file_fails_as_sanlock_does() {
    let sanlock = Personality::new();
    let dir = scratch();
    let missing = dir.path().join("missing");
    let out =
        sanlock.run(dir.path(), &["direct", "init", "-s", &format!("x:0:{}:0", missing.display())]);
    assert_eq!((out.code, out.stdout.as_str()), (1, "init done -2\n"));
    let out = sanlock.run(dir.path(), &["direct", "dump", missing.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, format!("Device {} not found.\n", missing.display()));
}

#[test]
fn client_without_a_daemon_exits_1() {
    let sanlock = Personality::new();
    let run_dir = scratch();
    let out = sanlock.run(run_dir.path(), &["client", "status"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "");
}

#[test]
fn version_and_help() {
    let sanlock = Personality::new();
    let dir = scratch();
    let version = sanlock.run(dir.path(), &["version"]).ok();
    assert!(version.stdout.starts_with("sanlock 3.8.5 (leased "), "{}", version.stdout);
    for help in ["help", "-h"] {
        let out = sanlock.run(dir.path(), &[help]).ok();
        assert!(out.stdout.starts_with("Usage:\nsanlock <command> <action> ...\n"));
    }
    let unknown = sanlock.run(dir.path(), &["client", "bogus"]);
    assert_eq!(
        (unknown.code, unknown.stdout.as_str()),
        (1, "client action \"bogus\" is unknown\n")
    );
}

/// Waits until `path` exists or `child` exits; false if it exited.
fn wait_for(path: &Path, child: &mut Child) -> bool {
    let deadline = OsClock.now() + Duration::from_secs(20);
    while !path.exists() {
        if child.try_wait().expect("poll the daemon").is_some() {
            return false;
        }
        assert!(OsClock.now() < deadline, "{} did not appear", path.display());
        OsClock.sleep_until(OsClock.now() + Duration::from_millis(20));
    }
    true
}

/// sanlock's test_single_instance: a second daemon on the same run
/// directory exits 1.
#[test]
fn a_second_daemon_exits_1() {
    let sanlock = Personality::new();
    let run_dir = scratch();
    let args = ["daemon", "-D", "-w", "0", "-l", "0", "-h", "0", "-U", "root", "-G", "root"];
    let spawn = || {
        sanlock
            .command(run_dir.path(), &args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the daemon")
    };
    let mut first = spawn();
    let ready = wait_for(&run_dir.path().join("leased.sock"), &mut first);
    let second = spawn().wait_with_output().expect("the second daemon ends");
    let _ = first.kill();
    let _ = first.wait();
    assert!(ready, "the first daemon exited early");
    assert_eq!(second.status.code(), Some(1));
}

/// The client verbs of sanlock's daemon_test.py against Debian's daemon:
/// the same codec then talks to leased.
#[test]
fn client_verbs_against_debian_sanlock() {
    if !common::sanlock::present() {
        return;
    }
    let sanlock = Personality::new();
    let host = SanlockHost::start("cli-test-host");
    let dir = scratch();
    let path = zero_file(dir.path(), "rindex", 10 * MIB);
    let client = |args: &[&str]| {
        let mut full = vec!["client"];
        full.extend_from_slice(args);
        sanlock.run(host.run_dir(), &full)
    };
    let lockspace = format!("ls_name:1:{}:0", path.display());
    let rindex = format!("ls_name:{}:1M", path.display());
    let resource = format!("ls_name:res9:{}:9M", path.display());

    assert_eq!(client(&["init", "-s", &lockspace, "-o", "1"]).ok().stdout, "init\ninit done 0\n");
    assert_eq!(client(&["init", "-r", &resource]).ok().stdout, "init\ninit done 0\n");
    assert_eq!(client(&["format", "-x", &rindex]).ok().stdout, "format done 0\n");
    let uninitialised = client(&["lookup", "-x", &rindex, "-e", "res"]);
    assert_eq!((uninitialised.code, uninitialised.stdout.as_str()), (1, "lookup done -2\n"));
    assert_eq!(uninitialised.stderr, "");

    assert_eq!(
        client(&["add_lockspace", "-s", &lockspace, "-o", "1"]).ok().stdout,
        "add_lockspace_timeout 1\nadd_lockspace_timeout done 0\n"
    );
    let again = client(&["add_lockspace", "-s", &lockspace]);
    assert_eq!((again.code, again.stdout.as_str()), (1, "add_lockspace\nadd_lockspace done -17\n"));
    assert_eq!(
        client(&["inq_lockspace", "-s", &lockspace]).ok().stdout,
        "inq_lockspace\ninq_lockspace done 0\n"
    );
    assert_eq!(
        client(&["create", "-x", &rindex, "-e", "res"]).ok().stdout,
        "create_resource done 0\noffset 3145728\n"
    );
    assert_eq!(
        client(&["lookup", "-x", &rindex, "-e", "res"]).ok().stdout,
        "lookup done 0\nname res offset 3145728\n"
    );
    let missing = client(&["lookup", "-x", &rindex, "-e", "nope"]);
    assert_eq!(
        (missing.code, missing.stdout.as_str(), missing.stderr.as_str()),
        (1, "lookup done -2\n", "")
    );
    let status = client(&["status"]).ok();
    assert!(status.stdout.starts_with("daemon cli-test-host\n"), "{}", status.stdout);
    assert!(status.stdout.contains(&format!("\ns {lockspace}\n")), "{}", status.stdout);
    let details = client(&["status", "-D"]).ok();
    assert!(details.stdout.contains("\n    max_worker_threads=8\n"), "{}", details.stdout);
    let read = client(&["read", "-s", &lockspace, "-D"]).ok();
    assert_eq!(
        read.stdout,
        format!("s {lockspace}\nio_timeout 1\nsector_size 512\nalign_size 1048576\n")
    );
    // Our output matches Debian's own client, verb by verb.
    for args in [
        vec!["read", "-r", resource.as_str()],
        vec!["gets"],
        vec!["lookup", "-x", rindex.as_str()],
        vec!["examine", "-s", lockspace.as_str()],
    ] {
        assert_eq!(client(&args).ok().stdout, host.client(&args).ok().stdout, "{args:?}");
    }
    assert_eq!(
        client(&["delete", "-x", &rindex, "-e", "res"]).ok().stdout,
        "delete_resource done 0\n"
    );
    assert_eq!(
        client(&["rem_lockspace", "-s", &lockspace]).ok().stdout,
        "rem_lockspace\nrem_lockspace done 0\n"
    );
    let gone = client(&["rem_lockspace", "-s", &lockspace]);
    assert_eq!((gone.code, gone.stdout.as_str()), (1, "rem_lockspace\nrem_lockspace done -2\n"));
}

/// Without -D the daemon goes to the background; the command returns 0
/// once it serves, and a second one still exits 1.
#[test]
fn a_background_daemon_is_ready_when_the_command_returns() {
    let sanlock = Personality::new();
    let run_dir = scratch();
    let args = ["daemon", "-w", "0", "-U", "root", "-G", "root"];
    let started = sanlock.run(run_dir.path(), &args);
    let pid_text = std::fs::read_to_string(run_dir.path().join("leased.pid")).unwrap_or_default();
    let socket_there = run_dir.path().join("leased.sock").exists();
    let second = sanlock.run(run_dir.path(), &args);
    if let Ok(pid) = pid_text.trim().parse::<i32>() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert_eq!(started.code, 0, "{}{}", started.stdout, started.stderr);
    assert!(socket_there, "the daemon serves once the command returns");
    assert!(pid_text.trim().parse::<i32>().is_ok(), "leased.pid: {pid_text:?}");
    assert_eq!(second.code, 1);
}
