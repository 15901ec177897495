"""Arbitrary byte names as the names of leased's name index.

The index takes names of 1 to 1024 bytes of UTF-8 without NUL (the daemon
hashes those over 48 bytes itself). Callers such as tooz name locks with
any bytes, of any length. :func:`encode_name` maps them into the index's
names one to one:

- a name that is already valid there (UTF-8, 1 to 1024 bytes, no NUL) and
  does not start with ``~`` is used as it is: ``b"cinder-<uuid>-delete"``
  is the index name ``cinder-<uuid>-delete``, readable in ``lease``'s
  listings;
- any other name, the empty one included, is ``~b64:`` followed by its
  URL-safe base64 (padded), when that fits in 1024 bytes (names up to 762
  bytes);
- a longer name is ``~sha256:`` and the hex SHA-256 of its bytes. Only
  these cannot be decoded back; two of them are the same name only if
  SHA-256 collides.

No name of the first kind starts with ``~``, so the three kinds never
meet, and :func:`decode_name` inverts the first two.
"""

import base64
import hashlib
from typing import Optional

#: The longest name the index takes, in bytes of UTF-8.
NAME_BYTES_MAX = 1024
#: What starts every name that is not used as it is.
ESCAPE = "~"
_BASE64 = ESCAPE + "b64:"
_SHA256 = ESCAPE + "sha256:"


def encode_name(name: bytes) -> str:
    """The index name for ``name``: see the module docs."""
    if not isinstance(name, bytes):
        raise TypeError(f"a name is bytes, not {type(name).__name__}")
    plain = _plain(name)
    if plain is not None:
        return plain
    encoded = _BASE64 + base64.urlsafe_b64encode(name).decode("ascii")
    if len(encoded) <= NAME_BYTES_MAX:
        return encoded
    return _SHA256 + hashlib.sha256(name).hexdigest()


def decode_name(index_name: str) -> Optional[bytes]:
    """The name :func:`encode_name` was given, or None for a hashed one."""
    if index_name.startswith(_SHA256):
        return None
    if index_name.startswith(_BASE64):
        return base64.urlsafe_b64decode(index_name[len(_BASE64) :].encode("ascii"))
    return index_name.encode("utf-8")


def _plain(name: bytes) -> Optional[str]:
    """``name`` as text, if the index takes it as it is."""
    if not 1 <= len(name) <= NAME_BYTES_MAX or b"\0" in name:
        return None
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if text.startswith(ESCAPE) else text
