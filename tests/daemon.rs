//! Several `leased` processes on one lease file, as distinct hosts: real
//! processes, real sockets, real files with O_DIRECT.

mod common;

use std::time::Duration;

use common::{Holder, Leased, lease_file, scratch, wait_for};
use lease::clock::{Clock, MonoTime, OsClock};
use nix::sys::signal::Signal;

/// io_timeout 1 s and fire timeout 3 s: host_dead = 8 + 3 = 11 s.
const IO_TIMEOUT_S: u64 = 1;
const FIRE_S: u64 = 3;
const HOST_DEAD_S: u64 = 8 * IO_TIMEOUT_S + FIRE_S;

fn join(host: &Leased, host_id: u64, path: &str) {
    host.lease(&["add-lockspace", "-s", &format!("ls:{host_id}:{path}:0"), "--wait"]).ok();
}

/// Hosts "a", "b", ... as host_ids 1, 2, ..., joined in parallel.
fn hosts<const N: usize>(dir: &std::path::Path, path: &str) -> [Leased; N] {
    let hosts: [Leased; N] = std::array::from_fn(|index| {
        let name = ["a", "b", "c", "d"][index];
        Leased::start(dir, name, FIRE_S)
    });
    std::thread::scope(|scope| {
        for (index, host) in hosts.iter().enumerate() {
            scope.spawn(move || join(host, index as u64 + 1, path));
        }
    });
    hosts
}

fn res(path: &str, r: u32) -> String {
    format!("ls:r{r}:{path}:{r}M")
}

#[test]
fn exclusive_is_exclusive_and_shared_is_shared_across_hosts() {
    let dir = scratch();
    let path = lease_file(dir.path(), 2, IO_TIMEOUT_S as u8);
    let hosts: [Leased; 3] = hosts(dir.path(), &path);
    let holders: Vec<Holder> = (0..3).map(|_| Holder::start()).collect();
    let r1 = res(&path, 1);
    let acquire = |host: usize, spec: &str| {
        hosts[host].lease(&["acquire", "-r", spec, "--pid", &holders[host].pid()])
    };

    acquire(0, &r1).ok();
    for other in [1, 2] {
        let refused = acquire(other, &r1);
        assert_eq!(refused.code, 1, "{}", refused.stderr);
        assert!(refused.stderr.contains("owner alive: held by host_id 1"), "{}", refused.stderr);
        let shared = acquire(other, &format!("{r1}:SH"));
        assert_eq!(shared.code, 1, "SH is excluded by EX: {}", shared.stderr);
    }
    hosts[0].lease(&["release", "-r", &r1, "--pid", &holders[0].pid()]).ok();

    // Shared by two hosts at once; exclusive refused while they hold it.
    acquire(1, &format!("{r1}:SH")).ok();
    acquire(2, &format!("{r1}:SH")).ok();
    let refused = acquire(0, &r1);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("held shared by host_id"), "{}", refused.stderr);
    hosts[1].lease(&["release", "-r", &format!("{r1}:SH"), "--pid", &holders[1].pid()]).ok();
    assert_eq!(acquire(0, &r1).code, 1, "host c still holds it shared");
    hosts[2].lease(&["release", "-r", &format!("{r1}:SH"), "--pid", &holders[2].pid()]).ok();
    acquire(0, &r1).ok();

    // Each host lists the others live in its table.
    let seen = hosts[1].lease(&["hosts", "ls", "--json"]).ok().json();
    let states: Vec<(u64, String)> = seen["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["host_id"].as_u64().unwrap(), h["name"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(states, [(1, "a".into()), (2, "b".into()), (3, "c".into())]);
}

