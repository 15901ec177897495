#!/usr/bin/python3
"""Acquire and release latency through python3-sanlock: leased's sanlock
socket against real sanlock 3.8, in one run, on the same lease areas.

Every client is a python3-sanlock process (`register`, `acquire`,
`release`), so both daemons are driven by the same library over the same
protocol. For each daemon in turn: a lease file written with dd (no holes)
under --dir, its lockspace written with `write_lockspace` (io_timeout 1 s)
through that daemon, its resources with `sanlock direct init -r -n N`, then
a join as host_id 1, and:

  (a) one process, --cycles acquire+release cycles of one resource
      (registered once): median and p99 of acquire and of release, cycles/s;
  (b) --clients processes, each cycling its own resource for --seconds:
      total cycles/s.

Both daemons get byte-identical resource areas (checked before the run), so
both run the same ballot: num_hosts decides how many blocks an acquire reads
(sanlock's default is 2,000; `lease direct init`'s is 128). The resources
are not written with python3-sanlock's `write_resource`: through sanlock
3.8.5's daemon it ignores num_hosts (libsanlock sends it in the header's
data2, the daemon reads data, which holds max_hosts) and always writes
2,000.

    cargo build --release
    /usr/bin/python3 tools/sanlock_api_bench.py [--num-hosts 2000,128] [--out FILE]

Prints one JSON line per daemon and num_hosts, then a table.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

MIB = 1 << 20
LOCKSPACE = b"bench"
IO_TIMEOUT = 1
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEASED = os.path.join(REPO, "target", "release", "leased")
PYTHON = "/usr/bin/python3"  # the interpreter python3-sanlock is built for


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def run(args, env=None):
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def wait_until(what, limit, probe):
    deadline = time.monotonic() + limit
    while not probe():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {limit} s")
        time.sleep(0.02)


def answers(sock_path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(sock_path)
            return True
        except OSError:
            return False


def alive(pid):
    """A zombie (an init that does not reap leaves them) counts as dead."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


# ---- the daemons ---------------------------------------------------------


class Daemon:
    """A daemon serving sanlock's protocol in `self.sanlock_dir`."""

    def __init__(self, work):
        self.work = work
        self.sanlock_dir = os.path.join(work, f"{self.name}-sanlock-run")
        self.env = dict(os.environ, SANLOCK_RUN_DIR=self.sanlock_dir, SANLOCK_PRIVILEGED="0")
        self.process = None

    def client(self, *args):
        """This script as a client of this daemon, in its own process."""
        return [PYTHON, os.path.abspath(__file__), "--client", *args]

    def call(self, *args):
        return run(self.client(*args), env=self.env)

    def stop(self):
        if self.process is None or not alive(self.process.pid):
            return
        subprocess.run(["sanlock", "client", "shutdown", "-f", "1", "-w", "1"], env=self.env,
                       capture_output=True)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Sanlock(Daemon):
    name = "sanlock"

    def start(self):
        os.makedirs(self.sanlock_dir, exist_ok=True)
        self.process = subprocess.Popen(
            ["sanlock", "daemon", "-D", "-w", "0", "-U", "root", "-G", "root", "-e", "bench-sanlock"],
            env=self.env, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.work, "sanlock.log"), "a"))
        sock = os.path.join(self.sanlock_dir, "sanlock.sock")
        wait_until("sanlock answers", 10, lambda: answers(sock))


class Leased(Daemon):
    name = "leased"

    def start(self):
        config = os.path.join(self.work, "leased.toml")
        with open(config, "w") as f:
            f.write(f"sanlock_run_dir = {json.dumps(self.sanlock_dir)}\n")
        self.process = subprocess.Popen(
            [LEASED, "--config", config, "--run-dir", os.path.join(self.work, "leased-run"),
             "--state-dir", os.path.join(self.work, "leased-state"), "--host-name", "bench-leased",
             "--watchdog", "none", "--watchdog-fire-timeout", "60"],
            env=dict(self.env, RUST_LOG="warn"), stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.work, "leased.log"), "a"))
        sock = os.path.join(self.sanlock_dir, "sanlock.sock")
        wait_until("leased answers on sanlock.sock", 10, lambda: answers(sock))


