//! A mixed cluster on one lease file: host A is a real sanlock 3.8 daemon
//! (host_id 1), host B is `leased` (host_id 2). Every client on both hosts
//! is a python3-sanlock process speaking sanlock's protocol to its own
//! host's daemon (`tests/mixed_cluster.py`), so the clients cannot tell the
//! implementations apart and contend across them.
//!
//! Invariants checked:
//! - a lease held through one host is refused on the other with
//!   SANLK_ACQUIRE_IDLIVE (-243), both ways;
//! - under contention (3 clients per host over 4 resources for 15 s) no two
//!   holds of one resource overlap, as recorded by the holders themselves in
//!   a per-resource witness file stamped with CLOCK_MONOTONIC (one clock:
//!   both hosts run on this machine); each witnessed interval lies inside
//!   the real hold (stamped after the acquire returned, before the release
//!   was sent);
//! - the lease version each holder reads back (`inquire`) rises strictly in
//!   the order of the holds, whichever implementation took them;
//! - both hosts held every resource several times, so the contention
//!   really crossed the implementations.
//!
//! The lockspace is written through sanlock and the resources through
//! leased (`write_lockspace`, `write_resource`), so each reads the other's
//! records from the start.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::time::Duration;

use common::sanlock::{self, PYTHON, SANLK_HOST_LIVE, SanlockHost};
use common::{Leased, scratch, wait_for, zero_file};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mixed_cluster.py");
const MIB: u64 = 1 << 20;
const RESOURCES: u64 = 4;
const CLIENTS_PER_HOST: usize = 3;
const CONTEND_S: u64 = 15;
/// Holds of every resource each host must have had.
const HOLDS_PER_HOST_MIN: usize = 3;
/// sanlock's `SANLK_ACQUIRE_IDLIVE`: the owner's host is alive.
const SANLK_ACQUIRE_IDLIVE: i32 = -243;

/// One host as its clients see it: a directory with `sanlock.sock`.
#[derive(Clone, Copy)]
struct Host<'a> {
    label: &'static str,
    sanlock_run_dir: &'a Path,
}

