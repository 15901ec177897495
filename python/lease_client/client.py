"""A connection to leased's JSON socket, and leases held in a ``with`` block.

Leases belong to a process. leased reads the caller's pid from the socket
(SO_PEERCRED, at connect time), so what a :class:`Client` acquires belongs
to the process that opened its connection and is released when that
process exits. A :class:`Client` notices when it is used in a forked child
and reconnects, so that the child acts for itself.

A :class:`Client` is thread-safe: its calls go one at a time over one
connection. A call that waits (``acquire`` with ``wait_ms``,
``add_lockspace`` with ``wait``) holds up the other threads' calls on the
same :class:`Client` until it returns; give such threads a client each.
All of them act for the same process.
"""

import os
import socket
import threading
from types import TracebackType
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Type, Union, cast

from . import protocol
from .errors import LeaseConnectionError, LeaseError
from .groups import GroupWatch
from .results import HostsResult, LeaseStatus, RequestResult, StatusResult, VersionResult

#: The run directory when ``LEASED_RUN_DIR`` is not set.
DEFAULT_RUN_DIR = "/run/leased"
#: The socket's name in the run directory.
SOCKET_NAME = "leased.sock"

#: A resource: sanlock's spec string ``LOCKSPACE:NAME:PATH:OFFSET[:LVER|:SH]``,
#: or a named resource (see :func:`named`).
Resource = Union[str, Mapping[str, Any]]


def default_run_dir() -> str:
    """The run directory: ``$LEASED_RUN_DIR``, else ``/run/leased``."""
    return os.environ.get("LEASED_RUN_DIR") or DEFAULT_RUN_DIR


def named(lockspace: str, name: str, shared: bool = False, create: bool = True) -> Dict[str, Any]:
    """A resource found by name in ``lockspace``'s name index.

    ``name`` is 1 to 1024 bytes of UTF-8 without NUL; with ``create`` the
    daemon creates its lease if the index has none yet.
    """
    return {"lockspace": lockspace, "name": name, "shared": shared, "create": create}


