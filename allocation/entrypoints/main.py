"""The `allocation` executable: starts Prefect's temporary server early for `allocation run`.

Prefect's temporary server takes about 5 s to boot; the command line's own imports (Typer,
Polars, DuckDB, pandera, Prefect) about 3 s more. This launcher imports nothing heavy: for
`allocation run` it starts the server first, so that the two boot side by side on two cores,
then hands over to the command line, whose `run` picks the started server up.
"""

from __future__ import annotations

import atexit
import os
import sys

from allocation.entrypoints import prefect_server
from allocation.entrypoints.startup import collector_paused


def main() -> None:
    """Run the `allocation` command line."""
    nightly_run = sys.argv[1:2] == ["run"] and not {"--help", "-h"} & set(sys.argv)
    if nightly_run:
        prefect_server.start_unless_configured()
    with collector_paused():
        from allocation.entrypoints.cli import app

    if not nightly_run:
        app()
        return
    try:
        app()
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            status = done.code or 0
        else:  # a message, which Python itself would print before exiting with status 1
            print(done.code, file=sys.stderr)
            status = 1
    else:
        status = 0
    # The run is over and its exit hooks (Prefect's, the server's, logging's) run now; then
    # the process ends without Python taking apart the thousands of modules Prefect loaded,
    # which costs about 0.8 s for nothing.
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(status)


if __name__ == "__main__":
    main()
