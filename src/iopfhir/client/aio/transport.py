"""The async transport contract, and an in-memory async transport for tests.

:class:`AsyncTransport` is :class:`~iopfhir.client.transport.Transport` awaited: one HTTP
exchange (``await handle(request, timeout=...)``, ``await close()``), no redirects, no
credentials, no retries, failures mapped to :mod:`iopfhir.errors`; the overall deadline
``Timeout.total`` bounds the whole exchange. :class:`AsyncStreamingTransport` adds
``stream(request, timeout=, sink=)`` for Bulk Data files (the sink's writer is called
with each chunk, synchronously). Transports are plugins of the entry-point group
``iopfhir.async_transports`` (``httpx``: :class:`iopfhir.client_httpx.AsyncHttpxTransport`,
the default; ``memory``: :class:`AsyncMemoryTransport`).

:class:`AsyncMemoryTransport` answers from a handler (sync or async) and records every
request, and how many were in flight at once (:attr:`AsyncMemoryTransport.max_in_flight`),
so tests can check bounded concurrency without a network.

Imports :mod:`iopfhir.errors` and :mod:`iopfhir.client.transport`.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from iopfhir.client.memory import scripted
from iopfhir.client.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    BodyBound,
    BodySink,
    BodyWriter,
    Request,
    Response,
    Timeout,
)
from iopfhir.errors import ClientError

__all__ = [
    "AsyncHandler",
    "AsyncMemoryTransport",
    "AsyncStreamingTransport",
    "AsyncTransport",
    "aread_bounded",
    "awrite_streamed",
]


@runtime_checkable
class AsyncTransport(Protocol):
    """Moves one request and returns its response, awaited; raises only ``ClientError``s."""

    async def handle(self, request: Request, *, timeout: Timeout) -> Response:
        """Send ``request`` and return the complete response (no redirects followed)."""
        ...

    async def close(self) -> None:
        """Release pooled connections. The transport is unusable afterwards."""
        ...


@runtime_checkable
class AsyncStreamingTransport(AsyncTransport, Protocol):
    """An async transport that can also stream a response body to a :data:`BodySink`."""

    async def stream(self, request: Request, *, timeout: Timeout, sink: BodySink) -> Response:
        """As :meth:`handle`; a body the sink takes goes to its writer chunk by chunk."""
        ...


async def aread_bounded(
    chunks: AsyncIterable[bytes], declared_length: str | None, limit: int, request: Request
) -> bytes:
    """:func:`~iopfhir.client.transport.read_bounded` over async chunks: the same bound
    (:class:`~iopfhir.client.transport.BodyBound`)."""
    bound = BodyBound(declared_length, limit, request)
    body: list[bytes] = []
    async for chunk in chunks:
        bound.add(chunk)
        body.append(chunk)
    return b"".join(body)


async def awrite_streamed(chunks: AsyncIterable[bytes], write: BodyWriter) -> int:
    """Hand every chunk to ``write`` (memory: one chunk); return the bytes written."""
    size = 0
    async for chunk in chunks:
        if chunk:
            write(chunk)
            size += len(chunk)
    return size


AsyncHandler = Callable[[Request], "Response | Awaitable[Response]"]


class AsyncMemoryTransport:
    """An :class:`AsyncTransport` that answers from ``handler`` (a function or coroutine
    function); ``requests`` lists what it was sent, ``max_in_flight`` the most requests
    it was handling at one time."""

    def __init__(
        self, handler: AsyncHandler, *, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    ) -> None:
        self._handler = handler
        self.max_response_bytes = max_response_bytes
        self.requests: list[Request] = []
        self.timeouts: list[Timeout] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed = False

    @classmethod
    def sequence(
        cls, script: Iterable[Response | ClientError], **kwargs: Any
    ) -> AsyncMemoryTransport:
        """Answer request N with script item N (raising it when it is an error)."""
        return cls(scripted(script), **kwargs)

    async def handle(self, request: Request, *, timeout: Timeout) -> Response:
        """Record the request and answer it from the handler."""
        if self.closed:
            raise RuntimeError("transport is closed")
        self.requests.append(request)
        self.timeouts.append(timeout)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            answer = self._handler(request)
            response = await answer if inspect.isawaitable(answer) else answer
        finally:
            self.in_flight -= 1
        BodyBound(None, self.max_response_bytes, request).add(response.body)
        if not response.url:
            response = Response(response.status, response.headers, response.body, request.url)
        return response

    async def close(self) -> None:
        """Mark the transport closed."""
        self.closed = True
