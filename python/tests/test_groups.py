"""Groups against real leased daemons: members held by processes on two
hosts, their capabilities, watches pushed by the daemon, times to live,
leaders, and members whose process exits or whose host is declared DEAD."""

import multiprocessing
import os
import shutil
import time
import uuid
from typing import Any, Dict, Iterator, List, NamedTuple

import pytest

import helpers
from cluster import LeaseFile, Leased, scratch_dir, wait_for
from lease_client import (
    BadRequestError,
    Client,
    ExistsError,
    GroupWatch,
    LimitError,
    NotFoundError,
    RefusedError,
    RetryError,
)

SPAWN = multiprocessing.get_context("spawn")
#: The watchdog fire timeout of the second host: its death is declared
#: 8 io_timeouts and this after its last renewal.
FIRE_S = "4"


class Hosts(NamedTuple):
    directory: str
    file: LeaseFile
    h1: Leased
    h2: Leased


@pytest.fixture(scope="module")
def hosts(binaries) -> Iterator[Hosts]:
    """Hosts h1 and h2 joined to lockspace ``ls``, with a name index."""
    directory = scratch_dir()
    leased, lease = binaries
    file = LeaseFile(lease, directory, 0)
    # Room for the name index and a lease per group, member and leader.
    os.truncate(file.path, 128 << 20)
    fire = ["--watchdog-fire-timeout", FIRE_S]
    h1 = Leased(leased, lease, directory, "h1", fire)
    h2 = Leased(leased, lease, directory, "h2", fire)
    try:
        h1.join(file.lockspace(1))
        h2.join(file.lockspace(2))
        h1.lease("index", "format", "ls")
        yield Hosts(directory, file, h1, h2)
    finally:
        h1.stop()
        h2.stop()
        shutil.rmtree(directory, ignore_errors=True)


def new_group(client: Client) -> str:
    group = f"g-{uuid.uuid4()}"
    client.group_create("ls", group)
    return group


def members(client: Client, group: str) -> Dict[str, Any]:
    return {m["member"]: m for m in client.group_members("ls", group)["members"]}


def events_until(watch: GroupWatch, count: int, limit_s: float = 10.0) -> List[Dict[str, Any]]:
    """The watch's events, waiting until ``count`` came."""
    got: List[Dict[str, Any]] = []
    deadline = time.monotonic() + limit_s
    while len(got) < count and time.monotonic() < deadline:
        got.extend(watch.events(timeout=0.1))
    return got


def start_member(run_dir: str, group: str, member: str, capabilities: Any):
    ours, theirs = SPAWN.Pipe()
    child = SPAWN.Process(target=helpers.join_group, args=(run_dir, group, member, capabilities, theirs))
    child.start()
    assert ours.recv() == "joined"
    return child, ours


def test_a_member_on_another_host_is_seen_and_leaves_when_its_process_exits(hosts: Hosts) -> None:
    one, two = hosts.h1.client(), hosts.h2.client()
    group = new_group(one)
    with one.watch_group("ls", group) as watch:
        assert watch.initial["members"] == []
        capabilities = {"role": "volume", "abilities": ["fight", 1, None]}
        child, _ = start_member(hosts.h2.run_dir, group, "worker-2", capabilities)
        seen = members(one, group)
        assert seen["worker-2"]["capabilities"] == capabilities
        assert seen["worker-2"]["host_id"] == 2
        # Pushed by h1 from its reading of the disk: no call of ours asks.
        assert events_until(watch, 1) == [{"event": "joined", "group": group, "member": "worker-2"}]
        child.kill()
        child.join()
        assert events_until(watch, 1) == [{"event": "left", "group": group, "member": "worker-2"}]
        assert members(one, group) == {}
        assert members(two, group) == {}


def test_changes_made_here_are_pushed_before_the_call_returns(hosts: Hosts) -> None:
    one = hosts.h1.client()
    group = new_group(one)
    with one.watch_group("ls", group) as watch:
        one.group_join("ls", group, "me", {"v": 1})
        assert watch.events() == [{"event": "joined", "group": group, "member": "me"}]
        assert one.group_elect("ls", group, "me") == {"elected": True, "leader": "me"}
        assert watch.events() == [{"event": "leader", "group": group, "leader": "me"}]
        one.group_update("ls", group, "me", {"v": 2})
        assert members(one, group)["me"]["capabilities"] == {"v": 2}
        one.group_stand_down("ls", group, "me")
        one.group_leave("ls", group, "me")
        assert watch.events() == [
            {"event": "leader", "group": group, "leader": None},
            {"event": "left", "group": group, "member": "me"},
        ]
        one.group_delete("ls", group)
        assert events_until(watch, 1) == [{"event": "deleted", "group": group}]
        assert not watch.open or watch.events(timeout=1.0) == []
    assert group not in one.group_list("ls")


