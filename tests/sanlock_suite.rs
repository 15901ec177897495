//! sanlock's own test suite (`../shared/peers/sanlock-tests`, unchanged)
//! run against leased: its runner lays the suite out with `src/sanlock` a
//! link to the `leased` binary, which then behaves as sanlock's command
//! line and daemon, and the suite drives it through Debian's python3-sanlock
//! and the `sanlock` command.
//!
//! Debian's sanlock 3.8.5 gives, on this kind of machine: daemon_test 11
//! passed; direct_test 6 passed; python_test 103 passed, 1 failed (a
//! message text of Debian's binding, no daemon involved), 26 skipped (4K
//! storage not configured). leased must do at least as well.

mod common;

use std::path::Path;
use std::process::Command;

/// Each file's least count of passed tests: Debian's sanlock's.
const EXPECTED: [(&str, u32); 3] = [("daemon_test", 11), ("direct_test", 6), ("python_test", 103)];

#[test]
fn sanlocks_own_suite_passes_against_leased() {
    let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peers/sanlock-tests/run.sh");
    let ready = runner.exists()
        && common::have("sanlock")
        && Command::new("/usr/bin/python3")
            .args(["-c", "import sanlock, pytest"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !common::prerequisite(
        ready,
        "sanlock's suite, sanlock, python3-sanlock or python3-pytest is missing",
    ) {
        return;
    }
    let output = Command::new("bash")
        .arg(&runner)
        .arg(env!("CARGO_BIN_EXE_leased"))
        .env_remove("SANLOCK_RUN_DIR")
        .env_remove("LEASED_RUN_DIR")
        .output()
        .expect("run sanlock's suite");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}");
    for (file, least) in EXPECTED {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(&format!("{file}:")))
            .unwrap_or_else(|| panic!("no summary for {file}:\n{stdout}"));
        let passed = common::pytest_count(line, "passed");
        assert!(passed >= least, "{file}: {passed} passed, fewer than sanlock's {least}: {line}");
    }
}

#[test]
fn summary_lines_are_read_as_pytest_writes_them() {
    let line = "python_test: 1 failed, 103 passed, 26 skipped in 24.49s";
    assert_eq!(common::pytest_count(line, "passed"), 103);
    assert_eq!(common::pytest_count(line, "failed"), 1);
    assert_eq!(common::pytest_count("daemon_test: 11 passed in 9.16s", "passed"), 11);
    assert_eq!(common::pytest_count("direct_test: 2 failed in 1s", "passed"), 0);
}
