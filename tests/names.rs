//! Leases found by name: a lockspace's name index, through real `leased`
//! daemons and the `lease` command.
//!
//! - one host: format, add (idempotent), list with full names (Cinder's
//!   57-byte ones stored hashed), acquire by name for processes that
//!   exclude each other, delete only what nobody holds, a deleted name's
//!   lease left under a name no lookup gives, and bad input refused with
//!   nothing changed on disk;
//! - two hosts adding the same names at once get one lease per name, and
//!   exclude each other through it;
//! - idle names are collected when asked; `lease group` shows and manages
//!   groups.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Holder, Leased, Run, lease, scratch, wait_for, zero_file};
use lease::api::ErrorCode;
use lease::client::Client;

const MIB: usize = 1 << 20;
/// Cinder's lock for deleting a volume: `cinder-<uuid>-delete_volume`.
const CINDER: &str = "cinder-0b7c2f6e-3d0e-4a53-9d8e-2f1c6a4b5e7d-delete_volume";

/// A lease file of `mib` MiB with lockspace "ls" (io_timeout 1) at 0.
fn lockspace_file(dir: &Path, mib: usize) -> String {
    let img = zero_file(dir, "leases.img", mib * MIB);
    let path = img.to_str().unwrap().to_owned();
    lease(&["direct", "init", "-s", &format!("ls:0:{path}:0"), "--io-timeout", "1"]).ok();
    path
}

fn join(host: &Leased, host_id: u64, path: &str) {
    host.lease(&["add-lockspace", "-s", &format!("ls:{host_id}:{path}:0"), "--wait"]).ok();
}

/// Hosts a (host_id 1) and b (host_id 2) joined to "ls" of `path`, whose
/// name index a has written.
fn two_hosts(dir: &Path, path: &str) -> (Leased, Leased) {
    let a = Leased::start(dir, "a", 60);
    let b = Leased::start(dir, "b", 60);
    join(&a, 1, path);
    join(&b, 2, path);
    a.lease(&["index", "format", "ls"]).ok();
    (a, b)
}

/// The error kind a failed `--json` command printed.
fn error_kind(run: &Run) -> String {
    assert_ne!(run.code, 0, "expected a failure: {}", run.stdout);
    run.json()["error"]["kind"].as_str().unwrap().to_owned()
}

/// Everything after the lockspace area: the index, its lease, the names.
fn past_lockspace(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap().split_off(MIB)
}

