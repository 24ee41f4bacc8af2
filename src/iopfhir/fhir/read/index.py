"""One index over every entry, so a reference is resolved in constant time.

A reference is looked up, in order, as a contained resource (``#id``, within the
resource that holds it), a ``fullUrl`` (``urn:uuid:...`` or an absolute URL), ``Type/id``
(relative, or the tail of an absolute RESTful URL, ``_history`` dropped), a
conditional reference (``Patient?identifier=system|value``) and a logical reference
(``Reference.identifier``).

Imports: nothing from iopfhir but :mod:`iopfhir.fhir.read.source`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

from iopfhir.fhir.read.source import Entry

__all__ = ["Index", "reference_of"]

_TYPE_ID = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def reference_of(value: Any) -> str | None:
    """The ``reference`` string of a Reference element, if it has one."""
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and ref:
            return ref
    return None


class Index:
    """Entries by ``fullUrl``, by ``Type/id`` and by identifier; contained resources by id."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries: list[Entry] = []
        self.duplicates = 0
        #: entry id → its place in the input (contained resources follow their container)
        self.position: dict[int, int] = {}
        self._by_url: dict[str, Entry] = {}
        self._by_type_id: dict[str, Entry] = {}
        self._by_identifier: dict[tuple[str, str, str], Entry] = {}
        self._by_identifier_any: dict[tuple[str, str], Entry] = {}
        self._by_canonical: dict[str, Entry] = {}
        #: contained resources, keyed by (id of the container entry, local id)
        self._contained: dict[tuple[int, str], Entry] = {}
        self._container: dict[int, Entry] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: Entry) -> None:
        """Index one entry (and its contained resources).

        A second copy of a resource already seen (same type and id, e.g. the same
        Patient in several files of one folder) is not added again: references to it
        resolve to the first copy, and ``duplicates`` counts it.
        """
        if entry.id and f"{entry.type}/{entry.id}" in self._by_type_id:
            first = self._by_type_id[f"{entry.type}/{entry.id}"]
            if entry.full_url:
                self._by_url.setdefault(entry.full_url, first)
            self.duplicates += 1
            return
        self.position[id(entry)] = len(self.entries)
        self.entries.append(entry)
        if entry.full_url:
            self._by_url.setdefault(entry.full_url, entry)
            match = _TYPE_ID.search(entry.full_url)
            if match and not entry.full_url.startswith("urn:"):
                self._by_type_id.setdefault(f"{match.group(1)}/{match.group(2)}", entry)
        if entry.id:
            self._by_type_id.setdefault(f"{entry.type}/{entry.id}", entry)
        url = entry.resource.get("url")
        if isinstance(url, str) and url:
            self._by_canonical.setdefault(url, entry)
        for ident in _identifiers(entry.resource):
            self._by_identifier.setdefault((entry.type, *ident), entry)
            self._by_identifier_any.setdefault(ident, entry)
        contained = entry.resource.get("contained")
        if isinstance(contained, list):
            for item in contained:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    inner = Entry(item, None, entry.origin)
                    self._contained[(id(entry), item["id"])] = inner
                    self.position[id(inner)] = self.position[id(entry)]
                    self._container[id(inner)] = entry

    def resolve(self, value: Any, context: Entry | None = None) -> Entry | None:
        """The entry a Reference element (or a reference string) points to, or ``None``."""
        if isinstance(value, str):
            ref: str | None = value
            element: dict[str, Any] = {}
        elif isinstance(value, dict):
            ref = reference_of(value)
            element = value
        else:
            return None
        if ref:
            found = self._resolve_string(ref, context)
            if found is not None:
                return found
        ident = element.get("identifier")
        if isinstance(ident, dict):
            system, code = ident.get("system"), ident.get("value")
            rtype = element.get("type")
            if isinstance(system, str) and isinstance(code, str):
                if isinstance(rtype, str):
                    return self._by_identifier.get((rtype, system, code))
                return self._by_identifier_any.get((system, code))
        return None

    def _resolve_string(self, ref: str, context: Entry | None) -> Entry | None:
        if ref.startswith("#"):
            if context is None:
                return None
            holder = self._container.get(id(context), context)
            return self._contained.get((id(holder), ref[1:]))
        found = self._by_url.get(ref)
        if found is not None:
            return found
        if "?" in ref:
            return self._conditional(ref)
        match = _TYPE_ID.search(ref)
        if match:
            return self._by_type_id.get(f"{match.group(1)}/{match.group(2)}")
        return None

    def _conditional(self, ref: str) -> Entry | None:
        rtype, _, query = ref.partition("?")
        rtype = rtype.rsplit("/", 1)[-1]
        for value in parse_qs(query).get("identifier", []):
            system, sep, code = value.partition("|")
            if sep:
                found = self._by_identifier.get((rtype, system, code))
                if found is not None:
                    return found
        return None

    def find_canonical(self, url: str) -> Entry | None:
        """The definitional resource (Questionnaire...) whose ``url`` is ``url``."""
        return self._by_canonical.get(url.split("|", 1)[0])

    def container_of(self, entry: Entry) -> Entry | None:
        """The entry that contains ``entry``, when it is a contained resource."""
        return self._container.get(id(entry))


def _identifiers(resource: dict[str, Any]) -> Iterator[tuple[str, str]]:
    idents = resource.get("identifier")
    if isinstance(idents, dict):
        idents = [idents]
    if not isinstance(idents, list):
        return
    for ident in idents:
        if isinstance(ident, dict):
            system, value = ident.get("system"), ident.get("value")
            if isinstance(system, str) and isinstance(value, str):
                yield system, value