#[test]
fn a_client_killed_with_sigkill_loses_its_leases_within_a_second() {
    let dir = scratch();
    let path = lease_file(dir.path(), 1, IO_TIMEOUT_S as u8);
    let [a, b] = hosts(dir.path(), &path);
    let mut holder = Holder::start();
    let other = Holder::start();
    let r1 = res(&path, 1);
    a.lease(&["acquire", "-r", &r1, "--pid", &holder.pid()]).ok();
    assert_eq!(a.lease(&["inquire", "--json"]).ok().json()["leases"].as_array().unwrap().len(), 1);

    holder.kill();
    let killed = OsClock.now();
    let got = b.lease(&["acquire", "-r", &r1, "--pid", &other.pid(), "--wait=5"]);
    let took = OsClock.now().saturating_since(killed);
    got.ok();
    println!(
        "another host acquired the lease {:.3} s after its holder was SIGKILLed",
        took.as_secs_f64()
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(a.lease(&["inquire", "--json"]).ok().json()["leases"].as_array().unwrap().is_empty());
}

#[test]
fn a_killed_daemons_leases_are_taken_only_after_host_dead() {
    let dir = scratch();
    let path = lease_file(dir.path(), 1, IO_TIMEOUT_S as u8);
    let [mut a, b] = hosts(dir.path(), &path);
    let holder = Holder::start();
    let contender = Holder::start();
    let r1 = res(&path, 1);
    a.lease(&["acquire", "-r", &r1, "--pid", &holder.pid()]).ok();
    // Let b see a renew, so that it knows a's sector is alive.
    OsClock.sleep_until(OsClock.now() + Duration::from_secs(3 * IO_TIMEOUT_S));

    a.signal(Signal::SIGKILL);
    let killed = OsClock.now();
    let _ = a.child.wait();
    // a's last renewal was at most 2N before the kill, and b saw it no
    // earlier: b may take the lease from (kill - 2N) + host_dead at the
    // soonest, and must by (kill + 2N for b to notice) + host_dead.
    let earliest = killed + Duration::from_secs(HOST_DEAD_S - 2 * IO_TIMEOUT_S);
    let latest = killed + Duration::from_secs(HOST_DEAD_S + 2 * IO_TIMEOUT_S + 3);
    let mut refusals = 0;
    let acquired_at: MonoTime = loop {
        let attempt = b.lease(&["acquire", "-r", &r1, "--pid", &contender.pid()]);
        let now = OsClock.now();
        if attempt.code == 0 {
            break now;
        }
        assert!(
            now < latest,
            "not taken by {:?} after the kill: {}",
            latest.saturating_since(killed),
            attempt.stderr
        );
        refusals += 1;
        OsClock.sleep_until(now + Duration::from_millis(200));
    };
    let after = acquired_at.saturating_since(killed).as_secs_f64();
    println!(
        "host_dead {HOST_DEAD_S} s: refused {refusals} times, taken {after:.2} s after the kill \
         (allowed from {:.0} s, required by {:.0} s)",
        earliest.saturating_since(killed).as_secs_f64(),
        latest.saturating_since(killed).as_secs_f64()
    );
    assert!(acquired_at >= earliest, "taken {after:.2} s after the kill: before host_dead");
    assert!(refusals > 0);
    let status = b.lease(&["inquire", "--json"]).ok().json();
    assert_eq!(status["leases"][0]["takeover"], "owner_dead");
}

#[test]
fn lease_run_holds_the_lease_while_the_command_runs() {
    let dir = scratch();
    let path = lease_file(dir.path(), 1, IO_TIMEOUT_S as u8);
    let a = Leased::start(dir.path(), "a", FIRE_S);
    join(&a, 1, &path);
    let r1 = res(&path, 1);
    let script = format!(
        "{} inquire --json > {}/inside.json; exit 3",
        env!("CARGO_BIN_EXE_lease"),
        dir.path().display()
    );
    let out = a.lease(&["run", "-r", &r1, "--", "sh", "-c", &script]);
    assert_eq!(out.code, 3, "the command's exit status: {}", out.stderr);
    let inside: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("inside.json")).unwrap())
            .unwrap();
    assert_eq!(inside["leases"].as_array().unwrap().len(), 1, "held while the command ran");
    assert_eq!(inside["leases"][0]["resource"], "r1");
    assert!(a.lease(&["inquire", "--json"]).ok().json()["leases"].as_array().unwrap().is_empty());

    // A busy resource: the command does not run at all.
    let holder = Holder::start();
    a.lease(&["acquire", "-r", &r1, "--pid", &holder.pid()]).ok();
    let marker = dir.path().join("ran");
    let out = a.lease(&["run", "-r", &r1, "--", "touch", marker.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("already held on this host"), "{}", out.stderr);
    assert!(!marker.exists());
}

