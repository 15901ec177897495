//! On-disk compatibility with real sanlock 3.8: each tool reads what the
//! other wrote, field by field, on plain files (512-byte sectors) and on a
//! 4K-sector loop device.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{LoopDevice, have, is_root, lease, prerequisite, run, scratch, zero_file};
use lease::clock::{Clock, OsClock};
use lease::disk::{Access, DirectFile, Disk};

const MIB: usize = 1 << 20;

fn sanlock_present() -> bool {
    prerequisite(have("sanlock"), "sanlock is not installed (apt-get install -y sanlock)")
}

/// Runs `sanlock direct ...` and checks it succeeded.
fn sanlock(args: &[&str]) -> String {
    let mut full = vec!["direct"];
    full.extend_from_slice(args);
    let out = run("sanlock", &full);
    assert_eq!(out.code, 0, "sanlock {full:?}\n{}{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("error"), "sanlock {full:?}\n{}", out.stdout);
    out.stdout
}

/// `sanlock direct read_leader` as a map of field name to value.
fn sanlock_leader(kind_flag: &str, spec: &str) -> HashMap<String, String> {
    sanlock(&["read_leader", kind_flag, spec])
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// `lease direct read-leader --json` as a JSON object.
fn lease_leader(kind_flag: &str, spec: &str) -> serde_json::Value {
    lease(&["direct", "read-leader", kind_flag, spec, "--json"]).ok().json()
}

/// Checks that every field both tools print has the same value.
fn same_leader(ours: &serde_json::Value, theirs: &HashMap<String, String>) {
    let hex = |key: &str| u64::from_str_radix(theirs[key].trim_start_matches("0x"), 16).unwrap();
    let dec =
        |key: &str| theirs[key].parse::<u64>().unwrap_or_else(|_| panic!("{key}: {}", theirs[key]));
    for key in ["magic", "version", "flags", "checksum"] {
        assert_eq!(ours[key].as_u64(), Some(hex(key)), "{key}: ours {ours} theirs {theirs:?}");
    }
    for key in [
        "sector_size",
        "num_hosts",
        "max_hosts",
        "owner_id",
        "owner_generation",
        "lver",
        "timestamp",
        "io_timeout",
    ] {
        assert_eq!(ours[key].as_u64(), Some(dec(key)), "{key}: ours {ours} theirs {theirs:?}");
    }
    assert_eq!(ours["space_name"].as_str(), Some(theirs["space_name"].as_str()));
    let their_resource = theirs.get("resource_name").map(String::as_str).unwrap_or("");
    assert_eq!(ours["resource_name"].as_str(), Some(their_resource));
    // sanlock prints the write_* fields of paxos leaders only.
    if theirs.contains_key("write_id") {
        for key in ["write_id", "write_generation", "write_timestamp"] {
            assert_eq!(ours[key].as_u64(), Some(dec(key)), "{key}");
        }
    }
}

fn spec(fields: &str, path: &str, offset: u64) -> String {
    format!("{fields}:{path}:{offset}")
}

fn read_all(path: &str, len: usize) -> Vec<u8> {
    let disk = DirectFile::open(Path::new(path), Access::ReadOnly).unwrap();
    let deadline = OsClock.now() + std::time::Duration::from_secs(10);
    disk.read(0, len, deadline).unwrap().to_vec()
}

/// Initialises the same areas with both tools, on `ours` and `theirs`, and
/// checks the bytes are identical. `geometry` holds extra flags for both.
fn identical_init(
    ours: &str,
    theirs: &str,
    area: u64,
    lease_flags: &[&str],
    sanlock_flags: &[&str],
) {
    let mut args = vec!["direct", "init", "-s"];
    let ls = spec("ident:0", ours, 0);
    args.push(&ls);
    args.extend_from_slice(&["--io-timeout", "3"]);
    args.extend_from_slice(lease_flags);
    lease(&args).ok();
    let res = spec("ident:res1", ours, area);
    let mut args = vec!["direct", "init", "-r", &res, "--num-hosts", "12"];
    args.extend_from_slice(lease_flags);
    lease(&args).ok();
    // Each tool's default num_hosts differs on purpose (128 for lease,
    // all that fit for sanlock): the layouts are compared at the same one.
    let res2 = spec("ident:res2", ours, 2 * area);
    let mut args = vec!["direct", "init", "-r", &res2, "--num-hosts", "100"];
    args.extend_from_slice(lease_flags);
    lease(&args).ok();

    let ls = spec("ident:0", theirs, 0);
    let mut args = vec!["init", "-s", &ls, "-o", "3"];
    args.extend_from_slice(sanlock_flags);
    sanlock(&args);
    let res = spec("ident:res1", theirs, area);
    let mut args = vec!["init", "-r", &res, "-n", "12"];
    args.extend_from_slice(sanlock_flags);
    sanlock(&args);
    let res2 = spec("ident:res2", theirs, 2 * area);
    let mut args = vec!["init", "-r", &res2, "-n", "100"];
    args.extend_from_slice(sanlock_flags);
    sanlock(&args);

    let len = usize::try_from(3 * area).unwrap();
    let (a, b) = (read_all(ours, len), read_all(theirs, len));
    let first_difference = a.iter().zip(&b).position(|(x, y)| x != y);
    assert_eq!(first_difference, None, "init output differs from sanlock's");
}

#[test]
fn init_writes_the_same_bytes_as_sanlock() {
    if !sanlock_present() {
        return;
    }
    let dir = scratch();
    let ours = zero_file(dir.path(), "ours.img", 3 * MIB);
    let theirs = zero_file(dir.path(), "theirs.img", 3 * MIB);
    identical_init(ours.to_str().unwrap(), theirs.to_str().unwrap(), MIB as u64, &[], &[]);
}

#[test]
fn crc_of_a_fresh_delta_leader_matches_sanlocks_bytes() {
    if !sanlock_present() {
        return;
    }
    let dir = scratch();
    let img = zero_file(dir.path(), "crc.img", MIB);
    let path = img.to_str().unwrap();
    sanlock(&["init", "-s", &spec("test:0", path, 0)]);
    let bytes = std::fs::read(&img).unwrap();
    assert_eq!(bytes[168..172], 0x8357_D190u32.to_le_bytes());
    let ours = lease_leader("-s", &spec("test:1", path, 0));
    assert_eq!(ours["checksum"], 0x8357_D190u32);
    assert_eq!(ours["io_timeout"], 10);
}

#[test]
fn sanlock_reads_what_lease_writes() {
    if !sanlock_present() {
        return;
    }
    let dir = scratch();
    let img = zero_file(dir.path(), "ours.img", 2 * MIB);
    let path = img.to_str().unwrap();
    lease(&["direct", "init", "-s", &spec("ours:0", path, 0), "--io-timeout", "1"]).ok();
    lease(&["direct", "init", "-r", &spec("ours:vm1", path, MIB as u64), "--num-hosts", "8"]).ok();

    same_leader(
        &lease_leader("-s", &spec("ours:1", path, 0)),
        &sanlock_leader("-s", &spec("ours:1", path, 0)),
    );
    let res = spec("ours:vm1", path, MIB as u64);
    same_leader(&lease_leader("-r", &res), &sanlock_leader("-r", &res));

    // sanlock takes host_id 2 and the resource on our areas: its direct
    // verbs run the real delta and paxos algorithms (2 s wait at io_timeout 1).
    sanlock(&["acquire_id", "-s", &spec("ours:2", path, 0), "-e", "sanlock-host"]);
    sanlock(&["acquire", "-i", "2", "-g", "1", "-r", &res]);
    let host2 = spec("ours:2", path, 0);
    let theirs = sanlock_leader("-s", &host2);
    assert_eq!(theirs["owner_id"], "2");
    assert_eq!(theirs["resource_name"], "sanlock-host");
    same_leader(&lease_leader("-s", &host2), &theirs);
    let theirs = sanlock_leader("-r", &res);
    assert_eq!(theirs["owner_id"], "2");
    assert_eq!(theirs["lver"], "1");
    same_leader(&lease_leader("-r", &res), &theirs);

    // sanlock's dump lists the same records.
    let their_dump = sanlock(&["dump", path]);
    let rows: Vec<Vec<&str>> =
        their_dump.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{their_dump}");
    assert_eq!(rows[0][..3], ["00000512", "ours", "sanlock-host"]);
    assert_eq!(rows[1][..3], ["01048576", "ours", "vm1"]);
    assert_eq!(rows[1][4..], ["0002", "0001", "1"]);

    let ours = lease(&["direct", "dump", path, "--json"]).ok().json();
    let hosts = ours["areas"][0]["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0]["host_id"], 2);
    assert_eq!(hosts[0]["owner_name"], "sanlock-host");
    assert_eq!(hosts[0]["timestamp"].as_u64().unwrap(), rows[0][3].parse::<u64>().unwrap());
    let resource = &ours["areas"][1];
    assert_eq!(resource["owner_id"], 2);
    assert_eq!(resource["lver"], 1);
    let dblocks = resource["dblocks"].as_array().unwrap();
    assert_eq!(dblocks.len(), 1, "only host 2 took part in a ballot");
    assert_eq!(dblocks[0]["host_id"], 2);
    assert_eq!(dblocks[0]["inp"], 2);
    assert_eq!(dblocks[0]["checksum_ok"], true);
}

#[test]
fn lease_reads_what_sanlock_writes() {
    if !sanlock_present() {
        return;
    }
    let dir = scratch();
    let img = zero_file(dir.path(), "theirs.img", 3 * MIB);
    let path = img.to_str().unwrap();
    sanlock(&["init", "-s", &spec("theirs:0", path, 0), "-o", "1"]);
    sanlock(&["init", "-r", &spec("theirs:db", path, MIB as u64)]);
    sanlock(&["init", "-r", &spec("theirs:web", path, 2 * MIB as u64), "-n", "4"]);
    sanlock(&["acquire_id", "-s", &spec("theirs:7", path, 0), "-e", "seventh"]);
    let db = spec("theirs:db", path, MIB as u64);
    sanlock(&["acquire", "-i", "7", "-g", "1", "-r", &db]);

    for (flag, spec) in [
        ("-s", spec("theirs:1", path, 0)),
        ("-s", spec("theirs:7", path, 0)),
        ("-r", db.clone()),
        ("-r", spec("theirs:web", path, 2 * MIB as u64)),
    ] {
        same_leader(&lease_leader(flag, &spec), &sanlock_leader(flag, &spec));
    }
    let ours = lease(&["direct", "dump", path, "--json"]).ok().json();
    let areas = ours["areas"].as_array().unwrap();
    assert_eq!(areas.len(), 3);
    assert_eq!(areas[0]["hosts"][0]["owner_name"], "seventh");
    assert_eq!(areas[1]["owner_id"], 7);
    assert_eq!(areas[2]["num_hosts"], 4);
    assert!(ours["problems"].as_array().unwrap().is_empty());
}

#[test]
fn four_k_sector_loop_device() {
    if !sanlock_present()
        || !prerequisite(is_root(), "a loop device needs root")
        || !prerequisite(have("losetup"), "losetup is not installed")
    {
        return;
    }
    let dir = scratch();
    let ours_img = zero_file(dir.path(), "ours4k.img", 32 * MIB);
    let theirs_img = zero_file(dir.path(), "theirs4k.img", 32 * MIB);
    let attach = |img: &Path| LoopDevice::attach(img, 4096);
    let (ours, theirs) = match (attach(&ours_img), attach(&theirs_img)) {
        (Ok(ours), Ok(theirs)) => (ours, theirs),
        (Err(err), _) | (_, Err(err)) => {
            prerequisite(false, &format!("cannot attach a 4K loop device: {err}"));
            return;
        }
    };
    let logical =
        lease::disk::DirectFile::open(&ours.device, Access::ReadOnly).unwrap().sector_size();
    assert_eq!(logical, 4096, "BLKSSZGET of the loop device");

    // The 4K default geometry (8M areas) and 4096/2M, byte for byte.
    identical_init(ours.path(), theirs.path(), 8 * MIB as u64, &[], &[]);
    let (o, t) = (ours.path(), theirs.path());
    let r = spec("two:r", o, 0);
    lease(&["direct", "init", "-r", &r, "--align", "2M", "--num-hosts", "200", "--force"]).ok();
    sanlock(&["init", "-r", &spec("two:r", t, 0), "-Z", "4096", "-A", "2M", "-n", "200"]);
    assert_eq!(read_all(o, 2 * MIB), read_all(t, 2 * MIB));

    // A 512-byte area cannot live on a 4K device.
    let out =
        lease(&["direct", "init", "-s", &spec("x:0", o, 24 * MIB as u64), "--sector-size", "512"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("smaller than the device's 4096-byte sectors"), "{}", out.stderr);

    // Each reads the other's areas on the 4K device.
    lease(&[
        "direct",
        "init",
        "-s",
        &spec("ls4k:0", o, 24 * MIB as u64),
        "--align",
        "1M",
        "--io-timeout",
        "1",
    ])
    .ok();
    lease(&["direct", "init", "-r", &spec("ls4k:r4k", o, 25 * MIB as u64), "--align", "1M"]).ok();
    let ls = spec("ls4k:3", o, 24 * MIB as u64);
    sanlock(&["acquire_id", "-s", &ls, "-e", "four-k"]);
    let res = spec("ls4k:r4k", o, 25 * MIB as u64);
    sanlock(&["acquire", "-i", "3", "-g", "1", "-r", &res]);
    let theirs_ls = sanlock_leader("-s", &ls);
    assert_eq!(theirs_ls["sector_size"], "4096");
    assert_eq!(theirs_ls["resource_name"], "four-k");
    same_leader(&lease_leader("-s", &ls), &theirs_ls);
    let theirs_res = sanlock_leader("-r", &res);
    assert_eq!(theirs_res["max_hosts"], "250");
    assert_eq!(theirs_res["owner_id"], "3");
    same_leader(&lease_leader("-r", &res), &theirs_res);
    let dump = lease(&["direct", "dump", &format!("{o}:24M:2M"), "--json"]).ok().json();
    assert_eq!(dump["areas"][0]["hosts"][0]["offset"], 24 * MIB as u64 + 2 * 4096);
    assert_eq!(dump["areas"][1]["dblocks"][0]["offset"], 25 * MIB as u64 + 4 * 4096);
}
