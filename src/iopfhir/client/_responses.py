"""Successful responses → resources: the FHIR JSON check and :class:`WriteResult`.

:func:`parse_resource` is the one place a response body becomes a resource dict (media
type, JSON, ``resourceType`` and, when asked, the expected type are checked);
:func:`write_result` reads what a create or update told us from its status, headers and
body.

Imports :mod:`iopfhir.errors`, :mod:`._syntax` and :mod:`.transport`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import orjson

from iopfhir.errors import MalformedResponse

from ._syntax import Resource, parse_location
from .transport import Request, Response

__all__ = ["WriteResult", "parse_resource", "write_result"]

_JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir", "text/json")


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


def parse_resource(request: Request, response: Response, *, expect: str | None = None) -> Resource:
    """The resource in ``response``'s body; :class:`MalformedResponse` for anything else."""
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


def write_result(request: Request, response: Response, written: Resource) -> WriteResult:
    """The :class:`WriteResult` of a successful write of ``written``.

    An ``OperationOutcome`` body answering the write of another type is the server's
    comment on it, not its representation: it goes to ``outcome``.
    """
    body = parse_resource(request, response) if response.body else None
    outcome = None
    if (
        body is not None
        and body.get("resourceType") == "OperationOutcome"
        and written.get("resourceType") != "OperationOutcome"
    ):
        outcome, body = body, None
    return _result(response, body, outcome)


def _result(response: Response, body: Resource | None, outcome: Resource | None) -> WriteResult:
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
