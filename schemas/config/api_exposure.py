"""The HTTP APIs refuse to listen beyond this machine with the token everybody knows.

``EVENTCART_API_TOKEN`` defaults to a value printed in the README, which is
fine while the APIs listen on loopback only (the default
``EVENTCART_API_HOST``). On any other address that token would let anyone who
has read the README send commands, so an API asked to bind there with it does
not start at all, rather than warn in a log nobody reads.
"""

from __future__ import annotations

import ipaddress

from schemas.config.settings import DEFAULT_API_TOKEN

__all__ = ["UnsafeExposureError", "check_api_exposure", "is_loopback"]


class UnsafeExposureError(RuntimeError):
    """An API asked to listen beyond loopback with the default token."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); False for every
    other name or address, wildcards (``0.0.0.0``, ``::``) included."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_api_exposure(host: str, token: str, api: str = "the API") -> None:
    """Raise :class:`UnsafeExposureError` when ``host`` is not loopback and ``token`` is the
    default; the message says which settings to change."""
    if token == DEFAULT_API_TOKEN and not is_loopback(host):
        raise UnsafeExposureError(
            f"{api} will not listen on {host} with the default token: set "
            "EVENTCART_API_TOKEN to a secret of your own (e.g. `openssl rand -hex 32`), or "
            "keep EVENTCART_API_HOST on loopback (127.0.0.1)"
        )
