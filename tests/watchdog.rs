//! Self-fencing with real processes: `leased` hosts on one lease file, each
//! with the test watchdog device, whose keepalive record stands for a real
//! device (a gap longer than the fire timeout is the reset it would do).

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Holder, Leased, lease_file, scratch, wait_for};
use lease::clock::{Clock, MonoTime, OsClock};
use lease::watchdog::PetLog;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// io_timeout 1 s, fire timeout 3 s: expiry 8 s after the last renewal,
/// host_dead 11 s, test interval 0.75 s.
const IO_TIMEOUT_S: u64 = 1;
const FIRE_S: u64 = 3;
const HOST_DEAD_S: u64 = 8 * IO_TIMEOUT_S + FIRE_S;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn since(start: MonoTime, at: MonoTime) -> f64 {
    at.saturating_since(start).as_secs_f64()
}

fn start(dir: &std::path::Path, name: &str, extra: &[&str]) -> Leased {
    let fire = FIRE_S.to_string();
    Leased::start_with(dir, name, &[&["--watchdog-fire-timeout", &fire], extra].concat())
}

fn join(host: &Leased, host_id: u64, path: &str) {
    host.lease(&["add-lockspace", "-s", &format!("ls:{host_id}:{path}:0"), "--wait"]).ok();
}

fn status(host: &Leased) -> Value {
    host.lease(&["status", "--json"]).ok().json()
}

/// How `host` sees host_id `host_id`, once it has seen it at all.
fn seen(host: &Leased, host_id: u64) -> Option<Value> {
    let hosts = host.lease(&["hosts", "ls", "--json"]).ok().json();
    hosts["hosts"].as_array()?.iter().find(|h| h["host_id"] == host_id).cloned()
}

fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(i32::try_from(pid).unwrap()), signal).unwrap();
}

/// Overwrites host_id 1's delta lease sector with garbage, as failing
/// storage or a stray writer would.
fn corrupt_host_id_1(path: &str) {
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    file.write_all(&[0xA5; 512]).unwrap();
    file.sync_all().unwrap();
}

/// A holder that logs SIGTERM to `log` and goes on, so only SIGKILL ends it.
fn stubborn_holder(log: &std::path::Path) -> Child {
    let script =
        format!("trap 'echo TERM >> {}' TERM; while :; do sleep 0.05; done", log.display());
    Command::new("bash").args(["-c", &script]).stdin(Stdio::null()).spawn().unwrap()
}

#[test]
fn a_paused_leased_is_reset_before_another_host_may_take_its_lease() {
    let dir = scratch();
    let path = lease_file(dir.path(), 1, IO_TIMEOUT_S as u8);
    let a = start(dir.path(), "a", &[]);
    let b = start(dir.path(), "b", &[]);
    join(&a, 1, &path);
    join(&b, 2, &path);
    let holder = Holder::start();
    let contender = Holder::start();
    let r1 = format!("ls:r1:{path}:1M");
    a.lease(&["acquire", "-r", &r1, "--pid", &holder.pid()]).ok();
    wait_for(secs(10.0), "b sees a renew", || {
        seen(&b, 1).filter(|h| h["state"] == "LIVE" && h["last_renewal_s"].as_f64() < Some(1.0))
    });

    a.signal(Signal::SIGSTOP);
    let stopped = OsClock.now();
    // b reads every host's sector at each of its renewals (every 2 s): by
    // then it has seen a's last renewal and knows when a may be taken as
    // dead.
    OsClock.sleep_until(stopped + secs(2.5));
    let view = seen(&b, 1).unwrap();
    let allowed = OsClock.now() + secs(view["dead_in_s"].as_f64().unwrap());
    let log = PetLog::read(&a.pet_log()).unwrap();
    assert_eq!(log.fire_timeout, Duration::from_secs(FIRE_S));
    let reset = log.last_pet() + log.fire_timeout;

    let mut refusals = 0;
    let taken = loop {
        let attempt = b.lease(&["acquire", "-r", &r1, "--pid", &contender.pid()]);
        let now = OsClock.now();
        if attempt.code == 0 {
            break now;
        }
        assert!(since(stopped, now) < (HOST_DEAD_S + 6) as f64, "never taken: {}", attempt.stderr);
        refusals += 1;
        OsClock.sleep_until(now + Duration::from_millis(100));
    };
    let after_stop = PetLog::read(&a.pet_log()).unwrap();
    println!(
        "after SIGSTOP: a's watchdog resets the host at {:.2} s, b may take its lease from \
         {:.2} s, and took it at {:.2} s after {refusals} refusals",
        since(stopped, reset),
        since(stopped, allowed),
        since(stopped, taken)
    );
    assert_eq!(after_stop.pets, log.pets, "a paused leased pets nothing");
    assert_eq!(after_stop.reset_at(taken), Some(reset), "the device would have fired");
    assert!(reset < allowed, "the reset comes before anyone may take a's lease");
    assert!(taken >= allowed, "taken before b judged a dead");
    assert!(refusals > 0);
    assert_eq!(b.lease(&["inquire", "--json"]).ok().json()["leases"][0]["takeover"], "owner_dead");
}