#[test]
fn persistent_leases_outlive_their_process_until_adopted_or_released() {
    let dir = scratch();
    let path = lease_file(dir.path(), 2, IO_TIMEOUT_S as u8);
    let a = Leased::start(dir.path(), "a", FIRE_S);
    join(&a, 1, &path);
    let (r1, r2) = (res(&path, 1), res(&path, 2));
    let mut first = Holder::start();
    a.lease(&["acquire", "-r", &r1, "-r", &r2, "--pid", &first.pid(), "--persistent"]).ok();
    first.kill();
    let inquire = |a: &Leased| a.lease(&["inquire", "--json"]).ok().json()["leases"].clone();
    // The orphans appear once the exit is processed.
    let deadline = OsClock.now() + Duration::from_secs(2);
    while inquire(&a).as_array().unwrap().iter().any(|l| !l["pid"].is_null()) {
        assert!(OsClock.now() < deadline, "{}", inquire(&a));
        OsClock.sleep_until(OsClock.now() + Duration::from_millis(20));
    }
    assert_eq!(inquire(&a).as_array().unwrap().len(), 2, "kept as orphans");
    let second = Holder::start();
    a.lease(&["acquire", "-r", &r1, "--pid", &second.pid(), "--adopt"]).ok();
    a.lease(&["release", "-r", &r2, "--orphan"]).ok();
    let left = inquire(&a);
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["pid"].as_u64().unwrap().to_string(), second.pid());
}

#[test]
fn sigterm_waits_for_holders_unless_repeated_then_releases_everything() {
    let dir = scratch();
    let path = lease_file(dir.path(), 1, IO_TIMEOUT_S as u8);
    let [mut a, b] = hosts(dir.path(), &path);
    let holder = Holder::start();
    let r1 = res(&path, 1);
    a.lease(&["acquire", "-r", &r1, "--pid", &holder.pid()]).ok();
    a.signal(Signal::SIGTERM);
    // Refused: the daemon goes on serving.
    a.lease(&["status"]).ok();
    assert!(a.exited().is_none());
    a.signal(Signal::SIGTERM);
    let status = a.child.wait().unwrap();
    assert!(status.success());
    // Forced: the holder was killed before its lease was released.
    let mut holder = holder;
    let killed = holder.child.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&killed), Some(libc::SIGKILL));
    // Released on disk: b takes it at once, without waiting for a to die.
    let other = Holder::start();
    b.lease(&["acquire", "-r", &r1, "--pid", &other.pid()]).ok();
    let dump = common::lease(&["direct", "dump", &path, "--json"]).ok().json();
    let host_a =
        dump["areas"][0]["hosts"].as_array().unwrap().iter().find(|h| h["host_id"] == 1).cloned();
    assert_eq!(host_a.map(|h| h["timestamp"].clone()), Some(0.into()), "a left its host_id");
}

#[test]
fn a_forced_request_kills_the_holder_so_the_lease_passes() {
    let dir = scratch();
    let path = lease_file(dir.path(), 1, IO_TIMEOUT_S as u8);
    let [a, b] = hosts(dir.path(), &path);
    let mut holder = Holder::start();
    let r1 = res(&path, 1);
    a.lease(&["acquire", "-r", &r1, "--pid", &holder.pid()]).ok();
    let asked = b.lease(&["request", "-r", &r1, "--force", "--json"]).ok().json();
    assert_eq!(asked["owner_id"], 1);
    // a sees our bit at its next renewal, kills the holder, releases.
    let waiter = Holder::start();
    b.lease(&["acquire", "-r", &r1, "--pid", &waiter.pid(), "--wait=10"]).ok();
    let status = holder.child.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
}

