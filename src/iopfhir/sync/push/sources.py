"""What is pushed, as entries: episodes' resources, or anyone's Bundle made uniform.

:func:`read_entries` turns the input of a push into ``(url, resource)`` entries. For
episodes these are their resources under their ``urn:uuid`` full URLs. A Bundle written
elsewhere names its entries and references in any of the ways FHIR allows; a server
only rewrites ``urn:uuid`` ones reliably in a transaction, so each entry is given one of
its own (derived from its place and fullUrl; never the input's own ``urn:uuid``, which
a server may replace wherever the string occurs, such as in an identifier holding it)
and every reference that resolves inside the Bundle is pointed at it:

* the entry's ``fullUrl`` itself (also ``.../_history/n`` of it);
* a relative ``Type/id`` that the fullUrl of an entry ends with (``http://x/Patient/1``),
  or that names an entry's resource ``Type`` and ``id``, when exactly one entry fits.

What resolves nowhere in the Bundle is left as it is, for :mod:`.targets` to find on
the server or name as missing. The input's own fullUrls are kept (``sources``) for the
identity of resources without a business identifier (:mod:`.identity`).

Imports :mod:`iopfhir.domain`, :mod:`iopfhir.errors`, :mod:`iopfhir.fhir`,
:mod:`iopfhir.sync.resources` and :mod:`.state`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from iopfhir.domain import Episode
from iopfhir.errors import R4_RESOURCE_TYPES, InputError
from iopfhir.fhir.bundle import unique_entries
from iopfhir.fhir.conventions import name_uuid
from iopfhir.sync.resources import reference_sites, rewrite_references

from .state import Resource

__all__ = ["PushInput", "read_entries"]

_NAMESPACE: Final = uuid.UUID("9a4e2c71-6b3d-5f80-a1c2-4d5e6f708192")
_TYPE_ID = re.compile(r"(?:.*/)?([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})")


@dataclass
class PushInput:
    """The entries of a push and where they came from."""

    entries: list[tuple[str, Resource]]
    #: entry url → the input's own fullUrl (None when it had none)
    sources: dict[str, str | None] = field(default_factory=dict)
    #: entry url → its index in ``Bundle.entry`` (or in the episodes' resources)
    positions: dict[str, int] = field(default_factory=dict)
    from_bundle: bool = False
    #: one resource on its own (pushed as a Bundle of one; its messages name its type)
    lone: bool = False


#: Bundle.entry.request.method codes of entries without a resource to write
_NOT_WRITES = frozenset({"DELETE", "GET", "HEAD"})


def read_entries(source: Episode | Iterable[Episode] | Mapping[str, Any]) -> PushInput:
    """The entries to push (see the module)."""
    if isinstance(source, Episode):
        source = [source]
    if not isinstance(source, Mapping):
        entries = list(unique_entries(source))
        return PushInput(
            entries,
            sources={u: u for u, _ in entries},
            positions={u: n for n, (u, _) in enumerate(entries)},
        )
    kind = source.get("resourceType")
    if kind != "Bundle":
        if isinstance(kind, str) and kind in R4_RESOURCE_TYPES:
            # One resource on its own is pushed as a Bundle of one.
            out = _uniform([(None, dict(source))])
            out.lone = True
            return out
        raise InputError(
            "push takes episodes, a FHIR Bundle or one FHIR resource", path="resourceType"
        )
    raw: list[tuple[str | None, Resource]] = []
    for i, entry in enumerate(source.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            request = entry.get("request") if isinstance(entry, dict) else None
            method = request.get("method") if isinstance(request, dict) else None
            if method in _NOT_WRITES:  # a transaction's delete or read: a code, not data
                raise InputError(
                    f"a {method} entry: push writes resources, it does not delete or read"
                    " (send such a Bundle with FhirClient.transaction)",
                    path=f"Bundle.entry[{i}].request.method",
                )
            raise InputError("a Bundle entry without a resource", path=f"Bundle.entry[{i}]")
        url = entry.get("fullUrl")
        raw.append((url if isinstance(url, str) and url else None, resource))
    return _uniform(raw)


def _uniform(raw: list[tuple[str | None, Resource]]) -> PushInput:
    out = PushInput([], from_bundle=True)
    names: dict[str, str] = {}  # how the Bundle may name an entry → the entry's url
    by_type_id: dict[str, list[str]] = {}
    for i, (given, resource) in enumerate(raw):
        # Never the entry's own urn:uuid: a server may replace that string wherever it
        # occurs (Medplum does, in an identifier whose value is the fullUrl too).
        url = "urn:uuid:" + name_uuid(_NAMESPACE, f"{i}|{given or ''}")
        out.sources[url] = given
        out.positions[url] = i
        out.entries.append((url, resource))
        if given is not None:
            names.setdefault(given, url)
            match = _TYPE_ID.fullmatch(given)
            if match and "://" in given:
                by_type_id.setdefault(match.group(1), []).append(url)
        rid = resource.get("id")
        if isinstance(rid, str) and rid:
            key = f"{resource['resourceType']}/{rid}"
            if url not in by_type_id.get(key, ()):
                by_type_id.setdefault(key, []).append(url)
    for key, urls in by_type_id.items():
        if len(urls) == 1:
            names.setdefault(key, urls[0])
    rewritten: list[tuple[str, Resource]] = []
    for url, resource in out.entries:
        mapping = {}
        for _, ref in reference_sites(resource):
            target = names.get(ref) or names.get(ref.split("/_history/", 1)[0])
            if target is not None and target != ref:
                mapping[ref] = target
        rewritten.append((url, rewrite_references(resource, mapping) if mapping else resource))
    out.entries = rewritten
    return out
