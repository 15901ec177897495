"""Locks for the threads of one process, over leases that belong to the process.

leased binds a lease to a process, not to a thread or an object: a second
acquire of a resource the process holds is refused (``exists``), and a
release from any thread frees it. A lock API such as tooz's wants more:
exclusion between *lock objects*, so between the threads of one process
too, and a release that only the holding object may make. :class:`ProcessLock`
adds that on top of the daemon:

- A table, one per process, keeps for each resource (by daemon socket and
  key) which object holds it exclusively, how many shared holds each
  object has, and whether a daemon call for it is under way. Objects of
  one process wait their turn on a condition variable of that table, so a
  release wakes every waiter and none is lost.
- Only the first shared hold and an exclusive one go to the daemon, and
  only the last shared release and the exclusive one leave it: the daemon
  sees one lease per resource and process.
- Waits for other processes and hosts are the daemon's: a blocking
  acquire asks it with ``wait_ms`` (at most :data:`WAIT_CHUNK_S` a call,
  on a connection of its own so that the process's other calls are not
  held up). The daemon queues it behind earlier waiters of the host and
  wakes it as soon as another process here releases; another host's
  release is seen within one of its polls of the lease. An answer that
  comes at once (``exists`` for an orphan, say; see
  :data:`~lease_client.errors.BUSY_CODES`) is asked again after a pause
  from :data:`POLL_FIRST_S` backing off to :data:`POLL_MAX_S`.

Locks are not re-entrant: an object that holds a resource exclusively and
asks again gets False (or waits, if blocking, for another thread to
release it). A forked child starts with an empty table, as the leases stay
with the parent.
"""

import os
import threading
import time
from typing import Callable, Dict, Optional, Tuple, Union

from .client import Client, Resource
from .errors import BUSY_CODES, LeaseError, NotFoundError

#: The first pause between polls of a resource held by another process.
POLL_FIRST_S = 0.005
#: The longest pause between polls.
POLL_MAX_S = 0.2
#: The longest wait of one acquire call in the daemon.
WAIT_CHUNK_S = 5.0

#: How to name the resource to the daemon, given whether it is wanted shared.
ResourceFor = Callable[[bool], Resource]


class _Holds:
    """What this process holds of one resource, and who is waiting for it."""

    def __init__(self, mutex: threading.Lock) -> None:
        self.turn = threading.Condition(mutex)
        self.exclusive: Optional["ProcessLock"] = None
        self.shared: Dict["ProcessLock", int] = {}
        #: A daemon call acquires or releases the resource for this process.
        self.moving = False
        #: Threads inside acquire or release for it: the entry stays while any.
        self.users = 0

    def free_for(self, shared: bool) -> bool:
        """Whether a new hold of this kind may start now."""
        if self.moving or self.exclusive is not None:
            return False
        return shared or not self.shared

    def idle(self) -> bool:
        return not (self.moving or self.users or self.shared or self.exclusive is not None)


class _Table:
    """Every resource this process holds or waits for, under one mutex."""

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.holds: Dict[Tuple[str, str], _Holds] = {}

    def enter(self, key: Tuple[str, str]) -> _Holds:
        """The entry for ``key``, counted as in use. Under the mutex."""
        holds = self.holds.get(key)
        if holds is None:
            holds = self.holds[key] = _Holds(self.mutex)
        holds.users += 1
        return holds

    def leave(self, key: Tuple[str, str], holds: _Holds) -> None:
        """Done with ``holds``: wakes its waiters; forgets it if idle. Under the mutex."""
        holds.users -= 1
        holds.turn.notify_all()
        if holds.idle() and self.holds.get(key) is holds:
            del self.holds[key]


_table = _Table()


def _forget_in_child() -> None:
    global _table
    _table = _Table()


os.register_at_fork(after_in_child=_forget_in_child)


def deadline_for(blocking: Union[bool, float], timeout: Optional[float]) -> Optional[float]:
    """When to give up, on the monotonic clock; None for never.

    As tooz reads its arguments: ``blocking=False`` tries once (now);
    ``True`` waits ``timeout`` seconds, or forever if None; a number as
    ``blocking`` is the timeout.
    """
    now = time.monotonic()
    if blocking is False:
        return now
    if blocking is True:
        return None if timeout is None else now + max(0.0, float(timeout))
    return now + max(0.0, float(blocking))


