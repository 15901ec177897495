#!/usr/bin/python3
"""leased against sanlock 3.8, side by side, on this machine.

Each system gets the same kind of lease file (non-sparse, on the same
filesystem, 512-byte sectors, 1 MiB areas, io_timeout 1 s), resources made
by its own tool's defaults, and daemons started as separate hosts with no
watchdog (sanlock -w 0, leased --watchdog none). Both are driven from
Python the same way: sanlock through python3-sanlock, leased through its
JSON socket. Prints one table and writes a JSON file.

    apt-get install -y sanlock python3-sanlock
    cargo build --release
    /usr/bin/python3 tools/vs_sanlock.py [--out BENCH.json] [--quick]

The python3-sanlock module reads SANLOCK_RUN_DIR once per process, so every
sanlock call runs in a child process that has set it first.
"""

import argparse
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

MIB = 1 << 20
LOCKSPACE = "bench"
IO_TIMEOUT = 1
FIRE_TIMEOUT = 60  # sanlock 3.8.5's, fixed; leased is given the same
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def now():
    return time.monotonic()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def run(args, env=None, check=True):
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
    return done


def wait_until(what, limit, probe, pause=0.02):
    deadline = now() + limit
    while True:
        found = probe()
        if found:
            return found
        if now() > deadline:
            raise RuntimeError(f"{what}: not within {limit} s")
        time.sleep(pause)


def proc_io(pid):
    fields = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            key, value = line.split(":")
            fields[key] = int(value)
    return fields


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def lease_image(path, mib):
    """A lease file whose blocks are all allocated: an O_DIRECT read of a
    hole is zero-filled without device I/O and would hide the reads."""
    run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}", "oflag=direct", "status=none"])


def in_child(target, *args):
    """Runs target(*args) in a forked child and returns what it returns."""
    parent, child = multiprocessing.Pipe(duplex=False)

    def body():
        try:
            child.send(("ok", target(*args)))
        except Exception as err:  # reported to the parent
            child.send(("error", repr(err)))

    process = multiprocessing.Process(target=body)
    process.start()
    kind, value = parent.recv()
    process.join()
    if kind == "error":
        raise RuntimeError(value)
    return value


# ---- the two systems -----------------------------------------------------


class LeasedClient:
    """leased's JSON socket: a frame is a 4-byte big-endian length and JSON."""

    def __init__(self, run_dir):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.path.join(run_dir, "leased.sock"))
        self.next_id = 1

    def call(self, op, args=None):
        request = {"v": 1, "id": self.next_id, "op": op}
        if args is not None:
            request["args"] = args
        self.next_id += 1
        body = json.dumps(request).encode()
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        (length,) = struct.unpack(">I", self._read(4))
        reply = json.loads(self._read(length))
        return reply

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise RuntimeError("leased closed the connection")
            data += chunk
        return data

    def acquire(self, resource):
        return self.call("acquire", {"resources": [resource]})["ok"]

    def release(self, resource):
        if not self.call("release", {"resources": [resource]})["ok"]:
            raise RuntimeError(f"release of {resource} failed")

    def acquire_many(self, resources):
        for first in range(0, len(resources), 64):
            reply = self.call("acquire", {"resources": resources[first:first + 64]})
            if not reply["ok"]:
                raise RuntimeError(f"acquire failed: {reply['error']}")


class Leased:
    name = "leased"

    def __init__(self, work, host):
        self.work, self.host = work, host
        self.run_dir = os.path.join(work, f"leased-run-{host}")
        self.env = dict(os.environ, LEASED_RUN_DIR=self.run_dir)
        self.process = None

    @staticmethod
    def binary(name):
        return os.path.join(REPO, "target", "release", name)

    def init_lockspace(self, path):
        run([self.binary("lease"), "direct", "init", "-s", f"{LOCKSPACE}:0:{path}:0",
             "--io-timeout", str(IO_TIMEOUT), "--force"])

    def init_resources(self, path, first, count):
        def init(index):
            run([self.binary("lease"), "direct", "init", "-r", self.spec(path, index), "--force"])
        parallel(init, range(first, first + count))

    def spec(self, path, index):
        return f"{LOCKSPACE}:r{index}:{path}:{index}M"

    def start(self):
        log = open(os.path.join(self.work, f"leased-{self.host}.log"), "a")
        self.process = subprocess.Popen(
            [self.binary("leased"), "--config", "/dev/null", "--run-dir", self.run_dir,
             "--host-name", f"bench-{self.host}", "--watchdog", "none",
             "--watchdog-fire-timeout", str(FIRE_TIMEOUT)],
            env=dict(self.env, RUST_LOG="warn"), stdout=subprocess.DEVNULL, stderr=log)
        wait_until("leased answers", 10, lambda: self._answers())

    def _answers(self):
        try:
            LeasedClient(self.run_dir).call("version")
            return True
        except OSError:
            return False

    @property
    def pid(self):
        return self.process.pid

    def add_lockspace(self, path, host_id):
        run([self.binary("lease"), "add-lockspace", "-s", f"{LOCKSPACE}:{host_id}:{path}:0",
             "--wait"], env=self.env)

    def rem_lockspace(self):
        run([self.binary("lease"), "rem-lockspace", LOCKSPACE], env=self.env)

    def client(self):
        return LeasedClient(self.run_dir)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGTERM)  # the confirming second one
                self.process.wait(20)

    def crash(self):
        self.process.kill()
        self.process.wait()


