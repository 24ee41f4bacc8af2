"""``FhirClient``: FHIR R4 REST interactions over a pluggable transport.

The client owns everything between the caller and the transport: building URLs and
headers, auth flows, redirects, retries, status → exception mapping and JSON. It is a
thin composition of the client's lower modules:

* :mod:`._sending`: the one send loop (retry → auth flow → redirects → transport) and
  the FHIR JSON request every interaction starts from;
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
from typing import Any, cast
from urllib.parse import urljoin

from iopfhir.errors import InputError, InsecureTransportError

from ._paging import follow_pages
from ._responses import WriteResult, parse_resource, write_result
from ._sending import _USER_AGENT, build_request, send
from ._syntax import (
    FHIR_JSON,
    Criteria,
    Resource,
    check_bundle_type,
    check_id,
    check_operation,
    check_type,
    etag,
    path_segments,
    query,
    resource_type_of,
)
from .auth import Auth, NoAuth
from .outcome import error_for_response
from .retry import Retry
from .search import Search
from .security import check_base_url, same_origin
from .transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TOTAL_TIMEOUT,
    BodySink,
    Headers,
    Request,
    Response,
    Timeout,
    Transport,
)

__all__ = ["FHIR_JSON", "FhirClient", "Resource", "WriteResult"]


def _make_transport(transport: Transport | str | None, max_bytes: int) -> Transport:
    if transport is None:
        from .requests_transport import RequestsTransport

        return RequestsTransport(max_response_bytes=max_bytes)
    if isinstance(transport, str):
        from iopfhir import plugins

        factory = plugins.get("iopfhir.transports", transport)
        return cast(Transport, factory(max_response_bytes=max_bytes))
    return transport


def _as_timeout(timeout: Timeout | float | None) -> Timeout:
    if timeout is None:
        return Timeout()
    if isinstance(timeout, Timeout):
        return timeout
    # One number bounds each wait; the whole exchange keeps the default overall deadline
    # unless that number is longer.
    return Timeout(timeout, timeout, max(DEFAULT_TOTAL_TIMEOUT, timeout))


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


class FhirClient:
    """A FHIR R4 REST client bound to one server base URL.

    ``transport`` is a :class:`~iopfhir.client.transport.Transport`, the name of a
    transport plugin (entry-point group ``iopfhir.transports``, e.g. ``"httpx"``), or
    ``None`` for the default ``requests`` transport. ``sleep`` and ``clock`` are
    injectable so tests can step retries without waiting. Closing the client closes its
    transport.
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
        self.base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self.allow_insecure_http = allow_insecure_http
        self.timeout = _as_timeout(timeout)
        self.max_response_bytes = max_response_bytes
        self.transport = _make_transport(transport, max_response_bytes)
        self.auth: Auth = auth if auth is not None else NoAuth()
        self.retry = retry if retry is not None else Retry()
        self.max_redirects = max_redirects
        self._extra_headers = Headers(headers or {})
        self._sleep = sleep
        self._clock = clock
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

    # -- URLs --------------------------------------------------------------------------

    def url(self, *segments: str, params: Criteria | list[tuple[str, str]] | None = None) -> str:
        """``base/seg1/seg2?params``; segments are not re-encoded (validate them first)."""
        url = "/".join([self.base_url, *segments])
        text = query(params)
        return f"{url}?{text}" if text else url

    def resolve(self, url_or_path: str) -> str:
        """An absolute URL for ``url_or_path``, refusing one on another origin.

        Relative references (``Patient/1/_history/2``, a ``Location`` header) resolve
        against the base URL.
        """
        absolute = urljoin(self.base_url + "/", url_or_path)
        if not same_origin(absolute, self.base_url):
            raise InsecureTransportError(
                "refusing to fetch a URL on another origin than the server's", url=absolute
            )
        return absolute

    # -- sending -----------------------------------------------------------------------

    def send(self, request: Request) -> Response:
        """Send a request through retry, auth and redirects; return any final response.

        Error statuses are returned, not raised (see :meth:`request`).
        """
        return send(self, request, sleep=self._sleep, clock=self._clock)

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
        if not (other_origin or same_origin(url, self.base_url)):
            raise InsecureTransportError(
                "refusing to download from another origin than the server's", url=url
            )
        h: dict[str, str] = {"Accept": accept, "User-Agent": _USER_AGENT}
        if credentials:
            h.update(self._extra_headers)
        h.update(headers or {})
        conn = _DownloadConnection(
            transport=self.transport,
            auth=self.auth if credentials else NoAuth(),
            retry=self.retry,
            timeout=timeout or self.timeout,
            max_redirects=self.max_redirects,
            max_response_bytes=self.max_response_bytes,
            allow_insecure_http=self.allow_insecure_http,
        )
        request = Request("GET", url, Headers(h))
        return send(conn, request, sleep=self._sleep, clock=self._clock, sink=sink)

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        body: Resource | None = None,
        headers: Mapping[str, str] | None = None,
        not_modified: bool = False,
    ) -> tuple[Request, Response]:
        """Send one FHIR request; raise the mapped exception for an error status."""
        request = build_request(method, url, self._extra_headers, body=body, headers=headers)
        response = self.send(request)
        if response.status >= 300 and not (not_modified and response.status == 304):
            raise error_for_response(request, response, now=self._clock)
        return request, response

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Resource | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one FHIR request and raise the mapped exception for an error status."""
        return self._exchange(method, url, body=body, headers=headers, not_modified=True)[1]

    def _json(
        self,
        method: str,
        url: str,
        *,
        body: Resource | None = None,
        headers: Mapping[str, str] | None = None,
        expect: str | None = None,
    ) -> Resource:
        request, response = self._exchange(method, url, body=body, headers=headers)
        return parse_resource(request, response, expect=expect)

    # -- reads -------------------------------------------------------------------------

    def capabilities(self, *, refresh: bool = False) -> Resource:
        """The server's CapabilityStatement (``GET [base]/metadata``), cached."""
        with self._lock:
            cached = self._capabilities
        if cached is not None and not refresh:
            return cached
        statement = self._json("GET", self.url("metadata"), expect="CapabilityStatement")
        with self._lock:
            self._capabilities = statement
        return statement

    def read(self, resource_type: str, id: str) -> Resource:
        """``GET [base]/[type]/[id]``."""
        check_type(resource_type)
        check_id(id)
        return self._json("GET", self.url(resource_type, id), expect=resource_type)

    def vread(self, resource_type: str, id: str, version_id: str) -> Resource:
        """``GET [base]/[type]/[id]/_history/[vid]``."""
        check_type(resource_type)
        check_id(id)
        check_id(version_id, what="version id")
        return self._json(
            "GET", self.url(resource_type, id, "_history", version_id), expect=resource_type
        )

    def get(self, url_or_path: str) -> Resource:
        """GET any resource or Bundle by relative path or same-origin URL (a ``Location``)."""
        return self._json("GET", self.resolve(url_or_path))

    def history(
        self,
        resource_type: str | None = None,
        id: str | None = None,
        *,
        since: str | None = None,
        count: int | None = None,
    ) -> Resource:
        """The first ``_history`` Bundle (system, type or instance); see :meth:`pages`."""
        path = path_segments(resource_type, id, "history of an id")
        params: list[tuple[str, str]] = []
        if since is not None:
            params.append(("_since", since))
        if count is not None:
            params.append(("_count", str(count)))
        return self._json("GET", self.url(*path, "_history", params=params), expect="Bundle")

    # -- writes ------------------------------------------------------------------------

    def create(
        self,
        resource: Resource,
        *,
        if_none_exist: Criteria | None = None,
        prefer: str = "return=representation",
    ) -> WriteResult:
        """``POST [base]/[type]``; with ``if_none_exist``, a conditional create."""
        rtype = resource_type_of(resource)
        headers = {"Prefer": prefer}
        if if_none_exist is not None:
            condition = query(if_none_exist)
            if not condition:
                raise InputError("If-None-Exist needs search criteria")
            headers["If-None-Exist"] = condition
        return self._write("POST", self.url(rtype), resource, headers)

    def update(
        self,
        resource: Resource,
        *,
        if_match: str | int | None = None,
        prefer: str = "return=representation",
    ) -> WriteResult:
        """``PUT [base]/[type]/[id]``; ``if_match`` is a version id or an ETag."""
        rtype = resource_type_of(resource)
        id = resource.get("id")
        if not isinstance(id, str):
            raise InputError("update needs the resource's id", path=f"{rtype}.id")
        check_id(id)
        headers = {"Prefer": prefer}
        if if_match is not None:
            headers["If-Match"] = etag(if_match)
        return self._write("PUT", self.url(rtype, id), resource, headers)

    def update_where(
        self, resource: Resource, criteria: Criteria, *, prefer: str = "return=representation"
    ) -> WriteResult:
        """Conditional update: ``PUT [base]/[type]?criteria``."""
        rtype = resource_type_of(resource)
        if not query(criteria):
            raise InputError("a conditional update needs search criteria")
        return self._write("PUT", self.url(rtype, params=criteria), resource, {"Prefer": prefer})

    def _write(
        self, method: str, url: str, resource: Resource, headers: Mapping[str, str]
    ) -> WriteResult:
        request, response = self._exchange(method, url, body=resource, headers=headers)
        return write_result(request, response, resource)

    def delete(self, resource_type: str, id: str) -> Resource | None:
        """``DELETE [base]/[type]/[id]``; returns the OperationOutcome, if any."""
        check_type(resource_type)
        check_id(id)
        return self._delete(self.url(resource_type, id))

    def delete_where(self, resource_type: str, criteria: Criteria) -> Resource | None:
        """Conditional delete: ``DELETE [base]/[type]?criteria``."""
        check_type(resource_type)
        if not query(criteria):
            raise InputError("a conditional delete needs search criteria")
        return self._delete(self.url(resource_type, params=criteria))

    def _delete(self, url: str) -> Resource | None:
        request, response = self._exchange("DELETE", url)
        return parse_resource(request, response) if response.body else None

    def transaction(self, bundle: Resource) -> Resource:
        """POST a ``transaction`` Bundle to the base; returns the transaction-response."""
        check_bundle_type(bundle, "transaction")
        return self._json("POST", self.base_url, body=bundle, expect="Bundle")

    def batch(self, bundle: Resource) -> Resource:
        """POST a ``batch`` Bundle to the base; entries may fail one by one."""
        check_bundle_type(bundle, "batch")
        return self._json("POST", self.base_url, body=bundle, expect="Bundle")

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
        op = check_operation(name)
        path = path_segments(resource_type, id, "an instance operation")
        verb = method or ("POST" if body is not None else "GET")
        return self._json(verb, self.url(*path, op, params=params), body=body)

    def validate(self, resource: Resource, *, profile: str | None = None) -> Resource:
        """``POST [base]/[type]/$validate``; returns the server's OperationOutcome."""
        rtype = resource_type_of(resource)
        params: list[dict[str, Any]] = [{"name": "resource", "resource": resource}]
        if profile:
            params.append({"name": "profile", "valueUri": profile})
        return self.operation(
            "$validate",
            resource_type=rtype,
            body={"resourceType": "Parameters", "parameter": params},
        )

    def search(self, resource_type: str) -> Search:
        """An immutable search builder for ``resource_type``."""
        check_type(resource_type)
        return Search(self, resource_type)

    # -- pages -------------------------------------------------------------------------

    def fetch_bundle(self, url: str, *, headers: Mapping[str, str] | None = None) -> Resource:
        """GET a Bundle at ``url`` (same origin as the base only)."""
        return self._json("GET", self.resolve(url), headers=headers, expect="Bundle")

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
