//! Acquires that wait (`--wait`) for a resource held by another process of
//! the same host queue in the daemon, first come first served, and are
//! woken by the release: no polling, no overtaking.

mod common;

use std::process::Child;
use std::time::Duration;

use common::{Holder, Leased, lease_file, scratch, wait_for};

/// `lease acquire --wait` for `holder`, running in the background.
fn waiting_acquire(host: &Leased, resource: &str, holder: &Holder) -> Child {
    host.spawn_lease(&["acquire", "-r", resource, "-p", &holder.pid(), "--wait", "120", "--json"])
}

/// The pid holding `resource` and how many acquires wait for it.
fn held(host: &Leased) -> (Option<u64>, u64) {
    let status = host.lease(&["status", "--json"]).ok().json();
    let lease = &status["leases"][0];
    (lease["pid"].as_u64(), lease["waiting"].as_u64().unwrap_or(0))
}

#[test]
fn waiting_acquires_are_served_in_turn_as_soon_as_the_holder_lets_go() {
    let dir = scratch();
    let path = lease_file(dir.path(), 1, 1);
    let a = Leased::start(dir.path(), "a", 60);
    a.lease(&["add-lockspace", "-s", &format!("ls:1:{path}:0"), "--wait"]).ok();
    let r1 = format!("ls:r1:{path}:1M");
    let (first, second, third, other) =
        (Holder::start(), Holder::start(), Holder::start(), Holder::start());
    let pid = |h: &Holder| h.child.id() as u64;
    a.lease(&["acquire", "-r", &r1, "-p", &first.pid()]).ok();

    // Waiting for what its own process holds would never end: refused.
    let own = a.lease(&["acquire", "-r", &r1, "-p", &first.pid(), "--wait", "600", "--json"]);
    assert_eq!(own.json()["error"]["kind"], "exists", "{}", own.stderr);

    let second_waits = waiting_acquire(&a, &r1, &second);
    wait_for(Duration::from_secs(10), "one acquire waits", || (held(&a).1 == 1).then_some(()));
    let third_waits = waiting_acquire(&a, &r1, &third);
    wait_for(Duration::from_secs(10), "two acquires wait", || (held(&a).1 == 2).then_some(()));
    // One that does not wait is refused, and does not pass the line.
    let refused = a.lease(&["acquire", "-r", &r1, "-p", &other.pid(), "--json"]);
    assert_eq!(refused.json()["error"]["kind"], "exists", "{}", refused.stderr);

    a.lease(&["release", "-r", &r1, "-p", &first.pid()]).ok();
    let out = second_waits.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(held(&a), (Some(pid(&second)), 1), "the first in line got it; one still waits");

    // The holder's exit releases it: the next in line is woken.
    drop(second);
    let out = third_waits.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(held(&a), (Some(pid(&third)), 0));
}

/// A waiter stands in line only for what it cannot have: a resource it
/// asks for beside a held one is not kept from others meanwhile (else a
/// process holding r1 and then asking for r2 would wait for a waiter that
/// waits for it). A request that cannot succeed by waiting (its own
/// process holds one of its resources) is refused at once.
#[test]
fn a_waiter_keeps_nothing_it_cannot_have_yet() {
    let dir = scratch();
    let path = lease_file(dir.path(), 2, 1);
    let a = Leased::start(dir.path(), "a", 60);
    a.lease(&["add-lockspace", "-s", &format!("ls:1:{path}:0"), "--wait"]).ok();
    let (r1, r2) = (format!("ls:r1:{path}:1M"), format!("ls:r2:{path}:2M"));
    let (p, q) = (Holder::start(), Holder::start());
    a.lease(&["acquire", "-r", &r1, "-p", &p.pid()]).ok();
    let q_waits = a.spawn_lease(&[
        "acquire",
        "-r",
        &r1,
        "-r",
        &r2,
        "-p",
        &q.pid(),
        "--wait",
        "120",
        "--json",
    ]);
    wait_for(Duration::from_secs(10), "q waits for r1", || (held(&a).1 == 1).then_some(()));
    // p, holding r1, takes r2 at once: q is not in r2's line.
    a.lease(&["acquire", "-r", &r2, "-p", &p.pid(), "--wait", "120"]).ok();
    // p asking again for what it holds, beside a free resource: refused.
    let own =
        a.lease(&["acquire", "-r", &r1, "-r", &r2, "-p", &p.pid(), "--wait", "600", "--json"]);
    assert_eq!(own.json()["error"]["kind"], "exists", "{}", own.stderr);
    a.lease(&["release", "-r", &r1, "-r", &r2, "-p", &p.pid()]).ok();
    let out = q_waits.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
