"""The async ``httpx`` transport: ``AsyncHttpxTransport`` on a pooled ``httpx.AsyncClient``.

Registered as the ``httpx`` plugin of the ``iopfhir.async_transports`` entry-point group,
the default transport of :class:`~iopfhir.client.aio.AsyncFhirClient`. The contract of the
sync :class:`~iopfhir.client_httpx.HttpxTransport`, awaited: explicit timeouts, TLS
verification on unless explicitly turned off (with a logged warning), no redirects, a
bounded streaming read, every ``httpx`` exception mapped to :mod:`iopfhir.errors`. The
overall deadline ``Timeout.total`` is an ``asyncio.timeout`` around the whole exchange
(connect, send, the whole body), so a server that drips bytes cannot hold a task;
cancelling the task cancels the exchange and returns the connection to the pool.
"""

from __future__ import annotations

import asyncio

import httpx

from iopfhir.client.aio.transport import aread_bounded, awrite_streamed
from iopfhir.client.security import check_tls_verification
from iopfhir.client.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    BodySink,
    Headers,
    Request,
    Response,
    Timeout,
)
from iopfhir.errors import ReadTimeout

from ._errors import map_error

__all__ = ["AsyncHttpxTransport"]


class AsyncHttpxTransport:
    """An :class:`~iopfhir.client.aio.AsyncTransport` on a pooled ``httpx.AsyncClient``."""

    def __init__(
        self,
        *,
        verify: bool | str = True,
        allow_unverified_tls: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        http2: bool = False,
        max_connections: int = 100,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        check_tls_verification(verify, allow_unverified_tls=allow_unverified_tls)
        self.max_response_bytes = max_response_bytes
        limits = httpx.Limits(max_connections=max_connections)
        self._client = client or httpx.AsyncClient(
            verify=verify, follow_redirects=False, http2=http2, trust_env=True, limits=limits
        )

    async def handle(self, request: Request, *, timeout: Timeout) -> Response:
        """Send one request; no redirects, no retries; the body is read under the bound,
        and the whole exchange within ``timeout.total``."""
        return await self._bounded(request, timeout, None)

    async def stream(self, request: Request, *, timeout: Timeout, sink: BodySink) -> Response:
        """As :meth:`handle`, but a body ``sink`` takes goes to its writer chunk by chunk."""
        return await self._bounded(request, timeout, sink)

    async def _bounded(self, request: Request, timeout: Timeout, sink: BodySink | None) -> Response:
        try:
            async with asyncio.timeout(timeout.total):
                return await self._exchange(request, timeout, sink)
        except TimeoutError:
            raise ReadTimeout(
                f"no complete answer within the {timeout.total:g} s overall deadline",
                method=request.method,
                url=request.url,
            ) from None
        except httpx.HTTPError as exc:
            raise map_error(exc, request) from exc

    async def _exchange(
        self, request: Request, timeout: Timeout, sink: BodySink | None
    ) -> Response:
        connect, read = timeout.socket_timeouts()
        async with self._client.stream(
            request.method,
            request.url,
            headers=list(request.headers.items()),
            content=request.body or None,
            timeout=httpx.Timeout(read, connect=connect),
        ) as raw:
            head = Response(raw.status_code, Headers(raw.headers.multi_items()), b"", request.url)
            write = sink(head) if sink is not None else None
            if write is not None:
                await awrite_streamed(raw.aiter_bytes(), write)
                return head
            body = await aread_bounded(
                raw.aiter_bytes(),
                raw.headers.get("Content-Length"),
                self.max_response_bytes,
                request,
            )
            return Response(head.status, head.headers, body, request.url)

    async def close(self) -> None:
        """Close the underlying ``httpx.AsyncClient``."""
        await self._client.aclose()
