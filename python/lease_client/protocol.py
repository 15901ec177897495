"""The frames of leased's JSON socket, with no socket in sight.

A frame is a 4-byte big-endian length, then that many bytes of JSON. A
request is ``{"v": 1, "id": N, "op": OP, "args": {...}}``; its reply
echoes the id (or 0, for a frame the daemon could not read) and carries
either ``"ok": true, "result": {...}`` or ``"ok": false, "error": {"code":
..., "message": ...}``. lease(8) documents the protocol; src/api/mod.rs is
its definition.
"""

import json
import struct
from typing import Any, Callable, Dict, Mapping, Optional

from .errors import LeaseError, ProtocolError, error_for

#: The protocol version this client speaks.
PROTOCOL_VERSION = 1
#: The largest reply accepted: ``status`` and ``inquire`` list every lease.
MAX_REPLY_BYTES = 64 << 20
#: The size of a frame's length prefix.
HEADER_BYTES = 4

_HEADER = struct.Struct(">I")


def encode_request(request_id: int, op: str, args: Optional[Mapping[str, Any]]) -> bytes:
    """One request as a whole frame, length prefix included."""
    request: Dict[str, Any] = {"v": PROTOCOL_VERSION, "id": request_id, "op": op}
    if args is not None:
        request["args"] = dict(args)
    body = json.dumps(request, separators=(",", ":")).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def frame_length(header: bytes) -> int:
    """The body length a frame's header announces, checked against the limit."""
    if len(header) != HEADER_BYTES:
        raise ProtocolError(f"a frame header is {HEADER_BYTES} bytes, not {len(header)}")
    (length,) = _HEADER.unpack(header)
    if length > MAX_REPLY_BYTES:
        raise ProtocolError(f"a reply of {length} bytes exceeds {MAX_REPLY_BYTES}")
    return int(length)


def read_frame(recv: Callable[[int], bytes]) -> bytes:
    """The body of the next frame, read whole with ``recv`` (a socket's:
    up to that many bytes, ``b""`` at the end). Raises
    ConnectionResetError if the stream ends first."""
    return _read_exact(recv, frame_length(_read_exact(recv, HEADER_BYTES)))


def _read_exact(recv: Callable[[int], bytes], size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = recv(min(size, 1 << 20))
        if not chunk:
            raise ConnectionResetError("leased closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def decode_reply(body: bytes, request_id: int) -> Any:
    """The result of a reply to request ``request_id``; raises its error.

    Raises the :class:`LeaseError` subclass of the daemon's code for an
    error reply, and :class:`ProtocolError` for anything that is not a
    reply to this request.
    """
    try:
        reply = json.loads(body)
    except ValueError as err:
        raise ProtocolError(f"a reply that is not JSON: {err}") from None
    if not isinstance(reply, dict):
        raise ProtocolError("a reply that is not a JSON object")
    if reply.get("id") not in (request_id, 0):
        raise ProtocolError(f"a reply to request {reply.get('id')!r} for request {request_id}")
    if reply.get("ok") is True and "result" in reply:
        return reply["result"]
    error = reply.get("error")
    if reply.get("ok") is False and isinstance(error, dict):
        raise _error(error)
    raise ProtocolError("a reply with neither result nor error")


def _error(error: Mapping[str, Any]) -> LeaseError:
    code, message = error.get("code"), error.get("message")
    if not isinstance(code, str) or not isinstance(message, str):
        return ProtocolError(f"an error reply without code and message: {error!r}")
    return error_for(code, message)
