"""The send loop as a sans-IO generator, and the two drivers that run it.

:func:`send_flow` is everything the client decides about one request: the URL rules,
retry and backoff (:mod:`.retry`, ``Retry-After``), the auth flow (:mod:`.auth`, a SMART
token fetch included), same-origin redirects, the size bound and the log lines. It does
no I/O and never sleeps: it *yields* steps and is sent their results::

    Exchange(request, sink)  →  the driver sends it over the transport and sends back
                                the Response (or throws the transport's ClientError in)
    Wait(seconds)            →  the driver sleeps, then sends back None
    Pending(future)          →  the driver waits until the future is done (another flow's
                                token request), then sends back None

and returns the final :class:`~.transport.Response`. :func:`run_flow` drives it with a
blocking transport and ``time.sleep`` (``FhirClient``); :func:`arun_flow` with an
:class:`~.aio.transport.AsyncTransport` and ``asyncio.sleep`` (``AsyncFhirClient``). The
rules therefore exist once; only the awaiting differs.

The loop is layered as::

    retry  →  auth flow  →  redirects  →  one exchange

so a retried request gets a fresh pass through auth (a renewed token) and every hop of a
redirect is checked against the URL rules (:mod:`.security`). Redirects are followed on
the request's own origin only (303 turns into a GET, 307/308 keep the method and body, at
most ``max_redirects`` hops): a ``Location`` on another origin raises
:class:`~iopfhir.errors.CrossOriginRedirect` before anything is sent there. Logs name
requests by :func:`~iopfhir.errors.request_label` (no query, no ids, no credentials).

The auth flow sees its own requests fail: a ``ClientError`` from sending one of them is
thrown into it (at its ``yield``), so a token request that other flows wait for hands them
its error (:class:`~.auth.Pending`). A driver that stops early (a cancelled task, Ctrl-C)
closes the generator, which closes the auth flow with it; a token request it had in flight
is then left to one of the flows waiting for it.

Imports :mod:`iopfhir.errors` and the client's lower modules.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin

from iopfhir.errors import (
    ClientError,
    CrossOriginRedirect,
    MalformedResponse,
    ResponseTooLarge,
    RetryExhausted,
    request_label,
)

from .auth import Auth, Pending
from .outcome import error_for_response, parse_retry_after
from .retry import Retry
from .security import check_url
from .transport import BodySink, Request, Response, Timeout, origin_of

__all__ = [
    "Exchange",
    "SendFlow",
    "Settings",
    "Wait",
    "arun_flow",
    "deliver_whole",
    "run_flow",
    "send_flow",
]

log = logging.getLogger("iopfhir.client")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Settings(Protocol):
    """The settings the send loop reads (a client is one, sync or async)."""

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


@dataclass(frozen=True, slots=True)
class Exchange:
    """Step: send ``request`` once over the transport (body to ``sink`` when it takes it)."""

    request: Request
    sink: BodySink | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """Step: wait ``seconds`` before the next attempt."""

    seconds: float


SendFlow = Generator[Exchange | Wait | Pending, Response | None, Response]


def send_flow(
    conn: Settings,
    request: Request,
    *,
    clock: Callable[[], float],
    sink: BodySink | None = None,
) -> SendFlow:
    """The steps of sending ``request`` through retry, auth and redirects (see the module).

    Returns any final response: error statuses are returned, not raised. ``clock``
    (wall-clock seconds) bounds the retries and reads ``Retry-After`` dates.
    """
    check_url(request.url, allow_insecure_http=conn.allow_insecure_http)
    retry = conn.retry
    started = clock()
    while True:
        error: ClientError
        retry_after: float | None = None
        try:
            response = yield from _authenticated(conn, request, sink)
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
        yield Wait(delay)


def _authenticated(conn: Settings, request: Request, sink: BodySink | None) -> SendFlow:
    flow = conn.auth.auth_flow(request)
    try:
        step = next(flow)
        while True:
            if isinstance(step, Pending):
                yield step  # the driver waits for another flow's token request
                step = next(flow)
                continue
            # the auth flow's own requests (a token endpoint) are read whole, not streamed
            mine = sink if step.url == request.url else None
            try:
                response = yield from _following_redirects(conn, step, mine)
            except ClientError as exc:
                # The flow learns its request failed (flows waiting for a token request get
                # its error); a flow that ends instead of raising it does not hide it.
                try:
                    step = flow.throw(exc)
                except StopIteration:
                    raise exc from None
                continue
            try:
                step = flow.send(response)
            except StopIteration:
                return response
    finally:
        flow.close()


def _following_redirects(conn: Settings, request: Request, sink: BodySink | None) -> SendFlow:
    for _ in range(conn.max_redirects + 1):
        check_url(request.url, allow_insecure_http=conn.allow_insecure_http)
        response = yield from _single(conn, request, sink)
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


def _single(conn: Settings, request: Request, sink: BodySink | None) -> SendFlow:
    started = time.perf_counter()
    try:
        response = yield Exchange(request, sink)
    except ClientError as exc:
        log.info(
            "%s failed: %s (%.1f ms)",
            request_label(request.method, request.url, origin=False),
            type(exc).__name__,
            (time.perf_counter() - started) * 1000,
        )
        raise
    assert response is not None  # a driver answers an Exchange with a Response
    log.debug(
        "%s -> %d (%.1f ms)",
        request_label(request.method, request.url, origin=False),
        response.status,
        (time.perf_counter() - started) * 1000,
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


def deliver_whole(whole: Response, sink: BodySink) -> Response:
    """Hand a body a transport read whole to ``sink`` (a transport that cannot stream)."""
    write = sink(Response(whole.status, whole.headers, b"", whole.url))
    if write is None:
        return whole
    if whole.body:
        write(whole.body)
    return Response(whole.status, whole.headers, b"", whole.url)


# -- drivers ---------------------------------------------------------------------------------


def run_flow(
    flow: SendFlow,
    exchange: Callable[[Exchange], Response],
    sleep: Callable[[float], None],
) -> Response:
    """Run ``flow`` to its end, blocking: exchanges through ``exchange``, waits by ``sleep``.

    A :class:`~.auth.Pending` step blocks this thread until the request it waits for ends
    (that request has its own timeouts).
    """
    try:
        step = next(flow)
        while True:
            if isinstance(step, Wait):
                sleep(step.seconds)
                step = flow.send(None)
                continue
            if isinstance(step, Pending):
                concurrent.futures.wait([step.future])
                step = flow.send(None)
                continue
            try:
                response = exchange(step)
            except ClientError as exc:
                step = flow.throw(exc)
            else:
                step = flow.send(response)
    except StopIteration as stop:
        result: Response = stop.value
        return result
    finally:
        flow.close()


async def arun_flow(
    flow: SendFlow,
    exchange: Callable[[Exchange], Awaitable[Response]],
    sleep: Callable[[float], Awaitable[None]],
) -> Response:
    """Run ``flow`` to its end, awaiting: the same steps as :func:`run_flow`.

    Cancelled while awaiting, the flow is closed (no further request is sent). A
    :class:`~.auth.Pending` step is awaited without blocking the loop, whichever thread
    sets its future.
    """
    try:
        step = next(flow)
        while True:
            if isinstance(step, Wait):
                await sleep(step.seconds)
                step = flow.send(None)
                continue
            if isinstance(step, Pending):
                await _done(step.future)
                step = flow.send(None)
                continue
            try:
                response = await exchange(step)
            except ClientError as exc:
                step = flow.throw(exc)
            else:
                step = flow.send(response)
    except StopIteration as stop:
        result: Response = stop.value
        return result
    finally:
        flow.close()


async def _done(future: concurrent.futures.Future[Any]) -> None:
    """Return once ``future`` is done (set in any thread); cancelled, leave it alone.

    Not ``asyncio.wrap_future``: cancelling its result cancels the shared future, and so
    the token request every other flow waits for.
    """
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not woken.done():
            woken.set_result(None)

    def on_done(_: concurrent.futures.Future[Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed while we waited
            loop.call_soon_threadsafe(wake)

    future.add_done_callback(on_done)
    await woken