# ---- client processes (run with --client, SANLOCK_RUN_DIR set) -----------


def client_main(args):
    import sanlock  # reads SANLOCK_RUN_DIR once, so only in a client process

    command = args[0]
    if command == "write-lockspace":
        sanlock.write_lockspace(LOCKSPACE, args[1], 0, iotimeout=IO_TIMEOUT)
    elif command == "join":
        sanlock.add_lockspace(LOCKSPACE, 1, args[1], 0, iotimeout=IO_TIMEOUT)
    elif command == "latency":
        path, index, cycles = args[1], int(args[2]), int(args[3])
        name, disks = b"r%d" % index, [(path, index * MIB)]
        fd = sanlock.register()
        acquire_ns, release_ns = [], []
        started = time.perf_counter_ns()
        for _ in range(cycles):
            t0 = time.perf_counter_ns()
            sanlock.acquire(LOCKSPACE, name, disks, slkfd=fd)
            t1 = time.perf_counter_ns()
            sanlock.release(LOCKSPACE, name, disks, slkfd=fd)
            t2 = time.perf_counter_ns()
            acquire_ns.append(t1 - t0)
            release_ns.append(t2 - t1)
        elapsed_ns = time.perf_counter_ns() - started
        print(json.dumps({"acquire_ns": acquire_ns, "release_ns": release_ns,
                          "elapsed_ns": elapsed_ns}))
    elif command == "cycle":
        # Registers, says "ready", waits for "go" on stdin, then cycles
        # its own resource for `seconds` and prints the count.
        path, index, seconds = args[1], int(args[2]), float(args[3])
        name, disks = b"r%d" % index, [(path, index * MIB)]
        fd = sanlock.register()
        print("ready", flush=True)
        sys.stdin.readline()
        cycles = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sanlock.acquire(LOCKSPACE, name, disks, slkfd=fd)
            sanlock.release(LOCKSPACE, name, disks, slkfd=fd)
            cycles += 1
        print(json.dumps({"cycles": cycles}), flush=True)
    else:
        sys.exit(f"unknown client command {command}")


# ---- the benchmark -------------------------------------------------------


def lease_image(path, mib):
    """Every block allocated: an O_DIRECT read of a hole costs no I/O."""
    run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}", "oflag=direct",
         "status=none"])


