"""Plans a night's shards on an existing Dask cluster, as Prefect tasks, through prefect-dask.

Each shard's frames travel to a worker through Dask's comms (packed by `shard_transport`), and
its plan comes back the same way: a worker never opens the warehouse or the inbox, so it needs
neither the warehouse file nor the inbox's paths, only this package (to plan) and the Prefect
API the run reports to. Dask and prefect-dask are imported when a night asks for the cluster,
never at start-up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from allocation.adapters.shard_transport import (
    PackedPlan,
    PackedShard,
    pack_plan,
    pack_shard,
    unpack_plan,
    unpack_shard,
)
from allocation.domain.policy import Policy
from allocation.engine.plan import NightPlan
from allocation.engine.shards import ShardInputs, plan_shard

if TYPE_CHECKING:
    from distributed import Client
    from prefect import Task
    from prefect.futures import PrefectFuture

SHARDS_PER_WORKER: Final = 2
"""Shards in flight per worker: one planning, one on its way, so no worker waits for input."""

_POLL_SECONDS: Final = 0.5
"""How often a wait for a shard's plan checks that the cluster still has a worker."""


class ClusterUnavailable(Exception):  # noqa: N818 - says what is wrong
    """The Dask cluster could not be reached, or lost every worker and got none back in time."""


def plan_packed_shard(shard: PackedShard, policy: Policy) -> PackedPlan:
    """Plan a shard that travelled packed, and pack its plan to travel back."""
    return pack_plan(plan_shard(unpack_shard(shard), policy))


@cache
def plan_shard_task() -> Task[[PackedShard, Policy], PackedPlan]:
    """The Prefect task "plan shard": `plan_packed_shard` as a task run on a Dask worker.

    No cache and no persisted result: the plan goes back through Dask, and a shard's plan is a
    pure function of frames that exist only for this run. No retries either: a pure plan that
    raised would raise again; a lost worker is Dask's to handle, by planning the shard again.
    """
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    return task(name="plan shard", cache_policy=NO_CACHE, persist_result=False)(plan_packed_shard)


class DaskPlanner:
    """Plans shards on the Dask cluster at `address`, a few per worker at a time, in order.

    `timeout`: seconds to reach the scheduler, and to wait for a worker when it has none.
    """

    def __init__(self, address: str, timeout: float) -> None:
        self.address = address
        self.timeout = timeout

    def plans(self, shards: Iterable[ShardInputs], policy: Policy) -> Iterator[NightPlan]:
        """Each shard's plan, in the shards' order, with a bounded number of shards in flight.

        Raises `ClusterUnavailable` if the scheduler does not answer within the timeout, or if
        the cluster has no worker for that long while a shard waits.
        """
        with self._task_runner() as runner:
            in_flight: deque[PrefectFuture[PackedPlan]] = deque()
            limit = SHARDS_PER_WORKER * self._wait_for_workers(runner.client)
            for shard in shards:
                in_flight.append(
                    runner.submit(plan_shard_task(), {"shard": pack_shard(shard), "policy": policy})
                )
                if len(in_flight) >= limit:
                    yield self._plan(in_flight.popleft(), runner.client)
            while in_flight:
                yield self._plan(in_flight.popleft(), runner.client)

    @contextmanager
    def _task_runner(self) -> Iterator[Any]:
        """prefect-dask's task runner, connected to the scheduler, with the run's Prefect API."""
        import dask
        from prefect.settings import PREFECT_API_URL, temporary_settings
        from prefect_dask.task_runners import DaskTaskRunner

        runner = DaskTaskRunner(address=self.address, client_kwargs={"timeout": self.timeout})
        # Task runs on the workers report to the API this run uses: when it is Prefect's
        # temporary server, its address is this process's only, so it is handed on with the
        # settings every task carries (a worker would otherwise start a server of its own).
        api = temporary_settings({PREFECT_API_URL: _api_url()})
        # A shard's inputs ride in its task on purpose, however large: the scheduler keeps
        # them until the plan is back, so it can plan the shard again if its worker is lost
        # (inputs scattered to a worker would be lost with it). Dask warns of large tasks.
        quiet = dask.config.set({"distributed.admin.large-graph-warning-threshold": "1TiB"})
        with api, quiet, runner:
            try:
                runner.client  # noqa: B018 - connects now, so an unreachable scheduler fails here
            except (OSError, TimeoutError) as error:
                raise ClusterUnavailable(
                    f"the Dask scheduler at {self.address} did not answer within "
                    f"{self.timeout:g} s ({_one_line(error)})"
                ) from None
            yield runner

    def _wait_for_workers(self, client: Client) -> int:
        """How many workers the cluster has, once it has one (at most `timeout` seconds)."""
        try:
            client.wait_for_workers(1, timeout=self.timeout)
        except TimeoutError:
            raise self._no_worker() from None
        return _workers(client)

    def _plan(self, future: PrefectFuture[PackedPlan], client: Client) -> NightPlan:
        """A shard's plan once it is made; fail if the cluster stays without workers too long."""
        from distributed import KilledWorker

        alone_since: float | None = None
        try:
            while not future.wrapped_future.done():  # type: ignore[attr-defined]
                future.wait(timeout=_POLL_SECONDS)
                if _workers(client):
                    alone_since = None
                elif alone_since is None:
                    alone_since = time.monotonic()
                elif time.monotonic() - alone_since > self.timeout:
                    raise self._no_worker()
            return unpack_plan(future.result())
        except KilledWorker as error:
            raise ClusterUnavailable(
                f"a shard's plan killed every Dask worker that tried it ({_one_line(error)})"
            ) from None
        except (OSError, asyncio.CancelledError, concurrent.futures.CancelledError) as error:
            raise ClusterUnavailable(
                f"lost the Dask scheduler at {self.address} ({_one_line(error)})"
            ) from None

    def _no_worker(self) -> ClusterUnavailable:
        return ClusterUnavailable(
            f"the Dask cluster at {self.address} had no worker for {self.timeout:g} s"
        )


def _api_url() -> str | None:
    """The Prefect API this process uses: the one set, else its temporary server's (started)."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL

    configured: str | None = PREFECT_API_URL.value()
    if configured:
        return configured
    with get_client(sync_client=True) as client:
        return str(client.api_url)


def _workers(client: Client) -> int:
    """How many workers the scheduler knows now."""
    return len(client.scheduler_info()["workers"])


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
