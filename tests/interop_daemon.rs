//! A mixed cluster: `leased` as host 1 and a real sanlock 3.8 daemon as
//! host 2 in one lockspace, contending for one resource.

mod common;

use std::time::Duration;

use common::sanlock::{self, SANLK_HOST_LIVE, SanlockHost};
use common::{Holder, Leased, lease_file, scratch, wait_for};

const MIB: u64 = 1 << 20;

#[test]
fn leased_and_sanlock_share_a_lockspace_and_exclude_each_other() {
    if !sanlock::present() {
        return;
    }
    let dir = scratch();
    let path = lease_file(dir.path(), 1, 1);
    let ours = Leased::start(dir.path(), "leased-host", 10);
    let theirs = SanlockHost::start("sanlock-host");
    ours.lease(&["add-lockspace", "-s", &format!("ls:1:{path}:0"), "--wait"]).ok();
    let joined = theirs.client(&["add_lockspace", "-s", &format!("ls:2:{path}:0"), "-o", "1"]);
    assert!(joined.stdout.contains("done 0"), "{}{}", joined.stdout, joined.stderr);
    let img = std::path::Path::new(&path);
    let r1 = format!("ls:r1:{path}:1M");

    // leased holds it: sanlock is refused.
    let holder = Holder::start();
    ours.lease(&["acquire", "-r", &r1, "--pid", &holder.pid()]).ok();
    let mut refused = theirs.holder("ls", "r1", img, MIB);
    assert_eq!(refused.line(), "error -243", "sanlock: held by another host");

    // Released: sanlock takes it, and leased is refused.
    ours.lease(&["release", "-r", &r1, "--pid", &holder.pid()]).ok();
    let mut theirs_holds = theirs.holder("ls", "r1", img, MIB);
    assert_eq!(theirs_holds.line(), "acquired");
    let out = ours.lease(&["acquire", "-r", &r1, "--pid", &holder.pid()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("held by host_id 2"), "{}", out.stderr);

    // sanlock releases: leased, waiting, gets it.
    assert_eq!(theirs_holds.release(), "released");
    let got = ours
        .lease(&["acquire", "-r", &r1, "--pid", &holder.pid(), "--wait=10", "--json"])
        .ok()
        .json();
    assert!(got["leases"][0]["lver"].as_u64().unwrap() >= 3);

    // Each lists the other, live.
    let ten_s = Duration::from_secs(10);
    wait_for(ten_s, "leased sees sanlock's host LIVE", || {
        let hosts = ours.lease(&["hosts", "ls", "--json"]).ok().json();
        hosts["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["host_id"] == 2 && h["state"] == "LIVE" && h["name"] == "sanlock-host")
            .then_some(())
    });
    wait_for(ten_s, "sanlock sees leased's host LIVE", || {
        theirs.host_states("ls").contains(&(1, SANLK_HOST_LIVE)).then_some(())
    });
}