/// io_timeout 1 with the default fire timeout (60 s, tests at most 10 s
/// apart) and kill_grace: the lockspace's expiry is never more than 8 s
/// ahead, yet it is renewed in time, so the keepalives go on, and the
/// defaults leave SIGKILL well before the reset, so leased does not warn.
#[test]
fn a_short_io_timeout_with_the_default_fire_timeout_keeps_the_keepalives_going() {
    let dir = scratch();
    let path = lease_file(dir.path(), 0, IO_TIMEOUT_S as u8);
    let a = Leased::start_with(dir.path(), "a", &["--config", "/dev/null"]);
    join(&a, 1, &path);
    let joined = OsClock.now();
    let watched = secs(15.0);
    // A window to watch the keepalives in, not a wait for an event.
    OsClock.sleep_until(joined + watched);
    let log = PetLog::read(&a.pet_log()).unwrap();
    let end = OsClock.now();
    let status = status(&a);
    let watchdog = &status["watchdog"];
    let mut times = vec![joined];
    times.extend(log.pets.iter().copied().filter(|&pet| pet > joined));
    times.push(end);
    let gaps: Vec<f64> = times.windows(2).map(|w| since(w[0], w[1])).collect();
    let longest = gaps.iter().copied().fold(0.0, f64::max);
    println!(
        "io_timeout 1, F 60: {} keepalives in the {:.1} s after the join, longest gap {longest:.2} \
         s; status: tested every {} s, lockspace expires in {} s",
        times.len() - 2,
        since(joined, end),
        watchdog["test_interval_s"],
        watchdog["clients"][0]["expires_in_s"]
    );
    assert_eq!(log.fire_timeout, Duration::from_secs(60));
    assert!(longest <= 10.0, "a gap of {longest:.2} s in the keepalives: {gaps:?}");
    assert!(times.len() - 2 >= 3, "{gaps:?}");
    assert_eq!(watchdog["petting"], true, "{watchdog}");
    let interval = watchdog["test_interval_s"].as_f64().unwrap();
    assert!(interval > 0.0 && interval < 8.0, "tested every {interval} s: {watchdog}");
    let expires_in = watchdog["clients"][0]["expires_in_s"].as_f64().unwrap();
    assert!(expires_in > 0.0 && expires_in <= 8.0, "{watchdog}");
    let warning = "leaves no time before the watchdog fires";
    assert!(!std::fs::read_to_string(&a.log).unwrap().contains(warning));

    // SIGKILL at the reset: that is warned of.
    let late =
        Leased::start_with(dir.path(), "b", &["--config", "/dev/null", "--kill-grace", "60"]);
    assert!(std::fs::read_to_string(&late.log).unwrap().contains(warning));
}