#[test]
fn a_waiting_acquire_does_not_hold_up_other_requests() {
    let dir = scratch();
    let path = lease_file(dir.path(), 2, IO_TIMEOUT_S as u8);
    let [a, b] = hosts(dir.path(), &path);
    let (holder, waiter, other) = (Holder::start(), Holder::start(), Holder::start());
    let (r1, r2) = (res(&path, 1), res(&path, 2));
    a.lease(&["acquire", "-r", &r1, "--pid", &holder.pid()]).ok();

    std::thread::scope(|scope| {
        let (done, finished) = std::sync::mpsc::channel();
        let (b, wanted, waiter) = (&b, r1.as_str(), waiter.pid());
        let waiting = scope.spawn(move || {
            let got = b.lease(&["acquire", "-r", wanted, "--pid", &waiter, "--wait=60"]);
            done.send(()).unwrap();
            got
        });
        // While b waits for r1 (a holds it, so it cannot have it yet), b
        // answers everything else.
        b.lease(&["status"]).ok();
        b.lease(&["hosts", "ls"]).ok();
        b.lease(&["acquire", "-r", &r2, "--pid", &other.pid()]).ok();
        b.lease(&["release", "-r", &r2, "--pid", &other.pid()]).ok();
        assert!(finished.try_recv().is_err(), "the waiting acquire ended while a held r1");

        a.lease(&["release", "-r", &r1, "--pid", &holder.pid()]).ok();
        waiting.join().unwrap().ok();
    });
    let held = b.lease(&["inquire", "--pid", &waiter.pid(), "--json"]).ok().json();
    assert_eq!(held["leases"][0]["resource"], "r1");
}

/// A resource "slow" of lockspace "ls" on an ext4 filesystem of its own,
/// which a test can freeze to make its writes hang; with its spec.
fn slow_resource(dir: &std::path::Path) -> (common::Mount, String) {
    let mount = common::Mount::new(dir);
    let slow_file = common::zero_file(&mount.dir, "slow.img", 1 << 20);
    let slow = format!("ls:slow:{}:0", slow_file.display());
    common::lease(&["direct", "init", "-r", &slow, "--num-hosts", "8"]).ok();
    (mount, slow)
}

