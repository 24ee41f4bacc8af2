"""The transport contract: one HTTP exchange, nothing more.

A transport moves a :class:`Request` to a server and returns a :class:`Response`. It does
not follow redirects, add credentials, retry or parse FHIR: the client does all of that
(see :mod:`iopfhir.client.client`). The whole contract is :class:`Transport`:
``handle(request, *, timeout)`` and ``close()``. A transport that can also hand a body to
the caller chunk by chunk (a Bulk Data file of gigabytes, written to disk with bounded
memory) is a :class:`StreamingTransport`: ``stream(request, *, timeout, sink)``, where the
:data:`BodySink` sees the response head and returns a writer for the body (or ``None`` to
have it read whole, under the size bound, as ``handle`` does).

Transports map every low-level failure to :mod:`iopfhir.errors` at this boundary
(``TransportError``, ``ConnectTimeout``, ``ReadTimeout``, ``ResponseTooLarge``), with
messages that name the method and the URL without its query string.

Besides the socket timeouts (``connect``, ``read``: each bounds one wait), every exchange
has an overall deadline, :attr:`Timeout.total`: connect, send and the read of the whole
body must end within it, so a server that drips one byte a second cannot hold a request.
A transport enforces it with a :class:`Deadline`: a watchdog that, when the time is up,
runs the abort actions the transport registered (shutting the socket down wakes a
blocked read) and makes the transport raise ``ReadTimeout``.

This module imports only the standard library and :mod:`iopfhir.errors`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from iopfhir.errors import ReadTimeout, ResponseTooLarge, request_label

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TOTAL_TIMEOUT",
    "BodyBound",
    "BodySink",
    "BodyWriter",
    "Deadline",
    "Headers",
    "Request",
    "Response",
    "StreamingTransport",
    "Timeout",
    "Transport",
    "origin_of",
    "read_bounded",
    "write_streamed",
]

#: 64 MiB: far above any single FHIR page a server should send, far below memory trouble.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024

#: Seconds one exchange (connect + send + the whole response) may take at most.
DEFAULT_TOTAL_TIMEOUT = 120.0


class Headers(Mapping[str, str]):
    """An immutable, case-insensitive header mapping that keeps the original spelling."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        store: dict[str, tuple[str, str]] = {}
        for key, value in pairs:
            store[key.lower()] = (key, value)
        self._items = store

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {k.lower(): v for k, v in self.items()} == {
            str(k).lower(): v for k, v in other.items()
        }

    def __hash__(self) -> int:
        return hash(frozenset((k, v) for k, (_, v) in self._items.items()))

    def __repr__(self) -> str:
        # Never print values: Authorization and cookies live here.
        return f"Headers({sorted(original for original, _ in self._items.values())!r})"

    def set(self, key: str, value: str) -> Headers:
        """A copy with ``key`` set to ``value`` (replacing any spelling of it)."""
        out = Headers()
        out._items = {**self._items, key.lower(): (key, value)}
        return out

    def without(self, *keys: str) -> Headers:
        """A copy without the given headers."""
        drop = {k.lower() for k in keys}
        out = Headers()
        out._items = {k: v for k, v in self._items.items() if k not in drop}
        return out