#[test]
fn failing_storage_stops_the_holders_in_order_then_the_lockspace_without_a_reset() {
    let dir = scratch();
    let path = lease_file(dir.path(), 1, IO_TIMEOUT_S as u8);
    let killpath_log = dir.path().join("killpath.log");
    let killpath = dir.path().join("killpath.sh");
    std::fs::write(
        &killpath,
        format!("#!/bin/sh\necho \"killpath $*\" >> {}\n", killpath_log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&killpath, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    let config = dir.path().join("leased.conf");
    std::fs::write(&config, format!("killpath = [\"{}\"]\nkill_grace = 4\n", killpath.display()))
        .unwrap();
    let a = start(dir.path(), "a", &["--config", config.to_str().unwrap()]);
    join(&a, 1, &path);
    let term_log = dir.path().join("term.log");
    let mut holder = stubborn_holder(&term_log);
    let pid = holder.id();
    a.lease(&["acquire", "-r", &format!("ls:r1:{path}:1M"), "--pid", &pid.to_string()]).ok();

    corrupt_host_id_1(&path);
    let corrupted = OsClock.now();
    let mut steps: Vec<(String, f64)> = Vec::new();
    let stopped = wait_for(secs(15.0), "the lockspace stops", || {
        let status = status(&a);
        let ls = status["lockspaces"][0].clone();
        if let Some(holder) = ls["recovery"]["holders"].get(0)
            && let Some(step) = holder["step"].as_str()
            && steps.last().is_none_or(|(last, _)| last != step)
        {
            steps.push((step.to_owned(), holder["step_at_s"].as_f64().unwrap()));
        }
        (ls["state"] == "stopped").then_some(status)
    });
    let took = OsClock.now().saturating_since(corrupted).as_secs_f64();
    println!(
        "corrupted sector: steps {steps:?}; lockspace stopped {took:.2} s after the corruption"
    );

    let names: Vec<&str> = steps.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["killpath", "sigterm", "sigkill"]);
    let at: Vec<f64> = steps.iter().map(|&(_, at)| at).collect();
    assert!(at[0] < 0.5 && (1.9..3.0).contains(&at[1]) && (3.9..5.0).contains(&at[2]), "{at:?}");
    let exit = holder.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&exit), Some(libc::SIGKILL));
    assert_eq!(std::fs::read_to_string(&killpath_log).unwrap(), format!("killpath {pid}\n"));
    assert!(std::fs::read_to_string(&term_log).unwrap().contains("TERM"));
    let ls = &stopped["lockspaces"][0];
    assert!(ls["detail"].as_str().unwrap().contains("leases.img: offset 0"), "{ls}");
    assert_eq!(ls["recovery"]["holders"][0]["alive"], false);
    assert!(stopped["leases"].as_array().unwrap().is_empty(), "the void lease is gone");

    // No reset: the keepalives never stopped for F, and the lockspace is no
    // longer a client.
    let watchdog = &stopped["watchdog"];
    assert!(watchdog["clients"].as_array().unwrap().is_empty(), "{watchdog}");
    assert_eq!(watchdog["petting"], true);
    let pets = PetLog::read(&a.pet_log()).unwrap();
    assert_eq!(pets.reset_at(OsClock.now()), None, "{pets:?}");

    let log = std::fs::read_to_string(&a.log).unwrap();
    let position = |needle: &str| {
        log.find(needle).unwrap_or_else(|| panic!("the log lacks '{needle}':\n{log}"))
    };
    let order = [
        "host_id lease lost",
        "running the killpath",
        "sigterm to a holder",
        "sigkill to a holder",
        "holder of void leases exited",
        "lockspace stopped",
    ]
    .map(position);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "log order {order:?}:\n{log}");

    // A stopped lockspace can be joined again.
    rejoin(&a, &path);
}

/// Once the area is repaired by hand (`lease direct init --force`), the
/// host_id is taken afresh.
fn rejoin(a: &Leased, path: &str) {
    let spec = format!("ls:0:{path}:0");
    common::lease(&["direct", "init", "-s", &spec, "--io-timeout", "1", "--force"]).ok();
    join(a, 1, path);
    assert_eq!(status(a)["lockspaces"][0]["state"], "joined");
}

#[test]
fn a_holder_that_cannot_be_stopped_ends_in_a_reset_before_expiry_plus_fire() {
    if !common::can_freeze("a process no signal stops") {
        return;
    }
    let dir = scratch();
    let path = lease_file(dir.path(), 1, IO_TIMEOUT_S as u8);
    // Declared before the daemon, so unmounted after it is gone.
    let mount = common::Mount::new(dir.path());
    let a = start(dir.path(), "a", &["--kill-grace", "2"]);
    let frozen = common::Frozen::new(&mount.dir);
    join(&a, 1, &path);
    // Blocked in the kernel on the frozen filesystem: SIGKILL waits for the thaw.
    let script = format!("echo x > {}/stuck", mount.dir.display());
    let mut holder = Command::new("sh").args(["-c", &script]).spawn().unwrap();
    a.lease(&["acquire", "-r", &format!("ls:r1:{path}:1M"), "--pid", &holder.id().to_string()])
        .ok();

    corrupt_host_id_1(&path);
    let lost = wait_for(secs(5.0), "the loss is noticed", || {
        let status = status(&a);
        (status["lockspaces"][0]["state"] == "failed").then_some(status)
    });
    let now = OsClock.now();
    let last_renewal = lost["lockspaces"][0]["last_renewal_s"].as_f64().unwrap();
    let expiry = now - secs(last_renewal) + Duration::from_secs(8 * IO_TIMEOUT_S);
    let fire = Duration::from_secs(FIRE_S);
    let reset = wait_for(expiry.saturating_since(now) + fire + secs(3.0), "the reset", || {
        PetLog::read(&a.pet_log()).unwrap().reset_at(OsClock.now())
    });
    let after = status(&a);
    println!(
        "holder in the kernel: the watchdog resets the host {:.2} s after the loss was seen, \
         {:.2} s before expiry + F; recovery: {}",
        since(now, reset),
        (expiry + fire).saturating_since(reset).as_secs_f64(),
        after["lockspaces"][0]["recovery"]
    );
    assert!(reset <= expiry + fire, "reset after expiry + F");
    let holder_status = &after["lockspaces"][0]["recovery"]["holders"][0];
    assert_eq!(holder_status["alive"], true);
    assert_eq!(holder_status["step"], "sigkill");
    assert_eq!(after["lockspaces"][0]["state"], "failed", "not stopped while the holder runs");
    assert_eq!(after["watchdog"]["petting"], false);
    assert!(std::fs::read_to_string(&a.log).unwrap().contains("recovery cannot finish"));

    // Thawed, the holder dies of its SIGKILL and recovery ends.
    drop(frozen);
    holder.wait().unwrap();
    wait_for(secs(5.0), "the lockspace stops after the thaw", || {
        (status(&a)["lockspaces"][0]["state"] == "stopped").then_some(())
    });
}

