//! Leases shared with real sanlock 3.8 on one lease file: our host 1 (the
//! direct verbs, with its host_id renewed all along) and a sanlock daemon as
//! host 2 contend for one resource, and each is refused while the other
//! holds it. After every step both tools read the same owner from disk.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::sanlock::{self, SANLK_HOST_LIVE, SanlockHost};
use common::{lease, run, scratch, zero_file};
use lease::clock::{Clock, OsClock};
use lease::direct::{self, HostSpec};
use lease::disk::{Access, DirectFile};
use lease::ondisk::name::Name;

const MIB: u64 = 1 << 20;

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
    if !sanlock::present() {
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
    let mut refused = sanlock.holder("LS", "res", &img, MIB);
    assert_eq!(refused.line(), "error -243", "sanlock: lease held by another host");
    assert_eq!(owner_seen_by_both(path).0, 1);

    // We release it: sanlock gets it.
    lease(&["direct", "release", "-s", &ls1, "-r", &res, ours[0], ours[1]]).ok();
    assert_eq!(owner_seen_by_both(path).2, 0, "released: timestamp 0");
    let mut holder = sanlock.holder("LS", "res", &img, MIB);
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
        let states = sanlock.host_states("LS");
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
