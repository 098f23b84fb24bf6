"""The `allocation` executable (the console script `pyproject.toml` names)."""

from __future__ import annotations

from allocation.entrypoints.cli import app


def main() -> None:
    """Run the `allocation` command line."""
    app()


if __name__ == "__main__":
    main()
