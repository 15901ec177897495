"""A tooz driver over leased: locks kept on shared storage.

Registered as the ``tooz.backends`` entry point ``lease``::

    coordinator = tooz.coordination.get_coordinator(
        "lease:///run/leased?lockspace=cinder", b"cinder-" + uuid)

The URL's path is leased's run directory, which holds ``leased.sock``
(empty: ``$LEASED_RUN_DIR``, else ``/run/leased``); it names no host, as
leased is reached through its local socket. The query's ``lockspace`` is a
lockspace the local leased has joined, with a formatted name index
(``lease index format LOCKSPACE``); every host that shares the locks joins
the same lockspace on the same storage.

Locks (``get_lock``) are leases found by name in the lockspace's name
index, created on first use. A tooz name is any bytes; it becomes an index
name as :mod:`lease_client.names` describes. ``acquire(shared=True)`` takes
the lease shared (SH). Exclusion is per lock object, as tooz wants, and
:mod:`lease_client.locking` provides it between the threads of one
process. Leases belong to the process: they are released when it exits,
and when its coordinator stops.

What the driver guarantees (``CHARACTERISTICS``): exclusion across threads,
processes and hosts. Not ``NON_TIMEOUT_BASED``: a host that stops renewing
its lockspace loses its leases once it is declared dead (its watchdog
fences it first). Not offered (``tooz.NotImplemented``): groups,
membership, watchers and leader election, and ``Lock.break_`` (breaking a
lease held by another process means killing that process).

This is the only module of the package that imports tooz.
"""

import contextlib
import threading
from typing import Any, Dict, Iterator, List, Optional, Set, Union

import tooz
from tooz import coordination, locking, utils

from .client import Client, Resource, default_run_dir, named
from .errors import LeaseConnectionError, LeaseError, NotFoundError
from .locking import ProcessLock
from .names import encode_name

Characteristics = coordination.Characteristics


class LeaseLock(locking.Lock):
    """A tooz lock: a lease of the coordinator's lockspace, by name."""

    def __init__(self, name: bytes, driver: "LeaseDriver") -> None:
        super().__init__(name)
        self._driver = driver
        self._process_lock: Optional[ProcessLock] = None
        self._mutex = threading.Lock()

    def acquire(
        self,
        blocking: Union[bool, float] = True,
        shared: bool = False,
        timeout: Optional[float] = None,
    ) -> bool:
        """Takes the lock; False if it is not free in time (see tooz)."""
        process_lock = self._lock()
        with _tooz_errors():
            acquired = process_lock.acquire(blocking, shared, timeout)
        if acquired:
            self._driver._holding(self, True)
        return acquired

    def release(self) -> bool:
        """Gives up one hold of this object; False if it had none."""
        if self._process_lock is None:
            return False
        with _tooz_errors():
            released = self._process_lock.release()
        self._driver._holding(self, self._process_lock.held)
        return released

    def is_still_owner(self) -> bool:
        """Whether this object holds the lock, by this process's books."""
        return self._process_lock is not None and self._process_lock.held

    def break_(self) -> bool:
        raise tooz.NotImplemented(
            "breaking a lease held by another process means killing that process"
        )

    def _lock(self) -> ProcessLock:
        """The lock over the daemon, made on first use (the driver must be started)."""
        with self._mutex:
            if self._process_lock is None:
                key = self._driver.index_name(self.name)
                self._process_lock = ProcessLock(
                    self._driver.client(),
                    key,
                    lambda shared: self._driver.resource_for(key, shared),
                )
            return self._process_lock


class LeaseDriver(coordination.CoordinationDriver):
    """The ``lease://`` tooz backend; see the module docs."""

    CHARACTERISTICS = (
        Characteristics.DISTRIBUTED_ACROSS_THREADS,
        Characteristics.DISTRIBUTED_ACROSS_PROCESSES,
        Characteristics.DISTRIBUTED_ACROSS_HOSTS,
    )

    def __init__(
        self, member_id: Union[bytes, str], parsed_url: Any, options: Dict[str, Any]
    ) -> None:
        if isinstance(member_id, str):
            member_id = member_id.encode("utf-8")
        super().__init__(member_id, parsed_url, options)
        #: The lockspace of the locks ("" if the URL names none: start() refuses).
        self.lockspace: str = utils.collapse(options).get("lockspace") or ""
        self.run_dir: str = parsed_url.path or default_run_dir()
        self._host: str = parsed_url.netloc
        self._client: Optional[Client] = None
        self._held: Set[LeaseLock] = set()
        self._held_mutex = threading.Lock()

    def _start(self) -> None:
        if self._host:
            raise coordination.ToozConnectionError(
                f"leased is reached through its local socket; lease:///RUN_DIR names no host "
                f"(given {self._host!r})"
            )
        if not self.lockspace:
            raise tooz.ToozError(
                "a lease:// URL names its lockspace: lease:///RUN_DIR?lockspace=NAME"
            )
        with _tooz_errors():
            client = Client(run_dir=self.run_dir)
            try:
                client.hosts(self.lockspace)
            except NotFoundError as err:
                client.close()
                message = f"leased has not joined lockspace {self.lockspace!r}: {err}"
                raise tooz.ToozError(message) from err
        self._client = client

    def _stop(self) -> None:
        with self._held_mutex:
            held = list(self._held)
        for lock in held:
            while lock.release():
                pass
        if self._client is not None:
            self._client.close()
            self._client = None

    def client(self) -> Client:
        """The connection to leased; raises ToozError before ``start()``."""
        if self._client is None:
            raise tooz.ToozError("the coordinator is not started")
        return self._client

    def get_lock(self, name: bytes) -> LeaseLock:
        return LeaseLock(name, self)

    def index_name(self, name: bytes) -> str:
        """The name index's name for lock ``name``."""
        return encode_name(name)

    def resource_for(self, index_name: str, shared: bool) -> Resource:
        """The lease of ``index_name`` as acquire and release name it."""
        return named(self.lockspace, index_name, shared=shared, create=True)

    def _holding(self, lock: LeaseLock, held: bool) -> None:
        with self._held_mutex:
            if held:
                self._held.add(lock)
            else:
                self._held.discard(lock)

    # Not offered: membership, watchers and election need their own state on disk.

    def watch_join_group(self, group_id: bytes, callback: Any) -> None:
        raise tooz.NotImplemented("groups are not offered by the lease driver")

    def watch_leave_group(self, group_id: bytes, callback: Any) -> None:
        raise tooz.NotImplemented("groups are not offered by the lease driver")

    def watch_elected_as_leader(self, group_id: bytes, callback: Any) -> None:
        raise tooz.NotImplemented("leader election is not offered by the lease driver")


@contextlib.contextmanager
def _tooz_errors() -> Iterator[None]:
    """Raises the client's errors as tooz's: ToozConnectionError when leased
    cannot be reached, ToozError for the rest, the cause attached."""
    try:
        yield
    except LeaseConnectionError as err:
        utils.raise_with_cause(coordination.ToozConnectionError, str(err), cause=err)
    except LeaseError as err:
        utils.raise_with_cause(tooz.ToozError, str(err), cause=err)


__all__: List[str] = ["LeaseDriver", "LeaseLock"]
