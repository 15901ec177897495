"""Watching a group of leased's lockspace: its members and leader as they change.

A :class:`GroupWatch` has a connection of its own. leased answers its
``group_watch`` request with the group as it reads it, then sends an event
at each change: ``{"event": "joined" | "left", "group", "member"}``,
``{"event": "leader", "group", "leader"}`` and, when the group is deleted,
``{"event": "deleted", "group"}`` (the connection then ends). Changes made
on this host come before the call that made them returns; changes made on
other hosts within one poll of leased's (half its io_timeout).
"""

import os
import select
import socket
from types import TracebackType
from typing import Any, Dict, List, Optional, Type

from . import protocol
from .errors import LeaseConnectionError

#: The id of the watch request, which every event echoes.
_WATCH_ID = 1


class GroupWatch:
    """One group's events, read from their own connection to leased."""

    def __init__(self, socket_path: str, lockspace: str, group: str) -> None:
        """Starts watching; raises the daemon's error (``NotFoundError`` for
        a group that does not exist) or :class:`LeaseConnectionError`."""
        self.lockspace = lockspace
        self.group = group
        #: False once leased ended the watch (the group was deleted, or the
        #: daemon went away).
        self.open = True
        self._buffer = bytearray()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.connect(socket_path)
            args = {"lockspace": lockspace, "group": group}
            self._sock.sendall(protocol.encode_request(_WATCH_ID, "group_watch", args))
            #: The group as first read: ``{"members": [...], "leader": ...}``.
            self.initial: Dict[str, Any] = protocol.decode_reply(
                protocol.read_frame(self._sock.recv), _WATCH_ID
            )
        except OSError as err:
            self._sock.close()
            raise LeaseConnectionError(f"cannot watch group {group!r} at {socket_path}: {err}") from err
        except BaseException:
            self._sock.close()
            raise
        self._pid = os.getpid()

    def events(self, timeout: float = 0.0) -> List[Dict[str, Any]]:
        """The events that came, waiting up to ``timeout`` seconds for the
        first one; empty if none did."""
        if not self.open:
            return []
        ready, _, _ = select.select([self._sock], [], [], max(timeout, 0.0))
        if ready:
            self._drain()
        return self._frames()

    def close(self) -> None:
        """Stops watching."""
        self.open = False
        if self._pid == os.getpid():
            self._sock.close()

    def __enter__(self) -> "GroupWatch":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def _drain(self) -> None:
        """Reads whatever the socket holds now."""
        while True:
            try:
                chunk = self._sock.recv(1 << 16, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.open = False
                return
            if not chunk:
                self.open = False
                return
            self._buffer.extend(chunk)

    def _frames(self) -> List[Dict[str, Any]]:
        """The whole frames in the buffer, decoded."""
        events = []
        while len(self._buffer) >= protocol.HEADER_BYTES:
            length = protocol.frame_length(bytes(self._buffer[: protocol.HEADER_BYTES]))
            end = protocol.HEADER_BYTES + length
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[protocol.HEADER_BYTES : end])
            del self._buffer[:end]
            events.append(protocol.decode_reply(body, _WATCH_ID))
        return events
