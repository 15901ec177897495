//! `lease-torture` as a test: three real `leased` daemons on one lease
//! file, twelve real client processes fighting over four resources for
//! 60 s with chaos on (kills, stops, lockspace removal, converts, stalled
//! writes), judged by what the holders saw on an O_DIRECT witness file.
//! Fails on any overlap or lver regression; prints the run's JSON line.

mod common;

use std::process::Command;

#[test]
fn sixty_seconds_of_chaos_give_no_overlap_and_no_lver_regression() {
    let scratch = common::scratch();
    let output = Command::new(env!("CARGO_BIN_EXE_lease-torture"))
        .args(["--duration", "60", "--hosts", "3", "--clients-per-host", "4", "--resources", "4"])
        .arg("--dir")
        .arg(scratch.path())
        .output()
        .expect("run lease-torture");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stdout.lines().last().unwrap_or_else(|| panic!("no report; stderr:\n{stderr}"));
    println!("{line}");
    let report: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {line}\nstderr:\n{stderr}"));
    let clean = report["overlaps"] == 0
        && report["lver_regressions"] == 0
        && output.status.code() == Some(0);
    if !clean {
        // The daemons' and clients' logs, for whoever looks into it.
        eprintln!("kept {}", scratch.keep().display());
    }
    assert!(report["acquisitions"].as_u64() > Some(0), "nothing was acquired: {line}\n{stderr}");
    assert_eq!(report["overlaps"], 0, "a resource had two holders: {line}\n{stderr}");
    assert_eq!(report["lver_regressions"], 0, "lver went backwards: {line}\n{stderr}");
    assert_eq!(output.status.code(), Some(0), "{line}\n{stderr}");
}