def _remaining(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else deadline - time.monotonic()


class ProcessLock:
    """A lock over one resource, exclusive or shared, excluding other objects.

    ``resource_for(shared)`` names the resource to the daemon; ``key``
    identifies it within the daemon at ``client.socket_path``: objects with
    the same key and daemon are the same lock.
    """

    def __init__(self, client: Client, key: str, resource_for: ResourceFor) -> None:
        self.client = client
        self.key: Tuple[str, str] = (os.path.realpath(client.socket_path), key)
        self.resource_for = resource_for

    @property
    def held(self) -> bool:
        """Whether this object holds the resource, exclusively or shared."""
        with _table.mutex:
            holds = _table.holds.get(self.key)
            return holds is not None and (holds.exclusive is self or self in holds.shared)

    def acquire(
        self,
        blocking: Union[bool, float] = True,
        shared: bool = False,
        timeout: Optional[float] = None,
    ) -> bool:
        """Takes the resource; False if it is not free by the deadline
        (:func:`deadline_for`). Raises :class:`LeaseError` for anything
        but a busy resource."""
        deadline = deadline_for(blocking, timeout)
        table = _table
        with table.mutex:
            holds = table.enter(self.key)
            to_daemon = False
            try:
                if not self._wait_turn(holds, shared, deadline):
                    return False
                if shared and holds.shared:
                    holds.shared[self] = holds.shared.get(self, 0) + 1
                    return True
                holds.moving = to_daemon = True
            finally:
                if not to_daemon:
                    table.leave(self.key, holds)
        acquired = False
        try:
            acquired = self._acquire_from_daemon(shared, deadline)
        finally:
            with table.mutex:
                holds.moving = False
                if acquired and shared:
                    holds.shared[self] = 1
                elif acquired:
                    holds.exclusive = self
                table.leave(self.key, holds)
        return acquired

    def release(self) -> bool:
        """Gives up one hold of this object: True if it had one, else False.

        Never frees another object's hold. A lease the daemon no longer
        has (its lockspace was lost) counts as not released.
        """
        table = _table
        with table.mutex:
            holds = table.holds.get(self.key)
            if holds is None:
                return False
            shared = self in holds.shared
            if shared:
                holds.shared[self] -= 1
                if holds.shared[self] == 0:
                    del holds.shared[self]
                if holds.shared:
                    return True
            elif holds.exclusive is self:
                holds.exclusive = None
            else:
                return False
            holds.users += 1
            holds.moving = True
        try:
            self.client.release([self.resource_for(shared)])
            return True
        except NotFoundError:
            return False
        finally:
            with table.mutex:
                holds.moving = False
                table.leave(self.key, holds)

    @staticmethod
    def _wait_turn(holds: _Holds, shared: bool, deadline: Optional[float]) -> bool:
        """Waits, under the mutex, until this process may take a hold."""
        while not holds.free_for(shared):
            remaining = _remaining(deadline)
            if remaining is not None and remaining <= 0:
                return False
            holds.turn.wait(remaining)
        return True

    def _acquire_from_daemon(self, shared: bool, deadline: Optional[float]) -> bool:
        """Asks the daemon until it grants the resource or the deadline
        passes; a blocking ask waits in the daemon's queue."""
        pause = POLL_FIRST_S
        waiter: Optional[Client] = None
        try:
            while True:
                remaining = _remaining(deadline)
                wait_s = WAIT_CHUNK_S if remaining is None else min(WAIT_CHUNK_S, remaining)
                if wait_s > 0 and waiter is None:
                    waiter = Client(self.client.socket_path)
                asking = waiter if wait_s > 0 and waiter is not None else self.client
                wait_ms = int(wait_s * 1000) if wait_s > 0 else None
                asked = time.monotonic()
                try:
                    asking.acquire([self.resource_for(shared)], wait_ms=wait_ms)
                    return True
                except LeaseError as err:
                    if err.code not in BUSY_CODES:
                        raise
                remaining = _remaining(deadline)
                if remaining is not None and remaining <= 0:
                    return False
                if wait_ms is not None and time.monotonic() - asked >= wait_s:
                    pause = POLL_FIRST_S  # it waited its whole chunk: ask again now
                    continue
                time.sleep(pause if remaining is None else min(pause, remaining))
                pause = min(pause * 2, POLL_MAX_S)
        finally:
            if waiter is not None:
                waiter.close()
