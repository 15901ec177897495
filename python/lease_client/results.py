"""The shapes of the daemon's results (src/api/results.rs), for type checkers.

Results are returned as the plain dicts the daemon sends; these TypedDicts
describe them. Durations are seconds (``*_s``); fields the daemon may
leave out are ``Optional``.
"""

from typing import Any, Dict, List, Optional, TypedDict


class VersionResult(TypedDict):
    """``version``: the daemon's version, protocol and host name."""

    version: str
    protocol: int
    host_name: str


class LeaseStatus(TypedDict):
    """One resource lease this host holds."""

    lockspace: str
    resource: str
    path: str
    offset: int
    mode: str  # "EX" or "SH"
    lver: int
    pid: Optional[int]  # None for an orphan
    persistent: bool
    takeover: Optional[str]
    spec: str


class LockspaceStatus(TypedDict):
    """One lockspace this host is in."""

    name: str
    host_id: int
    path: str
    offset: int
    io_timeout: int
    state: str  # joining, joined, failed, stopped, leaving
    detail: str
    generation: Optional[int]
    last_renewal_s: Optional[float]
    renewal_failures: int
    expires_in_s: Optional[float]
    leases: int
    recovery: Optional[Dict[str, Any]]


class StatusResult(TypedDict):
    """``status``, ``add_lockspace`` and ``rem_lockspace``."""

    host_name: str
    clients: int
    lockspaces: List[LockspaceStatus]
    leases: List[LeaseStatus]
    busy: int
    watchdog: Dict[str, Any]


class HostStatus(TypedDict):
    """Another host of a lockspace, as this host sees it."""

    host_id: int
    generation: int
    state: str
    name: str
    timestamp: int
    io_timeout: int
    last_renewal_s: float
    dead_in_s: Optional[float]
    local: bool


class HostsResult(TypedDict):
    """``hosts``."""

    lockspace: str
    hosts: List[HostStatus]


class RequestResult(TypedDict):
    """``request``: the owner asked to give the resource up, if owned."""

    owner_id: Optional[int]
