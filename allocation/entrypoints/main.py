"""The `allocation` executable (the console script `pyproject.toml` names)."""

from __future__ import annotations

import gc

from allocation.entrypoints.cli import app


def main() -> None:
    """Run the `allocation` command line."""
    # What the imports made lives as long as the process: frozen, it is left out of every
    # collection, the interpreter's last one at exit included (0.09 s of a one-line command).
    gc.freeze()
    app()


if __name__ == "__main__":
    main()