def test_one_member_id_is_one_member_and_only_its_process_makes_it_leave(hosts: Hosts) -> None:
    one, two = hosts.h1.client(), hosts.h2.client()
    group = new_group(one)
    child, pipe = start_member(hosts.h1.run_dir, group, "m", None)
    with pytest.raises(ExistsError):
        one.group_join("ls", group, "m")
    with pytest.raises(ExistsError):
        two.group_join("ls", group, "m")
    with pytest.raises(RefusedError, match=f"process {child.pid}"):
        one.group_leave("ls", group, "m")
    with pytest.raises(RefusedError, match="host 1"):
        two.group_leave("ls", group, "m")
    with pytest.raises(RefusedError, match="1 members"):
        two.group_delete("ls", group)
    pipe.send("exit")
    child.join()
    wait_for("the exited member gone", lambda: members(two, group) == {} or None)
    two.group_join("ls", group, "m")
    assert members(one, group)["m"]["host_id"] == 2
    two.group_leave("ls", group, "m")
    two.group_delete("ls", group)


def test_a_member_with_a_time_to_live_leaves_without_heartbeats(hosts: Hosts) -> None:
    one = hosts.h1.client()
    group = new_group(one)
    with one.watch_group("ls", group) as watch:
        one.group_join("ls", group, "kept", None, ttl_ms=1500)
        one.group_join("ls", group, "lapsed", None, ttl_ms=1500)
        assert len(events_until(watch, 2)) == 2
        for _ in range(4):
            time.sleep(0.5)
            assert one.group_heartbeat("ls", "kept") == 1
        assert set(members(one, group)) == {"kept"}
        assert watch.events() == [{"event": "left", "group": group, "member": "lapsed"}]
        with pytest.raises(NotFoundError):
            one.group_leave("ls", group, "lapsed")
        one.group_leave("ls", group, "kept")


def test_the_leader_is_one_process_until_it_stands_down_or_exits(hosts: Hosts) -> None:
    one, two = hosts.h1.client(), hosts.h2.client()
    group = new_group(one)
    ours, theirs = SPAWN.Pipe()
    child = SPAWN.Process(target=helpers.elect, args=(hosts.h2.run_dir, group, "first", theirs))
    child.start()
    assert ours.recv() is True
    assert one.group_elect("ls", group, "second") == {"elected": False, "leader": "first"}
    with pytest.raises(NotFoundError):
        two.group_stand_down("ls", group, "first")
    child.kill()
    child.join()
    elected = wait_for("the exited leader's lease freed",
                       lambda: one.group_elect("ls", group, "second")["elected"] or None)
    assert elected
    assert two.group_members("ls", group)["leader"] == "second"
    one.group_stand_down("ls", group, "second")
    assert two.group_members("ls", group)["leader"] is None


def test_bad_input_is_refused_and_changes_nothing(hosts: Hosts) -> None:
    one = hosts.h1.client()
    group = new_group(one)
    with open(hosts.file.path, "rb") as image:
        before = image.read()
    with pytest.raises(ExistsError):
        one.group_create("ls", group)
    with pytest.raises(NotFoundError):
        one.group_join("ls", "no-such-group", "m")
    with pytest.raises(NotFoundError):
        one.group_members("ls", "no-such-group")
    with pytest.raises(NotFoundError):
        one.group_delete("ls", "no-such-group")
    with pytest.raises(NotFoundError):
        one.watch_group("ls", "no-such-group")
    with pytest.raises(NotFoundError):
        one.group_leave("ls", group, "never-joined")
    for bad in ("", "a\0b", "x" * 257):
        with pytest.raises(BadRequestError):
            one.group_create("ls", bad)
        with pytest.raises(BadRequestError):
            one.group_join("ls", group, bad)
    with pytest.raises(LimitError):
        one.group_join("ls", group, "big", {"blob": "x" * 5000})
    with pytest.raises(BadRequestError, match="belong to groups"):
        one.acquire([{"lockspace": "ls", "name": f"#group:{group}", "create": True}])
    with open(hosts.file.path, "rb") as image:
        assert image.read() == before
    one.group_delete("ls", group)


