"""The client against a real leased: operations, leases of processes, errors."""

import multiprocessing
import os
import shutil
import socket
import struct
import subprocess
from typing import Optional

import pytest

import helpers
from cluster import LOCKSPACE, Leased, wait_for
from conftest import Cluster
from lease_client import (
    BadFrameError,
    BadRequestError,
    Client,
    ExistsError,
    FrameTooLargeError,
    LeaseConnectionError,
    LeaseError,
    NotFoundError,
    ProtocolError,
    RefusedError,
    UnknownCommandError,
    UnsupportedVersionError,
    protocol,
)
from lease_client.errors import DAEMON_CODES, error_for

SPAWN = multiprocessing.get_context("spawn")


def held_specs(client: Client) -> set:
    """The resources this process holds, as ``ls:rN`` names."""
    leases = client.inquire(pid=os.getpid())
    return {f"{lease['lockspace']}:{lease['resource']}" for lease in leases}


def acquired(client: Client, spec: str) -> Optional[bool]:
    """True once ``spec`` is acquired; None while another process holds it."""
    try:
        client.acquire([spec])
        return True
    except ExistsError:
        return None


def test_version_names_the_protocol_and_host(client: Client, cluster: Cluster) -> None:
    version = client.version()
    assert version["protocol"] == protocol.PROTOCOL_VERSION
    assert version["host_name"] == cluster.host.host_name
    assert version["version"]


def test_status_and_hosts_show_the_joined_lockspace(client: Client) -> None:
    (lockspace,) = client.status()["lockspaces"]
    assert (lockspace["name"], lockspace["host_id"], lockspace["state"]) == (LOCKSPACE, 1, "joined")
    hosts = client.hosts(LOCKSPACE)["hosts"]
    assert [(h["host_id"], h["local"]) for h in hosts] == [(1, True)]


def test_acquire_and_release_are_this_processs(client: Client, cluster: Cluster) -> None:
    spec = cluster.file.spec(1)
    (lease,) = client.acquire([spec])
    assert (lease["resource"], lease["mode"], lease["pid"]) == ("r1", "EX", os.getpid())
    assert held_specs(client) == {"ls:r1"}
    (released,) = client.release([spec])
    assert released["resource"] == "r1"
    assert held_specs(client) == set()


def test_a_lease_is_released_when_its_block_ends_even_by_an_exception(
    client: Client, cluster: Cluster
) -> None:
    spec = cluster.file.spec(2)
    with pytest.raises(KeyError):
        with client.lease(spec) as lease:
            assert lease.held and lease.leases[0]["resource"] == "r2"
            assert held_specs(client) == {"ls:r2"}
            raise KeyError("leave the block")
    assert not lease.held
    assert held_specs(client) == set()


def test_another_process_is_refused_while_held_and_served_after(
    client: Client, cluster: Cluster
) -> None:
    spec = cluster.file.spec(1)
    with SPAWN.Pool(1) as pool:
        with client.lease(spec):
            assert pool.apply(helpers.try_acquire, (cluster.host.run_dir, spec)) == "exists"
        assert pool.apply(helpers.try_acquire, (cluster.host.run_dir, spec)) == "ok"


def test_a_lease_is_freed_when_its_process_dies(client: Client, cluster: Cluster) -> None:
    spec = cluster.file.spec(3)
    ours, theirs = SPAWN.Pipe()
    holder = SPAWN.Process(target=helpers.hold, args=(cluster.host.run_dir, spec, False, theirs))
    holder.start()
    assert ours.recv() == "held"
    with pytest.raises(ExistsError, match=f"pid {holder.pid}"):
        client.acquire([spec])
    holder.kill()
    holder.join()
    assert wait_for("the dead holder's lease freed", lambda: acquired(client, spec))
    assert held_specs(client) == {"ls:r3"}


def test_a_persistent_lease_outlives_its_process_and_is_adopted(
    client: Client, cluster: Cluster
) -> None:
    spec = cluster.file.spec(4)
    ours, theirs = SPAWN.Pipe()
    holder = SPAWN.Process(target=helpers.hold, args=(cluster.host.run_dir, spec, True, theirs))
    holder.start()
    assert ours.recv() == "held"
    ours.send("exit")
    holder.join()

    def orphaned() -> Optional[bool]:
        leases = client.status()["leases"]
        return True if [(x["resource"], x["pid"]) for x in leases] == [("r4", None)] else None

    assert wait_for("the lease kept as an orphan", orphaned)
    with pytest.raises(ExistsError):
        client.acquire([spec])
    (adopted,) = client.acquire([spec], adopt=True)
    assert (adopted["resource"], adopted["pid"]) == ("r4", os.getpid())
    assert held_specs(client) == {"ls:r4"}


def test_a_lease_for_a_child_is_bound_to_the_child(client: Client, cluster: Cluster) -> None:
    spec = cluster.file.spec(5)
    child = subprocess.Popen(["sleep", "600"])
    try:
        (lease,) = client.acquire([spec], pid=child.pid)
        assert lease["pid"] == child.pid
        assert [x["resource"] for x in client.inquire(pid=child.pid)] == ["r5"]
        assert held_specs(client) == set()
    finally:
        child.kill()
        child.wait()
    assert wait_for("the dead child's lease freed", lambda: acquired(client, spec))