#[test]
fn one_program_letting_its_expiry_pass_stops_the_keepalives_for_all() {
    let dir = scratch();
    let path = lease_file(dir.path(), 0, IO_TIMEOUT_S as u8);
    let a = start(dir.path(), "a", &[]);
    join(&a, 1, &path);
    let program = Command::new(env!("CARGO_BIN_EXE_lease"))
        .args(["watchdog", "app", "--expiry", "2", "--renew", "0.25"])
        .env("LEASED_RUN_DIR", &a.run_dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = program.id();
    let name = format!("app (pid {pid})");
    let clients = |status: &Value| -> Vec<String> {
        let clients = status["watchdog"]["clients"].as_array().unwrap();
        clients.iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
    };
    wait_for(secs(5.0), "the program registers", || {
        clients(&status(&a)).contains(&name).then_some(())
    });

    signal(pid, Signal::SIGSTOP);
    let paused = OsClock.now();
    let withheld = wait_for(secs(5.0), "keepalives stop", || {
        let status = status(&a);
        (status["watchdog"]["petting"] == false).then_some(status)
    });
    let log = PetLog::read(&a.pet_log()).unwrap();
    println!(
        "program paused: keepalives stopped {:.2} s later, for {}",
        since(paused, OsClock.now()),
        withheld["watchdog"]["withheld_for"]
    );
    assert_eq!(withheld["watchdog"]["withheld_for"], name.as_str());
    // Its expiry was at most 2 s after the pause; the last keepalive came
    // before it.
    assert!(log.last_pet() < paused + secs(2.0), "{log:?}");
    let ls = &withheld["lockspaces"][0];
    assert_eq!(ls["state"], "joined", "the lockspace itself is fine: {ls}");
    assert_eq!(ls["renewal_failures"], 0);

    // Back in time (before F passed): keepalives resume, no reset.
    signal(pid, Signal::SIGCONT);
    wait_for(secs(3.0), "keepalives resume", || {
        (status(&a)["watchdog"]["petting"] == true).then_some(())
    });
    assert_eq!(PetLog::read(&a.pet_log()).unwrap().reset_at(OsClock.now()), None);

    signal(pid, Signal::SIGTERM);
    let output = program.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("unregistered"));
    assert_eq!(clients(&status(&a)), ["lockspace ls"]);
}