def test_a_member_whose_host_is_dead_leaves_by_itself(hosts: Hosts, binaries) -> None:
    one = hosts.h1.client()
    group = new_group(one)
    leased, lease = binaries
    doomed = Leased(leased, lease, hosts.directory, "h3", ["--watchdog-fire-timeout", FIRE_S])
    try:
        doomed.join(hosts.file.lockspace(3))
        start_member(doomed.run_dir, group, "on-h3", None)
        with one.watch_group("ls", group) as watch:
            assert [m["member"] for m in watch.initial["members"]] == ["on-h3"]
            doomed.process.kill()
            doomed.process.wait()
            # Still a member while h3 may be alive: 8 io_timeouts and the
            # fire timeout after its last renewal, it is DEAD.
            assert "on-h3" in members(one, group)
            left = events_until(watch, 1, limit_s=60.0)
            assert left == [{"event": "left", "group": group, "member": "on-h3"}]
            assert one.hosts("ls") is not None
            dead = [h for h in one.hosts("ls")["hosts"] if h["host_id"] == 3]
            assert dead and dead[0]["state"] == "DEAD"
    finally:
        doomed.stop()


def test_nobody_leads_as_another_processes_member_or_takes_a_group_lease_by_spec(
    hosts: Hosts,
) -> None:
    one, two = hosts.h1.client(), hosts.h2.client()
    group = new_group(one)
    one.group_join("ls", group, "alice")
    with pytest.raises(RefusedError, match="another process"):
        two.group_elect("ls", group, "alice")
    assert one.group_elect("ls", group, "alice")["elected"]
    with pytest.raises(RefusedError, match="a leader"):
        one.group_leave("ls", group, "alice") and one.group_delete("ls", group)
    assert one.group_elect("ls", group, "other") == {"elected": False, "leader": "alice"}
    one.group_stand_down("ls", group, "alice")
    # The other way round: an id that leads from one process joins from no other.
    other = new_group(one)
    assert one.group_elect("ls", other, "bob")["elected"]
    with pytest.raises(ExistsError, match="leads group"):
        two.group_join("ls", other, "bob")
    one.group_stand_down("ls", other, "bob")
    one.group_delete("ls", other)
    listed = {n["name"]: n for n in one.call("index_list", {"lockspace": "ls"})["names"]}
    entry = listed[f"#group:{group}"]
    with pytest.raises(BadRequestError, match="group's lease"):
        two.acquire([f"ls:{entry['stored']}:{entry['path']}:{entry['offset']}"])
    one.group_delete("ls", group)


def test_a_record_write_that_timed_out_never_lands_over_the_next_holders(
    hosts: Hosts, binaries
) -> None:
    """h4 stalls every group record write (4 KiB at 512-byte sectors) for
    3 s, past its 1 s io_timeout: its join fails, and the member's lease
    is released only once the stalled write has landed, so the record h2
    writes when it joins next is the one that stays."""
    two = hosts.h2.client()
    group = new_group(two)
    leased, lease = binaries
    faults = {"LEASED_TEST_FAULTS": "write_stall_permille=1000,stall_ms=3000,write_len=4096"}
    fire = ["--watchdog-fire-timeout", FIRE_S]
    stalling = Leased(leased, lease, hosts.directory, "h4", fire, faults)
    try:
        stalling.join(hosts.file.lockspace(4))
        with pytest.raises(RetryError, match="did not complete by its deadline"):
            stalling.client().group_join("ls", group, "m", {"host": 3})
        joined = wait_for("h2 joins once h3 let go", lambda: try_join(two, group, "m"), 15.0)
        assert joined
        time.sleep(4)  # past the stalled write, wherever it went
        assert members(two, group)["m"]["capabilities"] == {"host": 2}
        two.group_leave("ls", group, "m")
        two.group_delete("ls", group)
    finally:
        stalling.stop()


def try_join(client: Client, group: str, member: str):
    try:
        client.group_join("ls", group, member, {"host": 2})
        return True
    except (ExistsError, RetryError):
        return None
