"""``FhirClient``: FHIR R4 REST interactions over a pluggable transport.

The client owns everything between the caller and the transport: building URLs and
headers, auth flows, redirects, retries, status → exception mapping and JSON. It is a
thin composition of the client's lower modules:

* :mod:`._calls`: every interaction as a sans-IO call (its request, how its answer is
  read, the one exception tree), shared with ``AsyncFhirClient``;
* :mod:`._sending` / :mod:`._flow`: the one send loop (retry → auth flow → redirects →
  transport) as a sans-IO flow, run here over the blocking transport;
* :mod:`._responses`: response bodies to resources, writes to :class:`WriteResult`;
* :mod:`._paging`: following ``next`` links (on the server's origin only);
* :mod:`._syntax`: the checks on types, ids, criteria and operation names;
* :mod:`.search`: the search builder, which sees the client only through a protocol.

Resources are plain ``dict``s (parse and serialize with ``orjson``); the caller may
wrap them in its own models. This module imports only :mod:`iopfhir.errors` (and
:mod:`iopfhir.plugins`, to find a transport by name) from the rest of the package.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar, cast

from . import _calls as calls
from ._base import ClientBase
from ._paging import follow_pages
from ._responses import WriteResult
from ._sending import send
from ._syntax import FHIR_JSON, Criteria, Resource, check_type
from .auth import Auth, NoAuth
from .retry import Retry
from .search import Search
from .transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    BodySink,
    Request,
    Response,
    Timeout,
    Transport,
)

__all__ = ["FHIR_JSON", "FhirClient", "Resource", "WriteResult"]

T = TypeVar("T")


def _make_transport(transport: Transport | str | None, max_bytes: int) -> Transport:
    if transport is None:
        from .requests_transport import RequestsTransport

        return RequestsTransport(max_response_bytes=max_bytes)
    if isinstance(transport, str):
        from iopfhir import plugins

        factory = plugins.get("iopfhir.transports", transport)
        return cast(Transport, factory(max_response_bytes=max_bytes))
    return transport


@dataclass(frozen=True, slots=True)
class _DownloadConnection:
    """The client's settings for one download: its own timeout, and no auth when the file
    needs no credentials (the send loop reads a :class:`~._sending.Connection`)."""

    transport: Transport
    auth: Auth
    retry: Retry
    timeout: Timeout
    max_redirects: int
    max_response_bytes: int
    allow_insecure_http: bool


class FhirClient(ClientBase):
    """A FHIR R4 REST client bound to one server base URL.

    ``transport`` is a :class:`~iopfhir.client.transport.Transport`, the name of a
    transport plugin (entry-point group ``iopfhir.transports``, e.g. ``"httpx"``), or
    ``None`` for the default ``requests`` transport. ``sleep`` and ``clock`` are
    injectable so tests can step retries without waiting. Closing the client closes its
    transport.

    Threads that share a client or its ``auth`` (the async pull's worker threads share
    the async client's) and need a SMART token at once make one token request between
    them: the others block until it ends, then use its token or raise its error.
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: Transport | str | None = None,
        auth: Auth | None = None,
        retry: Retry | None = None,
        timeout: Timeout | float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        allow_insecure_http: bool = False,
        max_redirects: int = 5,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._configure(
            base_url,
            auth=auth,
            retry=retry,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            allow_insecure_http=allow_insecure_http,
            max_redirects=max_redirects,
            headers=headers,
            clock=clock,
        )
        self.transport = _make_transport(transport, max_response_bytes)
        self._sleep = sleep
        self._capabilities: Resource | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FhirClient({self.base_url!r})"

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the transport (and its connection pool)."""
        self.transport.close()

    # -- sending -----------------------------------------------------------------------

    def send(self, request: Request) -> Response:
        """Send a request through retry, auth and redirects; return any final response.

        Error statuses are returned, not raised (see :meth:`request`).
        """
        return send(self, request, sleep=self._sleep, clock=self._clock)

    def _run(self, call: calls.Call[T]) -> T:
        """Send ``call``'s request; its result, or the mapped exception for an error status."""
        return call.result(self.send(call.request), now=self._clock)

    def download(
        self,
        url: str,
        sink: BodySink,
        *,
        accept: str = "application/fhir+ndjson",
        headers: Mapping[str, str] | None = None,
        credentials: bool = True,
        other_origin: bool = False,
        timeout: Timeout | None = None,
    ) -> Response:
        """``GET url``, its body streamed to the writer ``sink`` returns (a Bulk Data file:
        memory stays one chunk, whatever the size; see :data:`BodySink`).

        The one send loop as every request (retry, same-origin redirects, the URL rules),
        under ``timeout`` (default: the client's). ``credentials=False`` sends neither the
        auth flow's credentials nor the client's extra headers. A URL on another origin
        than the base is refused unless ``other_origin`` is set (the caller has decided that
        origin may see the request, and whether with credentials). Error statuses are
        returned, not raised, their body read whole under the size bound.
        """
        request = calls.download_request(
            self,
            url,
            accept=accept,
            headers=headers,
            credentials=credentials,
            other_origin=other_origin,
        )
        conn = _DownloadConnection(
            transport=self.transport,
            auth=self.auth if credentials else NoAuth(),
            retry=self.retry,
            timeout=timeout or self.timeout,
            max_redirects=self.max_redirects,
            max_response_bytes=self.max_response_bytes,
            allow_insecure_http=self.allow_insecure_http,
        )
        return send(conn, request, sleep=self._sleep, clock=self._clock, sink=sink)

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Resource | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one FHIR request and raise the mapped exception for an error status."""
        return self._run(calls.raw(self, method, url, body=body, headers=headers))

    # -- reads -------------------------------------------------------------------------

    def capabilities(self, *, refresh: bool = False) -> Resource:
        """The server's CapabilityStatement (``GET [base]/metadata``), cached."""
        with self._lock:
            cached = self._capabilities
        if cached is not None and not refresh:
            return cached
        statement = self._run(calls.capabilities(self))
        with self._lock:
            self._capabilities = statement
        return statement

    def read(self, resource_type: str, id: str) -> Resource:
        """``GET [base]/[type]/[id]``."""
        return self._run(calls.read(self, resource_type, id))

    def vread(self, resource_type: str, id: str, version_id: str) -> Resource:
        """``GET [base]/[type]/[id]/_history/[vid]``."""
        return self._run(calls.vread(self, resource_type, id, version_id))

    def get(self, url_or_path: str) -> Resource:
        """GET any resource or Bundle by relative path or same-origin URL (a ``Location``)."""
        return self._run(calls.get(self, url_or_path))

    def history(
        self,
        resource_type: str | None = None,
        id: str | None = None,
        *,
        since: str | None = None,
        count: int | None = None,
    ) -> Resource:
        """The first ``_history`` Bundle (system, type or instance); see :meth:`pages`."""
        return self._run(calls.history(self, resource_type, id, since=since, count=count))

    # -- writes ------------------------------------------------------------------------

    def create(
        self,
        resource: Resource,
        *,
        if_none_exist: Criteria | None = None,
        prefer: str = "return=representation",
    ) -> WriteResult:
        """``POST [base]/[type]``; with ``if_none_exist``, a conditional create."""
        return self._run(calls.create(self, resource, if_none_exist=if_none_exist, prefer=prefer))

    def update(
        self,
        resource: Resource,
        *,
        if_match: str | int | None = None,
        prefer: str = "return=representation",
    ) -> WriteResult:
        """``PUT [base]/[type]/[id]``; ``if_match`` is a version id or an ETag."""
        return self._run(calls.update(self, resource, if_match=if_match, prefer=prefer))

    def update_where(
        self, resource: Resource, criteria: Criteria, *, prefer: str = "return=representation"
    ) -> WriteResult:
        """Conditional update: ``PUT [base]/[type]?criteria``."""
        return self._run(calls.update_where(self, resource, criteria, prefer=prefer))

    def delete(self, resource_type: str, id: str) -> Resource | None:
        """``DELETE [base]/[type]/[id]``; returns the OperationOutcome, if any."""
        return self._run(calls.delete(self, resource_type, id))

    def delete_where(self, resource_type: str, criteria: Criteria) -> Resource | None:
        """Conditional delete: ``DELETE [base]/[type]?criteria``."""
        return self._run(calls.delete_where(self, resource_type, criteria))

    def transaction(self, bundle: Resource) -> Resource:
        """POST a ``transaction`` Bundle to the base; returns the transaction-response."""
        return self._run(calls.transaction(self, bundle))

    def batch(self, bundle: Resource) -> Resource:
        """POST a ``batch`` Bundle to the base; entries may fail one by one."""
        return self._run(calls.batch(self, bundle))

    # -- operations and search ---------------------------------------------------------

    def operation(
        self,
        name: str,
        *,
        resource_type: str | None = None,
        id: str | None = None,
        params: Criteria | list[tuple[str, str]] | None = None,
        body: Resource | None = None,
        method: str | None = None,
    ) -> Resource:
        """Invoke ``$name`` at system, type or instance level.

        POST when a body (a ``Parameters`` or a resource) is given, otherwise GET.
        """
        call = calls.operation(
            self, name, resource_type=resource_type, id=id, params=params, body=body, method=method
        )
        return self._run(call)

    def validate(self, resource: Resource, *, profile: str | None = None) -> Resource:
        """``POST [base]/[type]/$validate``; returns the server's OperationOutcome."""
        return self._run(calls.validate(self, resource, profile=profile))

    def search(self, resource_type: str) -> Search:
        """An immutable search builder for ``resource_type``."""
        check_type(resource_type)
        return Search(self, resource_type)

    # -- pages -------------------------------------------------------------------------

    def fetch_bundle(self, url: str, *, headers: Mapping[str, str] | None = None) -> Resource:
        """GET a Bundle at ``url`` (same origin as the base only)."""
        return self._run(calls.fetch_bundle(self, url, headers=headers))

    def pages(
        self, first: Resource, *, headers: Mapping[str, str] | None = None
    ) -> Iterator[Resource]:
        """``first``, then every page its ``next`` links lead to.

        A ``next`` link on another origin raises
        :class:`~iopfhir.errors.InsecureTransportError` (credentials would follow it); a
        link seen twice raises :class:`~iopfhir.errors.MalformedResponse` (a loop).
        """
        return follow_pages(
            first, self.base_url, lambda url: self.fetch_bundle(url, headers=headers)
        )
