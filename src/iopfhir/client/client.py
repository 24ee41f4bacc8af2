"""``FhirClient``: FHIR R4 REST interactions over a pluggable transport.

The client owns everything between the caller and the transport: building URLs and
headers, auth flows, redirects, retries, status → exception mapping and JSON. One
private loop (:meth:`FhirClient._send`) serves every interaction, layered as::

    retry  →  auth flow  →  redirects  →  transport.handle

so a retried request gets a fresh pass through auth (a renewed token) and every hop of
a redirect is checked against the URL rules (:mod:`iopfhir.client.security`).

Resources are plain ``dict``s (parse and serialize with ``orjson``); the caller may
wrap them in its own models. This module imports only :mod:`iopfhir.errors` from the
rest of the package.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode, urljoin, urlsplit

import orjson

from iopfhir.errors import (
    ClientError,
    InputError,
    InsecureTransportError,
    MalformedResponse,
    ResponseTooLarge,
    RetryExhausted,
)

from .auth import Auth, NoAuth
from .outcome import error_for_response, parse_retry_after
from .retry import Retry
from .search import Search
from .security import CREDENTIAL_HEADERS, check_url, is_loopback_host, same_origin
from .transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    Headers,
    Request,
    Response,
    Timeout,
    Transport,
)

__all__ = ["FHIR_JSON", "FhirClient", "Resource", "WriteResult"]

log = logging.getLogger("iopfhir.client")

FHIR_JSON = "application/fhir+json"
Resource = dict[str, Any]
Criteria = Mapping[str, str | int] | str

_TYPE_RE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir", "text/json")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "iopfhir/0.1"


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a create, update or conditional write told us.

    ``resource`` is the server's representation (``None`` when it sent none);
    ``id`` and ``version_id`` come from ``Location``, then ``ETag``, then the resource.
    ``created`` is true for 201 (a conditional create that matched answers 200).
    """

    status: int
    resource: Resource | None
    location: str | None
    resource_type: str | None
    id: str | None
    version_id: str | None
    etag: str | None
    last_modified: str | None
    outcome: Resource | None = None

    @property
    def created(self) -> bool:
        """True when the server created a resource (HTTP 201)."""
        return self.status == 201


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
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError("base_url must be an absolute http(s) URL")
        if parts.query or parts.fragment:
            raise InputError("base_url must not carry a query or fragment")
        self.base_url = base_url.rstrip("/")
        self.allow_insecure_http = allow_insecure_http
        check_url(self.base_url, allow_insecure_http=allow_insecure_http)
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            log.warning("plain http allowed to a non-loopback host: %s", parts.hostname)
        if timeout is None:
            timeout = Timeout()
        self.timeout = timeout if isinstance(timeout, Timeout) else Timeout(timeout, timeout)
        self.max_response_bytes = max_response_bytes
        self.transport = self._make_transport(transport, max_response_bytes)
        self.auth: Auth = auth if auth is not None else NoAuth()
        self.retry = retry if retry is not None else Retry()
        self.max_redirects = max_redirects
        self._extra_headers = Headers(headers or {})
        self._sleep = sleep
        self._clock = clock
        self._capabilities: Resource | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _make_transport(transport: Transport | str | None, max_bytes: int) -> Transport:
        if transport is None:
            from .requests_transport import RequestsTransport

            return RequestsTransport(max_response_bytes=max_bytes)
        if isinstance(transport, str):
            from iopfhir import plugins

            factory = plugins.get("iopfhir.transports", transport)
            return cast(Transport, factory(max_response_bytes=max_bytes))
        return transport

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
        query = _query(params)
        return f"{url}?{query}" if query else url

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

    # -- the one send loop -------------------------------------------------------------

    def send(self, request: Request) -> Response:
        """Send a request through retry, auth and redirects; return any final response.

        Error statuses are returned, not raised (see :meth:`request`).
        """
        check_url(request.url, allow_insecure_http=self.allow_insecure_http)
        retry = self.retry
        started = self._clock()
        while True:
            error: ClientError
            retry_after: float | None = None
            try:
                response = self._send_authenticated(request)
            except ClientError as exc:
                if not (
                    retry.total and retry.is_retryable_error(exc) and retry.is_retry_safe(request)
                ):
                    raise
                error = exc
            else:
                if not (
                    retry.total
                    and retry.is_retryable_status(response.status)
                    and retry.is_retry_safe(request)
                ):
                    return response
                error = error_for_response(request, response, now=self._clock)
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), now=self._clock()
                )
            retry = retry.increment(request, error)
            delay = retry.delay(retry_after)
            if delay is None or not retry.within_deadline(self._clock() - started, delay):
                raise RetryExhausted(
                    f"gave up: the next retry would pass the retry time bound, last: {error}",
                    last=error,
                ) from error
            log.info(
                "retrying %s %s in %.2f s after %s (retry %d of %d)",
                request.method,
                request.path,
                delay,
                type(error).__name__,
                len(retry.history),
                retry.total,
            )
            self._sleep(delay)

    def _send_authenticated(self, request: Request) -> Response:
        flow = self.auth.auth_flow(request)
        try:
            outgoing = next(flow)
            while True:
                response = self._send_following_redirects(outgoing)
                try:
                    outgoing = flow.send(response)
                except StopIteration:
                    return response
        finally:
            flow.close()

    def _send_following_redirects(self, request: Request) -> Response:
        for _ in range(self.max_redirects + 1):
            check_url(request.url, allow_insecure_http=self.allow_insecure_http)
            response = self._send_single(request)
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or not location:
                return response
            follow = _redirected(request, response.status, urljoin(request.url, location))
            if follow is None:
                return response
            request = follow
        raise ClientError(
            f"more than {self.max_redirects} redirects", method=request.method, url=request.url
        )

    def _send_single(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = self.transport.handle(request, timeout=self.timeout)
        except ClientError as exc:
            log.info(
                "%s %s failed: %s (%.1f ms)",
                request.method,
                request.path,
                type(exc).__name__,
                (time.perf_counter() - started) * 1000,
            )
            raise
        elapsed = (time.perf_counter() - started) * 1000
        log.debug("%s %s -> %d (%.1f ms)", request.method, request.path, response.status, elapsed)
        if len(response.body) > self.max_response_bytes:
            raise ResponseTooLarge(
                f"response body passed the {self.max_response_bytes}-byte bound",
                method=request.method,
                url=request.url,
            )
        return response

    # -- requests and JSON -------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        body: Resource | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Request:
        h: dict[str, str] = {"Accept": FHIR_JSON, "User-Agent": _USER_AGENT}
        h.update(self._extra_headers)
        payload = b""
        if body is not None:
            payload = orjson.dumps(body)
            h["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
        h.update(headers or {})
        return Request(method, url, Headers(h), payload)

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Resource | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one FHIR request and raise the mapped exception for an error status."""
        request = self._request(method, url, body=body, headers=headers)
        response = self.send(request)
        if response.status >= 300 and response.status != 304:
            raise error_for_response(request, response, now=self._clock)
        return response

    def _json(
        self,
        method: str,
        url: str,
        *,
        body: Resource | None = None,
        headers: Mapping[str, str] | None = None,
        expect: str | None = None,
    ) -> Resource:
        request = self._request(method, url, body=body, headers=headers)
        response = self.send(request)
        if response.status >= 300:
            raise error_for_response(request, response, now=self._clock)
        return _parse_resource(request, response, expect=expect)

    # -- interactions ------------------------------------------------------------------

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
        _check_type(resource_type)
        _check_id(id)
        return self._json("GET", self.url(resource_type, id), expect=resource_type)

    def vread(self, resource_type: str, id: str, version_id: str) -> Resource:
        """``GET [base]/[type]/[id]/_history/[vid]``."""
        _check_type(resource_type)
        _check_id(id)
        _check_id(version_id, what="version id")
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
        segments = _segments(resource_type, id, "history of an id")
        params: list[tuple[str, str]] = []
        if since is not None:
            params.append(("_since", since))
        if count is not None:
            params.append(("_count", str(count)))
        return self._json("GET", self.url(*segments, "_history", params=params), expect="Bundle")

    def create(
        self,
        resource: Resource,
        *,
        if_none_exist: Criteria | None = None,
        prefer: str = "return=representation",
    ) -> WriteResult:
        """``POST [base]/[type]``; with ``if_none_exist``, a conditional create."""
        resource_type = _resource_type(resource)
        headers = {"Prefer": prefer}
        if if_none_exist is not None:
            query = _query(if_none_exist)
            if not query:
                raise InputError("If-None-Exist needs search criteria")
            headers["If-None-Exist"] = query
        return self._write("POST", self.url(resource_type), resource, headers)

    def update(
        self,
        resource: Resource,
        *,
        if_match: str | int | None = None,
        prefer: str = "return=representation",
    ) -> WriteResult:
        """``PUT [base]/[type]/[id]``; ``if_match`` is a version id or an ETag."""
        resource_type = _resource_type(resource)
        id = resource.get("id")
        if not isinstance(id, str):
            raise InputError("update needs the resource's id", path=f"{resource_type}.id")
        _check_id(id)
        headers = {"Prefer": prefer}
        if if_match is not None:
            headers["If-Match"] = _etag(if_match)
        return self._write("PUT", self.url(resource_type, id), resource, headers)

    def update_where(
        self, resource: Resource, criteria: Criteria, *, prefer: str = "return=representation"
    ) -> WriteResult:
        """Conditional update: ``PUT [base]/[type]?criteria``."""
        resource_type = _resource_type(resource)
        if not _query(criteria):
            raise InputError("a conditional update needs search criteria")
        return self._write(
            "PUT", self.url(resource_type, params=criteria), resource, {"Prefer": prefer}
        )

    def delete(self, resource_type: str, id: str) -> Resource | None:
        """``DELETE [base]/[type]/[id]``; returns the OperationOutcome, if any."""
        _check_type(resource_type)
        _check_id(id)
        return self._delete(self.url(resource_type, id))

    def delete_where(self, resource_type: str, criteria: Criteria) -> Resource | None:
        """Conditional delete: ``DELETE [base]/[type]?criteria``."""
        _check_type(resource_type)
        if not _query(criteria):
            raise InputError("a conditional delete needs search criteria")
        return self._delete(self.url(resource_type, params=criteria))

    def _delete(self, url: str) -> Resource | None:
        request = self._request("DELETE", url)
        response = self.send(request)
        if response.status >= 300:
            raise error_for_response(request, response, now=self._clock)
        if not response.body:
            return None
        return _parse_resource(request, response)

    def transaction(self, bundle: Resource) -> Resource:
        """POST a ``transaction`` Bundle to the base; returns the transaction-response."""
        return self._bundle(bundle, "transaction")

    def batch(self, bundle: Resource) -> Resource:
        """POST a ``batch`` Bundle to the base; entries may fail one by one."""
        return self._bundle(bundle, "batch")

    def _bundle(self, bundle: Resource, kind: str) -> Resource:
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != kind:
            raise InputError(f"expected a Bundle of type {kind!r}", path="Bundle.type")
        return self._json("POST", self.base_url, body=bundle, expect="Bundle")

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
        op = name if name.startswith("$") else f"${name}"
        if not re.fullmatch(r"\$[A-Za-z][A-Za-z0-9\-]*", op):
            raise InputError(f"not an operation name: {name!r}")
        segments = _segments(resource_type, id, "an instance operation")
        verb = method or ("POST" if body is not None else "GET")
        return self._json(verb, self.url(*segments, op, params=params), body=body)

    def validate(self, resource: Resource, *, profile: str | None = None) -> Resource:
        """``POST [base]/[type]/$validate``; returns the server's OperationOutcome."""
        resource_type = _resource_type(resource)
        params: list[dict[str, Any]] = [{"name": "resource", "resource": resource}]
        if profile:
            params.append({"name": "profile", "valueUri": profile})
        return self.operation(
            "$validate",
            resource_type=resource_type,
            body={"resourceType": "Parameters", "parameter": params},
        )

    def search(self, resource_type: str) -> Search:
        """An immutable search builder for ``resource_type``."""
        _check_type(resource_type)
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
        seen: set[str] = set()
        bundle = first
        while True:
            yield bundle
            link = next_link(bundle)
            if link is None:
                return
            absolute = urljoin(self.base_url + "/", link)
            if not same_origin(absolute, self.base_url):
                raise InsecureTransportError(
                    "refusing to follow a 'next' link to another origin", url=absolute
                )
            if absolute in seen:
                raise MalformedResponse(
                    "the server sent the same 'next' link twice", method="GET", url=absolute
                )
            seen.add(absolute)
            bundle = self.fetch_bundle(absolute, headers=headers)

    # -- writes ------------------------------------------------------------------------

    def _write(
        self, method: str, url: str, resource: Resource, headers: Mapping[str, str]
    ) -> WriteResult:
        request = self._request(method, url, body=resource, headers=headers)
        response = self.send(request)
        if response.status >= 300:
            raise error_for_response(request, response, now=self._clock)
        body = _parse_resource(request, response) if response.body else None
        outcome = None
        if (
            body is not None
            and body.get("resourceType") == "OperationOutcome"
            and resource.get("resourceType") != "OperationOutcome"
        ):
            outcome, body = body, None
        return _write_result(response, body, outcome)


# -- helpers ----------------------------------------------------------------------------


def next_link(bundle: Resource) -> str | None:
    """The ``next`` link of a Bundle, if any."""
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str) and url:
                return url
    return None


def _query(params: Criteria | list[tuple[str, str]] | None) -> str:
    if params is None:
        return ""
    if isinstance(params, str):
        return params.lstrip("?")
    items = params.items() if isinstance(params, Mapping) else params
    return urlencode([(k, str(v)) for k, v in items])


def _segments(resource_type: str | None, id: str | None, what: str) -> list[str]:
    """URL path segments ``[type[, id]]`` for system, type or instance level, checked."""
    segments: list[str] = []
    if resource_type is not None:
        _check_type(resource_type)
        segments.append(resource_type)
        if id is not None:
            _check_id(id)
            segments.append(id)
    elif id is not None:
        raise InputError(f"{what} needs its resource type")
    return segments


def _check_type(resource_type: str) -> None:
    if not _TYPE_RE.fullmatch(resource_type):
        raise InputError(f"not a resource type: {resource_type[:64]!r}")


def _check_id(value: str, *, what: str = "id") -> None:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InputError(f"not a valid FHIR {what}")


def _resource_type(resource: Resource) -> str:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise InputError("the resource has no resourceType", path="resourceType")
    _check_type(resource_type)
    return resource_type


def _etag(value: str | int) -> str:
    text = str(value)
    if text.startswith(("W/", '"')):
        return text
    _check_id(text, what="version id")
    return f'W/"{text}"'


def _redirected(request: Request, status: int, target: str) -> Request | None:
    """The request to send for a redirect, or ``None`` to not follow it."""
    method, body = request.method, request.body
    if status == 303 and method != "HEAD":
        method, body = "GET", b""
    elif method not in ("GET", "HEAD") and status in (301, 302):
        # Turning a write into a GET (as browsers do) would silently lose it.
        return None
    headers = request.headers
    if not same_origin(request.url, target):
        headers = headers.without(*CREDENTIAL_HEADERS)
    if not body:
        headers = headers.without("Content-Type")
    return Request(method, target, headers, body)


def _parse_resource(request: Request, response: Response, *, expect: str | None = None) -> Resource:
    ctype = response.content_type
    if ctype and ctype not in _JSON_TYPES:
        raise MalformedResponse(
            f"expected FHIR JSON, got {ctype[:64]} ({len(response.body)} bytes)",
            method=request.method,
            url=request.url,
        )
    try:
        data = orjson.loads(response.body)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponse(
            f"response is not valid JSON ({len(response.body)} bytes)",
            method=request.method,
            url=request.url,
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise MalformedResponse(
            "response is not a FHIR resource (no resourceType)",
            method=request.method,
            url=request.url,
        )
    if expect is not None and data["resourceType"] != expect:
        raise MalformedResponse(
            f"expected a {expect}, got a {str(data['resourceType'])[:64]}",
            method=request.method,
            url=request.url,
        )
    return cast(Resource, data)


def parse_location(location: str) -> tuple[str | None, str | None, str | None]:
    """(type, id, version) from ``[base/]Type/id[/_history/vid]``, absolute or relative."""
    path = location.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:  # absolute: drop scheme and authority (a push parses thousands)
        rest = path.split("://", 1)[1]
        slash = rest.find("/")
        path = rest[slash:] if slash >= 0 else ""
    segments = [s for s in path.split("/") if s]
    version = None
    if len(segments) >= 2 and segments[-2] == "_history":
        version = segments[-1]
        segments = segments[:-2]
    if len(segments) >= 2 and _TYPE_RE.fullmatch(segments[-2]):
        return segments[-2], segments[-1], version
    return None, None, version


def _write_result(
    response: Response, body: Resource | None, outcome: Resource | None
) -> WriteResult:
    location = response.headers.get("Location") or response.headers.get("Content-Location")
    etag = response.headers.get("ETag")
    rtype, rid, version = parse_location(location) if location else (None, None, None)
    if version is None and etag:
        version = etag.removeprefix("W/").strip('"') or None
    meta = body.get("meta") if body else None
    if body is not None:
        rtype = rtype or cast(str | None, body.get("resourceType"))
        rid = rid or cast(str | None, body.get("id"))
        if version is None and isinstance(meta, dict):
            version = cast(str | None, meta.get("versionId"))
    last_modified = response.headers.get("Last-Modified")
    if last_modified is None and isinstance(meta, dict):
        last_modified = cast(str | None, meta.get("lastUpdated"))
    return WriteResult(
        status=response.status,
        resource=body,
        location=location,
        resource_type=rtype,
        id=rid,
        version_id=version,
        etag=etag,
        last_modified=last_modified,
        outcome=outcome,
    )