def _headers(value: Mapping[str, str] | Iterable[tuple[str, str]] | Headers) -> Headers:
    return value if isinstance(value, Headers) else Headers(value)


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request. ``url`` is absolute; ``body`` is the exact bytes to send."""

    method: str
    url: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", self.method.upper())
        object.__setattr__(self, "headers", _headers(self.headers))

    def with_header(self, name: str, value: str) -> Request:
        """A copy with one header set."""
        return Request(self.method, self.url, self.headers.set(name, value), self.body)

    def without_headers(self, *names: str) -> Request:
        """A copy without the named headers."""
        return Request(self.method, self.url, self.headers.without(*names), self.body)

    @property
    def path(self) -> str:
        """The URL path without query or fragment: safe to log."""
        return urlsplit(self.url).path or "/"

    def __repr__(self) -> str:
        return f"Request({request_label(self.method, self.url)})"


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response, body fully read. ``url`` is the URL that answered."""

    status: int
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    url: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _headers(self.headers))

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased (``""`` when absent)."""
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    def __repr__(self) -> str:
        return f"Response({self.status}, {len(self.body)} bytes)"


@dataclass(frozen=True, slots=True)
class Timeout:
    """Explicit timeouts in seconds. There is no "wait forever".

    ``connect`` bounds opening the connection, ``read`` each wait for the server's next
    bytes, ``total`` the whole exchange (connect, send, and the read of the whole body).
    """

    connect: float = 5.0
    read: float = 30.0
    total: float = DEFAULT_TOTAL_TIMEOUT

    def __post_init__(self) -> None:
        if not (self.connect > 0 and self.read > 0 and self.total > 0):
            raise ValueError("timeouts must be positive numbers of seconds")

    def socket_timeouts(self) -> tuple[float, float]:
        """``(connect, read)`` for the socket, neither longer than ``total``."""
        return min(self.connect, self.total), min(self.read, self.total)


class Deadline:
    """The overall deadline of one exchange: a watchdog thread armed for ``seconds``.

    Use as a context manager around the whole exchange. A transport registers abort
    actions (:meth:`on_expire`) as it learns what to abort (a socket); when the time is
    up the watchdog sets :attr:`expired` and runs them, so a read blocked on a slow server
    returns, and the transport raises :meth:`error` instead of what the abort caused.
    """

    __slots__ = ("_actions", "_ends", "_lock", "_timer", "expired", "request", "seconds")

    def __init__(self, seconds: float, request: Request) -> None:
        self.seconds = seconds
        self.request = request
        self.expired = False
        self._ends = time.monotonic() + seconds
        self._actions: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._timer.cancel()

    def on_expire(self, action: Callable[[], None]) -> None:
        """Run ``action`` when the deadline passes (at once if it already has)."""
        with self._lock:
            if not self.expired:
                self._actions.append(action)
                return
        _quietly(action)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            actions, self._actions = self._actions, []
        for action in actions:
            _quietly(action)

    def passed(self) -> bool:
        """True once the deadline has passed (whether or not the watchdog has run yet)."""
        return self.expired or time.monotonic() >= self._ends

    def error(self) -> ReadTimeout:
        """The error for an exchange cut off by this deadline."""
        return ReadTimeout(
            f"no complete answer within the {self.seconds:g} s overall deadline",
            method=self.request.method,
            url=self.request.url,
        )

    def check(self) -> None:
        """Raise :meth:`error` when the deadline has passed."""
        if self.passed():
            raise self.error()


def _quietly(action: Callable[[], None]) -> None:
    # The socket may be closed already: the exchange is over either way.
    with contextlib.suppress(OSError):
        action()


@runtime_checkable
class Transport(Protocol):
    """Moves one request and returns its response; raises only :class:`ClientError` subclasses."""

    def handle(self, request: Request, *, timeout: Timeout) -> Response:
        """Send ``request`` and return the complete response (no redirects followed)."""
        ...

    def close(self) -> None:
        """Release pooled connections. The transport is unusable afterwards."""
        ...


#: Takes one chunk of a streamed body.
BodyWriter = Callable[[bytes], None]

#: Given the head of a response (status and headers, an empty body), the writer its body
#: goes to, or ``None`` to read the body whole into :attr:`Response.body` (an error status).
#: Called once per exchange: a retried request calls it again, so the writer starts over.
BodySink = Callable[["Response"], BodyWriter | None]


@runtime_checkable
class StreamingTransport(Transport, Protocol):
    """A transport that can also stream a response body to a :data:`BodySink`."""

    def stream(self, request: Request, *, timeout: Timeout, sink: BodySink) -> Response:
        """Send ``request``; a body the sink takes goes to its writer chunk by chunk (the
        response returned then has an empty body), any other is read as ``handle`` does."""
        ...


def origin_of(url: str) -> tuple[str, str, int]:
    """The origin (scheme, host, port) of an absolute URL, default ports filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme, 0)
    return scheme, host, port


class BodyBound:
    """The size bound of one response body, kept while it is read (by a blocking or an
    async transport alike): refused as soon as it is known to pass ``limit`` bytes, by
    its declared ``Content-Length`` (at construction) or by the chunks seen (:meth:`add`)."""

    __slots__ = ("limit", "request", "size")

    def __init__(self, declared_length: str | None, limit: int, request: Request) -> None:
        self.limit, self.request, self.size = limit, request, 0
        declared = declared_length
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise self._error(f"response declares {declared} bytes, over the {limit}-byte bound")

    def _error(self, text: str) -> ResponseTooLarge:
        return ResponseTooLarge(text, method=self.request.method, url=self.request.url)

    def add(self, chunk: bytes) -> None:
        """Count ``chunk``; raise ``ResponseTooLarge`` once the body passes the bound."""
        self.size += len(chunk)
        if self.size > self.limit:
            raise self._error(f"response body passed the {self.limit}-byte bound")


def read_bounded(
    chunks: Iterable[bytes],
    declared_length: str | None,
    limit: int,
    request: Request,
    deadline: Deadline | None = None,
) -> bytes:
    """A response body read from ``chunks``, refused as soon as it is known to pass ``limit``
    bytes (:class:`BodyBound`); cut off with ``ReadTimeout`` once ``deadline`` has passed.

    Errors of the HTTP library raised by ``chunks`` pass through, for the transport to map.
    """
    bound = BodyBound(declared_length, limit, request)
    body: list[bytes] = []
    for chunk in chunks:
        if deadline is not None:
            deadline.check()
        bound.add(chunk)
        body.append(chunk)
    return b"".join(body)


def write_streamed(
    chunks: Iterable[bytes], write: BodyWriter, deadline: Deadline | None = None
) -> int:
    """Hand every chunk to ``write`` (memory: one chunk); return the bytes written. Cut off
    with ``ReadTimeout`` once ``deadline`` has passed; errors of the HTTP library pass
    through, for the transport to map."""
    size = 0
    for chunk in chunks:
        if deadline is not None:
            deadline.check()
        if chunk:
            write(chunk)
            size += len(chunk)
    return size