class Client:
    """A connection to leased; see the module docs for threads and processes."""

    def __init__(self, socket_path: Optional[str] = None, *, run_dir: Optional[str] = None) -> None:
        """Connects to ``socket_path``, else to ``leased.sock`` in ``run_dir``,
        else in :func:`default_run_dir`. Raises :class:`LeaseConnectionError` if the
        daemon cannot be reached."""
        if socket_path is not None and run_dir is not None:
            raise ValueError("give a socket path or a run directory, not both")
        directory = run_dir if run_dir is not None else default_run_dir()
        self.socket_path: str = socket_path or os.path.join(directory, SOCKET_NAME)
        self._lock = threading.Lock()
        self._sock: Optional[socket.socket] = None
        self._pid = 0
        self._next_id = 1
        with self._lock:
            self._connected()

    # Plumbing.

    def close(self) -> None:
        """Closes the connection. Leases stay with the process."""
        with self._lock:
            self._drop()

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def call(
        self, op: str, args: Optional[Mapping[str, Any]] = None, fds: Sequence[int] = ()
    ) -> Any:
        """Sends one request and returns its result; raises its error.

        ``fds`` go with the frame's first bytes (SCM_RIGHTS), as the pidfd
        of a request whose ``pidfd`` is set.
        """
        with self._lock:
            sock = self._connected()
            request_id = self._next_id
            self._next_id += 1
            frame = protocol.encode_request(request_id, op, args)
            try:
                body = self._exchange(sock, frame, fds)
            except OSError as err:
                self._drop()
                raise LeaseConnectionError(
                    f"lost the connection to leased at {self.socket_path}: {err}"
                ) from err
            try:
                return protocol.decode_reply(body, request_id)
            except LeaseError as err:
                if err.code in ("frame_too_large", "protocol"):
                    self._drop()  # the daemon closed it, or we lost our place
                raise

    def _connected(self) -> socket.socket:
        """The connection, opened again in a forked child (leases are per process)."""
        if self._sock is not None and self._pid == os.getpid():
            return self._sock
        self._sock = None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.socket_path)
        except OSError as err:
            sock.close()
            raise LeaseConnectionError(
                f"cannot reach leased at {self.socket_path}: {err.strerror or err} "
                "(is the daemon running? LEASED_RUN_DIR moves it)"
            ) from err
        self._sock, self._pid = sock, os.getpid()
        return sock

    def _drop(self) -> None:
        if self._sock is not None and self._pid == os.getpid():
            self._sock.close()
        self._sock = None

    @staticmethod
    def _exchange(sock: socket.socket, frame: bytes, fds: Sequence[int]) -> bytes:
        """Sends a frame and reads the reply's body. leased may have refused
        the connection (permission, client limit) and closed it before the
        request went out: its reason is then waiting to be read."""
        unsent: Optional[BrokenPipeError] = None
        try:
            if fds:
                sent = socket.send_fds(sock, [frame], list(fds))
                sock.sendall(frame[sent:])
            else:
                sock.sendall(frame)
        except BrokenPipeError as err:
            unsent = err
        try:
            return protocol.read_frame(sock.recv)
        except OSError:
            if unsent is not None:
                raise unsent from None
            raise

    def _acting_for(self, op: str, args: Dict[str, Any], pid: Optional[int]) -> Any:
        """Calls ``op`` for process ``pid`` (the caller's if None): by a pidfd,
        the same process in every pid namespace, or by its number if no
        pidfd can be opened (leased takes numbers only from its own
        namespace)."""
        if pid is None:
            return self.call(op, args)
        try:
            pidfd = os.pidfd_open(pid)
        except (OSError, AttributeError):
            return self.call(op, {**args, "pid": pid})
        try:
            return self.call(op, {**args, "pidfd": True}, fds=[pidfd])
        finally:
            os.close(pidfd)

    # Operations.

    def version(self) -> VersionResult:
        """The daemon's version, protocol version and host name."""
        return cast(VersionResult, self.call("version"))

    def status(self) -> StatusResult:
        """Every lockspace and lease of this host, and the watchdog."""
        return cast(StatusResult, self.call("status"))

    def hosts(self, lockspace: str) -> HostsResult:
        """The hosts of a joined lockspace, as this host sees them."""
        return cast(HostsResult, self.call("hosts", {"lockspace": lockspace}))

    def add_lockspace(
        self, lockspace: str, io_timeout: Optional[int] = None, wait: bool = False
    ) -> StatusResult:
        """Joins ``NAME:HOST_ID:PATH:OFFSET``; with ``wait``, returns once joined."""
        args: Dict[str, Any] = {"lockspace": lockspace, "wait": wait}
        if io_timeout is not None:
            args["io_timeout"] = io_timeout
        return cast(StatusResult, self.call("add_lockspace", args))

    def rem_lockspace(self, name: str, force: bool = False) -> StatusResult:
        """Leaves lockspace ``name``; ``force`` kills the holders of its leases first."""
        return cast(StatusResult, self.call("rem_lockspace", {"lockspace": name, "force": force}))

    def acquire(
        self,
        resources: Iterable[Resource],
        wait_ms: Optional[int] = None,
        persistent: bool = False,
        adopt: bool = False,
        pid: Optional[int] = None,
    ) -> List[LeaseStatus]:
        """Acquires every resource, or none, for process ``pid`` (this one by default).

        ``wait_ms`` waits for resources held by other hosts; ``persistent``
        keeps the leases after the process exits, until released or
        adopted; ``adopt`` takes over leases an exited process left.
        """
        args: Dict[str, Any] = {
            "resources": _resources(resources),
            "persistent": persistent,
            "adopt": adopt,
        }
        if wait_ms is not None:
            args["wait_ms"] = wait_ms
        return cast(List[LeaseStatus], self._acting_for("acquire", args, pid)["leases"])

    def release(
        self,
        resources: Iterable[Resource] = (),
        all: bool = False,
        orphan: bool = False,
        pid: Optional[int] = None,
    ) -> List[LeaseStatus]:
        """Releases resources of process ``pid``; ``all`` of them; or ``orphan``s."""
        args = {"resources": _resources(resources), "all": all, "orphan": orphan}
        return cast(List[LeaseStatus], self._acting_for("release", args, pid)["leases"])

    def inquire(self, pid: Optional[int] = None) -> List[LeaseStatus]:
        """The leases of process ``pid``; every lease of this host if None."""
        return cast(List[LeaseStatus], self._acting_for("inquire", {}, pid)["leases"])

    def convert(self, resource: str, mode: str, pid: Optional[int] = None) -> List[LeaseStatus]:
        """Switches a held resource to ``mode``, ``"EX"`` or ``"SH"``."""
        args = {"resource": resource, "mode": mode}
        return cast(List[LeaseStatus], self._acting_for("convert", args, pid)["leases"])

    def request(
        self, resource: str, force: str = "graceful", lver: Optional[int] = None
    ) -> RequestResult:
        """Asks a resource's owner to give it up: ``"graceful"``, ``"force"``
        (the holder is killed) or ``"clear"`` (withdraws a request)."""
        args: Dict[str, Any] = {"resource": resource, "force": force}
        if lver is not None:
            args["lver"] = lver
        return cast(RequestResult, self.call("request", args))

    # Groups: members held by this process, watches, leaders.

    def group_create(self, lockspace: str, group: str) -> Dict[str, Any]:
        """Creates ``group``; :class:`ExistsError` if it exists."""
        return cast(Dict[str, Any], self.call("group_create", _group(lockspace, group)))

    def group_delete(self, lockspace: str, group: str) -> Dict[str, Any]:
        """Deletes a group without members (:class:`RefusedError` if it has some)."""
        return cast(Dict[str, Any], self.call("group_delete", _group(lockspace, group)))

    def group_list(self, lockspace: str) -> List[str]:
        """The groups of ``lockspace``."""
        return cast(List[str], self.call("group_list", {"lockspace": lockspace})["groups"])

    def group_join(
        self,
        lockspace: str,
        group: str,
        member: str,
        capabilities: Any = None,
        ttl_ms: Optional[int] = None,
    ) -> Dict[str, Any]:
        """Makes this process member ``member`` of ``group``, with
        ``capabilities`` (any JSON value). It stays a member until it
        leaves or exits, or its host is DEAD; with ``ttl_ms``, also until
        no :meth:`group_heartbeat` came for that long."""
        args = {**_group(lockspace, group, member), "capabilities": capabilities}
        if ttl_ms is not None:
            args["ttl_ms"] = ttl_ms
        return cast(Dict[str, Any], self.call("group_join", args))

    def group_leave(self, lockspace: str, group: str, member: str) -> Dict[str, Any]:
        """Leaves ``group`` (:class:`NotFoundError` if not a member)."""
        return cast(Dict[str, Any], self.call("group_leave", _group(lockspace, group, member)))

    def group_members(self, lockspace: str, group: str) -> Dict[str, Any]:
        """The group as read now: ``members`` (each with ``member``,
        ``capabilities`` and ``host_id``) and ``leader``."""
        return cast(Dict[str, Any], self.call("group_members", _group(lockspace, group)))

    def group_update(
        self, lockspace: str, group: str, member: str, capabilities: Any
    ) -> Dict[str, Any]:
        """Replaces the capabilities of this process's member ``member``."""
        args = {**_group(lockspace, group, member), "capabilities": capabilities}
        return cast(Dict[str, Any], self.call("group_update", args))

    def group_heartbeat(self, lockspace: str, member: str, group: str = "") -> int:
        """Renews the time to live of this process's memberships as
        ``member`` (in ``group``, or in all); how many were renewed."""
        args = {"lockspace": lockspace, "group": group, "member": member}
        return int(self.call("group_heartbeat", args)["kept"])

    def group_elect(self, lockspace: str, group: str, member: str) -> Dict[str, Any]:
        """Leads ``group`` as ``member`` if nobody does: ``elected`` and
        ``leader``."""
        return cast(Dict[str, Any], self.call("group_elect", _group(lockspace, group, member)))

    def group_stand_down(self, lockspace: str, group: str, member: str) -> Dict[str, Any]:
        """Gives up leading ``group`` (:class:`NotFoundError` if not leading)."""
        args = _group(lockspace, group, member)
        return cast(Dict[str, Any], self.call("group_stand_down", args))

    def watch_group(self, lockspace: str, group: str) -> GroupWatch:
        """A watch of ``group`` on a connection of its own."""
        return GroupWatch(self.socket_path, lockspace, group)

    def lease(
        self,
        resources: Union[Resource, Iterable[Resource]],
        wait_ms: Optional[int] = None,
        persistent: bool = False,
        adopt: bool = False,
    ) -> "Lease":
        """Resources to hold in a ``with`` block: acquired on entry, released on exit."""
        return Lease(self, resources, wait_ms=wait_ms, persistent=persistent, adopt=adopt)


