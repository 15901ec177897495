#!/usr/bin/env python3
"""Name index figures for BENCHMARKS.md: COUNT names (Cinder-shaped, 57+
bytes, so stored hashed with a full-name record) added, looked up,
acquired and released by name, and deleted, against one scratch leased;
the latency of each step and the device bytes each name takes. Then a
group: MEMBERS members joined, the group read, a leader elected and
standing down, the members leaving.

    tools/names_bench.py [COUNT]        # default 10000

LEASED_BIN and LEASE_BIN name the binaries (default target/release's);
the lease file (sparse, COUNT + 3 MiB) goes under target/tmp. Prints one
JSON line.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from lease_client import Client  # noqa: E402
from lease_client.client import named  # noqa: E402

MIB = 1 << 20


def percentiles(samples_s):
    ordered = sorted(samples_s)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50_ms": round(pick(0.5), 3), "p99_ms": round(pick(0.99), 3),
            "mean_ms": round(statistics.mean(ordered) * 1000, 3)}


def timed(samples, call):
    start = time.perf_counter()
    result = call()
    samples.append(time.perf_counter() - start)
    return result


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    leased = os.environ.get("LEASED_BIN", os.path.join(ROOT, "target/release/leased"))
    lease = os.environ.get("LEASE_BIN", os.path.join(ROOT, "target/release/lease"))
    os.makedirs(os.path.join(ROOT, "target/tmp"), exist_ok=True)
    scratch = tempfile.mkdtemp(dir=os.path.join(ROOT, "target/tmp"), prefix="names-bench.")
    image = os.path.join(scratch, "leases.img")
    with open(image, "wb") as f:
        f.truncate((count + 3) * MIB)
    env = dict(os.environ, LEASED_RUN_DIR=os.path.join(scratch, "run"))
    subprocess.run([lease, "direct", "init", "-s", f"bench:0:{image}:0", "--io-timeout", "1"],
                   check=True, capture_output=True)
    daemon = subprocess.Popen(
        [leased, "--run-dir", os.path.join(scratch, "run"), "--state-dir",
         os.path.join(scratch, "state"), "--host-name", "bench", "--watchdog", "none"],
        stderr=open(os.path.join(scratch, "leased.log"), "wb"))
    try:
        for _ in range(150):
            if subprocess.run([lease, "status"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        subprocess.run([lease, "add-lockspace", "-s", f"bench:1:{image}:0", "--wait"],
                       env=env, check=True, capture_output=True)
        subprocess.run([lease, "index", "format", "bench", "--max-names", str(count)],
                       env=env, check=True, capture_output=True)
        client = Client(run_dir=env["LEASED_RUN_DIR"])
        names = [f"cinder-{uuid.uuid4()}-delete_volume" for _ in range(count)]
        create, lookup, hold, delete = [], [], [], []
        for name in names:
            reply = timed(create, lambda: client.call(
                "index_create", {"lockspace": "bench", "name": name}))
            assert reply["created"], reply
        for name in names:
            reply = timed(lookup, lambda: client.call(
                "index_create", {"lockspace": "bench", "name": name}))
            assert not reply["created"], reply
        for name in names[: min(count, 1000)]:
            def cycle():
                client.acquire([named("bench", name)])
                client.release([named("bench", name, create=False)])
            timed(hold, cycle)
        for name in names:
            timed(delete, lambda: client.call(
                "index_delete", {"lockspace": "bench", "name": name}))
        left = client.call("index_list", {"lockspace": "bench"})["names"]
        assert not left, left
        groups = group_figures(client)
        blocks = os.stat(image).st_blocks * 512
        print(json.dumps({
            "names": count,
            "create": percentiles(create),
            "lookup": percentiles(lookup),
            "acquire_release_by_name": percentiles(hold),
            "delete": percentiles(delete),
            "device_bytes_per_name": MIB + 64,
            "file_bytes_written": blocks,
            "group": groups,
        }))
    finally:
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(scratch)


#: Members of the measured group.
MEMBERS = 100


def group_figures(client):
    """Latencies of a group's calls with MEMBERS members, all of this process."""
    client.group_create("bench", "volume-workers")
    join, read, elect, leave = [], [], [], []
    members = [f"cinder-volume-{uuid.uuid4()}" for _ in range(MEMBERS)]
    for member in members:
        timed(join, lambda: client.group_join("bench", "volume-workers", member, {"host": member}))
    for _ in range(100):
        group = timed(read, lambda: client.group_members("bench", "volume-workers"))
        assert len(group["members"]) == MEMBERS, group
    for _ in range(100):
        def cycle():
            assert client.group_elect("bench", "volume-workers", members[0])["elected"]
            client.group_stand_down("bench", "volume-workers", members[0])
        timed(elect, cycle)
    for member in members:
        timed(leave, lambda: client.group_leave("bench", "volume-workers", member))
    client.group_delete("bench", "volume-workers")
    return {"members": MEMBERS, "join": percentiles(join), "read": percentiles(read),
            "elect_and_stand_down": percentiles(elect), "leave": percentiles(leave)}


if __name__ == "__main__":
    main()
