"""The tooz driver: its URL, what it offers and refuses, and locks on a real leased.

Needs tooz (``tools/tooz-suite`` installs it in target/tooz-venv); skipped
without it. tooz's own TestAPI is run by ``tools/tooz-suite``.
"""

import multiprocessing
import os
import urllib.parse
from typing import Iterator

import pytest

tooz = pytest.importorskip(
    "tooz", reason="skipped: tooz is not installed (tools/tooz-suite installs it in a venv)"
)

from tooz import coordination  # noqa: E402

import helpers  # noqa: E402
from cluster import LOCKSPACE  # noqa: E402
from conftest import Cluster  # noqa: E402
from lease_client import Client  # noqa: E402
from lease_client.client import Resource  # noqa: E402
from lease_client.tooz_driver import LeaseDriver  # noqa: E402

SPAWN = multiprocessing.get_context("spawn")


def driver(url: str, member_id=b"member", cls=LeaseDriver) -> LeaseDriver:
    """A driver as get_coordinator makes one, without the entry point."""
    parsed = urllib.parse.urlsplit(url)
    return cls(member_id, parsed, urllib.parse.parse_qs(parsed.query))


class SpecDriver(LeaseDriver):
    """The driver over spec resources r1..r6 (lock names b"1".."6"), for a
    daemon without a name index."""

    spec_of: dict = {}

    def resource_for(self, index_name: str, shared: bool) -> Resource:
        return self.spec_of[index_name] + (":SH" if shared else "")


@pytest.fixture
def url(cluster: Cluster) -> str:
    return f"lease://{cluster.host.run_dir}?lockspace={LOCKSPACE}"


@pytest.fixture
def spec_coordinators(cluster: Cluster, url: str, client: Client) -> Iterator[list]:
    SpecDriver.spec_of = {str(r): cluster.file.spec(r) for r in range(1, 7)}
    started = [driver(url, f"m{n}".encode(), SpecDriver) for n in range(2)]
    for coordinator in started:
        coordinator.start()
    yield started
    for coordinator in started:
        if coordinator.is_started:
            coordinator.stop()


def test_the_url_names_the_run_dir_and_lockspace(monkeypatch) -> None:
    coordinator = driver("lease:///srv/leased?lockspace=cinder", "str-member")
    assert (coordinator.run_dir, coordinator.lockspace) == ("/srv/leased", "cinder")
    monkeypatch.setenv("LEASED_RUN_DIR", "/elsewhere")
    assert driver("lease://?lockspace=cinder").run_dir == "/elsewhere"
    with pytest.raises(tooz.ToozError, match="names its lockspace"):
        driver("lease:///srv/leased").start()


def test_start_fails_fast_without_a_daemon_or_lockspace(tmp_path, url: str) -> None:
    with pytest.raises(coordination.ToozConnectionError):
        driver("lease://localhost:1/f00").start()
    with pytest.raises(coordination.ToozConnectionError):
        driver(f"lease://{tmp_path}?lockspace=ls").start()
    not_joined = driver(url.replace(f"lockspace={LOCKSPACE}", "lockspace=other"))
    with pytest.raises(tooz.ToozError, match="not joined") as err:
        not_joined.start()
    assert not isinstance(err.value, coordination.ToozConnectionError)
    assert not not_joined.is_started


def test_only_what_is_guaranteed_is_declared(url: str) -> None:
    declared = set(LeaseDriver.CHARACTERISTICS)
    assert coordination.Characteristics.DISTRIBUTED_ACROSS_HOSTS in declared
    assert coordination.Characteristics.NON_TIMEOUT_BASED not in declared
    assert not driver(url).requires_beating, "the daemon renews; no heartbeat is needed"


def test_the_entry_point_loads_the_driver(url: str) -> None:
    from importlib.metadata import entry_points

    if not any(ep.name == "lease" for ep in entry_points(group="tooz.backends")):
        pytest.skip("skipped: lease-client is not installed, so its entry point is not there")
    wanted = [coordination.Characteristics.DISTRIBUTED_ACROSS_PROCESSES]
    loaded = coordination.get_coordinator(url, b"m", characteristics=wanted)
    assert type(loaded) is LeaseDriver and loaded.lockspace == LOCKSPACE
    with pytest.raises(coordination.ToozDriverChosenPoorly):
        coordination.get_coordinator(
            url, b"m", characteristics=[coordination.Characteristics.NON_TIMEOUT_BASED]
        )


def test_groups_watchers_leaders_and_break_are_not_offered(url: str) -> None:
    coordinator = driver(url)
    coordinator.start()
    try:
        for call in (
            lambda: coordinator.create_group(b"g"),
            lambda: coordinator.join_group(b"g"),
            lambda: coordinator.watch_join_group(b"g", print),
            lambda: coordinator.watch_elected_as_leader(b"g", print),
            lambda: coordinator.get_leader(b"g"),
            lambda: coordinator.get_lock(b"x").break_(),
        ):
            with pytest.raises(tooz.NotImplemented):
                call()
    finally:
        coordinator.stop()


def test_lock_names_go_to_the_index_encoded(url: str) -> None:
    coordinator = driver(url)
    assert coordinator.resource_for(coordinator.index_name(b"\xffvol"), True) == {
        "lockspace": LOCKSPACE,
        "name": "~b64:_3ZvbA==",
        "shared": True,
        "create": True,
    }
    assert coordinator.get_lock(b"cinder-vol").name == b"cinder-vol"


def test_locks_of_two_coordinators_exclude_each_other(spec_coordinators: list) -> None:
    first, second = (c.get_lock(b"1") for c in spec_coordinators)
    assert first.acquire(blocking=False)
    assert not second.acquire(blocking=False)
    with pytest.raises(coordination.LockAcquireFailed):
        with second(False):
            pass
    assert not second.release()
    assert first.release()
    with second:
        assert not first.acquire(blocking=0.1)


def test_stop_releases_what_the_coordinator_holds(
    spec_coordinators: list, cluster: Cluster
) -> None:
    coordinator = spec_coordinators[0]
    exclusive, shared = coordinator.get_lock(b"2"), coordinator.get_lock(b"3")
    assert exclusive.acquire()
    assert shared.acquire(shared=True) and shared.acquire(shared=True)
    coordinator.stop()
    with SPAWN.Pool(1) as pool:
        for r in (2, 3):
            spec = cluster.file.spec(r)
            assert pool.apply(helpers.try_acquire, (cluster.host.run_dir, spec)) == "ok"
    assert not exclusive.release()


def test_named_locks_end_to_end(url: str, client: Client) -> None:
    probe = {"lockspace": LOCKSPACE, "name": "probe", "shared": False, "create": True}
    try:
        client.acquire([probe])
        client.release([probe])
    except Exception as err:  # a daemon without a name index refuses the object
        pytest.skip(f"skipped: leased does not take named resources here ({err})")
    coordinators = [driver(url, f"n{n}".encode()) for n in range(2)]
    for coordinator in coordinators:
        coordinator.start()
    try:
        name = b"cinder-" + os.urandom(8).hex().encode() + b"-delete_volume\xff" * 4
        first, second = (c.get_lock(name) for c in coordinators)
        assert first.acquire(blocking=False)
        assert not second.acquire(blocking=False)
        with SPAWN.Pool(1) as pool:
            assert not pool.apply(helpers.try_tooz_lock, (url, name))
            assert first.release()
            assert pool.apply(helpers.try_tooz_lock, (url, name))
        assert second.acquire(shared=True) and first.acquire(shared=True, blocking=False)
        assert second.release() and first.release()
    finally:
        for coordinator in coordinators:
            coordinator.stop()