#[test]
fn names_are_found_added_and_removed_through_the_index() {
    let dir = scratch();
    let path = lockspace_file(dir.path(), 8);
    let a = Leased::start(dir.path(), "a", 60);
    join(&a, 1, &path);

    let unformatted = a.lease(&["index", "list", "ls", "--json"]);
    assert_eq!(error_kind(&unformatted), "data");
    assert!(
        unformatted.stderr.contains(&format!("{path}: offset {MIB}")),
        "{}",
        unformatted.stderr
    );

    let formatted = a.lease(&["index", "format", "ls", "--max-names", "3", "--json"]).ok().json();
    assert_eq!(formatted["offset"], MIB);

    let created = a.lease(&["index", "create", &format!("ls:{CINDER}"), "--json"]).ok().json();
    assert_eq!(created["created"], true);
    assert_eq!(created["name"], CINDER);
    let stored = created["stored"].as_str().unwrap().to_owned();
    assert!(stored.starts_with('#') && stored.len() == 48, "{stored}");
    let offset = created["offset"].as_u64().unwrap();
    assert_eq!(offset, 3 * MIB as u64, "the first slot after the index and its lease");
    let again = a.lease(&["index", "create", &format!("ls:{CINDER}"), "--json"]).ok().json();
    assert_eq!((&again["created"], &again["offset"]), (&false.into(), &offset.into()));

    // Acquired by name for one process, refused to another; the name is
    // added on first use.
    let first = Holder::start();
    let second = Holder::start();
    let take = |holder: &Holder, name: &str| {
        a.lease(&["acquire", "-n", &format!("ls:{name}"), "-p", &holder.pid(), "--json"])
    };
    let held = take(&first, CINDER).ok().json();
    assert_eq!(held["leases"][0]["offset"], offset);
    assert_eq!(error_kind(&take(&second, CINDER)), "exists", "held by another process here");
    take(&first, "vm-1").ok();
    let listed = a.lease(&["index", "list", "ls", "--json"]).ok().json();
    let names: Vec<(&str, &str)> = listed["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["stored"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [(CINDER, stored.as_str()), ("vm-1", "vm-1")]);
    // The index is sanlock's rindex: Debian's sanlock finds both names.
    if common::prerequisite(common::have("sanlock"), "sanlock (to read the index as sanlock)") {
        let rindex = format!("ls:{path}:{MIB}");
        for (name, entry) in [("vm-1", &listed["names"][1]), (stored.as_str(), &listed["names"][0])]
        {
            let found =
                common::run("sanlock", &["direct", "lookup", "-x", &rindex, "-e", name]).ok();
            let expected = format!("name {name} offset {}", entry["offset"]);
            assert!(found.stdout.contains(&expected), "{}", found.stdout);
        }
    }

    // Delete: refused while held; once released, the name goes and its
    // lease is left under a name no lookup gives.
    let delete = |name: &str| a.lease(&["index", "delete", &format!("ls:{name}"), "--json"]);
    assert_eq!(error_kind(&delete(CINDER)), "exists", "held here");
    a.lease(&["release", "-n", &format!("ls:{CINDER}"), "-p", &first.pid()]).ok();
    delete(CINDER).ok();
    assert_eq!(error_kind(&delete(CINDER)), "not_found");
    let leader = lease(&["direct", "dump", &format!("{path}:{offset}"), "--json"]).ok().json();
    let names_on_disk = leader.to_string();
    assert!(names_on_disk.contains("#unused"), "{names_on_disk}");
    // An acquire that looked the name up before the deletion is refused.
    let spec = format!("ls:{stored}:{path}:{offset}");
    let stale = a.lease(&["acquire", "-r", &spec, "-p", &second.pid(), "--json"]);
    assert_eq!(error_kind(&stale), "data", "{}", stale.stderr);
    take(&second, CINDER).ok();
    let listed = a.lease(&["index", "list", "ls", "--json"]).ok().json();
    assert_eq!(listed["names"].as_array().unwrap().len(), 2, "{listed}");

    // Bad input: refused, and nothing after the lockspace area changes.
    let create = |name: &str| a.lease(&["index", "create", &format!("ls:{name}"), "--json"]);
    // A name held here by offset, not through the index: refused at once.
    lease(&["direct", "init", "-r", &format!("ls:bar:{path}:7M")]).ok();
    a.lease(&["acquire", "-r", &format!("ls:bar:{path}:7M"), "-p", &first.pid()]).ok();
    assert_eq!(error_kind(&create("bar")), "exists", "held here under that name");
    create("third").ok();
    let before = past_lockspace(&path);
    assert_eq!(error_kind(&create("rindex_lease")), "bad_request", "the index's own lease");
    assert_eq!(error_kind(&create(&"x".repeat(1025))), "bad_request", "over 1 KiB");
    // A NUL cannot be in an argument: sent through the socket.
    let mut client = Client::connect(&a.run_dir.join("leased.sock")).unwrap();
    let nul = client.index_create("ls", "a\0b").unwrap_err();
    assert_eq!(nul.code(), Some(ErrorCode::BadRequest), "a NUL: {nul}");
    let unknown = a.lease(&["index", "create", "nope:x", "--json"]);
    assert_eq!(error_kind(&unknown), "not_found", "a lockspace not joined");
    assert_eq!(error_kind(&create("fourth")), "limit", "the index holds 3 names");
    assert_eq!(past_lockspace(&path), before, "refusals write nothing");
}

#[test]
fn two_hosts_adding_the_same_names_get_one_lease_each() {
    let dir = scratch();
    let path = lockspace_file(dir.path(), 24);
    let (a, b) = two_hosts(dir.path(), &path);
    let names: Vec<String> = (0..10).map(|i| format!("{CINDER}-{i}")).collect();

    let offsets = |host: &Leased| -> Vec<u64> {
        names
            .iter()
            .map(|name| {
                let created = host.lease(&["index", "create", &format!("ls:{name}"), "--json"]);
                created.ok().json()["offset"].as_u64().unwrap()
            })
            .collect()
    };
    let (on_a, on_b) = std::thread::scope(|scope| {
        let on_a = scope.spawn(|| offsets(&a));
        let on_b = scope.spawn(|| offsets(&b));
        (on_a.join().unwrap(), on_b.join().unwrap())
    });
    assert_eq!(on_a, on_b, "both hosts found each name at one offset");
    let listed = b.lease(&["index", "list", "ls", "--json"]).ok().json();
    assert_eq!(listed["names"].as_array().unwrap().len(), names.len(), "{listed}");

    // Held through host a, refused through host b, by name.
    let holder = Holder::start();
    let name = format!("ls:{}", names[0]);
    a.lease(&["acquire", "-n", &name, "-p", &holder.pid()]).ok();
    let other = Holder::start();
    wait_for(Duration::from_secs(10), "host b sees host a alive", || {
        let refused = b.lease(&["acquire", "-n", &name, "-p", &other.pid(), "--json"]);
        (error_kind(&refused) == "refused").then_some(())
    });
    assert_eq!(error_kind(&b.lease(&["index", "delete", &name, "--json"])), "refused");
}

/// An acquire that looked a name up, then waited, while the name moved to
/// another lease (its entry removed under it, the name added again and
/// taken on another host) is not granted the old lease beside the new
/// one's holder.
#[test]
fn a_lease_looked_up_before_its_name_moved_is_not_granted() {
    if !common::prerequisite(common::have("sanlock"), "sanlock (to edit the index by hand)") {
        return;
    }
    let dir = scratch();
    let path = lockspace_file(dir.path(), 8);
    let (a, b) = two_hosts(dir.path(), &path);
    let (first, second, third) = (Holder::start(), Holder::start(), Holder::start());
    let held = a.lease(&["acquire", "-n", "ls:foo", "-p", &first.pid(), "--json"]).ok().json();
    let old = held["leases"][0]["offset"].as_u64().unwrap();

    let waiting =
        a.spawn_lease(&["acquire", "-n", "ls:foo", "-p", &second.pid(), "--wait", "120", "--json"]);
    wait_for(Duration::from_secs(10), "the second acquire waits", || {
        let status = a.lease(&["status", "--json"]).ok().json();
        (status["leases"][0]["waiting"] == 1).then_some(())
    });
    // The entry goes from under it; host b adds the name again and takes it.
    let rindex = format!("ls:{path}:{MIB}");
    let entry = format!("foo:{old}");
    common::run("sanlock", &["direct", "update", "-x", &rindex, "-e", &entry, "-z", "1"]).ok();
    let on_b = b.lease(&["acquire", "-n", "ls:foo", "-p", &third.pid(), "--json"]).ok().json();
    let new = on_b["leases"][0]["offset"].as_u64().unwrap();
    assert_ne!(new, old, "the old lease, used, is not written over");

    a.lease(&["release", "-n", "ls:foo", "-p", &first.pid()]).ok();
    let out = waiting.wait_with_output().unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["error"]["kind"], "retry", "{reply}");
    let on_a = a.lease(&["status", "--json"]).ok().json();
    assert_eq!(on_a["leases"], serde_json::json!([]), "host a holds no foo");
}