class Lease:
    """Resources held together by this process, as a context manager.

    >>> with client.lease("vms:vm1:/dev/vg/leases:1M") as held:  # doctest: +SKIP
    ...     print(held.leases[0]["lver"])
    """

    def __init__(
        self,
        client: Client,
        resources: Union[Resource, Iterable[Resource]],
        wait_ms: Optional[int] = None,
        persistent: bool = False,
        adopt: bool = False,
    ) -> None:
        self.client = client
        self.resources: Tuple[Resource, ...] = _as_tuple(resources)
        self.wait_ms = wait_ms
        self.persistent = persistent
        self.adopt = adopt
        #: The leases as acquired; empty while not held.
        self.leases: List[LeaseStatus] = []

    @property
    def held(self) -> bool:
        """Whether this object acquired its resources and has not released them."""
        return bool(self.leases)

    def acquire(self) -> List[LeaseStatus]:
        """Acquires every resource, or none (raising why)."""
        if self.held:
            raise RuntimeError("this Lease is held already")
        self.leases = self.client.acquire(self.resources, self.wait_ms, self.persistent, self.adopt)
        return self.leases

    def release(self) -> List[LeaseStatus]:
        """Releases the resources; the lease is no longer held even if this raises."""
        if not self.held:
            raise RuntimeError("this Lease is not held")
        self.leases = []
        return self.client.release(self.resources)

    def __enter__(self) -> "Lease":
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self.held:
            self.release()


def _group(lockspace: str, group: str, member: str = "") -> Dict[str, Any]:
    args = {"lockspace": lockspace, "group": group}
    if member:
        args["member"] = member
    return args


def _as_tuple(resources: Union[Resource, Iterable[Resource]]) -> Tuple[Resource, ...]:
    if isinstance(resources, (str, Mapping)):
        return (resources,)
    return tuple(resources)


def _resources(resources: Iterable[Resource]) -> List[Resource]:
    listed = list(_as_tuple(resources))
    for resource in listed:
        if not isinstance(resource, (str, Mapping)):
            raise TypeError(
                f"a resource is a spec string or a mapping, not {type(resource).__name__}"
            )
    return [r if isinstance(r, str) else dict(r) for r in listed]

