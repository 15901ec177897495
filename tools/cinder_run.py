#!/usr/bin/env python3
"""A Cinder-shaped run of the tooz lease driver: HOSTS leased daemons on one
lease file, WORKERS processes per host, each looping over tooz locks named
as Cinder names them (``cinder-<uuid>-delete_volume``, 57 bytes) for
SECONDS: one to three of NAMES names, sorted, taken in order as
``coordination.synchronized`` takes them, held a few milliseconds, released.

Every hold is proven on a witness file: one 512-byte sector per name that
the holder finds empty, stamps with itself, finds still its own before it
leaves, and clears; and a log of begin/end times (CLOCK_MONOTONIC, one
clock: every host runs on this machine) checked afterwards for overlaps.
At KILL_AT seconds host HOSTS is killed (SIGKILL: daemon and workers); its
names stay locked until the others see it DEAD, and the run reports how
long after the kill each was taken again.

    target/tooz-venv/bin/python tools/cinder_run.py [--driver lease|file]

``--driver file`` runs the same workers on tooz's file:// driver, one
host, for comparison. Prints one JSON line. LEASED_BIN and LEASE_BIN name
the binaries (default target/release's); needs the venv of tools/tooz-suite.
"""

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTOR = 512


def worker(args):
    from tooz import coordination

    names = json.loads(args.names_json)
    rng = random.Random(args.seed)
    coord = coordination.get_coordinator(args.url, f"cinder-{uuid.uuid4()}".encode())
    coord.start(start_heart=True)
    fd = os.open(args.witness, os.O_RDWR)
    log = open(args.log, "a", buffering=1)
    me = f"{args.host}:{os.getpid()}".encode()
    waits, holds, violations = [], 0, []
    began = time.monotonic()
    end = began + args.seconds
    while time.monotonic() < end:
        chosen = sorted(set(rng.sample(range(len(names)), rng.randint(1, 3))))
        locks = [coord.get_lock(names[i].encode()) for i in chosen]
        start = time.monotonic()
        for lock in locks:
            lock.acquire(blocking=True)
        waits.append(time.monotonic() - start)
        for i in chosen:
            found = os.pread(fd, SECTOR, i * SECTOR).rstrip(b"\0")
            if found:
                violations.append(f"{names[i]}: held by {found.decode()} when {me.decode()} got it")
            os.pwrite(fd, me.ljust(SECTOR, b"\0"), i * SECTOR)
            log.write(f"begin {i} {args.host} {os.getpid()} {time.monotonic_ns()}\n")
        time.sleep(rng.uniform(0.002, 0.006))
        for i in chosen:
            log.write(f"end {i} {args.host} {os.getpid()} {time.monotonic_ns()}\n")
            found = os.pread(fd, SECTOR, i * SECTOR).rstrip(b"\0")
            if found != me:
                violations.append(f"{names[i]}: {found.decode()} wrote over {me.decode()}")
            os.pwrite(fd, b"\0" * SECTOR, i * SECTOR)
        for lock in reversed(locks):
            lock.release()
        holds += 1
    coord.stop()
    elapsed = time.monotonic() - began
    print(json.dumps({"holds": holds, "waits": waits, "violations": violations,
                      "elapsed": elapsed}), flush=True)


def overlaps(log_path, killed_host, killed_at_ns):
    """Holds of one name that overlap; a killed worker's open hold ends at the kill."""
    intervals = {}
    open_holds = {}
    with open(log_path) as f:
        for line in f:
            kind, name, host, pid, ns = line.split()
            key = (name, host, pid)
            if kind == "begin":
                open_holds[key] = int(ns)
            elif key in open_holds:
                intervals.setdefault(name, []).append((open_holds.pop(key), int(ns), host))
    for (name, host, _), begin in open_holds.items():
        end = killed_at_ns if host == killed_host else None
        if end is None:
            raise SystemExit(f"a live worker's hold of {name} never ended")
        intervals.setdefault(name, []).append((begin, end, host))
    found = []
    for name, spans in intervals.items():
        spans.sort()
        for a, b in zip(spans, spans[1:]):
            if b[0] < a[1]:
                found.append((name, a, b))
    return found, intervals


