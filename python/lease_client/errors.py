"""Errors of the lease client, one class per stable error code.

The daemon answers a failed request with ``{"code": ..., "message": ...}``;
the code is one of a fixed set of strings (lease(8), "SOCKET PROTOCOL"),
and each has a subclass of :class:`LeaseError` here, named after it:

=====================  ==============================
code                   class
=====================  ==============================
bad_frame              :class:`BadFrameError`
frame_too_large        :class:`FrameTooLargeError`
unsupported_version    :class:`UnsupportedVersionError`
unknown_command        :class:`UnknownCommandError`
bad_request            :class:`BadRequestError`
permission_denied      :class:`PermissionDeniedError`
limit                  :class:`LimitError`
not_found              :class:`NotFoundError`
exists                 :class:`ExistsError`
refused                :class:`RefusedError`
retry                  :class:`RetryError`
data                   :class:`DataError`
io                     :class:`IoError`
shutting_down          :class:`ShuttingDownError`
internal               :class:`InternalError`
=====================  ==============================

Two more come from the client itself, never from the daemon:
:class:`LeaseConnectionError` (code ``unreachable``: the socket cannot be
reached, or the connection was lost) and :class:`ProtocolError` (code
``protocol``: the daemon's reply is not one this client understands). A
code this client does not know (a newer daemon's) gives a plain
:class:`LeaseError` with that code.
"""

from typing import Dict, Type


class LeaseError(Exception):
    """A failed request: the daemon's stable ``code`` and its ``message``."""

    code: str = ""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


class BadFrameError(LeaseError):
    """The frame is not JSON, or not a request."""

    code = "bad_frame"


class FrameTooLargeError(LeaseError):
    """The frame exceeds the daemon's max_frame; it closed the connection."""

    code = "frame_too_large"


class UnsupportedVersionError(LeaseError):
    """The protocol version is not one the daemon speaks."""

    code = "unsupported_version"


class UnknownCommandError(LeaseError):
    """The daemon knows no such operation."""

    code = "unknown_command"


class BadRequestError(LeaseError):
    """Invalid arguments: specs, names, offsets, pids."""

    code = "bad_request"


class PermissionDeniedError(LeaseError):
    """The caller may not do this."""

    code = "permission_denied"


class LimitError(LeaseError):
    """A limit on clients, leases or resources was reached."""

    code = "limit"


class NotFoundError(LeaseError):
    """No such lockspace or lease on this host."""

    code = "not_found"


class ExistsError(LeaseError):
    """Already joined, or already held or busy on this host."""

    code = "exists"


class RefusedError(LeaseError):
    """Held by another host, or shared where exclusive is wanted."""

    code = "refused"


class RetryError(LeaseError):
    """Not now (joining, contention, an owner about to be dead, a timeout)."""

    code = "retry"


class DataError(LeaseError):
    """The disk does not hold what it should."""

    code = "data"


class IoError(LeaseError):
    """The device failed."""

    code = "io"


class ShuttingDownError(LeaseError):
    """The daemon is shutting down."""

    code = "shutting_down"


class InternalError(LeaseError):
    """A bug in the daemon."""

    code = "internal"


class LeaseConnectionError(LeaseError):
    """The daemon cannot be reached, or the connection to it was lost."""

    code = "unreachable"

    def __init__(self, message: str) -> None:
        super().__init__(self.code, message)


class ProtocolError(LeaseError):
    """The daemon's reply is not one this client understands."""

    code = "protocol"

    def __init__(self, message: str) -> None:
        super().__init__(self.code, message)


_BY_CODE: Dict[str, Type[LeaseError]] = {
    cls.code: cls
    for cls in (
        BadFrameError,
        FrameTooLargeError,
        UnsupportedVersionError,
        UnknownCommandError,
        BadRequestError,
        PermissionDeniedError,
        LimitError,
        NotFoundError,
        ExistsError,
        RefusedError,
        RetryError,
        DataError,
        IoError,
        ShuttingDownError,
        InternalError,
    )
}

#: Every error code the daemon may send, in lease(8)'s order.
DAEMON_CODES = tuple(_BY_CODE)

#: The codes that mean "busy now": held here or by another host, or in
#: contention. A caller that wants to wait retries on these.
BUSY_CODES = frozenset({"exists", "refused", "retry"})


def error_for(code: str, message: str) -> LeaseError:
    """The exception for a daemon's error reply."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return LeaseError(code, message)
    return cls(code, message)
