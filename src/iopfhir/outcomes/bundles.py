"""Resources from a Bundle (a transaction, collection or searchset), ready for the views.

A Bundle written for a transaction often names its resources only by ``urn:uuid:`` full URLs
(resources without an ``id``, references to the full URLs). The views join on ``Type/id``
keys, so :func:`bundle_resources` gives each such resource the id its full URL carries and
rewrites the references to the full URLs of the Bundle as ``Type/id``, as a server would on
accepting the transaction (or as a Bulk Data export would show them). Resources are copied,
the Bundle is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iopfhir.fhir.models import FhirModel, as_json

__all__ = ["bundle_resources"]

_URN = ("urn:uuid:", "urn:oid:")


def _rewrite(value: Any, keys: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: _rewrite(v, keys) for k, v in value.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref in keys:
            out["reference"] = keys[ref]
        return out
    if isinstance(value, list):
        return [_rewrite(v, keys) for v in value]
    return value


def bundle_resources(bundle: Mapping[str, Any] | FhirModel) -> list[dict[str, Any]]:
    """The entries' resources, with ids from ``urn:uuid`` full URLs and references resolved.

    ``bundle`` may be a ``fhir.resources`` Bundle model (its JSON is read)."""
    bundle = as_json(bundle)
    keys: dict[str, str] = {}
    found: list[tuple[dict[str, Any], str | None]] = []
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        resource: dict[str, Any] = entry["resource"]
        full_url = entry.get("fullUrl")
        rtype = resource.get("resourceType")
        rid = resource.get("id")
        if isinstance(full_url, str) and isinstance(rtype, str):
            if rid is None and full_url.startswith(_URN):
                rid = full_url.split(":")[-1]
            if isinstance(rid, str):
                keys[full_url] = f"{rtype}/{rid}"
        found.append((resource, rid if isinstance(rid, str) else None))
    out = []
    for resource, rid in found:
        copy = _rewrite(resource, keys)
        if rid is not None:
            copy["id"] = rid
        out.append(copy)
    return out
