"""Real leased daemons on a scratch lease file, for the tests.

The binaries come from ``LEASED_BIN`` and ``LEASE_BIN`` (the Rust test
``tests/python_client.rs`` sets them). A scratch file needs a filesystem
with direct I/O: ``LEASE_TEST_TMPDIR`` names one (the Rust test passes its
target directory), else the system's temporary directory is used.
"""

import os
import signal
import subprocess
import tempfile
import time
from typing import Callable, List, Optional, Sequence, TypeVar

from lease_client import Client, LeaseError

T = TypeVar("T")

#: Seconds a daemon has to start answering, or to stop.
START_S = 15.0
#: The lockspace every test cluster has, and its io_timeout (short: joins are quick).
LOCKSPACE = "ls"
IO_TIMEOUT_S = 1


def wait_for(what: str, probe: Callable[[], Optional[T]], limit_s: float = 10.0) -> T:
    """Polls ``probe`` every 20 ms until it returns something other than
    None; fails the test after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {limit_s} s")
        time.sleep(0.02)


def scratch_dir() -> str:
    """A new directory for one cluster's files."""
    parent = os.environ.get("LEASE_TEST_TMPDIR") or None
    if parent:
        os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix="pyclient-", dir=parent)


class LeaseFile:
    """A lease file: lockspace ``ls`` at 0 and resources r1..rN at 1 MiB steps."""

    def __init__(self, lease_bin: str, directory: str, resources: int) -> None:
        self.lease_bin = lease_bin
        self.path = os.path.join(directory, "leases.img")
        self.resources = resources
        with open(self.path, "wb") as image:
            image.write(bytes((resources + 1) << 20))
        run(
            [
                lease_bin,
                "direct",
                "init",
                "-s",
                f"{LOCKSPACE}:0:{self.path}:0",
                "--io-timeout",
                str(IO_TIMEOUT_S),
            ]
        )
        for r in range(1, resources + 1):
            run([lease_bin, "direct", "init", "-r", self.spec(r), "--num-hosts", "8"])

    def spec(self, r: int) -> str:
        """Resource ``r``'s spec, ``ls:rN:PATH:NM``."""
        if not 1 <= r <= self.resources:
            raise ValueError(f"the file has resources 1 to {self.resources}, not {r}")
        return f"{LOCKSPACE}:r{r}:{self.path}:{r}M"

    def lockspace(self, host_id: int) -> str:
        return f"{LOCKSPACE}:{host_id}:{self.path}:0"


class Leased:
    """One ``leased`` process, as one host: its own run and state directories."""

    def __init__(
        self,
        leased_bin: str,
        lease_bin: str,
        directory: str,
        host_name: str,
        extra_args: Sequence[str] = (),
        extra_env: Optional[dict] = None,
    ) -> None:
        self.lease_bin = lease_bin
        self.host_name = host_name
        self.run_dir = os.path.join(directory, f"run-{host_name}")
        state_dir = os.path.join(directory, f"state-{host_name}")
        config = os.path.join(directory, "leased.conf")
        open(config, "a").close()  # an empty configuration: /etc/leased is not read
        self.log_path = os.path.join(directory, f"{host_name}.log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    leased_bin,
                    "--config",
                    config,
                    "--run-dir",
                    self.run_dir,
                    "--state-dir",
                    state_dir,
                    "--host-name",
                    host_name,
                    "--watchdog",
                    "none",
                    *extra_args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env={
                    **os.environ,
                    "RUST_LOG": "info",
                    "LEASED_RUN_DIR": self.run_dir,
                    **(extra_env or {}),
                },
            )
        wait_for(f"leased {host_name} answers", self._answers, START_S)

    def _answers(self) -> Optional[bool]:
        if self.process.poll() is not None:
            raise AssertionError(f"leased {self.host_name} exited at start: {self.log()}")
        try:
            with Client(run_dir=self.run_dir) as client:
                client.version()
            return True
        except LeaseError:
            return None

    def client(self) -> Client:
        return Client(run_dir=self.run_dir)

    def lease(self, *args: str) -> str:
        """Runs the ``lease`` command against this daemon; its stdout."""
        return run([self.lease_bin, *args], {"LEASED_RUN_DIR": self.run_dir})

    def join(self, lockspace: str) -> None:
        self.lease("add-lockspace", "-s", lockspace, "--wait")

    def log(self) -> str:
        with open(self.log_path, errors="replace") as log:
            return log.read()[-4000:]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(START_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run(argv: List[str], env: Optional[dict] = None) -> str:
    """Runs a command, failing with its output unless it exits 0."""
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise AssertionError(f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout
