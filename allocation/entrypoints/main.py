"""The `allocation` executable: starts Prefect's temporary server early for `allocation run`.

Prefect's temporary server takes about 5 s to boot; the command line's own imports (Typer,
Polars, DuckDB, pandera, Prefect) about 3 s more. This launcher imports nothing heavy: for
`allocation run` it starts the server first, so that the two boot side by side on two cores,
then hands over to the command line, whose `run` picks the started server up.
"""

from __future__ import annotations

import sys

from allocation.entrypoints import prefect_server


def main() -> None:
    """Run the `allocation` command line."""
    if sys.argv[1:2] == ["run"] and not {"--help", "-h"} & set(sys.argv):
        prefect_server.start_unless_configured()
    from allocation.entrypoints.cli import app

    app()


if __name__ == "__main__":
    main()
