"""In-memory transports for tests: answer from a function, never touch the network.

:class:`MemoryTransport` calls a handler for each request and records what it was sent;
the handler returns a :class:`Response` or raises a :class:`~iopfhir.errors.ClientError`
(``TransportError``, ``ReadTimeout``...) to simulate a network failure.
:meth:`MemoryTransport.sequence` answers from a fixed script. Size bounds are enforced
like a real transport, so ``ResponseTooLarge`` can be tested here too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from iopfhir.errors import ClientError, ResponseTooLarge

from .transport import DEFAULT_MAX_RESPONSE_BYTES, Headers, Request, Response, Timeout

__all__ = ["Handler", "MemoryTransport", "json_response", "scripted"]

Handler = Callable[[Request], Response]


def scripted(script: Iterable[Response | ClientError]) -> Handler:
    """A handler answering request N with script item N (raising it when it is an error);
    a request past the script's end fails the test that sent it."""
    items = list(script)
    position = iter(range(len(items)))

    def handler(request: Request) -> Response:
        try:
            item = items[next(position)]
        except StopIteration:
            raise AssertionError(f"unexpected extra request {request!r}") from None
        if isinstance(item, ClientError):
            raise item
        return item

    return handler


FHIR_JSON = "application/fhir+json"


def json_response(
    status: int,
    body: Mapping[str, Any] | list[Any] | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    url: str = "",
) -> Response:
    """A FHIR JSON response (``Content-Type: application/fhir+json``)."""
    h = {"Content-Type": f"{FHIR_JSON}; charset=utf-8", **(headers or {})}
    return Response(status, Headers(h), orjson.dumps(body) if body is not None else b"", url)


class MemoryTransport:
    """A :class:`~iopfhir.client.transport.Transport` that answers from ``handler``.

    ``requests`` lists every request handled, in order, so tests can assert on headers
    (for example that ``Authorization`` was not sent to another origin).
    """

    def __init__(
        self, handler: Handler, *, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    ) -> None:
        self._handler = handler
        self.max_response_bytes = max_response_bytes
        self.requests: list[Request] = []
        self.timeouts: list[Timeout] = []
        self.closed = False
        self._lock = threading.Lock()

    @classmethod
    def sequence(cls, script: Iterable[Response | ClientError], **kwargs: Any) -> MemoryTransport:
        """Answer request N with script item N (raising it when it is an error)."""
        return cls(scripted(script), **kwargs)

    def handle(self, request: Request, *, timeout: Timeout) -> Response:
        """Record the request and answer it from the handler."""
        if self.closed:
            raise RuntimeError("transport is closed")
        with self._lock:
            self.requests.append(request)
            self.timeouts.append(timeout)
        response = self._handler(request)
        if len(response.body) > self.max_response_bytes:
            raise ResponseTooLarge(
                f"response body passed the {self.max_response_bytes}-byte bound",
                method=request.method,
                url=request.url,
            )
        if not response.url:
            response = Response(response.status, response.headers, response.body, request.url)
        return response

    def close(self) -> None:
        """Mark the transport closed."""
        self.closed = True
