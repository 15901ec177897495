//! Bad input to `leased`: each gets an error reply (or a refused
//! connection), changes nothing, and the daemon keeps serving the others.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::{Holder, Leased, is_root, lease_file, prerequisite, scratch};
use lease::api::{ErrorCode, ResponseFrame};

fn connect(daemon: &Leased) -> UnixStream {
    UnixStream::connect(daemon.run_dir.join("leased.sock")).expect("connect to leased")
}

fn send_raw(stream: &mut UnixStream, body: &[u8]) {
    stream.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
    stream.write_all(body).unwrap();
}

fn receive(stream: &mut UnixStream) -> Option<ResponseFrame> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
    stream.read_exact(&mut body).ok()?;
    Some(serde_json::from_slice(&body).expect("replies are JSON"))
}

fn error_code(reply: &ResponseFrame) -> ErrorCode {
    assert!(!reply.ok, "expected an error: {reply:?}");
    reply.error.as_ref().expect("an error reply").code
}

/// The daemon still answers a fresh client.
fn still_serving(daemon: &Leased) {
    daemon.lease(&["status", "--json"]).ok();
}

#[test]
fn malformed_frames_get_error_replies_and_the_connection_goes_on() {
    let dir = scratch();
    let daemon = Leased::start(dir.path(), "a", 3);
    let mut stream = connect(&daemon);
    send_raw(&mut stream, b"\x00\x01garbage\xff");
    assert_eq!(error_code(&receive(&mut stream).unwrap()), ErrorCode::BadFrame);
    send_raw(&mut stream, br#"{"v":1,"id":5,"op":"format_disk"}"#);
    let reply = receive(&mut stream).unwrap();
    assert_eq!((error_code(&reply), reply.id), (ErrorCode::UnknownCommand, 5));
    send_raw(&mut stream, br#"{"v":9,"id":6,"op":"status"}"#);
    assert_eq!(error_code(&receive(&mut stream).unwrap()), ErrorCode::UnsupportedVersion);
    send_raw(
        &mut stream,
        br#"{"v":1,"id":7,"op":"acquire","args":{"resources":["no-colons"],"pid":1}}"#,
    );
    let reply = receive(&mut stream).unwrap();
    assert_eq!(error_code(&reply), ErrorCode::BadRequest);
    assert!(reply.error.unwrap().message.contains("missing field <resource_name>"));
    send_raw(&mut stream, br#"{"v":1,"id":8,"op":"status"}"#);
    let reply = receive(&mut stream).unwrap();
    assert!(reply.ok && reply.id == 8, "{reply:?}");
    still_serving(&daemon);
}

#[test]
fn an_oversized_frame_is_refused_before_its_body_is_read() {
    let dir = scratch();
    let daemon = Leased::start(dir.path(), "a", 3);
    let mut stream = connect(&daemon);
    stream.write_all(&(64u32 << 20).to_be_bytes()).unwrap();
    assert_eq!(error_code(&receive(&mut stream).unwrap()), ErrorCode::FrameTooLarge);
    assert!(receive(&mut stream).is_none(), "the connection is closed");
    still_serving(&daemon);
}

#[test]
fn bad_specs_and_bad_arguments_are_usage_errors() {
    let dir = scratch();
    let path = lease_file(dir.path(), 1, 1);
    let daemon = Leased::start(dir.path(), "a", 3);
    let holder = Holder::start();
    for (args, fragment) in [
        (vec!["add-lockspace", "-s", "ls:1:/nonexistent/x:0"], "No such file"),
        (vec!["add-lockspace", "-s", &format!("ls:1:{path}:4096")], "not a multiple"),
        (vec!["add-lockspace", "-s", &format!("ls:9999:{path}:0")], "host_id 9999 is out of range"),
        (vec!["acquire", "-r", "ls:r1", "--pid", &holder.pid()], "missing field <path>"),
        (
            vec!["acquire", "-r", &format!("nolockspace:r1:{path}:1M"), "--pid", &holder.pid()],
            "not joined",
        ),
        (vec!["hosts", &"x".repeat(49)], "limit is 48"),
    ] {
        let out = daemon.lease(&args);
        assert_ne!(out.code, 0, "{args:?}");
        assert!(out.stderr.contains(fragment), "{args:?}: {}", out.stderr);
    }
    let out = daemon.lease(&["acquire", "-r", &format!("ls:r1:{path}:1M"), "--pid", "999999999"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    still_serving(&daemon);
}

#[test]
fn another_clients_lease_cannot_be_released() {
    let dir = scratch();
    let path = lease_file(dir.path(), 1, 1);
    let daemon = Leased::start(dir.path(), "a", 3);
    daemon.lease(&["add-lockspace", "-s", &format!("ls:1:{path}:0"), "--wait"]).ok();
    let (owner, other) = (Holder::start(), Holder::start());
    let r1 = format!("ls:r1:{path}:1M");
    daemon.lease(&["acquire", "-r", &r1, "--pid", &owner.pid()]).ok();
    let out = daemon.lease(&["release", "-r", &r1, "--pid", &other.pid()]);
    assert_eq!(out.code, 77, "{}", out.stderr);
    assert!(out.stderr.contains(&format!("held by pid {}", owner.pid())), "{}", out.stderr);
    let leases = daemon.lease(&["inquire", "--json"]).ok().json();
    assert_eq!(leases["leases"][0]["pid"].as_u64().unwrap().to_string(), owner.pid(), "unchanged");
    let out = daemon.lease(&["acquire", "-r", &r1, "--pid", &other.pid()]);
    assert_eq!(out.code, 1, "held on this host: {}", out.stderr);
}

fn as_nobody(daemon: &Leased, args: &[&str]) -> common::Run {
    let output = Command::new(env!("CARGO_BIN_EXE_lease"))
        .args(args)
        .env("LEASED_RUN_DIR", &daemon.run_dir)
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run lease as nobody");
    common::Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn a_uid_that_is_not_permitted_is_refused() {
    if !prerequisite(is_root(), "switching to uid nobody needs root") {
        return;
    }
    let dir = scratch();
    let daemon = Leased::start(dir.path(), "a", 3);
    // The socket is 0660 root-only: the kernel refuses the connection.
    let socket = daemon.run_dir.join("leased.sock");
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o660);
    for path in [dir.path(), daemon.run_dir.as_path()] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = as_nobody(&daemon, &["status"]);
    assert_eq!(out.code, 77, "{}", out.stderr);
    // Even through a socket opened up by mistake, the daemon checks the
    // peer's credentials itself.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = as_nobody(&daemon, &["status"]);
    assert_eq!(out.code, 77, "{}", out.stderr);
    assert!(out.stderr.contains("uid 65534 may not use leased"), "{}", out.stderr);
    still_serving(&daemon);
}

fn write_config(dir: &Path, text: &str) -> String {
    let file = dir.join("leased.conf");
    std::fs::write(&file, text).unwrap();
    file.to_str().unwrap().to_owned()
}

#[test]
fn limits_on_clients_requests_and_leases_are_enforced() {
    let dir = scratch();
    let path = lease_file(dir.path(), 3, 1);
    let config = write_config(
        dir.path(),
        "max_clients = 2\nmax_leases_per_client = 2\nmax_resources_per_request = 2\n",
    );
    let daemon =
        Leased::start_with(dir.path(), "a", &["--config", &config, "--watchdog-fire-timeout", "3"]);
    daemon.lease(&["add-lockspace", "-s", &format!("ls:1:{path}:0"), "--wait"]).ok();
    let holder = Holder::start();
    let r = |n: u32| format!("ls:r{n}:{path}:{n}M");
    let out =
        daemon.lease(&["acquire", "-r", &r(1), "-r", &r(2), "-r", &r(3), "--pid", &holder.pid()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("3 resources in one request; the limit is 2"), "{}", out.stderr);
    daemon.lease(&["acquire", "-r", &r(1), "-r", &r(2), "--pid", &holder.pid()]).ok();
    let out = daemon.lease(&["acquire", "-r", &r(3), "--pid", &holder.pid()]);
    assert!(out.stderr.contains("holds 2 leases; the limit is 2"), "{}", out.stderr);

    let first = connect(&daemon);
    let second = connect(&daemon);
    let mut third = connect(&daemon);
    assert_eq!(error_code(&receive(&mut third).unwrap()), ErrorCode::Limit);
    drop((first, second));
    let deadline =
        lease::clock::Clock::now(&lease::clock::OsClock) + std::time::Duration::from_secs(5);
    while daemon.lease(&["status"]).code != 0 {
        assert!(
            lease::clock::Clock::now(&lease::clock::OsClock) < deadline,
            "connections were not freed"
        );
    }
}

#[test]
fn leased_checks_its_configuration_before_starting() {
    let dir = scratch();
    let bad = write_config(dir.path(), "kill_grce = 5\n");
    let out = common::run(env!("CARGO_BIN_EXE_leased"), &["--config", &bad]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("unknown field `kill_grce`"), "{}", out.stderr);
    let good = write_config(dir.path(), "kill_grace = 5\nhost_name = \"node-a\"\n");
    let out = common::run(
        env!("CARGO_BIN_EXE_leased"),
        &["--config", &good, "--print-config", "--max-clients", "9"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("kill_grace = 5") && out.stdout.contains("max_clients = 9"),
        "{}",
        out.stdout
    );
    let taken = Leased::start(dir.path(), "a", 3);
    let second = Command::new(env!("CARGO_BIN_EXE_leased"))
        .env("LEASED_RUN_DIR", &taken.run_dir)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already uses the run directory"));
}

#[test]
fn leased_refuses_to_start_without_a_watchdog_it_can_use() {
    let dir = scratch();
    let config = write_config(dir.path(), "host_name = \"node-a\"\n");
    let start = |watchdog: &str| {
        let run_dir = dir.path().join(format!("run-{}", watchdog.len()));
        common::run(
            env!("CARGO_BIN_EXE_leased"),
            &["--config", &config, "--run-dir", run_dir.to_str().unwrap(), "--watchdog", watchdog],
        )
    };
    // A character device, but not a watchdog: its ioctls fail.
    let out = start("/dev/null");
    assert_eq!(out.code, 70, "{}", out.stderr);
    assert!(out.stderr.contains("/dev/null: WDIOC_GETTIMEOUT failed"), "{}", out.stderr);
    let out = start("/nonexistent/watchdog");
    assert_eq!(out.code, 70, "{}", out.stderr);
    assert!(out.stderr.contains("/nonexistent/watchdog: No such file"), "{}", out.stderr);
    let out = start("watchdog0");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("expected auto, none, file:PATH"), "{}", out.stderr);
    if lease::watchdog::AUTO_PATHS.iter().all(|p| !Path::new(p).exists()) {
        let out = start("auto");
        assert_eq!(out.code, 70, "{}", out.stderr);
        assert!(out.stderr.contains("no watchdog device"), "{}", out.stderr);
    }
}
