"""The blocking send, and the FHIR JSON requests every interaction starts from.

:func:`send` runs the one send loop, :func:`._flow.send_flow` (retry → auth flow →
redirects → one exchange, every rule of the client: see :mod:`._flow`), over a blocking
:class:`~iopfhir.client.transport.Transport`, sleeping with the caller's ``sleep``.
``AsyncFhirClient`` runs the same flow awaiting (:func:`._flow.arun_flow`).

With a ``sink`` (:data:`~iopfhir.client.transport.BodySink`), a body the sink takes is
streamed to it (:meth:`StreamingTransport.stream`; a transport that cannot stream reads
the body whole, under the size bound, and hands it over in one piece); every attempt calls
the sink again, so a retried download starts over.

The loop reads its settings from a :class:`Connection` (a ``FhirClient`` is one) on
every request rather than copying them, because callers replace them on a live client
(a push wraps ``client.transport`` in a round-trip counter). :func:`build_request` makes
the FHIR JSON request every interaction starts from.

Imports the client's lower modules (transport, auth, retry, syntax, the flow).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import orjson

from ._flow import Settings, deliver_whole, run_flow, send_flow
from ._syntax import FHIR_JSON, Resource
from .transport import (
    BodySink,
    Headers,
    Request,
    Response,
    StreamingTransport,
    Transport,
)

__all__ = ["Connection", "build_request", "send"]

_USER_AGENT = "iopfhir/0.1"


class Connection(Settings, Protocol):
    """The settings the send loop reads, each time it sends, and the blocking transport."""

    @property
    def transport(self) -> Transport: ...


def build_request(
    method: str,
    url: str,
    extra_headers: Mapping[str, str],
    *,
    body: Resource | None = None,
    headers: Mapping[str, str] | None = None,
) -> Request:
    """A FHIR JSON request: ``Accept``, ``User-Agent``, the client's headers, then ours."""
    h: dict[str, str] = {"Accept": FHIR_JSON, "User-Agent": _USER_AGENT}
    h.update(extra_headers)
    payload = b""
    if body is not None:
        payload = orjson.dumps(body)
        h["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
    h.update(headers or {})
    return Request(method, url, Headers(h), payload)


def send(
    conn: Connection,
    request: Request,
    *,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    sink: BodySink | None = None,
) -> Response:
    """Send a request through retry, auth and redirects; return any final response.

    Error statuses are returned, not raised. ``sleep`` waits between retries and
    ``clock`` (wall-clock seconds) bounds them; both are injected so tests need no time.
    ``sink``: where a body goes instead of :attr:`Response.body` (see the module). The
    rules are :func:`._flow.send_flow`'s; this runs them over the blocking transport.
    """
    flow = send_flow(conn, request, clock=clock, sink=sink)
    return run_flow(flow, lambda step: _exchange(conn, step.request, step.sink), sleep)


def _exchange(conn: Connection, request: Request, sink: BodySink | None) -> Response:
    transport = conn.transport
    if sink is None:
        return transport.handle(request, timeout=conn.timeout)
    if isinstance(transport, StreamingTransport):
        return transport.stream(request, timeout=conn.timeout, sink=sink)
    return deliver_whole(transport.handle(request, timeout=conn.timeout), sink)
