"""ProcessLock against a real leased: exclusion per object, threads, processes."""

import multiprocessing
import os
import threading
import time

import pytest

import helpers
from cluster import Leased
from conftest import Cluster
from lease_client import Client, ProcessLock
from lease_client.locking import deadline_for

SPAWN = multiprocessing.get_context("spawn")


def lock_on(client: Client, spec: str) -> ProcessLock:
    """A lock over a spec resource (``:SH`` appended when shared)."""
    return ProcessLock(client, spec, lambda shared: spec + (":SH" if shared else ""))


def other_process_gets(cluster: Cluster, spec: str, shared: bool = False) -> bool:
    with SPAWN.Pool(1) as pool:
        return pool.apply(helpers.try_lock, (cluster.host.run_dir, spec, shared))


def modes_held(client: Client, spec: str) -> list:
    """The modes in which the daemon has ``spec`` held by this process."""
    name = spec.split(":")[1]
    return [x["mode"] for x in client.inquire(pid=os.getpid()) if x["resource"] == name]


def test_one_object_is_not_reentrant(client: Client, cluster: Cluster) -> None:
    lock = lock_on(client, cluster.file.spec(1))
    assert lock.acquire()
    assert lock.held
    assert not lock.acquire(blocking=False)
    assert lock.release()
    assert not lock.release()
    assert not lock.held
    assert modes_held(client, cluster.file.spec(1)) == []


def test_objects_of_one_name_exclude_each_other(client: Client, cluster: Cluster) -> None:
    spec = cluster.file.spec(1)
    first, second = lock_on(client, spec), lock_on(client, spec)
    with cluster.host.client() as another_client:
        third = lock_on(another_client, spec)
        assert first.acquire(blocking=False)
        assert not second.acquire(blocking=False)
        assert not third.acquire(blocking=False)
        assert not second.release(), "a non-holder's release is refused"
        assert modes_held(client, spec) == ["EX"], "and frees nothing"
        assert first.release()
        assert third.acquire(blocking=False)
        assert third.release()


def test_a_timed_acquire_gives_up_at_its_deadline(client: Client, cluster: Cluster) -> None:
    spec = cluster.file.spec(2)
    holder, waiter = lock_on(client, spec), lock_on(client, spec)
    assert holder.acquire()
    started = time.monotonic()
    assert not waiter.acquire(blocking=0.3)
    assert not waiter.acquire(timeout=0.2)
    waited = time.monotonic() - started
    assert 0.5 <= waited < 5.0, waited
    assert holder.release()


def test_a_blocked_thread_gets_the_lock_once_released(client: Client, cluster: Cluster) -> None:
    lock = lock_on(client, cluster.file.spec(2))
    results = []
    waiting = threading.Event()

    def take_and_give_back() -> None:
        waiting.set()
        results.append(lock.acquire())
        results.append(lock.release())

    assert lock.acquire()
    thread = threading.Thread(target=take_and_give_back)
    thread.start()
    assert waiting.wait(10)
    assert results == [], "the thread waits while the lock is held"
    assert lock.release()
    thread.join(10)
    assert not thread.is_alive() and results == [True, True]


def test_threads_contending_never_overlap(client: Client, cluster: Cluster) -> None:
    spec = cluster.file.spec(3)
    inside, overlaps, rounds = [0], [], 20

    def worker() -> None:
        lock = lock_on(client, spec)
        for _ in range(rounds):
            assert lock.acquire(blocking=30)
            inside[0] += 1
            overlaps.append(inside[0])
            inside[0] -= 1
            assert lock.release()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    assert overlaps == [1] * (4 * rounds)
    assert modes_held(client, spec) == []


def test_another_process_is_kept_out_until_the_release(client: Client, cluster: Cluster) -> None:
    spec = cluster.file.spec(4)
    lock = lock_on(client, spec)
    assert lock.acquire()
    assert not other_process_gets(cluster, spec)
    assert not other_process_gets(cluster, spec, shared=True)
    assert lock.release()
    assert other_process_gets(cluster, spec), "free at once after the release"


def test_shared_holds_are_counted_per_object(client: Client, cluster: Cluster) -> None:
    spec = cluster.file.spec(5)
    reader, other_reader, writer = (lock_on(client, spec) for _ in range(3))
    assert reader.acquire(shared=True)
    assert reader.acquire(shared=True)
    assert other_reader.acquire(shared=True, blocking=False)
    assert modes_held(client, spec) == ["SH"], "one lease for the whole process"
    assert not writer.acquire(blocking=False)
    assert not other_process_gets(cluster, spec)
    assert reader.release() and reader.release()
    assert not reader.release()
    assert modes_held(client, spec) == ["SH"], "the other reader still holds it"
    assert other_reader.release()
    assert modes_held(client, spec) == []
    assert writer.acquire(blocking=False)
    assert not reader.acquire(shared=True, blocking=False)
    assert writer.release()


def test_an_exclusive_holder_keeps_out_readers_of_other_processes(
    client: Client, cluster: Cluster
) -> None:
    spec = cluster.file.spec(6)
    lock = lock_on(client, spec)
    assert lock.acquire()
    assert not other_process_gets(cluster, spec, shared=True)
    assert lock.release()
    assert other_process_gets(cluster, spec, shared=True)


def test_hosts_share_and_exclude(client: Client, cluster: Cluster, binaries) -> None:
    spec = cluster.file.spec(6)
    other = Leased(*binaries, cluster.directory, "h2")
    try:
        other.join(cluster.file.lockspace(2))
        with other.client() as theirs:
            ours_lock, their_lock = lock_on(client, spec), lock_on(theirs, spec)
            assert ours_lock.acquire(shared=True)
            assert their_lock.acquire(shared=True, blocking=False)
            assert their_lock.release()
            assert ours_lock.release()
            assert ours_lock.acquire()
            assert not their_lock.acquire(shared=True, blocking=0.2)
            assert ours_lock.release()
            assert their_lock.acquire(blocking=False)
            assert their_lock.release()
    finally:
        other.stop()


@pytest.mark.parametrize(
    "blocking,timeout,expected",
    [(False, None, 0.0), (False, 5, 0.0), (True, None, None), (True, 2, 2.0), (1.5, None, 1.5)],
)
def test_deadlines_read_blocking_as_tooz_does(blocking, timeout, expected) -> None:
    before = time.monotonic()
    deadline = deadline_for(blocking, timeout)
    if expected is None:
        assert deadline is None
    else:
        assert deadline is not None
        assert before + expected <= deadline <= time.monotonic() + expected
