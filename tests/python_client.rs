//! The pure-Python client's own tests (`python/tests`) against this build's
//! `leased` and `lease`: Debian's python3 and its pytest run them, with
//! LEASED_BIN and LEASE_BIN naming the binaries. Each test module starts
//! its own daemons on scratch lease files under the target directory.
//!
//! The tooz driver's tests need tooz, which Debian's python3 lacks: they
//! are skipped here and run by `tools/tooz-suite`, which installs tooz.

mod common;

use std::path::Path;
use std::process::Command;

/// The least count of passed tests: all of the client's, locks', names' and groups'
/// tests (those of the tooz driver are skipped without tooz).
const PASSED_MIN: u32 = 52;

#[test]
fn python_clients_tests_pass_against_leased() {
    let ready = Command::new("/usr/bin/python3")
        .args(["-c", "import pytest"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::prerequisite(ready, "/usr/bin/python3 with pytest (python3-pytest) is missing") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("/usr/bin/python3")
        .args(["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "python/tests"])
        .current_dir(root)
        .env("LEASED_BIN", env!("CARGO_BIN_EXE_leased"))
        .env("LEASE_BIN", env!("CARGO_BIN_EXE_lease"))
        .env("LEASE_TEST_TMPDIR", env!("CARGO_TARGET_TMPDIR"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("LEASED_RUN_DIR")
        .output()
        .expect("run pytest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "pytest failed ({})", output.status);
    let summary = stdout
        .lines()
        .rev()
        .find(|line| line.contains(" passed"))
        .unwrap_or_else(|| panic!("no pytest summary line:\n{stdout}"));
    let passed = common::pytest_count(summary, "passed");
    assert!(passed >= PASSED_MIN, "{passed} passed, fewer than {PASSED_MIN}: {summary}");
}