/// Processes of one host taking new names at once all get them: a create
/// that finds the index's lease busy with another create here waits for it.
#[test]
fn new_names_taken_at_once_on_one_host_all_succeed() {
    let dir = scratch();
    let path = lockspace_file(dir.path(), 12);
    let a = Leased::start(dir.path(), "a", 60);
    join(&a, 1, &path);
    a.lease(&["index", "format", "ls"]).ok();
    let holders: Vec<Holder> = (0..4).map(|_| Holder::start()).collect();
    let acquires: Vec<_> = holders
        .iter()
        .enumerate()
        .map(|(i, holder)| {
            a.spawn_lease(&["acquire", "-n", &format!("ls:{CINDER}-{i}"), "-p", &holder.pid()])
        })
        .collect();
    for acquire in acquires {
        let out = acquire.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let listed = a.lease(&["index", "list", "ls", "--json"]).ok().json();
    assert_eq!(listed["names"].as_array().unwrap().len(), 4, "{listed}");
}

#[test]
fn names_idle_for_the_configured_time_are_removed_and_held_ones_kept() {
    let dir = scratch();
    let path = lockspace_file(dir.path(), 16);
    let args = ["--watchdog-fire-timeout", "60", "--collect-idle-names", "2"];
    let a = Leased::start_with(dir.path(), "a", &args);
    join(&a, 1, &path);
    a.lease(&["index", "format", "ls"]).ok();
    let holder = Holder::start();
    for name in ["held", "freed", CINDER] {
        a.lease(&["acquire", "-n", &format!("ls:{name}"), "-p", &holder.pid()]).ok();
    }
    for name in ["freed", CINDER] {
        a.lease(&["release", "-n", &format!("ls:{name}"), "-p", &holder.pid()]).ok();
    }
    let names = || -> Vec<String> {
        let listed = a.lease(&["index", "list", "ls", "--json"]).ok().json();
        listed["names"].as_array().unwrap().iter().map(|e| e["name"].to_string()).collect()
    };
    assert_eq!(names().len(), 3, "nothing is removed before it has been idle");
    wait_for(Duration::from_secs(30), "the idle names removed", || {
        (names() == ["\"held\""]).then_some(())
    });
    // The held name's lease is still this holder's, and a removed name is
    // added again on its next use.
    let inquired = a.lease(&["inquire", "-p", &holder.pid(), "--json"]).ok().json();
    assert_eq!(inquired["leases"].as_array().unwrap().len(), 1, "{inquired}");
    a.lease(&["acquire", "-n", &format!("ls:{CINDER}"), "-p", &holder.pid()]).ok();
    assert_eq!(names().len(), 2);
}

#[test]
fn lease_group_lists_shows_creates_and_deletes_groups() {
    let dir = scratch();
    let path = lockspace_file(dir.path(), 8);
    let a = Leased::start(dir.path(), "a", 60);
    join(&a, 1, &path);
    a.lease(&["index", "format", "ls"]).ok();
    a.lease(&["group", "create", "ls:volume-workers"]).ok();
    assert_eq!(error_kind(&a.lease(&["group", "create", "ls:volume-workers", "--json"])), "exists");
    // This test's process joins, as a program does through the socket.
    let mut client = a.daemon.client().unwrap();
    let joined: serde_json::Value = client
        .call(lease::api::Request::GroupJoin(lease::api::GroupJoin {
            lockspace: "ls".into(),
            group: "volume-workers".into(),
            member: "cinder-1".into(),
            capabilities: serde_json::json!({"host": "node-1"}),
            ttl_ms: None,
        }))
        .unwrap();
    assert_eq!(joined["member"], "cinder-1");
    let shown = a.lease(&["group", "members", "ls:volume-workers", "--json"]).ok().json();
    assert_eq!(shown["members"][0]["member"], "cinder-1");
    assert_eq!(shown["members"][0]["host_id"], 1);
    assert_eq!(shown["members"][0]["capabilities"]["host"], "node-1");
    let text = a.lease(&["group", "members", "ls:volume-workers"]).ok().stdout;
    assert!(text.contains("cinder-1") && text.contains("node-1"), "{text}");
    let refused = a.lease(&["group", "delete", "ls:volume-workers", "--json"]);
    assert_eq!(error_kind(&refused), "refused", "a group with a member");
    let listed = a.lease(&["group", "list", "ls"]).ok().stdout;
    assert_eq!(listed, "volume-workers\n");
    let request = lease::api::GroupArgs {
        lockspace: "ls".into(),
        group: "volume-workers".into(),
        member: "cinder-1".into(),
    };
    let _: serde_json::Value = client.call(lease::api::Request::GroupLeave(request)).unwrap();
    a.lease(&["group", "delete", "ls:volume-workers"]).ok();
    assert_eq!(a.lease(&["group", "list", "ls"]).ok().stdout, "");
    assert_eq!(
        error_kind(&a.lease(&["group", "members", "ls:volume-workers", "--json"])),
        "not_found"
    );
}