class SanlockClient:
    def __init__(self, run_dir):
        os.environ["SANLOCK_RUN_DIR"] = run_dir
        import sanlock  # only in children: it reads SANLOCK_RUN_DIR once

        self.sanlock = sanlock
        self.fd = sanlock.register()

    @staticmethod
    def _parts(resource):
        lockspace, name, path, offset = resource
        return lockspace.encode(), name.encode(), [(path, offset)]

    def acquire(self, resource):
        lockspace, name, disks = self._parts(resource)
        try:
            self.sanlock.acquire(lockspace, name, disks, slkfd=self.fd)
            return True
        except self.sanlock.SanlockException:
            return False

    def release(self, resource):
        lockspace, name, disks = self._parts(resource)
        self.sanlock.release(lockspace, name, disks, slkfd=self.fd)

    def acquire_many(self, resources):
        for resource in resources:
            lockspace, name, disks = self._parts(resource)
            self.sanlock.acquire(lockspace, name, disks, slkfd=self.fd)


class Sanlock:
    name = "sanlock"

    def __init__(self, work, host):
        self.work, self.host = work, host
        self.run_dir = os.path.join(work, f"sanlock-run-{host}")
        os.makedirs(self.run_dir, exist_ok=True)
        self.env = dict(os.environ, SANLOCK_RUN_DIR=self.run_dir, SANLOCK_PRIVILEGED="0")
        self.daemon_pid = None

    def init_lockspace(self, path):
        run(["sanlock", "direct", "init", "-s", f"{LOCKSPACE}:0:{path}:0", "-o", str(IO_TIMEOUT)])

    def init_resources(self, path, first, count):
        def init(index):
            run(["sanlock", "direct", "init", "-r", f"{LOCKSPACE}:r{index}:{path}:{index * MIB}"])
        parallel(init, range(first, first + count))

    def spec(self, path, index):
        return (LOCKSPACE, f"r{index}", path, index * MIB)

    def start(self):
        run(["sanlock", "daemon", "-w", "0", "-U", "root", "-G", "root", "-e", f"bench-{self.host}"],
            env=self.env)
        pid_file = os.path.join(self.run_dir, "sanlock.pid")
        self.daemon_pid = int(wait_until("sanlock's pid file", 10, lambda: _read(pid_file)))
        wait_until("sanlock answers", 10,
                   lambda: run(["sanlock", "client", "status"], env=self.env, check=False).returncode == 0)

    @property
    def pid(self):
        return self.daemon_pid

    def add_lockspace(self, path, host_id):
        run(["sanlock", "client", "add_lockspace", "-s", f"{LOCKSPACE}:{host_id}:{path}:0",
             "-o", str(IO_TIMEOUT)], env=self.env)

    def rem_lockspace(self):
        status = run(["sanlock", "client", "status"], env=self.env).stdout
        spec = next(line.split()[1] for line in status.splitlines() if line.startswith("s "))
        run(["sanlock", "client", "rem_lockspace", "-s", spec], env=self.env)

    def client(self):
        return SanlockClient(self.run_dir)

    def stop(self):
        if self.daemon_pid and alive(self.daemon_pid):
            run(["sanlock", "client", "shutdown", "-f", "1", "-w", "1"], env=self.env, check=False)
            wait_until("sanlock stops", 20, lambda: not alive(self.daemon_pid), 0.05)

    def crash(self):
        os.kill(self.daemon_pid, signal.SIGKILL)
        wait_until("sanlock dies", 10, lambda: not alive(self.daemon_pid), 0.01)


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def alive(pid):
    """A zombie (which an init that does not reap leaves) counts as dead."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def parallel(work, items, threads=8):
    items = list(items)
    errors = []

    def worker(chunk):
        try:
            for item in chunk:
                work(item)
        except Exception as err:
            errors.append(err)

    pool = [threading.Thread(target=worker, args=(items[i::threads],)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]


# ---- client processes ------------------------------------------------------


def client_loop(host, resources, seconds, hold, results, seed):
    """One client: acquire a resource (retrying every ms while it is busy),
    hold it, release it; until `seconds` pass. Sends the latencies: of
    every acquire call (busy answers included), of getting the resource
    (from the first call to the one that succeeds), of releases."""
    rng = random.Random(seed)
    client = host.client()
    call_ms, acquire_ms, release_ms, cycles, retries = [], [], [], 0, 0
    end = now() + seconds
    index = 0
    while now() < end:
        if len(resources) > 100:
            resource = resources[index % len(resources)]
            index += 1
        else:
            resource = rng.choice(resources)
        started = now()
        while True:
            call = now()
            done = client.acquire(resource)
            call_ms.append((now() - call) * 1000)
            if done:
                break
            retries += 1
            time.sleep(0.001)
        acquired = now()
        if hold:
            time.sleep(hold)
        released_at = now()
        client.release(resource)
        acquire_ms.append((acquired - started) * 1000)
        release_ms.append((now() - released_at) * 1000)
        cycles += 1
    results.send({"call_ms": call_ms, "acquire_ms": acquire_ms, "release_ms": release_ms,
                  "cycles": cycles, "retries": retries})


def run_clients(plan, seconds, hold):
    """plan: [(host, resources)], one client process each, all at once."""
    pipes, processes = [], []
    for seed, (host, resources) in enumerate(plan):
        parent, child = multiprocessing.Pipe(duplex=False)
        process = multiprocessing.Process(
            target=client_loop, args=(host, resources, seconds, hold, child, seed))
        process.start()
        pipes.append(parent)
        processes.append(process)
    results = [pipe.recv() for pipe in pipes]
    for process in processes:
        process.join()
    calls = [ms for r in results for ms in r["call_ms"]]
    acquire = [ms for r in results for ms in r["acquire_ms"]]
    release = [ms for r in results for ms in r["release_ms"]]
    return {
        "cycles_per_s": sum(r["cycles"] for r in results) / seconds,
        "acquire_call_ms": summary(calls),
        "acquire_ms": summary(acquire),
        "release_ms": summary(release),
        "retries": sum(r["retries"] for r in results),
    }


def summary(values):
    return {"median": statistics.median(values), "p99": percentile(values, 99),
            "max": max(values), "count": len(values)}


def holder(host, resource, ready, stop):
    """A process holding `resource` until told to stop (or killed)."""
    client = host.client()
    if not client.acquire(resource):
        ready.send(False)
        return
    ready.send(True)
    stop.recv()


def hold_many(host, resources, ready, stop):
    """A process holding every one of `resources` until told to stop."""
    host.client().acquire_many(resources)
    ready.send(True)
    stop.recv()


def rss(cls, work, args):
    """The daemon's RSS idle and holding args.rss_leases leases, held by
    processes of 2,000 leases each (a sparse file: no I/O is counted)."""
    count = args.rss_leases
    say(f"{cls.name}: RSS holding {count} leases")
    path = os.path.join(work, f"{cls.name}-rss.img")
    with open(path, "wb") as f:
        f.truncate((count + 1) * MIB)
    host = cls(work, 9)
    host.init_lockspace(path)
    host.init_resources(path, 1, count)
    processes, stops = [], []
    try:
        host.start()
        host.add_lockspace(path, 1)
        idle = rss_kib(host.pid)
        specs = [host.spec(path, i) for i in range(1, count + 1)]
        readies = []
        for first in range(0, count, 2000):
            ready_read, ready_write = multiprocessing.Pipe(duplex=False)
            stop_read, stop_write = multiprocessing.Pipe(duplex=False)
            process = multiprocessing.Process(
                target=hold_many, args=(host, specs[first:first + 2000], ready_write, stop_read))
            process.start()
            processes.append(process)
            stops.append(stop_write)
            readies.append(ready_read)
        for ready in readies:
            ready.recv()
        holding = rss_kib(host.pid)
        for stop in stops:
            stop.send(True)
        for process in processes:
            process.join()
        return {"leases": count, "idle_mib": idle / 1024, "holding_mib": holding / 1024}
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
        host.stop()
        os.remove(path)


def one_shot(host, resource, count):
    """Acquires and releases `resource` count times, one at a time."""
    client = host.client()
    acquire_ms, release_ms = [], []
    for _ in range(count):
        started = now()
        if not client.acquire(resource):
            raise RuntimeError(f"acquire {resource} failed")
        middle = now()
        client.release(resource)
        acquire_ms.append((middle - started) * 1000)
        release_ms.append((now() - middle) * 1000)
    return acquire_ms, release_ms


def io_per_op(host, resource, count):
    """Daemon I/O per acquire and per release, from /proc/PID/io."""
    client = host.client()
    totals = {"acquire": {}, "release": {}}
    for _ in range(count):
        for op in ("acquire", "release"):
            before = proc_io(host.pid)
            if op == "acquire":
                if not client.acquire(resource):
                    raise RuntimeError("acquire failed")
            else:
                client.release(resource)
            after = proc_io(host.pid)
            for key in ("syscr", "syscw", "read_bytes", "write_bytes"):
                totals[op][key] = totals[op].get(key, 0) + after[key] - before[key]
    return {op: {k: v / count for k, v in t.items()} for op, t in totals.items()}


# ---- the benchmark -----------------------------------------------------------


def bench_system(cls, work, args):
    name = cls.name
    out = {}
    say(f"{name}: lease files")
    path = os.path.join(work, f"{name}.img")
    lease_image(path, args.resources + 1)
    hosts = [cls(work, h) for h in (1, 2, 3)]
    first = hosts[0]
    first.init_lockspace(path)
    first.init_resources(path, 1, args.resources)
    try:
        first.start()
        say(f"{name}: join a free host_id")
        started = now()
        first.add_lockspace(path, 1)
        out["join_free_s"] = now() - started

        say(f"{name}: renewal I/O while idle")
        # Past the first renewal after the join; the window then holds as
        # many renewals as leased's whole-area read cadence (32), so one of
        # its whole-area reads falls in it.
        time.sleep(2 * IO_TIMEOUT + 0.5)
        before = proc_io(first.pid)
        time.sleep(args.renewals * 2 * IO_TIMEOUT)
        after = proc_io(first.pid)
        out["renewal_per_interval"] = {
            key: (after[key] - before[key]) / args.renewals
            for key in ("syscr", "syscw", "read_bytes", "write_bytes")}

        say(f"{name}: uncontended latency, one client")
        acquire_ms, release_ms = in_child(one_shot, first, first.spec(path, 1), args.latency_ops)
        pairs = [a + r for a, r in zip(acquire_ms, release_ms)]
        out["latency_ms"] = {"acquire": summary(acquire_ms), "release": summary(release_ms),
                             "acquire_release": summary(pairs)}
        out["io_per_op"] = in_child(io_per_op, first, first.spec(path, 2), 50)

        say(f"{name}: throughput, 16 clients over {args.resources} resources")
        plan = [(first, [first.spec(path, i) for i in range(1 + c, args.resources + 1, 16)])
                for c in range(16)]
        out["throughput"] = run_clients(plan, args.seconds, 0)

        say(f"{name}: rejoin after a clean leave")
        first.rem_lockspace()
        started = now()
        first.add_lockspace(path, 1)
        out["rejoin_clean_s"] = now() - started

        say(f"{name}: contention, 3 hosts x 4 clients over 16 resources")
        for host_id, host in enumerate(hosts[1:], start=2):
            host.start()
        parallel(lambda h: h[1].add_lockspace(path, h[0]), [(2, hosts[1]), (3, hosts[2])], 2)
        shared = [first.spec(path, i) for i in range(1, 17)]
        plan = [(host, shared) for host in hosts for _ in range(4)]
        out["contention"] = run_clients(plan, args.seconds * 2, 0.020)

        say(f"{name}: failover after the holder's host crashes, then its rejoin")
        out.update(failover(hosts, path))
    finally:
        for host in hosts:
            host.stop()
    return out


def failover(hosts, path):
    """Host 1 holds r1 for a process; host 1's daemon is killed; a client
    on host 2 retries every 10 ms until it has r1. Then host 1 restarts
    under the same name and rejoins."""
    first, second = hosts[0], hosts[1]
    resource = first.spec(path, 1)
    ready_read, ready_write = multiprocessing.Pipe(duplex=False)
    stop_read, stop_write = multiprocessing.Pipe(duplex=False)
    held = multiprocessing.Process(target=holder, args=(first, resource, ready_write, stop_read))
    held.start()
    if not ready_read.recv():
        raise RuntimeError("the holder could not acquire")
    time.sleep(3 * IO_TIMEOUT)  # host 2 sees host 1 renew
    first.crash()
    crashed = now()
    taken = in_child(retry_until_acquired, second, resource)
    result = {"failover_s": taken - crashed}
    held.kill()
    held.join()
    first.start()
    started = now()
    first.add_lockspace(path, 1)
    result["rejoin_after_crash_s"] = now() - started
    return result


def retry_until_acquired(host, resource):
    client = host.client()
    while not client.acquire(resource):
        time.sleep(0.01)
    return now()


def say(line):
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


ROWS = [
    ("acquire+release latency, median (ms)", "latency_ms.acquire_release.median", "lower"),
    ("acquire+release latency, p99 (ms)", "latency_ms.acquire_release.p99", "lower"),
    ("acquire latency, median (ms)", "latency_ms.acquire.median", "lower"),
    ("release latency, median (ms)", "latency_ms.release.median", "lower"),
    ("throughput, 16 clients (acquire+release/s)", "throughput.cycles_per_s", "higher"),
    ("contention: acquisitions/s", "contention.cycles_per_s", "higher"),
    ("contention: acquire call median (ms)", "contention.acquire_call_ms.median", "lower"),
    ("contention: acquire call p99 (ms)", "contention.acquire_call_ms.p99", "lower"),
    ("contention: acquire call max (ms)", "contention.acquire_call_ms.max", "lower"),
    ("contention: time to acquire, median (ms)", "contention.acquire_ms.median", "lower"),
    ("contention: time to acquire, p99 (ms)", "contention.acquire_ms.p99", "lower"),
    ("contention: time to acquire, max (ms)", "contention.acquire_ms.max", "lower"),
    ("bytes read per acquire", "io_per_op.acquire.read_bytes", "lower"),
    ("bytes written per acquire", "io_per_op.acquire.write_bytes", "lower"),
    ("read syscalls per acquire", "io_per_op.acquire.syscr", "lower"),
    ("write syscalls per acquire", "io_per_op.acquire.syscw", "lower"),
    ("bytes read per release", "io_per_op.release.read_bytes", "lower"),
    ("bytes written per release", "io_per_op.release.write_bytes", "lower"),
    ("join, free host_id (s)", "join_free_s", "lower"),
    ("rejoin after a clean leave (s)", "rejoin_clean_s", "lower"),
    ("rejoin after a crash, same host (s)", "rejoin_after_crash_s", "lower"),
    ("failover after a host crash (s)", "failover_s", "lower"),
    ("renewal: bytes read per interval", "renewal_per_interval.read_bytes", "lower"),
    ("renewal: bytes written per interval", "renewal_per_interval.write_bytes", "lower"),
    ("RSS holding the leases (MiB)", "rss.holding_mib", "lower"),
]


def lookup(results, dotted):
    value = results
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def table(results):
    lines = [f"{'':46} {'leased':>12} {'sanlock':>12} {'leased/sanlock':>15}"]
    for label, key, _ in ROWS:
        ours, theirs = lookup(results["leased"], key), lookup(results["sanlock"], key)
        ratio = f"{ours / theirs:.3f}" if ours is not None and theirs else "-"
        lines.append(f"{label:46} {fmt(ours):>12} {fmt(theirs):>12} {ratio:>15}")
    return "\n".join(lines)


def fmt(value):
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="vs_sanlock.json", help="JSON results file")
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5, help="per throughput run")
    parser.add_argument("--latency-ops", type=int, default=200)
    parser.add_argument("--renewals", type=int, default=32, help="renewal intervals to watch")
    parser.add_argument("--rss-leases", type=int, default=10000)
    parser.add_argument("--dir", default="/var/tmp", help="where the lease files go (not tmpfs)")
    args = parser.parse_args()
    if shutil.which("sanlock") is None:
        sys.exit("sanlock is not installed: apt-get install -y sanlock python3-sanlock")
    for binary in ("lease", "leased"):
        if not os.access(Leased.binary(binary), os.X_OK):
            sys.exit(f"{Leased.binary(binary)} is missing: cargo build --release")
    multiprocessing.set_start_method("fork")
    work = tempfile.mkdtemp(prefix="lease-vs-sanlock-", dir=args.dir)
    results = {"machine": machine(), "args": vars(args)}
    try:
        for cls in (Leased, Sanlock):
            results[cls.name] = bench_system(cls, work, args)
            results[cls.name]["rss"] = rss(cls, work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(table(results))
    print(f"\nresults: {args.out}")


def machine():
    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    with open("/proc/meminfo") as f:
        memory = f.readline().split()[1]
    return {"cpus": os.cpu_count(), "cpu": model, "memory_kib": int(memory),
            "kernel": os.uname().release,
            "sanlock": run(["sanlock", "version"], check=False).stdout.strip()}


if __name__ == "__main__":
    main()
