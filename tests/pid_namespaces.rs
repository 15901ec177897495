//! Clients in other pid namespaces (a `lease` command in a container): the
//! leases they take belong to the processes they name, wherever those run,
//! and a pid number from another namespace is never taken for one of
//! leased's. Real daemon, real `unshare --pid` namespaces, real processes.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use common::{Holder, Leased, lease_file, scratch, wait_for};

/// A child process killed (with its pid namespace) when dropped.
struct Contained(Child);

impl Drop for Contained {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `script` with sh as pid 1 of a new pid namespace.
fn contained(script: &str) -> Contained {
    let child = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "sh", "-c", script])
        .spawn()
        .expect("run unshare");
    Contained(child)
}

/// The pids of the leases `host` holds on `spec`.
fn holders(host: &Leased, spec: &str) -> Vec<u64> {
    let leases = host.lease(&["inquire", "--json"]).ok().json();
    let resource = spec.split(':').nth(1).unwrap();
    leases["leases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|lease| lease["resource"] == resource)
        .map(|lease| lease["pid"].as_u64().unwrap())
        .collect()
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().filter(|text| text.ends_with('\n'))
}

#[test]
fn a_lease_from_another_pid_namespace_belongs_to_the_process_named_there() {
    let met = common::is_root() && common::have("unshare") && common::have("python3");
    if !common::prerequisite(met, "pid namespaces need root, unshare(1) and python3") {
        return;
    }
    let dir = scratch();
    let path = lease_file(dir.path(), 2, 1);
    let host = Leased::start(dir.path(), "a", 3);
    host.lease(&["add-lockspace", "-s", &format!("ls:1:{path}:0"), "--wait"]).ok();
    let (r1, r2) = (format!("ls:r1:{path}:1M"), format!("ls:r2:{path}:2M"));

    // A process here, holding r2, whose pid the container's holder of r1
    // gets there too (the namespace's next pid is set just before).
    let mut unrelated = Holder::start();
    let number = unrelated.child.id();
    host.lease(&["acquire", "-r", &r2, "--pid", &unrelated.pid()]).ok();
    let (numbered, acquired) = (dir.path().join("numbered"), dir.path().join("acquired"));
    let script = format!(
        "echo {last} > /proc/sys/kernel/ns_last_pid\n\
         sleep 600 &\n\
         echo $! > {numbered}\n\
         LEASED_RUN_DIR={run} {lease} acquire -r {r1} --pid $! > {acquired} 2>&1\n\
         echo \"exit $?\" >> {acquired}\n\
         wait",
        last = number - 1,
        numbered = numbered.display(),
        run = host.run_dir.display(),
        lease = env!("CARGO_BIN_EXE_lease"),
        acquired = acquired.display(),
    );
    let _container = contained(&script);
    let there =
        wait_for(Duration::from_secs(10), "the contained holder starts", || read(&numbered));
    assert_eq!(there.trim(), number.to_string(), "the same number in both namespaces");
    let outcome = wait_for(Duration::from_secs(10), "the acquire ends", || {
        read(&acquired).filter(|text| text.contains("exit "))
    });
    assert!(outcome.ends_with("exit 0\n"), "{outcome}");
    let holder = holders(&host, &r1);
    assert_eq!(holder.len(), 1, "{holder:?}");
    assert_ne!(holder[0], u64::from(number), "bound to the contained process, not to ours");

    // Our process with that number exits: its lease goes, not the other.
    unrelated.kill();
    wait_for(Duration::from_secs(5), "r2 is released with its holder", || {
        holders(&host, &r2).is_empty().then_some(())
    });
    assert_eq!(holders(&host, &r1), holder, "r1 stays with the contained process");

    // A bare pid number from the container is refused.
    let client = format!(
        "import socket, struct, json\n\
         s = socket.socket(socket.AF_UNIX)\n\
         s.connect('{socket}')\n\
         body = json.dumps({{'v': 1, 'id': 1, 'op': 'inquire', 'args': {{'pid': 1}}}}).encode()\n\
         s.sendall(struct.pack('>I', len(body)) + body)\n\
         n = struct.unpack('>I', s.recv(4))[0]\n\
         print(s.recv(n).decode())",
        socket = host.socket.display()
    );
    let refused = common::run("unshare", &["--pid", "--fork", "python3", "-c", &client]).ok();
    assert!(refused.stdout.contains("\"bad_request\""), "{}", refused.stdout);
    assert!(refused.stdout.contains("pid namespace"), "{}", refused.stdout);

    // The contained process exits: its lease goes.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(holder[0]).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_for(Duration::from_secs(5), "r1 is released with its holder", || {
        holders(&host, &r1).is_empty().then_some(())
    });
}
