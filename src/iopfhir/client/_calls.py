"""Every FHIR interaction as a sans-IO :class:`Call`: the request and how to read its answer.

A :class:`Call` holds the request an interaction sends (built by
:func:`._sending.build_request`) and the function that turns the final response into the
interaction's result; :meth:`Call.result` raises the one exception tree
(:func:`.outcome.error_for_response`) for an error status. ``FhirClient`` and
``AsyncFhirClient`` build the same calls here and differ only in how they send the
request (blocking or awaited), so the checks on types, ids and criteria, the headers,
``If-Match`` / ``If-None-Exist``, and the mapping of responses to results exist once.

The functions take the client as a :class:`Target` (its base URL, its extra headers,
``url`` and ``resolve``). Imports :mod:`iopfhir.errors` and the client's lower modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urljoin

from iopfhir.errors import InputError, InsecureTransportError

from ._responses import WriteResult, parse_resource, write_result
from ._sending import _USER_AGENT as USER_AGENT
from ._sending import build_request
from ._syntax import (
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
from .auth import Auth
from .outcome import error_for_response
from .retry import Retry
from .security import same_origin
from .transport import Headers, Request, Response, Timeout

__all__ = [
    "Call",
    "DownloadSettings",
    "Target",
    "batch",
    "capabilities",
    "create",
    "delete",
    "delete_where",
    "download_request",
    "fetch_bundle",
    "get",
    "history",
    "join_url",
    "json_call",
    "operation",
    "raw",
    "read",
    "resolve_url",
    "transaction",
    "update",
    "update_where",
    "validate",
    "vread",
]

T = TypeVar("T")
Params = Criteria | list[tuple[str, str]] | None


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One interaction: the request to send and how its final response becomes ``T``."""

    request: Request
    finish: Callable[[Request, Response], T]
    not_modified: bool = False  # a 304 is an answer, not an error (``request``)

    def result(self, response: Response, *, now: Callable[[], float]) -> T:
        """The result, or the mapped exception for an error status."""
        status = response.status
        if status >= 300 and not (self.not_modified and status == 304):
            raise error_for_response(self.request, response, now=now)
        return self.finish(self.request, response)


class Target(Protocol):
    """What the calls need of a client."""

    @property
    def base_url(self) -> str: ...

    @property
    def extra_headers(self) -> Mapping[str, str]: ...

    def url(self, *segments: str, params: Params = None) -> str: ...

    def resolve(self, url_or_path: str) -> str: ...


def join_url(base_url: str, segments: tuple[str, ...], params: Params = None) -> str:
    """``base/seg1/seg2?params``; segments are not re-encoded (validate them first)."""
    url = "/".join([base_url, *segments])
    text = query(params)
    return f"{url}?{text}" if text else url


def resolve_url(base_url: str, url_or_path: str) -> str:
    """An absolute URL for ``url_or_path`` against ``base_url``, refusing another origin."""
    absolute = urljoin(base_url + "/", url_or_path)
    if not same_origin(absolute, base_url):
        raise InsecureTransportError(
            "refusing to fetch a URL on another origin than the server's", url=absolute
        )
    return absolute


def _request(
    c: Target,
    method: str,
    url: str,
    body: Resource | None = None,
    headers: Mapping[str, str] | None = None,
) -> Request:
    return build_request(method, url, c.extra_headers, body=body, headers=headers)


def raw(
    c: Target,
    method: str,
    url: str,
    *,
    body: Resource | None = None,
    headers: Mapping[str, str] | None = None,
) -> Call[Response]:
    """Any FHIR request; the result is the response itself (a 304 included)."""
    return Call(_request(c, method, url, body, headers), lambda _, r: r, not_modified=True)


def json_call(
    c: Target,
    method: str,
    url: str,
    *,
    body: Resource | None = None,
    headers: Mapping[str, str] | None = None,
    expect: str | None = None,
) -> Call[Resource]:
    """A request whose answer is a resource (of type ``expect`` when given)."""

    def finish(request: Request, response: Response) -> Resource:
        return parse_resource(request, response, expect=expect)

    return Call(_request(c, method, url, body, headers), finish)


def capabilities(c: Target) -> Call[Resource]:
    """``GET [base]/metadata``."""
    return json_call(c, "GET", c.url("metadata"), expect="CapabilityStatement")


def read(c: Target, resource_type: str, id: str) -> Call[Resource]:
    """``GET [base]/[type]/[id]``."""
    check_type(resource_type)
    check_id(id)
    return json_call(c, "GET", c.url(resource_type, id), expect=resource_type)


def vread(c: Target, resource_type: str, id: str, version_id: str) -> Call[Resource]:
    """``GET [base]/[type]/[id]/_history/[vid]``."""
    check_type(resource_type)
    check_id(id)
    check_id(version_id, what="version id")
    url = c.url(resource_type, id, "_history", version_id)
    return json_call(c, "GET", url, expect=resource_type)


def get(c: Target, url_or_path: str) -> Call[Resource]:
    """GET a resource or Bundle by relative path or same-origin URL."""
    return json_call(c, "GET", c.resolve(url_or_path))


def history(
    c: Target,
    resource_type: str | None,
    id: str | None,
    *,
    since: str | None,
    count: int | None,
) -> Call[Resource]:
    """The first ``_history`` Bundle (system, type or instance)."""
    path = path_segments(resource_type, id, "history of an id")
    params: list[tuple[str, str]] = []
    if since is not None:
        params.append(("_since", since))
    if count is not None:
        params.append(("_count", str(count)))
    return json_call(c, "GET", c.url(*path, "_history", params=params), expect="Bundle")


