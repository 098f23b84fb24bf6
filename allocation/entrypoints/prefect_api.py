"""Prefect for a one-off `allocation run`, through Prefect's public settings and client only.

With no `PREFECT_API_URL` set, Prefect starts its own temporary server the first time a client
is asked for, and stops it when the process exits; with one set, that server is used. Either
way `allocation run` asks for a client and a health check before the flow starts, so that a
Prefect that does not answer is status 7 with its one line, and not a failure halfway through.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from allocation.entrypoints.exits import PrefectUnavailable, one_line

QUIET_PREFECT: Final[dict[str, str]] = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    # Prefect's log lines go to its API (`prefect flow-run logs`), not to the terminal: the
    # command says how the run ended itself, in one line (or with the traceback of a bug).
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    # The temporary server needs 4 to 8 s on this 2-core host; give a busy one room.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # No automations: a temporary server lives for one run, and its triggers and actions
    # services cost about 0.4 s of its boot. A running server keeps its own settings.
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
}
"""Prefect settings for a run on a host where nobody configured Prefect: offline and quiet.

No telemetry: a warehouse host is often offline, and a failed send would be logged every run.
"""


def quiet_prefect() -> None:
    """Keep Prefect quiet and offline in this process, unless the operator set otherwise.

    Call it before Prefect is imported: Prefect reads its settings from the environment then,
    and hands them to its temporary server.
    """
    for name, value in QUIET_PREFECT.items():
        os.environ.setdefault(name, value)


def connect() -> None:
    """Make sure the Prefect API answers: the one set, else Prefect's temporary server, started now.

    Raises `PrefectUnavailable` if it does not (Prefect raises a `RuntimeError` when its
    temporary server does not start in `PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`).
    """
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL

    configured = PREFECT_API_URL.value()
    try:
        with get_client(sync_client=True) as client:
            failure = client.api_healthcheck()
    except Exception as error:  # whatever stopped the client: the API cannot be used
        failure = error
    if failure is None:
        return
    if configured:
        raise PrefectUnavailable(
            f"the Prefect API at {configured} did not answer ({one_line(failure)}); "
            "check PREFECT_API_URL, or unset it to use Prefect's temporary server"
        )
    raise PrefectUnavailable(
        f"Prefect's temporary server did not start ({one_line(failure)}); "
        "set PREFECT_API_URL to use a running Prefect server"
    )


HEARTBEATS: Final = ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY")
"""Prefect's setting for flow-run heartbeats (and its older name)."""


@contextmanager
def one_off_run() -> Iterator[None]:
    """Prefect settings for the flow run `allocation run` makes: no heartbeats unless asked for.

    A flow run's heartbeat thread sleeps in 1 s steps and the run waits for it when it ends:
    up to a second on every run, a fifth of a 1M night's budget. Heartbeats serve only an
    automation that marks a silent run as crashed; an operator who has one sets
    `PREFECT_FLOWS_HEARTBEAT_FREQUENCY` and the run keeps sending them.
    """
    if any(name in os.environ for name in HEARTBEATS):
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
