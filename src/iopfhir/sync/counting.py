"""A transport wrapper that counts HTTP round trips (one per exchange with the server)."""

from __future__ import annotations

import threading

from iopfhir.client import Request, Response, Timeout, Transport

__all__ = ["CountingTransport"]


class CountingTransport:
    """Wraps a :class:`~iopfhir.client.Transport`; ``count`` is the number of exchanges.

    Retries, redirects and token requests sent through the client's transport count too:
    they are real round trips.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.count = 0
        self._lock = threading.Lock()

    def handle(self, request: Request, *, timeout: Timeout) -> Response:
        with self._lock:
            self.count += 1
        return self.inner.handle(request, timeout=timeout)

    def close(self) -> None:
        self.inner.close()
