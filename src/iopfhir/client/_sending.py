"""The one send loop every interaction goes through, and the requests it sends.

:func:`send` is layered as::

    retry  →  auth flow  →  redirects  →  transport.handle

so a retried request gets a fresh pass through auth (a renewed token) and every hop of
a redirect is checked against the URL rules (:mod:`iopfhir.client.security`).

Redirects are followed on the request's own origin only (303 turns into a GET, 307/308
keep the method and body, at most ``max_redirects`` hops): a ``Location`` on another
origin raises :class:`~iopfhir.errors.CrossOriginRedirect` before anything is sent there,
because the request's path and query (an identifier search carries the MRN) would go with
it, and the other origin's answer would be trusted as the server's. Logs name requests by
:func:`~iopfhir.errors.request_label` (no query, no ids).

With a ``sink`` (:data:`~iopfhir.client.transport.BodySink`), a body the sink takes is
streamed to it (:meth:`StreamingTransport.stream`; a transport that cannot stream reads
the body whole, under the size bound, and hands it over in one piece); every attempt calls
the sink again, so a retried download starts over.

The loop reads its settings from a :class:`Connection` (a ``FhirClient`` is one) on
every request rather than copying them, because callers replace them on a live client
(a push wraps ``client.transport`` in a round-trip counter). :func:`build_request` makes
the FHIR JSON request every interaction starts from.

Imports :mod:`iopfhir.errors` and the client's lower modules (transport, auth, retry,
outcome, security, syntax).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import urljoin

import orjson

from iopfhir.errors import (
    ClientError,
    CrossOriginRedirect,
    MalformedResponse,
    ResponseTooLarge,
    RetryExhausted,
    request_label,
)

from ._syntax import FHIR_JSON, Resource
from .auth import Auth
from .outcome import error_for_response, parse_retry_after
from .retry import Retry
from .security import check_url
from .transport import (
    BodySink,
    Headers,
    Request,
    Response,
    StreamingTransport,
    Timeout,
    Transport,
    origin_of,
)

__all__ = ["Connection", "build_request", "send"]

log = logging.getLogger("iopfhir.client")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "iopfhir/0.1"


class Connection(Protocol):
    """The settings the send loop reads, each time it sends."""

    @property
    def transport(self) -> Transport: ...

    @property
    def auth(self) -> Auth: ...

    @property
    def retry(self) -> Retry: ...

    @property
    def timeout(self) -> Timeout: ...

    @property
    def max_redirects(self) -> int: ...

    @property
    def max_response_bytes(self) -> int: ...

    @property
    def allow_insecure_http(self) -> bool: ...


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
    ``sink``: where a body goes instead of :attr:`Response.body` (see the module).
    """
    check_url(request.url, allow_insecure_http=conn.allow_insecure_http)
    retry = conn.retry
    started = clock()
    while True:
        error: ClientError
        retry_after: float | None = None
        try:
            response = _send_authenticated(conn, request, sink)
        except ClientError as exc:
            if not (retry.total and retry.is_retryable_error(exc) and retry.is_retry_safe(request)):
                raise
            error = exc
        else:
            if not (
                retry.total
                and retry.is_retryable_status(response.status)
                and retry.is_retry_safe(request)
            ):
                return response
            error = error_for_response(request, response, now=clock)
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now=clock())
        retry = retry.increment(request, error)
        delay = retry.delay(retry_after)
        if delay is None or not retry.within_deadline(clock() - started, delay):
            raise RetryExhausted(
                f"gave up: the next retry would pass the retry time bound, last: {error.reason}",
                last=error,
            ) from error
        log.info(
            "retrying %s in %.2f s after %s (retry %d of %d)",
            request_label(request.method, request.url, origin=False),
            delay,
            type(error).__name__,
            len(retry.history),
            retry.total,
        )
        sleep(delay)


def _send_authenticated(conn: Connection, request: Request, sink: BodySink | None) -> Response:
    flow = conn.auth.auth_flow(request)
    try:
        outgoing = next(flow)
        while True:
            # the auth flow's own requests (a token endpoint) are read whole, not streamed
            mine = sink if outgoing.url == request.url else None
            response = _send_following_redirects(conn, outgoing, mine)
            try:
                outgoing = flow.send(response)
            except StopIteration:
                return response
    finally:
        flow.close()


def _send_following_redirects(
    conn: Connection, request: Request, sink: BodySink | None
) -> Response:
    for _ in range(conn.max_redirects + 1):
        check_url(request.url, allow_insecure_http=conn.allow_insecure_http)
        response = _send_single(conn, request, sink)
        location = response.headers.get("Location")
        if response.status not in _REDIRECTS or not location:
            return response
        try:
            target = urljoin(request.url, location)
            origin_of(target)
        except ValueError:
            raise MalformedResponse(
                f"HTTP {response.status} redirect to something that is not a URL",
                method=request.method,
                url=request.url,
            ) from None
        follow = _redirected(request, response.status, target)
        if follow is None:
            return response
        request = follow
    raise ClientError(
        f"more than {conn.max_redirects} redirects", method=request.method, url=request.url
    )


def _exchange(conn: Connection, request: Request, sink: BodySink | None) -> Response:
    transport = conn.transport
    if sink is None:
        return transport.handle(request, timeout=conn.timeout)
    if isinstance(transport, StreamingTransport):
        return transport.stream(request, timeout=conn.timeout, sink=sink)
    whole = transport.handle(request, timeout=conn.timeout)
    write = sink(Response(whole.status, whole.headers, b"", whole.url))
    if write is None:
        return whole
    if whole.body:
        write(whole.body)
    return Response(whole.status, whole.headers, b"", whole.url)


def _send_single(conn: Connection, request: Request, sink: BodySink | None = None) -> Response:
    started = time.perf_counter()
    try:
        response = _exchange(conn, request, sink)
    except ClientError as exc:
        log.info(
            "%s failed: %s (%.1f ms)",
            request_label(request.method, request.url, origin=False),
            type(exc).__name__,
            (time.perf_counter() - started) * 1000,
        )
        raise
    elapsed = (time.perf_counter() - started) * 1000
    log.debug(
        "%s -> %d (%.1f ms)",
        request_label(request.method, request.url, origin=False),
        response.status,
        elapsed,
    )
    if len(response.body) > conn.max_response_bytes:
        raise ResponseTooLarge(
            f"response body passed the {conn.max_response_bytes}-byte bound",
            method=request.method,
            url=request.url,
        )
    return response


def _origin_text(url: str) -> str:
    scheme, host, port = origin_of(url)
    host = f"[{host}]" if ":" in host else host
    return f"{scheme[:16]}://{host[:100]}:{port}"


def _redirected(request: Request, status: int, target: str) -> Request | None:
    """The request to send for a redirect, or ``None`` to not follow it."""
    if origin_of(request.url) != origin_of(target):
        raise CrossOriginRedirect(
            status,
            _origin_text(request.url),
            _origin_text(target),
            method=request.method,
            url=request.url,
        )
    method, body = request.method, request.body
    if status == 303 and method != "HEAD":
        method, body = "GET", b""
    elif method not in ("GET", "HEAD") and status in (301, 302):
        # Turning a write into a GET (as browsers do) would silently lose it.
        return None
    headers = request.headers
    if not body:
        headers = headers.without("Content-Type")
    return Request(method, target, headers, body)
