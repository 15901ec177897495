"""Fixtures: real leased daemons on scratch lease files (see cluster.py)."""

import os
import shutil
import sys
from typing import Iterator, NamedTuple, Tuple

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cluster import LeaseFile, Leased, scratch_dir  # noqa: E402
from lease_client import Client  # noqa: E402

#: Set to 1 (as CI does) to fail, not skip, when the binaries are not given.
STRICT_ENV = "LEASE_TEST_STRICT"


class Cluster(NamedTuple):
    """A lease file and the daemons that joined its lockspace."""

    directory: str
    file: LeaseFile
    host: Leased


@pytest.fixture(scope="session")
def binaries() -> Tuple[str, str]:
    """The paths of leased and lease, from LEASED_BIN and LEASE_BIN."""
    leased, lease = os.environ.get("LEASED_BIN"), os.environ.get("LEASE_BIN")
    if not (leased and lease):
        why = "LEASED_BIN and LEASE_BIN are not set (cargo test --test python_client sets them)"
        if os.environ.get(STRICT_ENV) == "1":
            pytest.fail(f"{why}, and {STRICT_ENV}=1")
        pytest.skip(f"skipped: {why}")
    return leased, lease


def start_cluster(binaries: Tuple[str, str], resources: int) -> Cluster:
    directory = scratch_dir()
    leased, lease = binaries
    file = LeaseFile(lease, directory, resources)
    host = Leased(leased, lease, directory, "h1")
    try:
        host.join(file.lockspace(1))
    except BaseException:
        host.stop()
        raise
    return Cluster(directory, file, host)


@pytest.fixture(scope="module")
def cluster(binaries: Tuple[str, str]) -> Iterator[Cluster]:
    """One host joined to lockspace ``ls`` of a file with resources r1..r6,
    shared by the tests of a module."""
    started = start_cluster(binaries, resources=6)
    yield started
    started.host.stop()
    shutil.rmtree(started.directory, ignore_errors=True)


@pytest.fixture
def client(cluster: Cluster) -> Iterator[Client]:
    """A client of the cluster's host; whatever the test left held is released."""
    connection = cluster.host.client()
    yield connection
    connection.release(all=True)
    connection.close()