def parallel_cycles(daemon, path, clients, seconds):
    processes = [subprocess.Popen(daemon.client("cycle", path, str(index + 2), str(seconds)),
                                  env=daemon.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
                 for index in range(clients)]
    for process in processes:
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("a client did not register")
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    total = 0
    for process in processes:
        total += json.loads(process.stdout.readline())["cycles"]
        if process.wait() != 0:
            raise RuntimeError("a client failed")
    return total / seconds


def summary_ms(values_ns):
    return {"median": statistics.median(values_ns) / 1e6, "p99": percentile(values_ns, 99) / 1e6}


def measure(daemon, path, args):
    say(f"{daemon.name}: join")
    started = time.monotonic()
    daemon.call("join", path)
    joined_s = time.monotonic() - started
    say(f"{daemon.name}: {args.cycles} cycles, one process")
    latency = json.loads(daemon.call("latency", path, "1", str(args.cycles)))
    say(f"{daemon.name}: {args.clients} processes for {args.seconds} s")
    load = os.getloadavg()[0]
    throughput = parallel_cycles(daemon, path, args.clients, args.seconds)
    return {
        "join_s": round(joined_s, 3),
        "acquire_ms": summary_ms(latency["acquire_ns"]),
        "release_ms": summary_ms(latency["release_ns"]),
        "cycles_per_s": args.cycles / (latency["elapsed_ns"] / 1e9),
        f"parallel{args.clients}_cycles_per_s": throughput,
        "load_1m_before_parallel": load,
    }


def resource_areas(path, count):
    with open(path, "rb") as f:
        f.seek(MIB)
        return f.read(count * MIB)


def first_difference(left, right):
    for offset in range(0, len(left), 512):
        if left[offset:offset + 512] != right[offset:offset + 512]:
            return offset + MIB
    return None


def bench(work, num_hosts, args):
    count = args.clients + 1
    daemons = [Leased(work), Sanlock(work)]
    paths = {}
    results = {}
    try:
        for daemon in daemons:
            path = os.path.join(work, f"{daemon.name}-{num_hosts}.img")
            lease_image(path, count + 1)
            daemon.start()
            say(f"{daemon.name}: write the lockspace; {count} resources, num_hosts {num_hosts}")
            daemon.call("write-lockspace", path)
            daemon.stop()
            for index in range(1, count + 1):
                run(["sanlock", "direct", "init", "-r",
                     f"{LOCKSPACE.decode()}:r{index}:{path}:{index * MIB}", "-n", str(num_hosts)])
            paths[daemon.name] = path
        difference = first_difference(resource_areas(paths["leased"], count),
                                      resource_areas(paths["sanlock"], count))
        if difference is not None:
            raise RuntimeError(f"the resource areas differ; first at byte {difference}")
        for daemon in daemons:
            daemon.start()
            try:
                results[daemon.name] = dict(
                    {"daemon": daemon.name, "num_hosts": num_hosts},
                    **measure(daemon, paths[daemon.name], args))
            finally:
                daemon.stop()
            print(json.dumps(results[daemon.name]), flush=True)
    finally:
        for daemon in daemons:
            daemon.stop()
    return results


def say(line):
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def table(all_results, clients):
    rows = [
        ("acquire median (ms)", lambda r: r["acquire_ms"]["median"]),
        ("acquire p99 (ms)", lambda r: r["acquire_ms"]["p99"]),
        ("release median (ms)", lambda r: r["release_ms"]["median"]),
        ("release p99 (ms)", lambda r: r["release_ms"]["p99"]),
        ("cycles/s, 1 process", lambda r: r["cycles_per_s"]),
        (f"cycles/s, {clients} processes", lambda r: r[f"parallel{clients}_cycles_per_s"]),
    ]
    lines = []
    for num_hosts, results in all_results.items():
        lines.append(f"num_hosts {num_hosts:<26} {'leased':>10} {'sanlock':>10} {'leased/sanlock':>15}")
        for label, get in rows:
            ours, theirs = get(results["leased"]), get(results["sanlock"])
            lines.append(f"  {label:34} {ours:>10.3f} {theirs:>10.3f} {ours / theirs:>15.3f}")
    return "\n".join(lines)


def machine():
    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    return {"cpus": os.cpu_count(), "cpu": model, "kernel": os.uname().release,
            "sanlock": run(["sanlock", "version"]).strip()}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-hosts", default="2000,128",
                        help="comma-separated num_hosts of the resources, one run each")
    parser.add_argument("--cycles", type=int, default=500, help="cycles of (a)")
    parser.add_argument("--clients", type=int, default=16, help="processes of (b)")
    parser.add_argument("--seconds", type=float, default=10, help="length of (b)")
    parser.add_argument("--dir", default="/var/tmp", help="where the lease files go (not tmpfs)")
    parser.add_argument("--out", help="also write every result as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the lease files and logs")
    args = parser.parse_args()
    if shutil.which("sanlock") is None:
        sys.exit("sanlock is not installed: apt-get install -y sanlock python3-sanlock")
    if not os.access(LEASED, os.X_OK):
        sys.exit(f"{LEASED} is missing: cargo build --release")
    work = tempfile.mkdtemp(prefix="sanlock-api-bench-", dir=args.dir)
    all_results = {}
    try:
        for num_hosts in (int(n) for n in args.num_hosts.split(",")):
            all_results[num_hosts] = bench(work, num_hosts, args)
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(table(all_results, args.clients))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"machine": machine(), "args": vars(args),
                       "results": {str(k): v for k, v in all_results.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
