"""Entrypoints: the `allocation` command line."""
