//! `lease direct init|dump|read-leader` through the real binary on real
//! files with O_DIRECT: what they write, what they report, and how they
//! refuse bad input without touching the file.

mod common;

use common::{lease, scratch, zero_file};
use lease::ondisk::LeaderRecord;
use std::path::Path;

const MIB: usize = 1 << 20;

fn spec(kind_fields: &str, path: &Path, offset: &str) -> String {
    format!("{kind_fields}:{}:{offset}", path.display())
}

#[test]
fn a_resource_gets_128_ballot_blocks_unless_told() {
    let dir = scratch();
    let img = zero_file(dir.path(), "leases.img", MIB);
    lease(&["direct", "init", "-r", &spec("ls1:default", &img, "0")]).ok();
    let text = lease(&["direct", "read-leader", "-r", &spec("ls1:default", &img, "0")]).ok();
    assert!(text.stdout.contains("num_hosts 128\n"), "{}", text.stdout);
    assert!(text.stdout.contains("max_hosts 2000\n"), "{}", text.stdout);
}

#[test]
fn init_dump_and_read_leader() {
    let dir = scratch();
    let img = zero_file(dir.path(), "leases.img", 3 * MIB);
    let out = lease(&["direct", "init", "-s", &spec("ls1:0", &img, "0"), "--io-timeout", "7"]).ok();
    assert!(out.stdout.contains("initialised lockspace 'ls1'"), "{}", out.stdout);
    lease(&["direct", "init", "-r", &spec("ls1:vm-disk", &img, "2M"), "--num-hosts", "16"]).ok();

    let leader =
        lease(&["direct", "read-leader", "-s", &spec("ls1:2", &img, "0"), "--json"]).ok().json();
    assert_eq!(leader["kind"], "delta");
    assert_eq!(leader["offset"], 512);
    assert_eq!(leader["io_timeout"], 7);
    assert_eq!(leader["space_name"], "ls1");
    assert_eq!(leader["owner_id"], 0);
    let text = lease(&["direct", "read-leader", "-r", &spec("ls1:vm-disk", &img, "2097152")]).ok();
    assert!(text.stdout.contains("magic 0x06152010\n"), "{}", text.stdout);
    assert!(text.stdout.contains("num_hosts 16\n"), "{}", text.stdout);
    assert!(text.stdout.contains("max_hosts 2000\n"), "{}", text.stdout);

    let dump = lease(&["direct", "dump", &img.display().to_string(), "--json"]).ok().json();
    let areas = dump["areas"].as_array().unwrap();
    assert_eq!(areas.len(), 2);
    assert_eq!(areas[0]["kind"], "lockspace");
    assert_eq!(areas[0]["io_timeout"], 7);
    assert_eq!(areas[1]["kind"], "resource");
    assert_eq!(areas[1]["offset"], 2 * MIB);
    assert_eq!(areas[1]["resource"], "vm-disk");
    assert_eq!(areas[1]["checksum_ok"], true);
    assert!(dump["problems"].as_array().unwrap().is_empty());

    let table = lease(&["direct", "dump", &format!("{}:2M:1M", img.display())]).ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", table.stdout);
    assert!(lines[0].starts_with("OFFSET"));
    assert!(lines[1].starts_with("2097152  resource  ls1"), "{}", lines[1]);
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let dir = scratch();
    let img = zero_file(dir.path(), "leases.img", 2 * MIB);
    lease(&["direct", "init", "-s", &spec("ls:0", &img, "0")]).ok();
    let before = std::fs::read(&img).unwrap();
    let out = lease(&["direct", "init", "-r", &spec("ls:r", &img, "0")]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("offset 0: already holds a delta lease of lockspace 'ls'"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--force"));
    assert_eq!(std::fs::read(&img).unwrap(), before);
    lease(&["direct", "init", "-r", &spec("ls:r", &img, "0"), "--force"]).ok();
    let leader =
        lease(&["direct", "read-leader", "-r", &spec("ls:r", &img, "0"), "--json"]).ok().json();
    assert_eq!(leader["kind"], "paxos");
}

/// Runs `args`, and checks the exit status, that stderr names what it must,
/// and that the file is byte-for-byte unchanged.
fn refused(file: &Path, args: &[&str], code: i32, wanted: &[&str]) {
    let before = std::fs::read(file).unwrap();
    let out = lease(args);
    assert_eq!(out.code, code, "{args:?}\nstderr: {}", out.stderr);
    for fragment in wanted {
        assert!(
            out.stderr.contains(fragment),
            "{args:?}: stderr lacks {fragment:?}:\n{}",
            out.stderr
        );
    }
    assert_eq!(std::fs::read(file).unwrap(), before, "{args:?} changed the file");
}

#[test]
fn a_file_that_is_not_a_lease_area() {
    let dir = scratch();
    let img = dir.path().join("random.img");
    let noise: Vec<u8> =
        (0..2 * MIB as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(&img, noise).unwrap();
    let path = img.display().to_string();
    refused(&img, &["direct", "dump", &path], 65, &[&path, "offset 0", "not a lease area"]);
    refused(
        &img,
        &["direct", "read-leader", "-s", &spec("ls:1", &img, "1M")],
        65,
        &[&path, "offset 1048576", "not a lease area"],
    );
    let json = lease(&["direct", "dump", &path, "--json"]);
    assert_eq!(json.code, 65);
    assert_eq!(json.json()["error"]["kind"], "data");
}

#[test]
fn one_flipped_byte_is_a_checksum_mismatch() {
    let dir = scratch();
    let img = zero_file(dir.path(), "leases.img", 2 * MIB);
    lease(&["direct", "init", "-s", &spec("ls:0", &img, "0")]).ok();
    lease(&["direct", "init", "-r", &spec("ls:r", &img, "1M")]).ok();
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[MIB + 110] ^= 0x04; // inside the resource name
    bytes[3 * 512 + 60] ^= 0x01; // inside host 4's lockspace name
    std::fs::write(&img, &bytes).unwrap();
    let path = img.display().to_string();
    refused(
        &img,
        &["direct", "read-leader", "-r", &spec("ls:r", &img, "1M")],
        65,
        &[&path, "offset 1048576", "checksum mismatch"],
    );
    refused(
        &img,
        &["direct", "read-leader", "-s", &spec("ls:4", &img, "0")],
        65,
        &[&path, "offset 1536", "checksum mismatch"],
    );
    // dump lists what it can and names both damaged records.
    let before = std::fs::read(&img).unwrap();
    let out = lease(&["direct", "dump", &path]);
    assert_eq!(out.code, 65);
    assert!(
        out.stderr
            .contains(&format!("{path}: offset 1536: host_id 4 delta lease: checksum mismatch")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("{path}: offset 1048576: resource leader: checksum mismatch")),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("BAD"), "{}", out.stdout);
    assert_eq!(std::fs::read(&img).unwrap(), before);
}

#[test]
fn a_file_shorter_than_the_area() {
    let dir = scratch();
    let img = zero_file(dir.path(), "short.img", 512 * 1024);
    let path = img.display().to_string();
    refused(
        &img,
        &["direct", "init", "-s", &spec("ls:0", &img, "0")],
        65,
        &[&path, "offset 0", "runs past the end", "524288 bytes"],
    );
    refused(&img, &["direct", "dump", &path], 65, &[&path, "offset 0", "runs past the end"]);
    // An area that starts inside the file but ends past it.
    let img2 = zero_file(dir.path(), "short2.img", 3 * MIB / 2);
    refused(
        &img2,
        &["direct", "init", "-r", &spec("ls:r", &img2, "1M")],
        65,
        &[&img2.display().to_string(), "offset 1048576", "runs past the end"],
    );
}

#[test]
fn an_unaligned_offset() {
    let dir = scratch();
    let img = zero_file(dir.path(), "leases.img", 2 * MIB);
    let path = img.display().to_string();
    refused(
        &img,
        &["direct", "init", "-s", &spec("ls:0", &img, "4096")],
        2,
        &[&path, "offset 4096", "not a multiple of the 1M align size"],
    );
    refused(
        &img,
        &["direct", "read-leader", "-r", &spec("ls:r", &img, "512")],
        2,
        &[&path, "offset 512", "not a multiple"],
    );
    refused(&img, &["direct", "dump", &format!("{path}:1000")], 2, &[&path, "offset 1000"]);
}

#[test]
fn a_name_longer_than_48_bytes() {
    let dir = scratch();
    let img = zero_file(dir.path(), "leases.img", 2 * MIB);
    let long = "n".repeat(49);
    refused(
        &img,
        &["direct", "init", "-s", &spec(&format!("{long}:0"), &img, "0")],
        2,
        &["is 49 bytes long; the limit is 48", &img.display().to_string()],
    );
    refused(
        &img,
        &["direct", "init", "-r", &spec(&format!("ls:{long}"), &img, "0")],
        2,
        &["<resource_name>", "limit is 48"],
    );
}

#[test]
fn a_path_on_tmpfs() {
    let shm = Path::new("/dev/shm");
    let on_tmpfs = lease::disk::direct::on_memory_filesystem(shm).unwrap_or(false);
    if !common::prerequisite(on_tmpfs, "/dev/shm is not a tmpfs on this machine") {
        return;
    }
    let dir = tempfile::tempdir_in(shm).unwrap();
    let img = zero_file(dir.path(), "leases.img", 2 * MIB);
    let path = img.display().to_string();
    refused(&img, &["direct", "init", "-s", &spec("ls:0", &img, "0")], 74, &[&path, "tmpfs"]);
    refused(&img, &["direct", "dump", &path], 74, &[&path, "tmpfs"]);
}

#[test]
fn a_spec_with_a_missing_field() {
    let dir = scratch();
    let img = zero_file(dir.path(), "leases.img", 2 * MIB);
    let path = img.display().to_string();
    refused(
        &img,
        &["direct", "init", "-s", &format!("ls:0:{path}")],
        2,
        &["missing field <offset>", "NAME:HOST_ID:PATH:OFFSET"],
    );
    refused(&img, &["direct", "read-leader", "-r", "ls"], 2, &["missing field <resource_name>"]);
    refused(&img, &["direct", "init", "--io-timeout", "5"], 2, &["--lockspace", "--resource"]);
    refused(
        &img,
        &[
            "direct",
            "init",
            "-s",
            &spec("ls:0", &img, "0"),
            "--sector-size",
            "512",
            "--align",
            "8M",
        ],
        2,
        &["512 with align size 8M is not valid"],
    );
}

#[test]
fn a_missing_file() {
    let dir = scratch();
    let path = dir.path().join("absent.img").display().to_string();
    let out = lease(&["direct", "dump", &path]);
    assert_eq!(out.code, 74);
    assert!(out.stderr.contains(&path) && out.stderr.contains("No such file"), "{}", out.stderr);
}

/// Rewrites the leader at `offset` of `file` through `change`, with a
/// correct checksum: a record only a bug or a hostile writer would make.
fn rewrite_leader(file: &Path, offset: usize, change: impl FnOnce(&mut LeaderRecord)) {
    let mut bytes = std::fs::read(file).unwrap();
    let mut leader = LeaderRecord::decode_prefix(&bytes[offset..]);
    change(&mut leader);
    leader.encode_into(&mut bytes[offset..]);
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn a_lockspace_io_timeout_above_the_watchdog_fire_timeout() {
    let dir = scratch();
    let img = zero_file(dir.path(), "leases.img", MIB);
    lease(&["direct", "init", "-s", &spec("ls:0", &img, "0"), "--io-timeout", "200"]).ok();
    let path = img.display().to_string();
    let acquire = ["direct", "acquire-id", "-s", &spec("ls:1", &img, "0"), "--host-name", "h1"];
    refused(
        &img,
        &acquire,
        2,
        &[&path, "offset 0", "io_timeout 200 s exceeds the watchdog fire timeout 60 s"],
    );
    let out = lease(&acquire);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn a_resource_leader_with_unusable_host_counts() {
    let dir = scratch();
    let img = zero_file(dir.path(), "leases.img", 2 * MIB);
    lease(&["direct", "init", "-s", &spec("ls:0", &img, "0"), "--io-timeout", "1"]).ok();
    lease(&["direct", "init", "-r", &spec("ls:r", &img, "1M"), "--num-hosts", "4"]).ok();
    let ls = spec("ls:1", &img, "0");
    lease(&["direct", "acquire-id", "-s", &ls, "--host-name", "h1"]).ok();
    let path = img.display().to_string();
    for (num_hosts, max_hosts) in [(4, 0), (u64::MAX, 2000), (4, 3)] {
        rewrite_leader(&img, MIB, |leader| {
            leader.num_hosts = num_hosts;
            leader.max_hosts = max_hosts;
        });
        let acquire =
            ["direct", "acquire", "-s", &ls, "-r", &spec("ls:r", &img, "1M"), "--host-name", "h1"];
        let counts = format!("num_hosts {num_hosts}, max_hosts {max_hosts}");
        refused(&img, &acquire, 65, &[&path, "offset 1048576", &counts]);
        let dump = lease(&["direct", "dump", &path, "--json"]);
        assert_eq!(dump.code, 65, "{}", dump.stderr);
        let problems = dump.json()["problems"].to_string();
        assert!(problems.contains(&counts), "{problems}");
    }
}