#[test]
fn a_hung_resource_write_never_delays_renewals() {
    if !common::can_freeze("hanging a resource write") {
        return;
    }
    let dir = scratch();
    let path = lease_file(dir.path(), 0, IO_TIMEOUT_S as u8);
    // Declared before the daemons, so unmounted after they are gone.
    let (mount, slow) = slow_resource(dir.path());
    let [a, b] = hosts(dir.path(), &path);
    let holder = Holder::start();
    let state_of_a = || {
        let seen = b.lease(&["hosts", "ls", "--json"]).ok().json();
        let a_seen = seen["hosts"].as_array().unwrap().iter().find(|h| h["host_id"] == 1).cloned();
        a_seen.map_or_else(|| "not seen".to_owned(), |h| h["state"].as_str().unwrap().to_owned())
    };
    // b has seen a renew.
    while state_of_a() != "LIVE" {
        OsClock.sleep_until(OsClock.now() + Duration::from_millis(100));
    }

    // Declared after the daemons, so thawed before they are killed: a
    // thread blocked in a frozen write holds its process until the thaw.
    let frozen = common::Frozen::new(&mount.dir);
    let mut longest_silence: f64 = 0.0;
    let mut polls = 0;
    let attempt = std::thread::scope(|scope| {
        let attempt =
            scope.spawn(|| a.lease(&["acquire", "-r", &slow, "--pid", &holder.pid(), "--wait=8"]));
        while !attempt.is_finished() {
            let status = a.lease(&["status", "--json"]).ok().json();
            let lockspace = &status["lockspaces"][0];
            assert_eq!(lockspace["renewal_failures"], 0, "{status}");
            longest_silence = longest_silence.max(lockspace["last_renewal_s"].as_f64().unwrap());
            assert_eq!(state_of_a(), "LIVE");
            polls += 1;
            OsClock.sleep_until(OsClock.now() + Duration::from_millis(200));
        }
        attempt.join().unwrap()
    });
    println!(
        "acquire on a frozen filesystem: exit {} ({}); {polls} polls, renewals at most {longest_silence:.2} s apart",
        attempt.code,
        attempt.stderr.trim()
    );
    assert_eq!(attempt.code, 75, "a hung device is worth retrying later: {}", attempt.stderr);
    assert!(polls >= 10, "the acquire waited {polls} polls");
    // Renewals every 2 s, each issued on time whatever the resource I/O.
    assert!(
        longest_silence < (3 * IO_TIMEOUT_S) as f64,
        "{longest_silence:.2} s without a renewal"
    );
    // What the failed ballot left is still to be withdrawn: the resource
    // is busy on this host, and a second acquire is told so rather than
    // failing on our own write still in the kernel.
    let other = Holder::start();
    let busy = a.lease(&["acquire", "-r", &slow, "--pid", &other.pid()]);
    assert_eq!(busy.code, 1, "{}", busy.stderr);
    assert!(busy.stderr.contains("being acquired or released on this host"), "{}", busy.stderr);

    drop(frozen);
    a.lease(&["acquire", "-r", &slow, "--pid", &holder.pid(), "--wait=10"]).ok();
}

#[test]
fn a_host_beyond_the_renewals_reads_is_judged_alive_until_watched_then_dead() {
    let dir = scratch();
    let path = lease_file(dir.path(), 1, IO_TIMEOUT_S as u8);
    let r1 = res(&path, 1);
    common::lease(&["direct", "init", "-r", &r1, "--num-hosts", "128", "--force"]).ok();
    let a = Leased::start(dir.path(), "a", FIRE_S);
    join(&a, 1, &path);
    // a's first renewal reads the whole area and sees no host but itself;
    // later ones read host_ids 1 to 64 only.
    OsClock.sleep_until(OsClock.now() + Duration::from_secs(3 * IO_TIMEOUT_S));
    let mut far = Leased::start(dir.path(), "far", FIRE_S);
    join(&far, 100, &path);
    let holder = Holder::start();
    let contender = Holder::start();
    far.lease(&["acquire", "-r", &r1, "--pid", &holder.pid()]).ok();
    let seen_by_a = |host_id: u64| {
        let hosts = a.lease(&["hosts", "ls", "--json"]).ok().json();
        hosts["hosts"].as_array().unwrap().iter().any(|h| h["host_id"] == host_id)
    };
    OsClock.sleep_until(OsClock.now() + Duration::from_secs(2 * IO_TIMEOUT_S));
    assert!(!seen_by_a(100), "not read by a's renewals yet");
    let refused = a.lease(&["acquire", "-r", &r1, "--pid", &contender.pid()]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("host_id 100"), "{}", refused.stderr);

    far.signal(Signal::SIGKILL);
    let killed = OsClock.now();
    let _ = far.child.wait();
    let latest = killed + Duration::from_secs(HOST_DEAD_S + 4 * IO_TIMEOUT_S + 3);
    while a.lease(&["acquire", "-r", &r1, "--pid", &contender.pid()]).code != 0 {
        assert!(OsClock.now() < latest, "the far host's lease was never taken");
        OsClock.sleep_until(OsClock.now() + Duration::from_millis(200));
    }
    let after = OsClock.now().saturating_since(killed).as_secs_f64();
    println!("a host beyond the reads: its lease taken {after:.2} s after it was killed");
    assert!(after >= (HOST_DEAD_S - 2 * IO_TIMEOUT_S) as f64, "taken before host_dead");
    assert!(seen_by_a(100), "watched since it owned what a wanted");
}

