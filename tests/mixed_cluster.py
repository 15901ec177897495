#!/usr/bin/python3
"""A client of one host of tests/mixed_cluster.rs, speaking sanlock's
protocol through python3-sanlock to the daemon of $SANLOCK_RUN_DIR (a real
sanlock or leased: the script cannot tell them apart, which is the point).

    mixed_cluster.py write-lockspace PATH IO_TIMEOUT
    mixed_cluster.py write-resources PATH COUNT NUM_HOSTS
    mixed_cluster.py join HOST_ID PATH IO_TIMEOUT
    mixed_cluster.py hosts                 # "host_id flags" lines
    mixed_cluster.py hold NAME PATH OFFSET # "acquired" or "error N"; a line
                                           # on stdin releases: "released"
    mixed_cluster.py contend PATH COUNT SECONDS WITNESS_DIR HOST SEED
    mixed_cluster.py listen SECONDS        # "registered", then the first
                                           # host event as a JSON line
    mixed_cluster.py set-event HOST_ID GENERATION EVENT DATA FLAGS
                                           # "ok" or "error N"

`contend` loops for SECONDS: pick one of resources r1..rCOUNT (r<i> at i
MiB) at random, acquire it (a busy answer is retried after a short random
pause), append "begin HOST PID LVER NS" to WITNESS_DIR/r<i>, hold it a few
ms, append "end HOST PID LVER NS", release it. NS is CLOCK_MONOTONIC in
nanoseconds, one clock for every host of the test since they share one
machine; "begin" is written after the acquire returned and "end" before the
release is sent, so each witnessed interval lies inside a real hold. While
it holds, the client also reads the witness and counts any other holder
with a "begin" and no "end" as a violation. At the end it prints one JSON
line: holds per resource, errors by errno, violations.
"""

import collections
import errno
import json
import os
import random
import select
import sys
import time

import sanlock

LOCKSPACE = b"ls"
MIB = 1 << 20

# Answers that mean "busy, try again": the lease is held by a live host
# (SANLK_ACQUIRE_IDLIVE -243), by another process of this host (EEXIST,
# EBUSY), or a ballot was lost or overtaken (EAGAIN, SANLK_DBLOCK_LVER
# -212, SANLK_DBLOCK_MBAL -213, SANLK_ACQUIRE_OWNED -244,
# SANLK_ACQUIRE_OTHER -245, SANLK_ACQUIRE_OWNED_RETRY -247). The module
# gives sanlock's own codes negative and errno values positive.
BUSY = {-243, errno.EEXIST, errno.EBUSY, errno.EAGAIN, -212, -213, -244, -245, -247}


def resource(path, index):
    return f"r{index}".encode(), [(path, index * MIB)]


def lver_held(fd, name):
    for held in sanlock.inquire(slkfd=fd):
        if held["resource"] == name:
            return held["version"]
    raise RuntimeError(f"inquire does not list {name!r} just acquired")


def append(witness, line):
    fd = os.open(witness, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def others_open(witness, pid):
    """Holders other than `pid` with a "begin" and no "end" yet."""
    open_holds = set()
    with open(witness) as f:
        for line in f:
            kind, host, holder, lver, _ns = line.split()
            key = (host, holder, lver)
            if kind == "begin":
                open_holds.add(key)
            else:
                open_holds.discard(key)
    return [key for key in open_holds if key[1] != str(pid)]


def contend(path, count, seconds, witness_dir, host, seed):
    rng = random.Random(seed)
    pid = os.getpid()
    fd = sanlock.register()
    holds = collections.Counter()
    errors = collections.Counter()
    violations = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        index = rng.randint(1, count)
        name, disks = resource(path, index)
        try:
            sanlock.acquire(LOCKSPACE, name, disks, slkfd=fd)
        except sanlock.SanlockException as err:
            errors[err.errno] += 1
            if err.errno not in BUSY:
                raise
            time.sleep(rng.uniform(0.001, 0.010))
            continue
        begin_ns = time.monotonic_ns()
        lver = lver_held(fd, name)
        witness = os.path.join(witness_dir, f"r{index}")
        append(witness, f"begin {host} {pid} {lver} {begin_ns}")
        violations.extend(others_open(witness, pid))
        time.sleep(rng.uniform(0.002, 0.006))
        append(witness, f"end {host} {pid} {lver} {time.monotonic_ns()}")
        sanlock.release(LOCKSPACE, name, disks, slkfd=fd)
        holds[f"r{index}"] += 1
    print(json.dumps({"host": host, "pid": pid, "holds": holds,
                      "errors": {str(k): v for k, v in errors.items()},
                      "violations": [" ".join(v) for v in violations]}), flush=True)


def hold(name, path, offset):
    fd = sanlock.register()
    disks = [(path, offset)]
    try:
        sanlock.acquire(LOCKSPACE, name.encode(), disks, slkfd=fd)
    except sanlock.SanlockException as err:
        print("error", err.errno, flush=True)
        return
    print("acquired", flush=True)
    sys.stdin.readline()
    sanlock.release(LOCKSPACE, name.encode(), disks, slkfd=fd)
    print("released", flush=True)


def listen(seconds):
    fd = sanlock.reg_event(LOCKSPACE)
    print("registered", flush=True)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                events = sanlock.get_event(fd)
                if events:
                    print(json.dumps(events[0]), flush=True)
                    return
    finally:
        sanlock.end_event(fd, LOCKSPACE)
    print("no event", flush=True)


def set_event(host_id, generation, event, data, flags):
    try:
        sanlock.set_event(LOCKSPACE, host_id, generation, event, data, flags)
    except sanlock.SanlockException as err:
        print("error", err.errno, flush=True)
        return
    print("ok", flush=True)


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "write-lockspace":
        path, io_timeout = args
        sanlock.write_lockspace(LOCKSPACE, path, 0, iotimeout=int(io_timeout))
    elif command == "write-resources":
        path, count, num_hosts = args
        for index in range(1, int(count) + 1):
            name, disks = resource(path, index)
            sanlock.write_resource(LOCKSPACE, name, disks, num_hosts=int(num_hosts))
    elif command == "join":
        host_id, path, io_timeout = args
        sanlock.add_lockspace(LOCKSPACE, int(host_id), path, 0, iotimeout=int(io_timeout))
    elif command == "hosts":
        try:
            hosts = sanlock.get_hosts(LOCKSPACE)
        except sanlock.SanlockException:
            hosts = []  # -EAGAIN until the daemon's first look at the hosts
        for host in hosts:
            print(host["host_id"], host["flags"])
    elif command == "hold":
        name, path, offset = args
        hold(name, path, int(offset))
    elif command == "listen":
        listen(float(args[0]))
    elif command == "set-event":
        set_event(*map(int, args))
    elif command == "contend":
        path, count, seconds, witness_dir, host, seed = args
        contend(path, int(count), float(seconds), witness_dir, host, int(seed))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