impl Host<'_> {
    /// The client script with `args`, talking to this host's daemon.
    fn script(&self, args: &[&str]) -> Command {
        let mut command = Command::new(PYTHON);
        command.arg(SCRIPT).args(args).env("SANLOCK_RUN_DIR", self.sanlock_run_dir);
        command
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.script(args).output().expect("run the client script");
        succeeded(self.label, args, &out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether this host reports host_ids 1 and 2 LIVE.
    fn sees_both_live(&self) -> bool {
        let hosts = self.run(&["hosts"]);
        let live = |id: u64| hosts.lines().any(|l| l == format!("{id} {SANLK_HOST_LIVE}"));
        live(1) && live(2)
    }

    /// A client process that acquires resource `index` and holds it until
    /// told to release.
    fn hold(&self, path: &str, index: u64) -> Holder {
        let offset = (index * MIB).to_string();
        let mut child = self
            .script(&["hold", &format!("r{index}"), path, &offset])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a holder");
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Holder { child, stdin, stdout }
    }
}

fn succeeded(label: &str, args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "host {label}: {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Holder {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Holder {
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from the holder");
        line.trim().to_owned()
    }

    fn release(mut self) -> String {
        writeln!(self.stdin).expect("tell the holder to release");
        let line = self.line();
        let _ = self.child.wait();
        line
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A lease held through `holding` is refused through `asking`.
fn refused_across(holding: Host<'_>, asking: Host<'_>, path: &str, index: u64) {
    let mut holder = holding.hold(path, index);
    assert_eq!(holder.line(), "acquired", "host {} takes r{index}", holding.label);
    let mut refused = asking.hold(path, index);
    assert_eq!(
        refused.line(),
        format!("error {SANLK_ACQUIRE_IDLIVE}"),
        "host {} asks for r{index}, held through host {}",
        asking.label,
        holding.label
    );
    assert_eq!(holder.release(), "released");
}

/// One witnessed hold of a resource.
#[derive(Debug)]
struct Hold {
    host: String,
    lver: u64,
    begin_ns: u64,
    end_ns: u64,
}

/// The holds recorded in one witness file, in the order they began.
fn holds_in(witness: &Path) -> Vec<Hold> {
    let text = std::fs::read_to_string(witness).expect("read a witness file");
    let mut open: BTreeMap<(String, u32, u64), u64> = BTreeMap::new();
    let mut holds = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let [kind, host, pid, lver, ns] = fields[..] else {
            panic!("{}: bad line {line:?}", witness.display())
        };
        let key = (host.to_owned(), pid.parse().unwrap(), lver.parse().unwrap());
        let ns: u64 = ns.parse().unwrap();
        match kind {
            "begin" => assert!(open.insert(key, ns).is_none(), "{line:?} began twice"),
            "end" => {
                let begin_ns = open.remove(&key).unwrap_or_else(|| panic!("{line:?}: no begin"));
                let (host, _pid, lver) = key;
                holds.push(Hold { host, lver, begin_ns, end_ns: ns });
            }
            _ => panic!("{}: bad line {line:?}", witness.display()),
        }
    }
    assert!(open.is_empty(), "{}: holds never ended: {open:?}", witness.display());
    holds.sort_by_key(|h| h.begin_ns);
    holds
}

/// The pairs of holds that overlap in time.
fn overlaps(holds: &[Hold]) -> Vec<(&Hold, &Hold)> {
    let mut found = Vec::new();
    for (index, hold) in holds.iter().enumerate() {
        for later in &holds[index + 1..] {
            if later.begin_ns >= hold.end_ns {
                break;
            }
            found.push((hold, later));
        }
    }
    found
}

/// Host A (sanlock, host_id 1) and host B (leased, host_id 2) joined to
/// lockspace "ls" at io_timeout 1 on `path`, each seeing the other LIVE.
struct Cluster {
    _sanlock_a: SanlockHost,
    _leased_b: Leased,
    leased_sanlock_dir: std::path::PathBuf,
    sanlock_a_dir: std::path::PathBuf,
}

impl Cluster {
    fn start(dir: &Path, path: &str, resources: u64) -> Cluster {
        let sanlock_a = SanlockHost::start("host-a");
        let leased_sanlock_dir = dir.join("sanlock-b");
        let config = dir.join("leased-b.toml");
        std::fs::write(&config, format!("sanlock_run_dir = {:?}\n", leased_sanlock_dir)).unwrap();
        let leased_b = Leased::start_with(
            dir,
            "host-b",
            &["--config", config.to_str().unwrap(), "--watchdog-fire-timeout", "60"],
        );
        let cluster = Cluster {
            sanlock_a_dir: sanlock_a.run_dir().to_path_buf(),
            _sanlock_a: sanlock_a,
            _leased_b: leased_b,
            leased_sanlock_dir,
        };
        let (a, b) = cluster.hosts();
        a.run(&["write-lockspace", path, "1"]);
        if resources > 0 {
            b.run(&["write-resources", path, &resources.to_string(), "8"]);
        }
        let joins = [(a, "1"), (b, "2")].map(|(host, id)| {
            let child = host.script(&["join", id, path, "1"]).stdout(Stdio::piped()).spawn();
            (host, child.expect("start a join"))
        });
        for (host, child) in joins {
            let out = child.wait_with_output().expect("wait for a join");
            succeeded(host.label, &["join"], &out);
        }
        for host in [a, b] {
            wait_for(
                Duration::from_secs(10),
                &format!("host {} sees both LIVE", host.label),
                || host.sees_both_live().then_some(()),
            );
        }
        cluster
    }

    fn hosts(&self) -> (Host<'_>, Host<'_>) {
        (
            Host { label: "A (sanlock)", sanlock_run_dir: &self.sanlock_a_dir },
            Host { label: "B (leased)", sanlock_run_dir: &self.leased_sanlock_dir },
        )
    }
}

#[test]
fn sanlock_and_leased_hosts_exclude_each_other_under_contention() {
    if !sanlock::present() {
        return;
    }
    let dir = scratch();
    let img = zero_file(dir.path(), "leases.img", ((RESOURCES + 1) * MIB) as usize);
    let path = img.to_str().unwrap();
    let cluster = Cluster::start(dir.path(), path, RESOURCES);
    let (a, b) = cluster.hosts();

    refused_across(a, b, path, 1);
    refused_across(b, a, path, 2);

    let witness_dir = dir.path().join("witness");
    std::fs::create_dir(&witness_dir).unwrap();
    let witness = witness_dir.to_str().unwrap();
    let seconds = CONTEND_S.to_string();
    let count = RESOURCES.to_string();
    let clients: Vec<(Host<'_>, Child)> = (0..CLIENTS_PER_HOST)
        .flat_map(|n| [(a, "A", n), (b, "B", n + 100)])
        .map(|(host, label, seed)| {
            let seed = seed.to_string();
            let args = ["contend", path, &count, &seconds, witness, label, &seed];
            let child = host.script(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
            (host, child.expect("start a client"))
        })
        .collect();
    let mut reported_holds = 0;
    for (host, child) in clients {
        let out = child.wait_with_output().expect("wait for a client");
        succeeded(host.label, &["contend"], &out);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        eprintln!("{report}");
        assert_eq!(report["violations"], serde_json::json!([]), "host {}", host.label);
        let holds = report["holds"].as_object().unwrap();
        reported_holds += holds.values().map(|n| n.as_u64().unwrap()).sum::<u64>();
    }

    let mut witnessed_holds = 0;
    for index in 1..=RESOURCES {
        let holds = holds_in(&witness_dir.join(format!("r{index}")));
        witnessed_holds += holds.len() as u64;
        let overlapping = overlaps(&holds);
        assert!(overlapping.is_empty(), "r{index}: holds overlap: {overlapping:#?}");
        for pair in holds.windows(2) {
            assert!(pair[0].lver < pair[1].lver, "r{index}: lver did not rise: {pair:#?}");
        }
        let by_host = |label: &str| holds.iter().filter(|h| h.host == label).count();
        let (on_a, on_b) = (by_host("A"), by_host("B"));
        eprintln!("r{index}: {} holds, {on_a} on A (sanlock), {on_b} on B (leased)", holds.len());
        assert!(on_a >= HOLDS_PER_HOST_MIN, "r{index}: host A held it {on_a} times");
        assert!(on_b >= HOLDS_PER_HOST_MIN, "r{index}: host B held it {on_b} times");
    }
    assert_eq!(witnessed_holds, reported_holds, "every hold the clients counted is witnessed");
}

/// Host events cross between the implementations both ways: each sends
/// one with `set_event` and the other's listener (`reg_event`) gets it,
/// from the right host, for the right host and generation. The sender's
/// sector carries it in sanlock's layout, read back from the file.
#[test]
fn host_events_cross_between_sanlock_and_leased() {
    if !sanlock::present() {
        return;
    }
    let dir = scratch();
    let img = zero_file(dir.path(), "leases.img", MIB as usize);
    let path = img.to_str().unwrap();
    let cluster = Cluster::start(dir.path(), path, 0);
    let (a, b) = cluster.hosts();

    for (from, from_id, to, to_id, event) in [(a, 1, b, 2, 5), (b, 2, a, 1, 6)] {
        let mut listener = to.script(&["listen", "20"]).stdout(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(listener.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "registered", "host {}", to.label);
        let to_id_s = to_id.to_string();
        let event_s = event.to_string();
        let posted = from.run(&["set-event", &to_id_s, "0", &event_s, "7", "1"]);
        assert_eq!(posted.trim(), "ok", "host {}: set_event", from.label);
        let busy = from.run(&["set-event", &to_id_s, "0", "9", "9", "0"]);
        assert_eq!(busy.trim(), "error 16", "host {}: a second event is EBUSY", from.label);
        // The sender's sector as written, while the event is posted:
        // write_id, write_generation and write_timestamp hold generation,
        // event and data; the bitmap (bytes 256..512) has the recipient's bit.
        let written = wait_for(Duration::from_secs(5), "the event in the sector", || {
            let image = std::fs::read(&img).unwrap();
            let sector = &image[(from_id - 1) * 512..from_id * 512];
            let u64_at = |at: usize| u64::from_le_bytes(sector[at..at + 8].try_into().unwrap());
            let bit = to_id - 1;
            let bit_set = sector[256 + bit / 8] & (1 << (bit % 8)) != 0;
            let fields = (u64_at(176), u64_at(184), u64_at(192));
            (bit_set && fields.1 == event).then_some(fields)
        });

        let line = lines.next().unwrap().unwrap();
        let _ = listener.wait();
        let got: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("host {}: {line}", to.label));
        eprintln!("{} -> {}: {got}", from.label, to.label);
        assert_eq!(got["from_host_id"], from_id, "{got}");
        assert_eq!(got["host_id"], to_id, "{got}");
        assert_eq!((&got["event"], &got["data"]), (&event.into(), &7.into()), "{got}");
        let generation = got["generation"].as_u64().unwrap();
        assert!(generation >= 1, "CUR_GENERATION gave the recipient's: {got}");
        assert!(got["from_generation"].as_u64().unwrap() >= 1, "{got}");
        assert_eq!(written, (generation, event, 7), "host {}: the sector", from.label);
    }
}

/// The oracle can fail: it finds holds that overlap, also past a short
/// hold nested inside a long one, and accepts holds that only touch.
#[test]
fn overlap_oracle_finds_overlapping_holds() {
    let hold =
        |host: &str, lver, begin_ns, end_ns| Hold { host: host.to_owned(), lver, begin_ns, end_ns };
    let touching = [hold("A", 1, 0, 10), hold("B", 2, 10, 20)];
    assert!(overlaps(&touching).is_empty());
    let nested = [hold("A", 1, 0, 100), hold("B", 2, 10, 20), hold("B", 3, 30, 40)];
    assert_eq!(overlaps(&nested).len(), 2);
}