#[test]
fn a_forced_removal_kills_the_holders_before_releasing_their_leases() {
    let dir = scratch();
    let path = lease_file(dir.path(), 1, IO_TIMEOUT_S as u8);
    let a = Leased::start(dir.path(), "a", FIRE_S);
    join(&a, 1, &path);
    let mut holder = Holder::start();
    a.lease(&["acquire", "-r", &res(&path, 1), "--pid", &holder.pid()]).ok();
    let refused = a.lease(&["rem-lockspace", "ls"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(holder.child.try_wait().unwrap().is_none(), "refused: the holder runs on");
    a.lease(&["rem-lockspace", "ls", "--force"]).ok();
    let killed = holder.child.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&killed), Some(libc::SIGKILL));
    let status = a.lease(&["status", "--json"]).ok().json();
    assert!(status["lockspaces"].as_array().unwrap().is_empty(), "{status}");
    assert!(status["watchdog"]["clients"].as_array().unwrap().is_empty(), "{status}");
    // The removal is over: joined again, the lockspace takes leases again.
    join(&a, 1, &path);
    let mut again = Holder::start();
    a.lease(&["acquire", "-r", &res(&path, 1), "--pid", &again.pid()]).ok();
    again.kill();
}

#[test]
fn one_resource_named_by_two_paths_is_one_lease() {
    let dir = scratch();
    let path = lease_file(dir.path(), 2, IO_TIMEOUT_S as u8);
    let hosts: [Leased; 2] = hosts(dir.path(), &path);
    let alias = dir.path().join("by-id-alias.img");
    std::os::unix::fs::symlink(&path, &alias).unwrap();
    let dotted = format!("{}/sub/../leases.img", dir.path().display());
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let holders: Vec<Holder> = (0..3).map(|_| Holder::start()).collect();
    let acquire = |host: usize, holder: usize, spec: &str| {
        hosts[host].lease(&["acquire", "-r", spec, "--pid", &holders[holder].pid()])
    };

    acquire(0, 0, &res(&path, 1)).ok();
    for other in [format!("ls:r1:{}:1M", alias.display()), format!("ls:r1:{dotted}:1M")] {
        let refused = acquire(0, 1, &other);
        assert_ne!(refused.code, 0, "{other} is the same lease");
        let by = format!("already held on this host by pid {}", holders[0].pid());
        assert!(refused.stderr.contains(&by), "{}", refused.stderr);
    }
    // The name on another area is not this lease.
    let elsewhere = hosts[0].lease(&["release", "-r", &format!("ls:r1:{path}:2M")]);
    assert_ne!(elsewhere.code, 0);
    assert!(elsewhere.stderr.contains("which is not the area"), "{}", elsewhere.stderr);
    assert_eq!(acquire(1, 2, &res(&path, 1)).code, 1, "host b is refused while a holds it");
    // Released through the alias, it is free for the other host.
    let via_alias = format!("ls:r1:{}:1M", alias.display());
    hosts[0].lease(&["release", "-r", &via_alias, "--pid", &holders[0].pid()]).ok();
    acquire(1, 2, &res(&path, 1)).ok();
}

