"""The bridge from the async client to the sync push and pull code, for a worker thread.

The read-only steps of a push (capabilities, the look-up, the reference check, the
re-read of a merge) and the whole of a pull are the sync code of :mod:`iopfhir.sync`,
unchanged. :func:`blocking_twin` gives them a ``FhirClient`` with the async client's
settings (base URL, auth, retry, timeouts, headers) whose transport,
:class:`LoopTransport`, hands every exchange to the async client's transport on the event
loop and waits for it in the worker thread; the loop keeps serving other tasks
meanwhile. So the rules are the same send flow, the connections are the async client's
pool, and only the waiting differs.

Once :attr:`LoopTransport.stopped` is set (the task using it was cancelled or is done),
an exchange the thread still attempts fails at once with a ``ClientError`` the retry
policy does not repeat, so a cancelled push's worker ends without another request.
:meth:`LoopTransport.interrupt` is a Ctrl-C for the worker instead: the export's own
cancellation (DELETE of the job, the folder cleared) then runs as on a terminal.

Imports :mod:`iopfhir.client` and :mod:`iopfhir.errors`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from iopfhir.client import (
    AsyncFhirClient,
    AsyncStreamingTransport,
    AsyncTransport,
    BodySink,
    FhirClient,
    Request,
    Resource,
    Response,
    Timeout,
)
from iopfhir.client._flow import deliver_whole
from iopfhir.errors import ClientError

__all__ = ["AsyncCountingTransport", "LoopTransport", "blocking_twin"]


class LoopTransport:
    """A blocking :class:`~iopfhir.client.Transport` for a worker thread: each exchange
    runs on ``loop`` over the async transport ``inner`` (streamed when it can stream)."""

    def __init__(self, inner: AsyncTransport, loop: asyncio.AbstractEventLoop) -> None:
        self.inner = inner
        self.loop = loop
        self.stopped = threading.Event()
        self.interrupted = threading.Event()
        self._current: concurrent.futures.Future[Response] | None = None

    def stop(self) -> None:
        """End the worker's use of the loop: the exchange in flight is cancelled, and any
        further one fails at once (a ``ClientError`` that is not retried)."""
        self.stopped.set()
        current = self._current
        if current is not None:
            current.cancel()

    def interrupt(self) -> None:
        """Make the worker see a Ctrl-C: its exchange in flight is cancelled, and its next
        request or wait raises ``KeyboardInterrupt`` (once: its own clean-up may send)."""
        self.interrupted.set()
        current = self._current
        if current is not None:
            current.cancel()

    def _check(self, request: Request) -> None:
        if self.interrupted.is_set():
            self.interrupted.clear()
            raise KeyboardInterrupt
        if self.stopped.is_set():
            raise ClientError("stopped: the task was cancelled", method=request.method)

    def _wait(
        self, request: Request, start: Callable[[], Coroutine[Any, Any, Response]]
    ) -> Response:
        self._check(request)
        future = asyncio.run_coroutine_threadsafe(start(), self.loop)
        self._current = future
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            self._check(request)
            raise ClientError("stopped: the task was cancelled", method=request.method) from None
        finally:
            self._current = None

    def handle(self, request: Request, *, timeout: Timeout) -> Response:
        """Run the exchange on the loop; wait for it here (never call from the loop)."""
        return self._wait(request, lambda: self.inner.handle(request, timeout=timeout))

    def stream(self, request: Request, *, timeout: Timeout, sink: BodySink) -> Response:
        """As :meth:`handle`, the body streamed to ``sink`` (its writer runs on the loop)."""
        inner = self.inner
        if isinstance(inner, AsyncStreamingTransport):
            return self._wait(request, lambda: inner.stream(request, timeout=timeout, sink=sink))
        return deliver_whole(self.handle(request, timeout=timeout), sink)

    def sleep(self, seconds: float) -> None:
        """A wait for the worker (between polls) that an :meth:`interrupt` ends at once."""
        if self.interrupted.wait(seconds):
            self.interrupted.clear()
            raise KeyboardInterrupt

    def close(self) -> None:
        """Nothing: the async client owns (and closes) the transport."""


class AsyncCountingTransport:
    """Wraps an async transport; ``count`` is the number of exchanges (round trips)."""

    def __init__(self, inner: AsyncTransport) -> None:
        self.inner = inner
        self.count = 0

    async def handle(self, request: Request, *, timeout: Timeout) -> Response:
        self.count += 1  # the loop's thread only: no lock needed
        return await self.inner.handle(request, timeout=timeout)

    async def close(self) -> None:
        await self.inner.close()


def blocking_twin(
    client: AsyncFhirClient, transport: LoopTransport, *, capabilities: Resource | None = None
) -> FhirClient:
    """A ``FhirClient`` with ``client``'s settings over ``transport`` (for a worker thread);
    ``capabilities``: the server's CapabilityStatement already read, so the twin does not
    read it again (its ``capabilities()`` cache, seeded)."""
    twin = FhirClient(
        client.base_url,
        transport=transport,
        auth=client.auth,
        retry=client.retry,
        timeout=client.timeout,
        max_response_bytes=client.max_response_bytes,
        allow_insecure_http=client.allow_insecure_http,
        max_redirects=client.max_redirects,
        headers=client.extra_headers,
    )
    if capabilities is not None:
        twin._capabilities = capabilities  # the cache capabilities() reads first
    return twin
