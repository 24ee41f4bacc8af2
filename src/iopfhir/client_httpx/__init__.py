"""An optional transport on ``httpx`` (install ``iopfhir[httpx]``).

Registered as the ``httpx`` plugin of the ``iopfhir.transports`` entry-point group, so
``FhirClient(base, transport="httpx")`` finds it. Same contract as the default transport:
pooled connections, explicit timeouts, TLS verification on unless explicitly turned off
(with a logged warning), no redirects, a bounded streaming read; every ``httpx``
exception is mapped to :mod:`iopfhir.errors` here.

The overall deadline (``Timeout.total``) is kept with a
:class:`~iopfhir.client.transport.Deadline`: the socket of the exchange is registered
with it as soon as it is known (from httpcore's ``connect_tcp`` trace event for a new
connection, from the response's ``network_stream`` for a reused one), and shut down when
the time is up; the body is also checked against the deadline after every chunk. ``stream`` (a
:class:`~iopfhir.client.transport.StreamingTransport`) hands a body the caller's sink
takes to its writer chunk by chunk.

:class:`AsyncHttpxTransport` (:mod:`.aio`, on ``httpx.AsyncClient``) is the ``httpx``
plugin of ``iopfhir.async_transports``, the default of ``AsyncFhirClient``.
"""

from __future__ import annotations

import socket
from typing import Any

import httpx

from iopfhir.client.security import check_tls_verification
from iopfhir.client.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    BodySink,
    Deadline,
    Headers,
    Request,
    Response,
    Timeout,
    read_bounded,
    write_streamed,
)
from iopfhir.errors import TransportError

from ._errors import map_error
from .aio import AsyncHttpxTransport

__all__ = ["AsyncHttpxTransport", "HttpxTransport"]


def _shutdown_action(stream: Any) -> Any:
    """An abort action that shuts the socket of an httpcore network stream down."""
    get = getattr(stream, "get_extra_info", None)
    sock = get("socket") if callable(get) else None

    def abort() -> None:
        if isinstance(sock, socket.socket):
            # The plain socket's shutdown, also for TLS (see requests_transport).
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    return abort


class HttpxTransport:
    """A :class:`~iopfhir.client.transport.Transport` on a pooled ``httpx.Client``."""

    def __init__(
        self,
        *,
        verify: bool | str = True,
        allow_unverified_tls: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        http2: bool = False,
        client: httpx.Client | None = None,
    ) -> None:
        check_tls_verification(verify, allow_unverified_tls=allow_unverified_tls)
        self.max_response_bytes = max_response_bytes
        self._client = client or httpx.Client(
            verify=verify, follow_redirects=False, http2=http2, trust_env=True
        )

    def handle(self, request: Request, *, timeout: Timeout) -> Response:
        """Send one request; no redirects, no retries; the body is read under the bound,
        and the whole exchange within ``timeout.total``."""
        with Deadline(timeout.total, request) as deadline:
            try:
                return self._exchange(request, timeout, deadline)
            except httpx.HTTPError as exc:
                raise _map(exc, request, deadline) from exc

    def stream(self, request: Request, *, timeout: Timeout, sink: BodySink) -> Response:
        """As :meth:`handle`, but a body ``sink`` takes goes to its writer chunk by chunk."""
        with Deadline(timeout.total, request) as deadline:
            try:
                return self._exchange(request, timeout, deadline, sink)
            except httpx.HTTPError as exc:
                raise _map(exc, request, deadline) from exc

    def _exchange(
        self, request: Request, timeout: Timeout, deadline: Deadline, sink: BodySink | None = None
    ) -> Response:
        def trace(event: str, info: dict[str, Any]) -> None:
            if event == "connection.connect_tcp.complete":
                deadline.on_expire(_shutdown_action(info.get("return_value")))

        connect, read = timeout.socket_timeouts()
        with self._client.stream(
            request.method,
            request.url,
            headers=list(request.headers.items()),
            content=request.body or None,
            timeout=httpx.Timeout(read, connect=connect),
            extensions={"trace": trace},
        ) as raw:
            deadline.on_expire(_shutdown_action(raw.extensions.get("network_stream")))
            deadline.check()
            head = Response(raw.status_code, Headers(raw.headers.multi_items()), b"", request.url)
            write = sink(head) if sink is not None else None
            if write is not None:
                write_streamed(raw.iter_bytes(), write, deadline)
                return head
            body = read_bounded(
                raw.iter_bytes(),
                raw.headers.get("Content-Length"),
                self.max_response_bytes,
                request,
                deadline,
            )
            return Response(head.status, head.headers, body, request.url)

    def close(self) -> None:
        """Close the underlying ``httpx.Client``."""
        self._client.close()


def _map(exc: httpx.HTTPError, request: Request, deadline: Deadline) -> TransportError:
    if deadline.passed():
        # Whatever broke, it broke once the deadline had passed: the watchdog shut the
        # socket down, or the socket's own timeout (never longer than the deadline) fired
        # first, before the watchdog's thread ran (a loaded machine)
        return deadline.error()
    return map_error(exc, request)