#[test]
fn watchdog_requests_are_checked_and_a_dropped_registration_stands() {
    let dir = scratch();
    let a = start(dir.path(), "a", &[]);
    let mut client = a.client().unwrap();
    let code = |result: Result<_, lease::client::ClientError>| {
        result.map(drop).unwrap_err().code().map(|c| c.as_str())
    };
    assert_eq!(code(client.watchdog_renew(secs(5.0))), Some("not_found"));
    assert_eq!(code(client.watchdog_register("", secs(5.0))), Some("bad_request"));
    assert_eq!(code(client.watchdog_register("a\nb", secs(5.0))), Some("bad_request"));
    assert_eq!(code(client.watchdog_register(&"n".repeat(65), secs(5.0))), Some("bad_request"));
    assert_eq!(code(client.watchdog_register("app", secs(0.5))), Some("bad_request"));
    assert_eq!(code(client.watchdog_register("app", secs(90_000.0))), Some("bad_request"));
    let reply = client.watchdog_register("app", secs(60.0)).unwrap();
    assert_eq!(reply.fire_timeout_s, FIRE_S);
    assert_eq!(code(client.watchdog_register("again", secs(60.0))), Some("exists"));
    assert!(client.watchdog_renew(secs(1.0)).unwrap().expires_in_s > Some(59.0), "never earlier");
    client.watchdog_unregister().unwrap();
    assert_eq!(code(client.watchdog_unregister()), Some("not_found"));

    // Registered, then gone without a word: the registration stands and
    // its expiry stops the keepalives.
    client.watchdog_register("dropped", secs(1.0)).unwrap();
    drop(client);
    let status = wait_for(secs(5.0), "keepalives stop", || {
        let status = status(&a);
        (status["watchdog"]["petting"] == false).then_some(status)
    });
    assert!(status["watchdog"]["withheld_for"].as_str().unwrap().starts_with("dropped (pid"));
    assert!(
        std::fs::read_to_string(&a.log).unwrap().contains("disconnected without unregistering")
    );
}

#[test]
fn hung_storage_ends_in_a_reset_while_a_write_may_still_land() {
    if !common::can_freeze("hanging the lease storage") {
        return;
    }
    let dir = scratch();
    // Declared before the daemon, so unmounted after it is gone.
    let mount = common::Mount::new(dir.path());
    let path = lease_file(&mount.dir, 1, IO_TIMEOUT_S as u8);
    let a = start(dir.path(), "a", &["--kill-grace", "2"]);
    join(&a, 1, &path);
    let mut holder = Holder::start();
    a.lease(&["acquire", "-r", &format!("ls:r1:{path}:1M"), "--pid", &holder.pid()]).ok();
    let before = status(&a);
    let renewed = OsClock.now() - secs(before["lockspaces"][0]["last_renewal_s"].as_f64().unwrap());
    let expiry = renewed + Duration::from_secs(8 * IO_TIMEOUT_S);

    // Every write to the lease file now hangs in the kernel.
    let frozen = common::Frozen::new(&mount.dir);
    let fire = Duration::from_secs(FIRE_S);
    let reset =
        wait_for(expiry.saturating_since(OsClock.now()) + fire + secs(3.0), "the reset", || {
            PetLog::read(&a.pet_log()).unwrap().reset_at(OsClock.now())
        });
    let lost = wait_for(secs(5.0), "the lockspace fails", || {
        let status = status(&a);
        (status["lockspaces"][0]["state"] == "failed").then_some(status)
    });
    let recovery = &lost["lockspaces"][0]["recovery"];
    println!(
        "hung storage: reset {:.2} s after the last renewal ({:.2} s before expiry + F); \
         recovery: {recovery}",
        since(renewed, reset),
        (expiry + fire).saturating_since(reset).as_secs_f64()
    );
    assert!(reset <= expiry + fire, "reset after expiry + F");
    // The holder went at SIGTERM, but a renewal write is still in the
    // kernel and could land after another host took over: no survival.
    let exit = holder.child.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&exit), Some(libc::SIGTERM));
    assert!(recovery["writes_pending"].as_u64().unwrap() > 0, "{recovery}");
    assert_eq!(lost["watchdog"]["petting"], false);

    // Once the writes are done, the lockspace stops.
    drop(frozen);
    wait_for(secs(5.0), "the lockspace stops after the thaw", || {
        (status(&a)["lockspaces"][0]["state"] == "stopped").then_some(())
    });
}

#[test]
fn after_a_crash_no_new_leased_keeps_the_old_ones_watchdog_alive() {
    let dir = scratch();
    let mut a = start(dir.path(), "a", &[]);
    a.kill();
    let run_dir = a.run_dir.to_str().unwrap().to_owned();
    let pets = format!("file:{}", a.pet_log().display());
    let restart = |watchdog: &str| {
        common::run(
            env!("CARGO_BIN_EXE_leased"),
            &["--config", "/dev/null", "--run-dir", &run_dir, "--watchdog", watchdog],
        )
    };
    let refused = restart(&pets);
    assert_eq!(refused.code, 70, "{}", refused.stderr);
    assert!(refused.stderr.contains("exited with its watchdog armed"), "{}", refused.stderr);
    assert!(refused.stderr.contains("leased.state"), "{}", refused.stderr);
    assert!(restart(&pets).stderr.contains("watchdog armed"), "still refused: no reboot yet");
    let record = std::fs::read_to_string(a.pet_log()).unwrap();
    assert_eq!(record.matches("arm ").count(), 1, "the device was not opened again:\n{record}");
}
