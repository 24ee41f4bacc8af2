"""The default transport, on ``requests``: one pooled ``Session``, explicit timeouts.

* TLS verification is on. Turning it off needs ``verify=False`` *and*
  ``allow_unverified_tls=True``, and logs a warning; ``verify=False`` alone raises
  :class:`~iopfhir.errors.InsecureTransportError`.
* Redirects are never followed here (the client follows them and decides which headers
  survive). ``requests``' own retries are off (the client's :class:`Retry` decides).
* The body is read in chunks and the read stops with
  :class:`~iopfhir.errors.ResponseTooLarge` once it passes ``max_response_bytes``
  (checked against ``Content-Length`` first, then while reading the decoded body).
* The whole exchange is bounded by ``Timeout.total`` (a
  :class:`~iopfhir.client.transport.Deadline`): the session's connections register
  themselves with the deadline of the exchange they serve (:class:`_TrackedConnection`),
  and when it passes, their socket is shut down, which wakes a read blocked on a server
  that drips bytes; the exchange then ends with :class:`~iopfhir.errors.ReadTimeout`.
* ``stream`` (a :class:`~iopfhir.client.transport.StreamingTransport`) hands a body the
  caller's sink takes to its writer chunk by chunk, under the same deadline.

Every ``requests``/``urllib3`` exception is mapped to :mod:`iopfhir.errors` here; their
messages are not copied, because they carry the full URL with its query string.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from iopfhir.errors import (
    ConnectTimeout,
    ReadTimeout,
    TransportError,
)

from .security import check_tls_verification
from .transport import (
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

__all__ = ["RequestsTransport"]


_CHUNK = 64 * 1024

# The deadline of the exchange running on this thread: requests sends synchronously, so
# the connection urllib3 picks for it runs on the same thread and finds it here.
_current = threading.local()


class _TrackedConnection(HTTPConnection):
    """A connection that lets the current exchange's deadline shut its socket down."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline: Deadline | None = getattr(_current, "deadline", None)
        if deadline is not None:
            deadline.on_expire(self._abort)
        super().request(*args, **kwargs)

    def connect(self) -> None:
        super().connect()
        # http.client drops ``self.sock`` when a response says "Connection: close" (the
        # response then owns the socket): keep our own reference for the abort.
        self._deadline_sock = self.sock

    def _abort(self) -> None:
        sock = self.sock or getattr(self, "_deadline_sock", None)
        if sock is not None:
            # The plain socket's shutdown, also for TLS: ``SSLSocket.shutdown`` would
            # unwrap the TLS object under the reading thread.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _TrackedHTTPSConnection(_TrackedConnection, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _TrackedConnection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class RequestsTransport:
    """A :class:`~iopfhir.client.transport.Transport` on a pooled ``requests.Session``."""

    def __init__(
        self,
        *,
        verify: bool | str = True,
        allow_unverified_tls: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        pool_connections: int = 4,
        pool_maxsize: int = 16,
        session: requests.Session | None = None,
    ) -> None:
        check_tls_verification(verify, allow_unverified_tls=allow_unverified_tls)
        self.verify = verify
        self.max_response_bytes = max_response_bytes
        self._session = session or requests.Session()
        adapter = HTTPAdapter(
            pool_connections=pool_connections, pool_maxsize=pool_maxsize, max_retries=0
        )
        adapter.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def handle(self, request: Request, *, timeout: Timeout) -> Response:
        """Send one request; no redirects, no retries; the body is read under the size
        bound, and the whole exchange within ``timeout.total``."""
        with Deadline(timeout.total, request) as deadline:
            _current.deadline = deadline
            try:
                return self._exchange(request, timeout, deadline)
            finally:
                _current.deadline = None

    def stream(self, request: Request, *, timeout: Timeout, sink: BodySink) -> Response:
        """As :meth:`handle`, but a body ``sink`` takes goes to its writer chunk by chunk."""
        with Deadline(timeout.total, request) as deadline:
            _current.deadline = deadline
            try:
                return self._exchange(request, timeout, deadline, sink)
            finally:
                _current.deadline = None

    def _exchange(
        self, request: Request, timeout: Timeout, deadline: Deadline, sink: BodySink | None = None
    ) -> Response:
        try:
            raw = self._session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body or None,
                timeout=timeout.socket_timeouts(),
                verify=self.verify,
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.RequestException as exc:
            raise _map(exc, request, deadline) from exc
        head = Response(raw.status_code, Headers(raw.headers.items()), b"", request.url)
        try:
            write = sink(head) if sink is not None else None
            if write is None:
                body = self._read(raw, request, deadline)
            else:
                try:
                    write_streamed(raw.iter_content(_CHUNK), write, deadline)
                except requests.exceptions.RequestException as exc:
                    raise _map(exc, request, deadline, reading=True) from exc
                return head
        finally:
            raw.close()
        return Response(status=head.status, headers=head.headers, body=body, url=request.url)

    def _read(self, raw: requests.Response, request: Request, deadline: Deadline) -> bytes:
        try:
            return read_bounded(
                raw.iter_content(_CHUNK),
                raw.headers.get("Content-Length"),
                self.max_response_bytes,
                request,
                deadline,
            )
        except requests.exceptions.RequestException as exc:
            raise _map(exc, request, deadline, reading=True) from exc

    def close(self) -> None:
        """Close the session and its connection pool."""
        self._session.close()


def _map(
    exc: requests.exceptions.RequestException,
    request: Request,
    deadline: Deadline,
    *,
    reading: bool = False,
) -> TransportError:
    kind = type(exc).__name__
    if deadline.passed():
        # Whatever broke, it broke once the deadline had passed: the watchdog shut the
        # socket down, or the socket's own timeout (never longer than the deadline) fired
        # first, before the watchdog's thread ran (a loaded machine)
        return deadline.error()
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ConnectTimeout("connection timed out", method=request.method, url=request.url)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return ReadTimeout("server did not answer in time", method=request.method, url=request.url)
    if isinstance(exc, requests.exceptions.SSLError):
        return TransportError(f"TLS failure ({kind})", method=request.method, url=request.url)
    if reading:
        # A timeout while streaming the body surfaces as ConnectionError(ReadTimeoutError).
        cause = exc.args[0] if exc.args else None
        if type(cause).__name__ == "ReadTimeoutError":
            return ReadTimeout(
                "server stopped sending the body in time", method=request.method, url=request.url
            )
        return TransportError(
            f"connection broken while reading the response ({kind})",
            method=request.method,
            url=request.url,
        )
    return TransportError(f"connection failed ({kind})", method=request.method, url=request.url)
