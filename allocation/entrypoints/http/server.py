"""`allocation serve`: the app under uvicorn, refusing an open address without a token."""

from __future__ import annotations

import ipaddress

import uvicorn

from allocation.config import Settings
from allocation.entrypoints.exits import InvalidOption
from allocation.entrypoints.http.app import create_app


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine only (127.0.0.0/8, ::1 or `localhost`)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve the app on `host:port` until stopped; a non-loopback host needs a token."""
    if not is_loopback(host) and not settings.api_token:
        raise InvalidOption(
            f"refusing to serve on {host}, beyond this machine, without a token: "
            "set ALLOCATION_API_TOKEN"
        )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)