def test_convert_switches_the_mode(client: Client, cluster: Cluster) -> None:
    spec = cluster.file.spec(6)
    client.acquire([spec])
    (lease,) = client.convert(spec, "SH")
    assert lease["mode"] == "SH"
    assert [x["mode"] for x in client.inquire(pid=os.getpid())] == ["SH"]
    client.release([spec])


def test_request_on_a_free_resource_names_no_owner(client: Client, cluster: Cluster) -> None:
    assert client.request(cluster.file.spec(6), "graceful") == {"owner_id": None}


def test_errors_carry_the_daemons_code(client: Client, cluster: Cluster) -> None:
    spec = cluster.file.spec(1)
    with pytest.raises(NotFoundError) as not_held:
        client.release([spec])
    assert not_held.value.code == "not_found" and "not held" in not_held.value.message
    with pytest.raises(NotFoundError):
        client.hosts("nope")
    with pytest.raises(BadRequestError):
        client.acquire(["not a spec"])
    with pytest.raises(UnknownCommandError):
        client.call("launch_missiles")
    client.acquire([spec])
    with pytest.raises(ExistsError):
        client.acquire([spec])
    assert held_specs(client) == {"ls:r1"}, "a refused acquire leaves the held lease alone"


def test_another_host_is_refused(client: Client, cluster: Cluster, binaries) -> None:
    other = Leased(*binaries, cluster.directory, "h2")
    try:
        other.join(cluster.file.lockspace(2))
        spec = cluster.file.spec(2)
        client.acquire([spec])
        with other.client() as theirs:
            with pytest.raises(RefusedError):
                theirs.acquire([spec])
            client.release([spec])
            (lease,) = theirs.acquire([spec])
            assert lease["mode"] == "EX"
            theirs.release([spec])
    finally:
        other.stop()


def raw_exchange(run_dir: str, frame: bytes) -> bytes:
    """Sends raw bytes on a new connection; the reply's body."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(os.path.join(run_dir, "leased.sock"))
        sock.sendall(frame)
        header = sock.recv(4, socket.MSG_WAITALL)
        return sock.recv(protocol.frame_length(header), socket.MSG_WAITALL)


def framed(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


@pytest.mark.parametrize(
    "frame,expected",
    [
        (framed(b"\x00\xffgarbage"), BadFrameError),
        (framed(b'{"v":2,"id":0,"op":"status"}'), UnsupportedVersionError),
        (framed(b'{"v":1,"id":0,"op":"acquire","args":{"resource":["x"]}}'), BadRequestError),
        (struct.pack(">I", 16 << 20), FrameTooLargeError),
    ],
)
def test_bad_frames_are_told_apart(cluster: Cluster, frame: bytes, expected: type) -> None:
    with pytest.raises(expected):
        protocol.decode_reply(raw_exchange(cluster.host.run_dir, frame), 0)


def test_bad_input_is_refused_before_it_is_sent(client: Client) -> None:
    with pytest.raises(TypeError):
        client.acquire([42])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        Client("/x/leased.sock", run_dir="/x")
    assert client.version()["protocol"] == 1, "the connection is still in step"


def test_an_unreachable_daemon_is_a_connection_error(tmp_path) -> None:
    with pytest.raises(LeaseConnectionError) as err:
        Client(run_dir=str(tmp_path))
    assert err.value.code == "unreachable"
    assert str(tmp_path) in err.value.message


def test_a_lost_daemon_is_a_connection_error(binaries) -> None:
    from conftest import start_cluster

    lost = start_cluster(binaries, resources=1)
    try:
        client = lost.host.client()
        lost.host.process.kill()
        lost.host.process.wait()
        with pytest.raises(LeaseConnectionError):
            client.version()
        with pytest.raises(LeaseConnectionError):
            client.version()
    finally:
        lost.host.stop()
        shutil.rmtree(lost.directory, ignore_errors=True)


def test_every_code_has_its_class() -> None:
    assert len(DAEMON_CODES) == 15
    for code in DAEMON_CODES:
        err = error_for(code, "why")
        assert type(err) is not LeaseError and err.code == code and err.message == "why"
    newer = error_for("some_new_code", "why")
    assert type(newer) is LeaseError and newer.code == "some_new_code"


def test_replies_are_checked() -> None:
    with pytest.raises(ProtocolError):
        protocol.decode_reply(b"[]", 1)
    with pytest.raises(ProtocolError, match="request 2 for request 1"):
        protocol.decode_reply(b'{"v":1,"id":2,"ok":true,"result":{}}', 1)
    with pytest.raises(ProtocolError):
        protocol.decode_reply(b'{"v":1,"id":1,"ok":true}', 1)
    with pytest.raises(ProtocolError):
        protocol.frame_length(struct.pack(">I", protocol.MAX_REPLY_BYTES + 1))
    assert protocol.decode_reply(b'{"v":1,"id":1,"ok":true,"result":{"a":1}}', 1) == {"a": 1}
