//! The quick start's demo: three real daemons on one lease file.

mod common;

use common::{lease, scratch};

/// The first line of `out` that contains `what`, and its index; panics if
/// there is none.
fn line<'a>(out: &'a str, what: &str) -> (usize, &'a str) {
    out.lines()
        .enumerate()
        .find(|(_, l)| l.contains(what))
        .unwrap_or_else(|| panic!("no line with {what:?} in:\n{out}"))
}

/// The number of seconds before `suffix` in `text`, as in "13.1 s after".
fn seconds_before(text: &str, suffix: &str) -> f64 {
    let head = &text[..text.find(suffix).expect("the suffix")];
    head.rsplit(' ').next().and_then(|n| n.parse().ok()).expect("a number")
}

#[test]
fn the_demo_hands_over_and_takes_over_only_after_host_dead() {
    let dir = scratch();
    let run = lease(&["demo", "--dir", dir.path().to_str().unwrap()]).ok();
    let out = &run.stdout;

    let (refused, text) = line(out, "demo-b: refused");
    assert!(text.contains("owner alive: held by host_id 1"), "{text}");
    let (handed, _) = line(out, "demo-b: acquired vm1");
    let (fail, _) = line(out, "sees host_id 3 FAIL");
    let (dead, _) = line(out, "sees host_id 3 DEAD");
    let (taken, text) = line(out, "demo-a: acquired vm2");
    assert!(refused < handed && handed < fail && fail < dead && dead < taken, "{out}");
    assert!(text.contains("taken over from a dead host"), "{text}");
    // host_dead is 8 × 1 s + 3 s, counted from the last renewal another
    // host saw, which is at most one renewal interval (2 s) before the crash.
    let after = seconds_before(text, " s after demo-c crashed");
    assert!(after >= 9.0, "taken {after} s after the crash:\n{out}");

    assert!(out.contains("demo-a stopped (exit status: 0)"), "{out}");
    assert!(out.contains("demo-b stopped (exit status: 0)"), "{out}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the demo left {left:?}");
}
