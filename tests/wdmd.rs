//! leased serving wdmd's protocol, with real processes: a raw client that
//! sends what it likes, and Debian's sanlock 3.8 with its watchdog on,
//! sharing leased's test watchdog device (whose keepalive record stands
//! for a real device).
//!
//! sanlock connects only to /run/wdmd/wdmd.sock, so the sanlock scenarios
//! run in one test function, in sequence, under a file lock shared with
//! any other checkout running them; they are skipped ("skipped: why") if a
//! real wdmd serves that path, and need root and sanlock.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use common::sanlock::SanlockHost;
use common::{Leased, prerequisite, scratch, wait_for, zero_file};
use lease::clock::{Clock, MonoTime, OsClock};
use lease::watchdog::PetLog;
use lease::wdmd::wire::{HEADER_SIZE, Header, cmd};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn status(host: &Leased) -> Value {
    host.lease(&["status", "--json"]).ok().json()
}

/// The watchdog clients leased lists, by name, with seconds to expiry.
fn clients(host: &Leased) -> Vec<(String, f64)> {
    let status = status(host);
    let clients = status["watchdog"]["clients"].as_array().cloned().unwrap_or_default();
    clients
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["expires_in_s"].as_f64().unwrap()))
        .collect()
}

fn log_of(host: &Leased) -> String {
    std::fs::read_to_string(&host.log).unwrap()
}

/// A raw wdmd client.
struct Raw(UnixStream);

impl Raw {
    fn connect(socket: &Path) -> Raw {
        Raw(UnixStream::connect(socket).unwrap())
    }

    fn send(&mut self, header: &Header) {
        self.0.write_all(&header.encode()).unwrap();
    }

    fn ask(&mut self, header: &Header) -> Header {
        self.send(header);
        let mut reply = [0u8; HEADER_SIZE];
        self.0.read_exact(&mut reply).unwrap();
        Header::decode(&reply).unwrap()
    }

    fn test_live(&mut self, renewal: u64, expire: u64) {
        self.send(&Header {
            renewal_time: renewal,
            expire_time: expire,
            ..Header::new(cmd::TEST_LIVE)
        });
    }
}

fn monotonic_s() -> u64 {
    OsClock.monotonic().as_secs()
}

/// Every message, and input no client should send, on a socket of the
/// test's own (so this runs beside anything): leased answers what wdmd
/// answers, ignores unknown commands, drops a cut message's connection,
/// and serves on.
#[test]
fn every_wdmd_message_is_served_and_bad_input_harms_nothing() {
    let dir = scratch();
    let socket = dir.path().join("wdmd").join("wdmd.sock");
    let a = Leased::start_with(
        dir.path(),
        "a",
        &["--watchdog-fire-timeout", "3", "--wdmd-socket", socket.to_str().unwrap()],
    );
    let pid_file = std::fs::read_to_string(socket.with_file_name("wdmd.pid")).unwrap();
    assert_eq!(pid_file.trim(), a.pid().to_string(), "wdmd.pid names leased");

    // A message cut short: that connection is closed, nothing else.
    let mut cut = Raw::connect(&socket);
    cut.0.write_all(&[0u8; 100]).unwrap();
    cut.0.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    assert_eq!(cut.0.read_to_end(&mut rest).unwrap(), 0, "closed without a reply");
    wait_for(secs(5.0), "the cut message is logged", || {
        log_of(&a).contains("a wdmd message is 176 bytes; 100 came").then_some(())
    });

    // An unknown command is ignored; the connection serves on.
    let mut raw = Raw::connect(&socket);
    raw.send(&Header::new(99));
    let status_reply = raw.ask(&Header::new(cmd::STATUS));
    assert_eq!(status_reply.cmd, cmd::STATUS);
    assert_eq!(status_reply.fire_timeout, 3);
    assert_eq!(status_reply.test_interval, 1, "wdmd's interval below F = 10 s");
    let keepalive = status_reply.last_keepalive;
    assert!(keepalive > 0 && keepalive <= monotonic_s(), "{keepalive} (CLOCK_MONOTONIC s)");
    assert!(log_of(&a).contains("unknown wdmd command 99"));
    let open = |fire| Header { fire_timeout: fire, ..Header::new(cmd::OPEN_WATCHDOG) };
    assert_eq!(raw.ask(&open(3)).fire_timeout, 3, "leased's F is granted");
    assert_eq!(raw.ask(&open(60)).fire_timeout, 0, "another F is refused");

    // A refcount alone holds SIGTERM off, as in wdmd.
    raw.send(&Header::new(cmd::REGISTER).with_name("probe"));
    raw.send(&Header::new(cmd::REFCOUNT_SET));
    let label = format!("wdmd probe (pid {})", std::process::id());
    raw.ask(&Header::new(cmd::STATUS)); // the messages before it are served
    a.signal(Signal::SIGTERM);
    wait_for(secs(5.0), "SIGTERM is refused", || {
        log_of(&a)
            .lines()
            .any(|l| l.contains("SIGTERM refused") && l.contains(&label))
            .then_some(())
    });
    raw.send(&Header::new(cmd::REFCOUNT_CLEAR));

    // TEST_LIVE registers, renews, and at expire 0 unregisters.
    let now = monotonic_s();
    raw.test_live(now, now + 30);
    let listed = wait_for(secs(5.0), "the client is tested", || {
        clients(&a).into_iter().find(|(name, _)| *name == label)
    });
    assert!(listed.1 > 28.0 && listed.1 <= 30.0, "{listed:?}");
    raw.test_live(0, 0);
    wait_for(secs(5.0), "expire 0 ends the testing", || {
        clients(&a).iter().all(|(name, _)| *name != label).then_some(())
    });

    // DUMP_DEBUG: a text dump, then the connection closes.
    let mut dump = Raw::connect(&socket);
    dump.send(&Header::new(cmd::DUMP_DEBUG));
    let mut text = String::new();
    dump.0.read_to_string(&mut text).unwrap();
    assert!(text.contains("serving wdmd") && text.contains("fire_timeout 3"), "{text}");

    // A client that goes with an expiry set stays, and its expiry stops
    // the keepalives for all.
    let now = monotonic_s();
    raw.test_live(now, now + 2);
    drop(raw);
    let withheld = wait_for(secs(6.0), "the keepalives stop", || {
        let status = status(&a);
        (status["watchdog"]["petting"] == false).then_some(status)
    });
    assert_eq!(withheld["watchdog"]["withheld_for"], label.as_str());
    assert!(log_of(&a).contains("disconnected without unregistering"));
}

