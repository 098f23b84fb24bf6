"""A throwaway Dask cluster for tests: a scheduler and workers as processes on 127.0.0.1."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3server import free_port

BIN = Path(sys.executable).parent
"""The venv's scripts: `dask` comes with the project's dependencies."""

START_TIMEOUT = 60.0
_numbers = itertools.count()


@dataclass
class LocalCluster:
    """A running scheduler and its workers, each a process this test started, by name."""

    address: str
    scheduler: subprocess.Popen[bytes]
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def add_workers(self, count: int = 1) -> None:
        """Start `count` more workers (one thread, no nanny) and wait until the scheduler
        sees them all."""
        names = {f"test-worker-{next(_numbers)}" for _ in range(count)}
        for name in names:
            self.workers[name] = _spawn(
                *("worker", self.address, "--name", name, "--host", "127.0.0.1"),
                *("--nthreads", "1", "--no-nanny", "--no-dashboard"),
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not names <= set(self.scheduler_view()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the scheduler did not see all of {sorted(names)} start")
            time.sleep(0.2)

    def kill(self, name: str) -> None:
        """SIGKILL one worker, as a machine that vanishes would: its tasks and results go."""
        kill(self.workers.pop(name))

    def kill_workers(self) -> None:
        """SIGKILL every worker."""
        for name in list(self.workers):
            self.kill(name)

    def scheduler_view(self) -> dict[str, int]:
        """Each worker the scheduler knows, by name: how many tasks it holds or is running."""
        from distributed import Client

        # distributed's Client has no type hints on its constructor
        client: Any = Client(self.address, timeout=START_TIMEOUT, set_as_default=False)  # type: ignore[no-untyped-call]
        with client:
            processing, held = client.processing(), client.has_what()
            return {
                str(worker["name"]): len(processing.get(address, ())) + len(held.get(address, ()))
                for address, worker in client.scheduler_info()["workers"].items()
            }

    @contextmanager
    def tasks_run(self) -> Iterator[list[str]]:
        """The keys of the tasks the workers ran while the block ran (filled in at its end)."""
        from distributed import Client, get_task_stream

        keys: list[str] = []
        client: Any = Client(self.address, timeout=START_TIMEOUT, set_as_default=False)  # type: ignore[no-untyped-call]
        with client, get_task_stream(client) as stream:
            yield keys
        keys.extend(str(task["key"]) for task in stream.data)


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "dask"), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process and reap it."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


@contextmanager
def running_cluster(workers: int = 2) -> Iterator[LocalCluster]:
    """A scheduler on a free port of 127.0.0.1 and `workers` workers; all killed at the end."""
    port = free_port()
    scheduler = _spawn("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
    cluster = LocalCluster(address=f"tcp://127.0.0.1:{port}", scheduler=scheduler)
    try:
        cluster.add_workers(workers)
        yield cluster
    finally:
        cluster.kill_workers()
        kill(scheduler)