#[test]
fn a_forced_removal_lists_its_holders_only_once_no_lease_can_be_added() {
    if !common::can_freeze("a holder that takes seconds to die") {
        return;
    }
    let dir = scratch();
    let path = lease_file(dir.path(), 2, IO_TIMEOUT_S as u8);
    // Declared before the daemon, so unmounted after it is gone.
    let mount = common::Mount::new(dir.path());
    let [a]: [Leased; 1] = hosts(dir.path(), &path);
    let frozen = common::Frozen::new(&mount.dir);
    let mut slow_to_die = stuck_writer(&mount);
    a.lease(&["acquire", "-r", &res(&path, 1), "--pid", &slow_to_die.id().to_string()]).ok();
    let mut late = Holder::start();
    let (removal, late_acquire) = std::thread::scope(|scope| {
        let removal = scope.spawn(|| a.lease(&["rem-lockspace", "ls", "--force"]));
        wait_for(Duration::from_secs(5), "the removal's SIGKILL", || {
            let log = std::fs::read_to_string(&a.log).unwrap();
            log.contains("SIGKILL to a lease holder").then_some(())
        });
        // While the killed holder takes its time to exit, a process of the
        // host asks for another lease of the lockspace.
        let late_acquire = a.lease(&["acquire", "-r", &res(&path, 2), "--pid", &late.pid()]);
        drop(frozen);
        (removal.join().unwrap(), late_acquire)
    });
    slow_to_die.wait().unwrap();
    removal.ok();
    // Told "acquired", it would run on with its lease released on disk.
    let late_alive = late.child.try_wait().unwrap().is_none();
    assert!(
        late_acquire.code != 0 || !late_alive,
        "a lease acquired during the removal was released under a running holder: {}",
        late_acquire.stderr
    );
    assert_eq!(late_acquire.code, 75, "{}", late_acquire.stderr);
}

/// A process blocked in the kernel writing to `mount` while it is frozen:
/// SIGKILL takes effect only at the thaw.
fn stuck_writer(mount: &common::Mount) -> std::process::Child {
    let script = format!("echo x > {}/stuck", mount.dir.display());
    std::process::Command::new("sh").args(["-c", &script]).spawn().unwrap()
}

/// That `holder`, told by `answer` that it holds `spec`, does not run on
/// while host `other` takes `spec` EX: it was refused, or it was stopped,
/// or the lease is still held.
fn assert_not_released_under(
    other: &Leased,
    spec: &str,
    answer: &common::Run,
    holder: &mut Holder,
) {
    let alive = holder.child.try_wait().unwrap().is_none();
    let taker = Holder::start();
    let taken = other.lease(&["acquire", "-r", spec, "--pid", &taker.pid()]);
    assert!(
        !(answer.code == 0 && alive && taken.code == 0),
        "pid {} was told it holds {spec} and runs on, while another host holds it EX",
        holder.pid()
    );
}

/// The number of lines of `a`'s log holding `needle`.
fn log_count(a: &Leased, needle: &str) -> usize {
    std::fs::read_to_string(&a.log).unwrap().matches(needle).count()
}

#[test]
fn a_conversion_ending_during_a_removal_lets_the_removal_go_on() {
    if !common::can_freeze("a slow conversion") {
        return;
    }
    let dir = scratch();
    let path = lease_file(dir.path(), 0, IO_TIMEOUT_S as u8);
    let (mount, slow) = slow_resource(dir.path());
    let [a]: [Leased; 1] = hosts(dir.path(), &path);
    let holder = Holder::start();
    a.lease(&["acquire", "-r", &slow, "--pid", &holder.pid()]).ok();
    let frozen = common::Frozen::new(&mount.dir);
    let removal_ended = std::thread::scope(|scope| {
        let convert = scope
            .spawn(|| a.lease(&["convert", "-r", &slow, "--mode", "sh", "--pid", &holder.pid()]));
        // The conversion's first write hangs on the frozen filesystem for
        // an io_timeout, with its slot busy; the removal waits for it.
        wait_for(Duration::from_secs(5), "the conversion under way", || {
            (a.lease(&["status", "--json"]).ok().json()["busy"] == 1).then_some(())
        });
        let removal = scope.spawn(|| a.lease(&["rem-lockspace", "ls", "--force"]));
        let convert = convert.join().unwrap();
        assert_eq!(convert.code, 75, "{}", convert.stderr);
        drop(frozen);
        let deadline = OsClock.now() + Duration::from_secs(15);
        while !removal.is_finished() && OsClock.now() < deadline {
            OsClock.sleep_until(OsClock.now() + Duration::from_millis(100));
        }
        let ended = removal.is_finished();
        if !ended {
            // Lets the removal's request end, so the scope can.
            a.signal(Signal::SIGKILL);
        }
        ended
    });
    assert!(removal_ended, "rem-lockspace --force still waits 15 s after the conversion ended");
}

#[test]
fn an_orphan_adopted_during_a_forced_removal_is_refused_or_stopped() {
    if !common::can_freeze("a holder that takes seconds to die") {
        return;
    }
    let dir = scratch();
    let path = lease_file(dir.path(), 2, IO_TIMEOUT_S as u8);
    let mount = common::Mount::new(dir.path());
    let [a, b]: [Leased; 2] = hosts(dir.path(), &path);
    let (r1, r2) = (res(&path, 1), res(&path, 2));
    // r2: a persistent lease whose process exited, an orphan.
    let mut first = Holder::start();
    a.lease(&["acquire", "-r", &r2, "--pid", &first.pid(), "--persistent"]).ok();
    first.kill();
    wait_for(Duration::from_secs(3), "the orphan", || {
        let leases = a.lease(&["inquire", "--json"]).ok().json()["leases"].clone();
        leases.as_array().unwrap().iter().all(|l| l["pid"].is_null()).then_some(())
    });
    let frozen = common::Frozen::new(&mount.dir);
    let mut slow_to_die = stuck_writer(&mount);
    a.lease(&["acquire", "-r", &r1, "--pid", &slow_to_die.id().to_string()]).ok();
    let mut adopter = Holder::start();
    let adopt = std::thread::scope(|scope| {
        let removal = scope.spawn(|| a.lease(&["rem-lockspace", "ls", "--force"]));
        wait_for(Duration::from_secs(5), "the removal's SIGKILL", || {
            (log_count(&a, "SIGKILL to a lease holder") > 0).then_some(())
        });
        let adopt = a.lease(&["acquire", "-r", &r2, "--pid", &adopter.pid(), "--adopt"]);
        drop(frozen);
        removal.join().unwrap().ok();
        adopt
    });
    slow_to_die.wait().unwrap();
    assert_not_released_under(&b, &r2, &adopt, &mut adopter);
}

#[test]
fn a_removal_giving_up_does_not_reopen_what_another_removal_closed() {
    if !common::can_freeze("a holder that takes seconds to die") {
        return;
    }
    let dir = scratch();
    let path = lease_file(dir.path(), 2, IO_TIMEOUT_S as u8);
    let mount = common::Mount::new(dir.path());
    let [a, b]: [Leased; 2] = hosts(dir.path(), &path);
    let (r1, r2) = (res(&path, 1), res(&path, 2));
    let frozen = common::Frozen::new(&mount.dir);
    let mut slow_to_die = stuck_writer(&mount);
    a.lease(&["acquire", "-r", &r1, "--pid", &slow_to_die.id().to_string()]).ok();
    let mut late = Holder::start();
    let (first, late_acquire) = std::thread::scope(|scope| {
        let first = scope.spawn(|| a.lease(&["rem-lockspace", "ls", "--force"]));
        wait_for(Duration::from_secs(5), "the first removal's SIGKILL", || {
            (log_count(&a, "SIGKILL to a lease holder") == 1).then_some(())
        });
        let second = scope.spawn(|| a.lease(&["rem-lockspace", "ls", "--force"]));
        wait_for(Duration::from_secs(5), "the second removal's SIGKILL", || {
            (log_count(&a, "SIGKILL to a lease holder") == 2).then_some(())
        });
        // The first gives up once its holder has not died in time.
        let first = first.join().unwrap();
        let late_acquire = a.lease(&["acquire", "-r", &r2, "--pid", &late.pid()]);
        drop(frozen);
        second.join().unwrap().ok();
        (first, late_acquire)
    });
    slow_to_die.wait().unwrap();
    assert_ne!(first.code, 0, "the first removal gives up: {}", first.stdout);
    assert_not_released_under(&b, &r2, &late_acquire, &mut late);
}
