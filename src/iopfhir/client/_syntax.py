"""FHIR REST syntax the client checks and builds: types, ids, queries, ETags, Locations.

Pure functions on strings and dicts, no I/O: the resource type and id rules a URL
segment must pass before it is sent unencoded, query strings from criteria, path
segments for system/type/instance level, ``If-Match`` values, and the parsing of a
``Location`` header. Also the names every client module shares (:data:`FHIR_JSON`,
:data:`Resource`, :data:`Criteria`).

Imports only :mod:`iopfhir.errors`: the lowest module of the client's own code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from iopfhir.errors import InputError

__all__ = [
    "FHIR_JSON",
    "Criteria",
    "Resource",
    "check_bundle_type",
    "check_id",
    "check_operation",
    "check_type",
    "etag",
    "parse_location",
    "path_segments",
    "query",
    "resource_type_of",
]

FHIR_JSON = "application/fhir+json"
Resource = dict[str, Any]
Criteria = Mapping[str, str | int] | str

_TYPE_RE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_OPERATION_RE = re.compile(r"\$[A-Za-z][A-Za-z0-9\-]*")


def query(params: Criteria | list[tuple[str, str]] | None) -> str:
    """The query string (no ``?``) for criteria: a mapping, pairs or a ready string."""
    if params is None:
        return ""
    if isinstance(params, str):
        return params.lstrip("?")
    items = params.items() if isinstance(params, Mapping) else params
    return urlencode([(k, str(v)) for k, v in items])


def path_segments(resource_type: str | None, id: str | None, what: str) -> list[str]:
    """URL path segments ``[type[, id]]`` for system, type or instance level, checked."""
    out: list[str] = []
    if resource_type is not None:
        check_type(resource_type)
        out.append(resource_type)
        if id is not None:
            check_id(id)
            out.append(id)
    elif id is not None:
        raise InputError(f"{what} needs its resource type")
    return out


def check_type(resource_type: str) -> None:
    """Raise :class:`~iopfhir.errors.InputError` unless this is a resource type name."""
    if not _TYPE_RE.fullmatch(resource_type):
        raise InputError(f"not a resource type: {resource_type[:64]!r}")


def check_id(value: str, *, what: str = "id") -> None:
    """Raise :class:`~iopfhir.errors.InputError` unless this is a FHIR id."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InputError(f"not a valid FHIR {what}")


def check_operation(name: str) -> str:
    """The operation name with its ``$``; raise unless it is one."""
    op = name if name.startswith("$") else f"${name}"
    if not _OPERATION_RE.fullmatch(op):
        raise InputError(f"not an operation name: {name!r}")
    return op


def check_bundle_type(bundle: Resource, kind: str) -> None:
    """Raise unless ``bundle`` is a Bundle of type ``kind`` (``transaction``, ``batch``)."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != kind:
        raise InputError(f"expected a Bundle of type {kind!r}", path="Bundle.type")


def resource_type_of(resource: Resource) -> str:
    """The checked ``resourceType`` of a resource to write."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        raise InputError("the resource has no resourceType", path="resourceType")
    check_type(rtype)
    return rtype


def etag(value: str | int) -> str:
    """An ``If-Match`` value: an ETag as given, or a weak ETag for a version id."""
    text = str(value)
    if text.startswith(("W/", '"')):
        return text
    check_id(text, what="version id")
    return f'W/"{text}"'


def parse_location(location: str) -> tuple[str | None, str | None, str | None]:
    """(type, id, version) from ``[base/]Type/id[/_history/vid]``, absolute or relative."""
    path = location.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:  # absolute: drop scheme and authority (a push parses thousands)
        rest = path.split("://", 1)[1]
        slash = rest.find("/")
        path = rest[slash:] if slash >= 0 else ""
    parts = [s for s in path.split("/") if s]
    version = None
    if len(parts) >= 2 and parts[-2] == "_history":
        version = parts[-1]
        parts = parts[:-2]
    if len(parts) >= 2 and _TYPE_RE.fullmatch(parts[-2]):
        return parts[-2], parts[-1], version
    return None, None, version
