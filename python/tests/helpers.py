"""What other processes do in the tests: functions run in ``spawn`` children."""

from multiprocessing.connection import Connection

from lease_client import Client, LeaseError, ProcessLock


def try_acquire(run_dir: str, spec: str) -> str:
    """Acquires ``spec`` in this process and releases it: ``"ok"``, or the
    error code that refused it."""
    with Client(run_dir=run_dir) as client:
        try:
            client.acquire([spec])
        except LeaseError as err:
            return err.code
        client.release([spec])
        return "ok"


def try_lock(run_dir: str, spec: str, shared: bool) -> bool:
    """A :class:`ProcessLock`'s non-blocking acquire of ``spec`` in this
    process (released again if it succeeds)."""
    with Client(run_dir=run_dir) as client:
        lock = ProcessLock(client, spec, lambda sh: spec + (":SH" if sh else ""))
        acquired = lock.acquire(blocking=False, shared=shared)
        if acquired:
            assert lock.release()
        return acquired


def hold(run_dir: str, spec: str, persistent: bool, pipe: Connection) -> None:
    """Acquires ``spec``, says ``"held"`` (or the error code) on ``pipe``, then
    waits for a word on it (or to be killed) before exiting without releasing."""
    client = Client(run_dir=run_dir)
    try:
        client.acquire([spec], persistent=persistent)
    except LeaseError as err:
        pipe.send(err.code)
        return
    pipe.send("held")
    pipe.recv()


def try_tooz_lock(url: str, name: bytes) -> bool:
    """A tooz lock's non-blocking acquire of ``name`` in this process, through
    a coordinator of its own (released again if it succeeds)."""
    import urllib.parse

    from lease_client.tooz_driver import LeaseDriver

    parsed = urllib.parse.urlsplit(url)
    coordinator = LeaseDriver(b"child", parsed, urllib.parse.parse_qs(parsed.query))
    coordinator.start()
    try:
        lock = coordinator.get_lock(name)
        acquired = lock.acquire(blocking=False)
        if acquired:
            assert lock.release()
        return acquired
    finally:
        coordinator.stop()


def join_group(run_dir: str, group: str, member: str, capabilities: object, pipe: Connection) -> None:
    """Joins ``group`` of lockspace ``ls`` as ``member`` in this process, says
    ``"joined"`` (or the error code) on ``pipe``, then waits for a word on it
    (or to be killed) before exiting without leaving."""
    client = Client(run_dir=run_dir)
    try:
        client.group_join("ls", group, member, capabilities)
    except LeaseError as err:
        pipe.send(err.code)
        return
    pipe.send("joined")
    pipe.recv()


def elect(run_dir: str, group: str, member: str, pipe: Connection) -> None:
    """Runs for the leadership of ``group`` in this process, says whether it
    was elected on ``pipe``, then waits for a word (or to be killed)."""
    client = Client(run_dir=run_dir)
    pipe.send(client.group_elect("ls", group, member)["elected"])
    pipe.recv()
