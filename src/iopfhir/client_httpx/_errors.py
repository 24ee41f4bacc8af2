"""``httpx`` failures mapped to :mod:`iopfhir.errors`, for the sync and the async transport."""

from __future__ import annotations

import httpx

from iopfhir.client.transport import Request
from iopfhir.errors import ConnectTimeout, ReadTimeout, TransportError

__all__ = ["map_error"]


def map_error(exc: httpx.HTTPError, request: Request) -> TransportError:
    """The :mod:`iopfhir.errors` exception for an ``httpx`` failure (both transports)."""
    method, url = request.method, request.url
    if isinstance(exc, httpx.ConnectTimeout):
        return ConnectTimeout("connection timed out", method=method, url=url)
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout | httpx.PoolTimeout):
        return ReadTimeout("server did not answer in time", method=method, url=url)
    if isinstance(exc, httpx.ConnectError):
        return TransportError(f"connection failed ({type(exc).__name__})", method=method, url=url)
    return TransportError(f"connection broken ({type(exc).__name__})", method=method, url=url)
