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

Groups are leased's groups (``lease(8)``, GROUPS): a member is a lease
held by this process, with its capabilities recorded beside it, so a
member leaves by itself when its process exits or its host is declared
DEAD, and needs no heartbeat. With ``?timeout=SECONDS`` in the URL, a
member also leaves once ``heartbeat()`` has not been called for that long
(tooz's member timeout; the heart thread calls it). The leader is the
process holding the group's leader lease: ``run_watchers`` runs for
election in each group watched with ``watch_elected_as_leader``, and
``stand_down_group_leader`` or ``stop`` lets it go. Join and leave events
are pushed by leased on a connection per watched group, and delivered by
``run_watchers``; changes made on this host are there before the call
that made them returns, others within half an io_timeout.

Capabilities are stored as JSON; bytes inside them are kept as such
(tagged), tuples come back as lists, and no capabilities read back as
``None``.

What the driver guarantees (``CHARACTERISTICS``): exclusion across threads,
processes and hosts. Not ``NON_TIMEOUT_BASED``: a host that stops renewing
its lockspace loses its leases and memberships once it is declared dead
(its watchdog fences it first). Not offered (``tooz.NotImplemented``):
``Lock.break_`` (breaking a lease held by another process means killing
that process).

This is the only module of the package that imports tooz.
"""

import base64
import contextlib
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, TypeVar, Union

import tooz
from tooz import coordination, locking, utils

from .client import Client, Resource, default_run_dir, named
from .errors import ExistsError, LeaseConnectionError, LeaseError, NotFoundError, RefusedError
from .groups import GroupWatch
from .locking import ProcessLock
from .names import decode_name, encode_name

Characteristics = coordination.Characteristics
T = TypeVar("T")
#: How bytes inside capabilities are kept in their JSON.
_BYTES_TAG = "~bytes"
#: What ``heartbeat()`` returns when members need none: seconds to the next.
_IDLE_BEAT = 60.0


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
        timeout = utils.collapse(options).get("timeout")
        #: A member's time to live (tooz's member timeout), if the URL sets one.
        self._ttl: Optional[float] = float(timeout) if timeout else None
        self._member: str = _id(member_id)
        self._watches: Dict[bytes, GroupWatch] = {}
        self._leading: Set[bytes] = set()

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
        for group_id in list(self._leading):
            with contextlib.suppress(tooz.ToozError):
                self.stand_down_group_leader(group_id)
        for watch in self._watches.values():
            watch.close()
        self._watches.clear()
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

    # Groups and membership.

    def heartbeat(self) -> float:
        """Keeps this coordinator's memberships, if they have a time to live
        (``?timeout=``); the seconds until the next call is due."""
        if self._ttl is None or self._client is None:
            return _IDLE_BEAT
        with _tooz_errors():
            self.client().group_heartbeat(self.lockspace, self._member)
        return self._ttl / 2

    def create_group(self, group_id: bytes) -> "_Result[None]":
        def create() -> None:
            try:
                self.client().group_create(self.lockspace, _id(group_id))
            except ExistsError:
                raise coordination.GroupAlreadyExist(group_id) from None

        return _Result.of(create)

    def get_groups(self) -> "_Result[List[bytes]]":
        def groups() -> List[bytes]:
            return [_bytes(g) for g in self.client().group_list(self.lockspace)]

        return _Result.of(groups)

    def delete_group(self, group_id: bytes) -> "_Result[None]":
        def delete() -> None:
            try:
                self.client().group_delete(self.lockspace, _id(group_id))
            except NotFoundError:
                raise coordination.GroupNotCreated(group_id) from None
            except RefusedError:
                raise coordination.GroupNotEmpty(group_id) from None

        return _Result.of(delete)

    def join_group(
        self, group_id: bytes, capabilities: Optional[Any] = None
    ) -> "_Result[None]":
        ttl_ms = None if self._ttl is None else int(self._ttl * 1000)

        def join() -> None:
            try:
                self.client().group_join(
                    self.lockspace, _id(group_id), self._member, _to_json(capabilities), ttl_ms
                )
            except NotFoundError:
                raise coordination.GroupNotCreated(group_id) from None
            except ExistsError:
                raise coordination.MemberAlreadyExist(group_id, self._member_id) from None
            self._joined_groups.add(group_id)

        return _Result.of(join)

    def leave_group(self, group_id: bytes) -> "_Result[None]":
        def leave() -> None:
            try:
                self.client().group_leave(self.lockspace, _id(group_id), self._member)
            except NotFoundError:
                self._joined_groups.discard(group_id)
                raise coordination.MemberNotJoined(group_id, self._member_id) from None
            self._joined_groups.discard(group_id)

        return _Result.of(leave)

    def get_members(self, group_id: bytes) -> "_Result[Set[bytes]]":
        return _Result.of(lambda: set(self._members(group_id)))

    def get_members_with_capabilities(self, group_id: bytes) -> "_Result[Dict[bytes, Any]]":
        return _Result.of(lambda: self._members(group_id))

    def get_member_capabilities(self, group_id: bytes, member_id: bytes) -> "_Result[Any]":
        return _Result.of(lambda: self._member_of(group_id, member_id))

    def get_member_info(self, group_id: bytes, member_id: bytes) -> "_Result[Dict[str, Any]]":
        return _Result.of(lambda: {"capabilities": self._member_of(group_id, member_id)})

    def update_capabilities(self, group_id: bytes, capabilities: Any) -> "_Result[None]":
        def update() -> None:
            try:
                self.client().group_update(
                    self.lockspace, _id(group_id), self._member, _to_json(capabilities)
                )
            except NotFoundError:
                raise coordination.MemberNotJoined(group_id, self._member_id) from None

        return _Result.of(update)

    def _members(self, group_id: bytes) -> Dict[bytes, Any]:
        """The members of a group, with their capabilities."""
        with _tooz_errors():
            try:
                group = self.client().group_members(self.lockspace, _id(group_id))
            except NotFoundError:
                raise coordination.GroupNotCreated(group_id) from None
        return {_bytes(m["member"]): _from_json(m["capabilities"]) for m in group["members"]}

    def _member_of(self, group_id: bytes, member_id: bytes) -> Any:
        members = self._members(group_id)
        if _bytes(_id(member_id)) not in members:
            raise coordination.MemberNotJoined(group_id, member_id)
        return members[_bytes(_id(member_id))]

    # Watchers: leased pushes each watched group's changes on a connection.

    def watch_join_group(self, group_id: bytes, callback: Any) -> None:
        self._watch(group_id)
        super().watch_join_group(group_id, callback)

    def watch_leave_group(self, group_id: bytes, callback: Any) -> None:
        self._watch(group_id)
        super().watch_leave_group(group_id, callback)

    def unwatch_join_group(self, group_id: bytes, callback: Any) -> None:
        super().unwatch_join_group(group_id, callback)
        self._unwatch_if_unused(group_id)

    def unwatch_leave_group(self, group_id: bytes, callback: Any) -> None:
        super().unwatch_leave_group(group_id, callback)
        self._unwatch_if_unused(group_id)

    def _watch(self, group_id: bytes) -> None:
        """Opens the group's watch, if not open; GroupNotCreated if missing."""
        if group_id in self._watches:
            return
        with _tooz_errors():
            try:
                watch = self.client().watch_group(self.lockspace, _id(group_id))
            except NotFoundError:
                raise coordination.GroupNotCreated(group_id) from None
        self._watches[group_id] = watch

    def _unwatch_if_unused(self, group_id: bytes) -> None:
        if not self._has_hooks_for_group(group_id) and group_id in self._watches:
            self._watches.pop(group_id).close()

    def run_watchers(self, timeout: Optional[float] = None) -> List[Any]:
        """Runs for election where asked, then runs the callbacks of the
        events leased pushed since the last call."""
        results: List[Any] = []
        for group_id in list(self._hooks_elected_leader):
            if group_id in self._leading:
                continue
            with _tooz_errors():
                try:
                    reply = self.client().group_elect(self.lockspace, _id(group_id), self._member)
                except (NotFoundError, RefusedError):
                    continue  # no group, or our member id is another process's
            if reply["elected"]:
                self._leading.add(group_id)
                event = coordination.LeaderElected(group_id, self._member_id)
                results.extend(self._hooks_elected_leader[group_id].run(event))
        for group_id, watch in list(self._watches.items()):
            for event in watch.events():
                results.extend(self._delivered(group_id, event))
            if not watch.open:
                self._watches.pop(group_id, None)
        return results

    def _delivered(self, group_id: bytes, event: Dict[str, Any]) -> List[Any]:
        kind = event.get("event")
        if kind not in ("joined", "left"):
            return []
        member_id = _bytes(event["member"])
        if kind == "joined":
            joined = coordination.MemberJoinedGroup(group_id, member_id)
            return self._hooks_join_group[group_id].run(joined) if group_id in self._hooks_join_group else []
        if member_id == self._member_id:
            self._joined_groups.discard(group_id)
        left = coordination.MemberLeftGroup(group_id, member_id)
        return self._hooks_leave_group[group_id].run(left) if group_id in self._hooks_leave_group else []

    # Leaders.

    def get_leader(self, group_id: bytes) -> "_Result[Optional[bytes]]":
        def leader() -> Optional[bytes]:
            try:
                found = self.client().group_members(self.lockspace, _id(group_id))["leader"]
            except NotFoundError:
                raise coordination.GroupNotCreated(group_id) from None
            return None if found is None else _bytes(found)

        return _Result.of(leader)

    def stand_down_group_leader(self, group_id: bytes) -> bool:
        """Gives up leading ``group_id``; False if this coordinator did not lead it."""
        if group_id not in self._leading:
            return False
        self._leading.discard(group_id)
        with _tooz_errors():
            try:
                self.client().group_stand_down(self.lockspace, _id(group_id), self._member)
            except NotFoundError:
                return False
        return True


class _Result(coordination.CoordAsyncResult[T]):
    """A call done at once: its value, or the error ``get`` raises."""

    def __init__(self, value: Optional[T], error: Optional[BaseException]) -> None:
        self._value = value
        self._error = error

    @classmethod
    def of(cls, call: Callable[[], T]) -> "_Result[T]":
        try:
            with _tooz_errors():
                return cls(call(), None)
        except tooz.ToozError as err:
            return cls(None, err)

    def get(self, timeout: Optional[float] = None) -> T:
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def done(self) -> bool:
        return True


def _id(value: Union[bytes, str]) -> str:
    """A tooz id (bytes, or str as tests pass) as leased's id."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    return encode_name(value)


def _bytes(value: str) -> bytes:
    """leased's id as tooz's bytes."""
    decoded = decode_name(value)
    return value.encode("utf-8") if decoded is None else decoded


def _to_json(value: Any) -> Any:
    """Capabilities as JSON: bytes tagged, tuples as lists; none is None."""
    if value is None or value == b"":
        return None
    if isinstance(value, bytes):
        return {_BYTES_TAG: base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_BYTES_TAG}:
            return base64.b64decode(value[_BYTES_TAG])
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


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