/// Serializes the tests that use /run/wdmd across checkouts.
const TEST_LOCK: &str = "/run/lock/lease-tests-wdmd.lock";

/// Cleans up after a test that took wdmd's place, however it ended: the
/// test device resets nothing, so a marker left "armed" is only in the way
/// of the next run.
struct Cleanup {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(lease::wdmd::SHM_MARKER);
    }
}

fn sanlock_client_ok(host: &SanlockHost, args: &[&str]) {
    let run = host.client(args);
    assert!(run.stdout.contains("done 0"), "sanlock client {args:?}: {}{}", run.stdout, run.stderr);
}

#[test]
fn real_sanlock_shares_leaseds_watchdog() {
    if !common::sanlock::present() {
        return;
    }
    let file = std::fs::File::create(TEST_LOCK).unwrap();
    let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).unwrap();
    let socket = Path::new(lease::wdmd::SOCKET);
    let busy = UnixStream::connect(socket).is_ok() || Path::new(lease::wdmd::SHM_MARKER).exists();
    if !prerequisite(!busy, "a wdmd serves /run/wdmd/wdmd.sock (or /dev/shm/wdmd exists)") {
        return;
    }
    let cleanup = Cleanup { _lock: lock };
    let dir = scratch();
    let image = zero_file(dir.path(), "ls.img", 2 << 20);
    let lockspace = format!("ls:1:{}:0", image.display());
    common::run(
        "sanlock",
        &["direct", "init", "-s", &format!("ls:0:{}:0", image.display()), "-o", "1"],
    )
    .ok();
    // sanlock 3.8 requires F = 60 s exactly.
    let args = ["--config", "/dev/null", "--watchdog-fire-timeout", "60", "--wdmd-socket"];
    let mut a = Leased::start_with(dir.path(), "a", &[&args[..], &[lease::wdmd::SOCKET]].concat());
    assert!(Path::new(lease::wdmd::SHM_MARKER).exists(), "wdmd's marker is up");
    if common::have("wdmd") {
        let probe = common::run("wdmd", &["--probe"]);
        assert_ne!(probe.code, 0);
        let said = format!("{}{}", probe.stdout, probe.stderr);
        assert!(said.contains("while wdmd is in use"), "{said}");
    }
    let sanlock = SanlockHost::start_with_watchdog("wdmd-test");
    let name = format!("wdmd sanlock_ls:1 (pid {})", sanlock.pid());
    let pet_log = a.pet_log();
    let pets = || PetLog::read(&pet_log).unwrap();

    // (a) The lockspace joins: one more watchdog client, renewed in time,
    // and the keepalives go on.
    sanlock_client_ok(&sanlock, &["add_lockspace", "-s", &lockspace, "-o", "1"]);
    let joined = OsClock.now();
    let (_, expires_in) = wait_for(secs(5.0), "sanlock's lockspace is a client", || {
        clients(&a).into_iter().find(|(n, _)| *n == name)
    });
    assert!(expires_in > 0.0 && expires_in <= 8.0, "expiry 8 io_timeouts ahead: {expires_in}");
    let before = pets().pets.len();
    wait_for(secs(8.0), "keepalives go on", || (pets().pets.len() >= before + 2).then_some(()));
    assert_eq!(status(&a)["watchdog"]["petting"], true);
    assert_eq!(pets().reset_at(OsClock.now()), None);
    println!(
        "joined: {:.1} s of keepalives for {name}",
        OsClock.now().saturating_since(joined).as_secs_f64()
    );

    // (c) A clean removal unregisters it: no reset, keepalives go on.
    sanlock_client_ok(&sanlock, &["rem_lockspace", "-s", &lockspace]);
    wait_for(secs(5.0), "the client is gone", || {
        clients(&a).iter().all(|(n, _)| *n != name).then_some(())
    });
    let watchdog = status(&a)["watchdog"].clone();
    assert_eq!(watchdog["petting"], true, "{watchdog}");
    assert_eq!(watchdog["withheld_for"], Value::Null);
    assert_eq!(pets().reset_at(OsClock.now()), None);
    assert!(!log_of(&a).contains("disconnected without unregistering"));

    // (b) Joined again, then sanlock stops (SIGSTOP): its expiry stands,
    // the keepalives stop before it (never before its renewal + 6
    // io_timeouts, sanlock's warning), and the device is left to fire.
    sanlock_client_ok(&sanlock, &["add_lockspace", "-s", &lockspace, "-o", "1"]);
    wait_for(secs(5.0), "the client is back", || clients(&a).into_iter().find(|(n, _)| *n == name));
    let pid = Pid::from_raw(i32::try_from(sanlock.pid()).unwrap());
    kill(pid, Signal::SIGSTOP).unwrap();
    let stopped = OsClock.now();
    let withheld = wait_for(secs(10.0), "the keepalives stop", || {
        let status = status(&a);
        (status["watchdog"]["petting"] == false).then_some(status)
    });
    let seen = OsClock.now();
    assert_eq!(withheld["watchdog"]["withheld_for"], name.as_str());
    let client = &withheld["watchdog"]["clients"][0];
    assert_eq!(client["name"], name.as_str());
    let expires_in_s = client["expires_in_s"].as_f64().unwrap();
    let expiry =
        if expires_in_s >= 0.0 { seen + secs(expires_in_s) } else { seen - secs(-expires_in_s) };
    let last = pets().last_pet();
    let since = |t: MonoTime| t.saturating_since(stopped).as_secs_f64();
    println!(
        "SIGSTOP at 0: expiry at {:.2} s, last keepalive at {:.2} s, withheld seen at {:.2} s",
        since(expiry),
        since(last),
        since(seen)
    );
    assert!(expiry <= stopped + secs(8.5), "renewed before the stop: expiry within 8 s");
    assert!(last < expiry, "the last keepalive comes before the expiry");
    assert!(last + secs(2.0) >= expiry, "not before renewal + 6 io_timeouts");
    // A window past the expiry to watch the device in, not a wait for an
    // event: nothing keeps it alive any more.
    OsClock.sleep_until(expiry + secs(1.5));
    let after = pets();
    assert_eq!(after.last_pet(), last, "no keepalive once withheld");
    assert_eq!(after.disarmed, None, "left armed");
    let watchdog = status(&a)["watchdog"].clone();
    let reset_in = watchdog["reset_in_s"].as_f64().unwrap();
    let reset = OsClock.now() + secs(reset_in);
    assert!(reset_in > 0.0 && reset <= expiry + Duration::from_secs(60), "{watchdog}");
    assert_eq!(after.reset_at(last + secs(60.5)), Some(last + Duration::from_secs(60)));

    // sanlock dies with its expiry set: the client stays, SIGTERM is
    // refused, and a confirmed one leaves the device armed for it, with
    // wdmd's marker kept.
    drop(sanlock);
    wait_for(secs(5.0), "the disconnect is logged", || {
        log_of(&a).contains("disconnected without unregistering").then_some(())
    });
    assert!(clients(&a).iter().any(|(n, _)| *n == name));
    a.signal(Signal::SIGTERM);
    wait_for(secs(5.0), "SIGTERM is refused", || {
        log_of(&a).contains("SIGTERM refused").then_some(())
    });
    let exit = a.stop(Duration::from_secs(10)).unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(log_of(&a).contains("kept at shutdown"));
    assert_eq!(pets().disarmed, None, "armed at exit");
    assert!(Path::new(lease::wdmd::SHM_MARKER).exists(), "the marker stays until the reset");
    assert!(!socket.exists(), "the socket is removed");
    drop(cleanup);
}