def takeovers(intervals, killed_host, killed_at_ns):
    """For each name the killed host held at the kill: seconds until another took it."""
    delays = []
    for spans in intervals.values():
        held = [s for s in spans if s[2] == killed_host and s[0] <= killed_at_ns <= s[1]]
        if held:
            after = [s[0] for s in spans if s[2] != killed_host and s[0] >= killed_at_ns]
            if after:
                delays.append((min(after) - killed_at_ns) / 1e9)
    return delays


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--driver", choices=["lease", "file"], default="lease")
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--names", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--kill-at", type=float, default=20)
    parser.add_argument("--fire-timeout", type=int, default=10)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url")
    parser.add_argument("--names-json")
    parser.add_argument("--witness")
    parser.add_argument("--log")
    parser.add_argument("--host")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    leased = os.environ.get("LEASED_BIN", os.path.join(ROOT, "target/release/leased"))
    lease = os.environ.get("LEASE_BIN", os.path.join(ROOT, "target/release/lease"))
    os.makedirs(os.path.join(ROOT, "target/tmp"), exist_ok=True)
    scratch = tempfile.mkdtemp(dir=os.path.join(ROOT, "target/tmp"), prefix="cinder-run.")
    names = [f"cinder-{uuid.uuid4()}-delete_volume" for _ in range(args.names)]
    witness = os.path.join(scratch, "witness")
    with open(witness, "wb") as f:
        f.write(b"\0" * SECTOR * args.names)
    log = os.path.join(scratch, "holds.log")
    daemons, workers = {}, []
    hosts = args.hosts if args.driver == "lease" else 1
    try:
        if args.driver == "lease":
            image = os.path.join(scratch, "leases.img")
            with open(image, "wb") as f:
                f.truncate((args.names + 8) << 20)
            subprocess.run([lease, "direct", "init", "-s", f"cinder:0:{image}:0",
                            "--io-timeout", "1"], check=True, capture_output=True)
            for host in range(1, hosts + 1):
                run_dir = os.path.join(scratch, f"run{host}")
                daemons[host] = (run_dir, subprocess.Popen(
                    [leased, "--run-dir", run_dir, "--state-dir",
                     os.path.join(scratch, f"state{host}"), "--host-name", f"host{host}",
                     "--watchdog", "none", "--watchdog-fire-timeout", str(args.fire_timeout)],
                    stderr=open(os.path.join(scratch, f"leased{host}.log"), "wb")))
            for host, (run_dir, _) in daemons.items():
                env = dict(os.environ, LEASED_RUN_DIR=run_dir)
                for _ in range(150):
                    if subprocess.run([lease, "status"], env=env,
                                      capture_output=True).returncode == 0:
                        break
                    time.sleep(0.1)
                subprocess.run([lease, "add-lockspace", "-s", f"cinder:{host}:{image}:0",
                                "--wait"], env=env, check=True, capture_output=True)
            subprocess.run([lease, "index", "format", "cinder"], check=True, capture_output=True,
                           env=dict(os.environ, LEASED_RUN_DIR=daemons[1][0]))
            url_of = lambda host: f"lease://{daemons[host][0]}?lockspace=cinder"  # noqa: E731
        else:
            locks = os.path.join(scratch, "locks")
            os.makedirs(locks)
            url_of = lambda host: f"file://{locks}"  # noqa: E731
        per_host = args.workers if args.driver == "lease" else args.workers * args.hosts
        for host in range(1, hosts + 1):
            for n in range(per_host):
                workers.append((host, subprocess.Popen(
                    [sys.executable, __file__, "--worker", "--url", url_of(host),
                     "--names-json", json.dumps(names), "--witness", witness, "--log", log,
                     "--host", str(host), "--seed", str(host * 100 + n),
                     "--seconds", str(args.seconds)],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)))
        started = time.monotonic()
        killed_host, killed_at_ns = None, None
        if args.driver == "lease" and hosts > 1:
            time.sleep(args.kill_at)
            killed_host = str(hosts)
            killed_at_ns = time.monotonic_ns()
            daemons[hosts][1].kill()
            for host, proc in workers:
                if host == hosts:
                    os.killpg(proc.pid, signal.SIGKILL)
        results = []
        for host, proc in workers:
            out, err = proc.communicate()
            if str(host) == killed_host:
                continue
            if proc.returncode != 0:
                raise SystemExit(f"a worker of host {host} failed:\n{err.decode()}")
            results.append(json.loads(out))
        elapsed = time.monotonic() - started
        found, intervals = overlaps(log, killed_host, killed_at_ns or 0)
        waits = [w for r in results for w in r["waits"]]
        waits.sort()
        report = {
            "driver": args.driver,
            "hosts": hosts,
            "workers": len(workers),
            "names": args.names,
            "seconds": round(elapsed, 1),
            "holds": sum(r["holds"] for r in results),
            # Over the longest worker's own run (one blocked on a dead
            # host's lock runs past SECONDS).
            "locks_per_s": round(sum(r["holds"] for r in results)
                                 / max(r["elapsed"] for r in results), 1),
            "wait_ms": {"p50": round(statistics.median(waits) * 1000, 2),
                        "p99": round(waits[int(0.99 * (len(waits) - 1))] * 1000, 2)},
            "witness_violations": [v for r in results for v in r["violations"]][:5],
            "overlaps": len(found),
        }
        if killed_host:
            delays = takeovers(intervals, killed_host, killed_at_ns)
            report["killed_host"] = int(killed_host)
            report["taken_after_kill_s"] = {
                "n": len(delays),
                "min": round(min(delays), 1) if delays else None,
                "max": round(max(delays), 1) if delays else None,
            }
        print(json.dumps(report))
    finally:
        for _, proc in workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        for _, proc in daemons.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
        if os.environ.get("KEEP") != "1":
            shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