def _write(
    c: Target, method: str, url: str, resource: Resource, headers: Mapping[str, str]
) -> Call[WriteResult]:
    def finish(request: Request, response: Response) -> WriteResult:
        return write_result(request, response, resource)

    return Call(_request(c, method, url, resource, headers), finish)


def create(
    c: Target, resource: Resource, *, if_none_exist: Criteria | None, prefer: str
) -> Call[WriteResult]:
    """``POST [base]/[type]``; with ``if_none_exist``, a conditional create."""
    rtype = resource_type_of(resource)
    headers = {"Prefer": prefer}
    if if_none_exist is not None:
        condition = query(if_none_exist)
        if not condition:
            raise InputError("If-None-Exist needs search criteria")
        headers["If-None-Exist"] = condition
    return _write(c, "POST", c.url(rtype), resource, headers)


def update(
    c: Target, resource: Resource, *, if_match: str | int | None, prefer: str
) -> Call[WriteResult]:
    """``PUT [base]/[type]/[id]``; ``if_match`` is a version id or an ETag."""
    rtype = resource_type_of(resource)
    id = resource.get("id")
    if not isinstance(id, str):
        raise InputError("update needs the resource's id", path=f"{rtype}.id")
    check_id(id)
    headers = {"Prefer": prefer}
    if if_match is not None:
        headers["If-Match"] = etag(if_match)
    return _write(c, "PUT", c.url(rtype, id), resource, headers)


def update_where(
    c: Target, resource: Resource, criteria: Criteria, *, prefer: str
) -> Call[WriteResult]:
    """Conditional update: ``PUT [base]/[type]?criteria``."""
    rtype = resource_type_of(resource)
    if not query(criteria):
        raise InputError("a conditional update needs search criteria")
    return _write(c, "PUT", c.url(rtype, params=criteria), resource, {"Prefer": prefer})


def _delete(c: Target, url: str) -> Call[Resource | None]:
    def finish(request: Request, response: Response) -> Resource | None:
        return parse_resource(request, response) if response.body else None

    return Call(_request(c, "DELETE", url), finish)


def delete(c: Target, resource_type: str, id: str) -> Call[Resource | None]:
    """``DELETE [base]/[type]/[id]``; the result is the OperationOutcome, if any."""
    check_type(resource_type)
    check_id(id)
    return _delete(c, c.url(resource_type, id))


def delete_where(c: Target, resource_type: str, criteria: Criteria) -> Call[Resource | None]:
    """Conditional delete: ``DELETE [base]/[type]?criteria``."""
    check_type(resource_type)
    if not query(criteria):
        raise InputError("a conditional delete needs search criteria")
    return _delete(c, c.url(resource_type, params=criteria))


def transaction(c: Target, bundle: Resource) -> Call[Resource]:
    """POST a ``transaction`` Bundle to the base."""
    check_bundle_type(bundle, "transaction")
    return json_call(c, "POST", c.base_url, body=bundle, expect="Bundle")


def batch(c: Target, bundle: Resource) -> Call[Resource]:
    """POST a ``batch`` Bundle to the base."""
    check_bundle_type(bundle, "batch")
    return json_call(c, "POST", c.base_url, body=bundle, expect="Bundle")


def operation(
    c: Target,
    name: str,
    *,
    resource_type: str | None,
    id: str | None,
    params: Params,
    body: Resource | None,
    method: str | None,
) -> Call[Resource]:
    """``$name`` at system, type or instance level (POST with a body, else GET)."""
    op = check_operation(name)
    path = path_segments(resource_type, id, "an instance operation")
    verb = method or ("POST" if body is not None else "GET")
    return json_call(c, verb, c.url(*path, op, params=params), body=body)


def validate(c: Target, resource: Resource, *, profile: str | None) -> Call[Resource]:
    """``POST [base]/[type]/$validate``."""
    rtype = resource_type_of(resource)
    params: list[dict[str, Any]] = [{"name": "resource", "resource": resource}]
    if profile:
        params.append({"name": "profile", "valueUri": profile})
    body = {"resourceType": "Parameters", "parameter": params}
    return operation(
        c, "$validate", resource_type=rtype, id=None, params=None, body=body, method=None
    )


def fetch_bundle(c: Target, url: str, *, headers: Mapping[str, str] | None) -> Call[Resource]:
    """GET a Bundle at ``url`` (same origin as the base only)."""
    return json_call(c, "GET", c.resolve(url), headers=headers, expect="Bundle")


@dataclass(frozen=True, slots=True)
class DownloadSettings:
    """The send-loop settings of one download (a :class:`._flow.Settings`): the client's,
    with its own timeout, and no auth when the file needs no credentials."""

    auth: Auth
    retry: Retry
    timeout: Timeout
    max_redirects: int
    max_response_bytes: int
    allow_insecure_http: bool


def download_request(
    c: Target,
    url: str,
    *,
    accept: str,
    headers: Mapping[str, str] | None,
    credentials: bool,
    other_origin: bool,
) -> Request:
    """The ``GET`` of a download; a URL on another origin is refused unless allowed."""
    if not (other_origin or same_origin(url, c.base_url)):
        raise InsecureTransportError(
            "refusing to download from another origin than the server's", url=url
        )
    h: dict[str, str] = {"Accept": accept, "User-Agent": USER_AGENT}
    if credentials:
        h.update(c.extra_headers)
    h.update(headers or {})
    return Request("GET", url, Headers(h))
