"""A pure-Python client of leased, the shared-storage lease manager.

>>> from lease_client import Client
>>> client = Client()                                   # doctest: +SKIP
>>> with client.lease("vms:vm1:/dev/vg/leases:1M"):     # doctest: +SKIP
...     ...  # the resource is held by this process here

Standard library only. The modules: :mod:`~lease_client.client` (the
connection and :class:`Lease`), :mod:`~lease_client.errors` (one exception
per error code), :mod:`~lease_client.protocol` (frames),
:mod:`~lease_client.results` (result shapes), :mod:`~lease_client.locking`
(locks between the threads of a process), :mod:`~lease_client.groups`
(watching a group), :mod:`~lease_client.names`
(byte names in the name index) and :mod:`~lease_client.tooz_driver` (the
tooz driver; the only module that imports tooz).
"""

from .client import DEFAULT_RUN_DIR, SOCKET_NAME, Client, Lease, Resource, default_run_dir, named
from .errors import (
    BadFrameError,
    BadRequestError,
    DataError,
    ExistsError,
    FrameTooLargeError,
    InternalError,
    IoError,
    LeaseConnectionError,
    LeaseError,
    LimitError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RefusedError,
    RetryError,
    ShuttingDownError,
    UnknownCommandError,
    UnsupportedVersionError,
)
from .groups import GroupWatch
from .locking import ProcessLock

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_RUN_DIR",
    "SOCKET_NAME",
    "BadFrameError",
    "BadRequestError",
    "Client",
    "DataError",
    "ExistsError",
    "FrameTooLargeError",
    "InternalError",
    "IoError",
    "Lease",
    "LeaseConnectionError",
    "LeaseError",
    "LimitError",
    "NotFoundError",
    "PermissionDeniedError",
    "GroupWatch",
    "ProcessLock",
    "ProtocolError",
    "RefusedError",
    "Resource",
    "RetryError",
    "ShuttingDownError",
    "UnknownCommandError",
    "UnsupportedVersionError",
    "default_run_dir",
    "named",
]
