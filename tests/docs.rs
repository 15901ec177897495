//! The man pages in man/ and the completion scripts in completions/ are
//! generated from the command-line definitions; this fails when the copies
//! in the repository no longer match what the binary generates.

mod common;

use std::path::Path;

use common::{lease, scratch};

fn same_files(kind: &str, committed: &str) {
    let dir = scratch();
    lease(&["generate", kind, &dir.path().display().to_string()]).ok();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join(committed);
    let mut generated: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    generated.sort();
    assert!(!generated.is_empty());
    for name in generated {
        let fresh = std::fs::read_to_string(dir.path().join(&name)).unwrap();
        let kept = std::fs::read_to_string(repo.join(&name)).unwrap_or_default();
        assert!(
            fresh == kept,
            "{committed}/{} is stale: run `cargo run --bin lease -- generate {kind} {committed}`",
            name.to_string_lossy()
        );
    }
}

#[test]
fn man_pages_are_current() {
    same_files("man", "man");
}

#[test]
fn completions_are_current() {
    same_files("completions", "completions");
}

fn page(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man").join(name)).unwrap()
}

#[test]
fn leased_pages_document_signals_protocol_and_every_setting() {
    let leased = page("leased.8");
    for needle in [
        ".SH SIGNALS",
        ".SH \"SOCKET PROTOCOL\"",
        "frame_too_large\t2",
        "watchdog\\-fire\\-timeout",
        ".SH WATCHDOG",
        ".SH FENCING",
        ".SH WDMD",
        "/run/wdmd/wdmd.sock",
        ".B watchdog_register",
    ] {
        assert!(leased.contains(needle), "leased.8 lacks {needle}");
    }
    let conf = page("leased.conf.5");
    for key in lease::daemon::config::KEYS {
        assert!(conf.contains(&format!(".B {}\n", key.name)), "leased.conf.5 lacks {}", key.name);
    }
}

#[test]
fn man_page_documents_every_command_and_exit_status() {
    let page = page("lease.8");
    for needle in [
        ".SS \"lease direct init\"",
        ".SS \"lease direct dump\"",
        ".SS \"lease direct read-leader\"",
        ".SS \"lease direct acquire-id\"",
        ".SS \"lease direct renew-id\"",
        ".SS \"lease direct release-id\"",
        ".SS \"lease direct acquire\"",
        ".SS \"lease direct release\"",
        ".SS \"lease demo\"",
        ".SS \"lease add-lockspace\"",
        ".SS \"lease acquire\"",
        ".SS \"lease run\"",
        ".SS \"lease hosts\"",
        ".SS \"lease watchdog\"",
        ".SH \"EXIT STATUS\"",
        ".SH \"SPEC STRINGS\"",
    ] {
        assert!(page.contains(needle), "lease.8 lacks {needle}");
    }
}
