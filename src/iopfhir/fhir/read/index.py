"""One index over every entry, so a reference is resolved in constant time.

A reference is looked up, in order, as a contained resource (``#id``, within the
resource that holds it; a contained Practitioner, PractitionerRole, Organization or
Location that carries an identifier of one of the input's own is that one), a ``fullUrl``
(``urn:uuid:...`` or an absolute URL), ``Type/id`` (relative, or the tail of an absolute
RESTful URL, ``_history`` dropped), a conditional reference
(``Patient?identifier=system|value``) and a logical reference (``Reference.identifier``).

An absolute reference names a resource of the input by its tail only when its server is
the input's: when the input's RESTful ``fullUrl``s give its server bases
(``https://ehr.example.org/fhir`` for ``https://ehr.example.org/fhir/Patient/1``), an
absolute reference to another server is not resolved (R4: it names a resource elsewhere,
whatever its id); an input without them (NDJSON, ``urn:uuid`` Bundles) does not say which
server it comes from, and the tail is taken.

It also keeps, by episode key, the resources of the :data:`TAG_KINDS` types
(PractitionerRole, Organization...) that carry iopfhir's own identifier of that episode
(:meth:`Index.tagged`), so the reader finds an episode's unreferenced people without
scanning every entry. :class:`Index` is the
in-memory index of a whole input (:func:`iopfhir.fhir.read.read_fhir`); the streaming
reader (:mod:`iopfhir.fhir.read.stream`) uses a subclass that holds one patient's entries
and asks its store for the rest.

Imports: :mod:`iopfhir.fhir.read.source` and :mod:`iopfhir.fhir.read.values`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Set
from typing import Any
from urllib.parse import parse_qs

from iopfhir.fhir import conventions
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import own_key_or_none

__all__ = [
    "TAG_KINDS",
    "TYPE_ID",
    "Index",
    "elsewhere",
    "entry_keys",
    "identifier_keys",
    "identifier_pairs",
    "reference_keys",
    "reference_of",
    "server_base",
    "tag_of",
    "type_id_key",
]

#: the types whose own identifier names an episode they may be unreferenced in, and its kind
TAG_KINDS = {
    "PractitionerRole": "practitionerrole",
    "Organization": "organization",
    "Location": "location",
    "Practitioner": "practitioner",
}

#: ``Type/id`` at the end of a relative or absolute reference (``_history`` dropped)
TYPE_ID = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
#: a reference string that is nothing but ``Type/id`` (nearly every one): :data:`TYPE_ID`
#: finds the whole string in it, which one anchored match tells at a fraction of the cost
#: of the search (that tries every place a ``/`` may start)
PLAIN_TYPE_ID = conventions.PLAIN_TYPE_ID


def elsewhere(ref: str, match: re.Match[str], bases: Set[str]) -> bool:
    """Whether ``ref``, whose :data:`TYPE_ID` tail is ``match``, is an absolute URL on a
    server other than the input's (``bases``: the server bases of its RESTful ``fullUrl``s;
    with none known, no reference is)."""
    return bool(bases) and "://" in ref and ref[: match.start()] not in bases


def server_base(full_url: str) -> str | None:
    """The server base of a RESTful absolute ``fullUrl`` (``https://x/fhir`` for
    ``https://x/fhir/Patient/1``), or ``None`` (``urn:uuid:``, not RESTful)."""
    if "://" not in full_url:
        return None
    match = TYPE_ID.search(full_url)
    return full_url[: match.start()] if match and match.start() > 0 else None


def tag_of(entry: Entry) -> str | None:
    """The episode key the own identifier of an entry of a :data:`TAG_KINDS` type names."""
    kind = TAG_KINDS.get(entry.type)
    if kind is None:
        return None
    own = own_key_or_none(entry.resource, kind)
    return own[0] if own is not None else None


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
        #: entries with identifiers not yet in the two tables above: they are filed, in
        #: the order they were added, when an identifier is first looked up (most inputs
        #: never name a resource by identifier)
        self._unfiled: list[Entry] = []
        self._by_canonical: dict[str, Entry] = {}
        #: contained resources, keyed by (id of the container entry, local id)
        self._contained: dict[tuple[int, str], Entry] = {}
        self._container: dict[int, Entry] = {}
        self._tagged: dict[str, list[Entry]] = {}
        #: reference string → the entry it names (``#id`` ones aside), as found so far:
        #: emptied whenever an entry is added, so it never answers what a lookup would not
        self._found: dict[str, Entry] = {}
        #: ids of the entries of the shared types (Practitioner, PractitionerRole,
        #: Organization, Location) some episode took (``people`` marks them), so that those
        #: no episode took can be counted
        self.used: set[int] = set()
        #: the server bases of the entries' RESTful ``fullUrl``s (:func:`elsewhere`)
        self.bases: set[str] = set()
        for entry in entries:
            self.add(entry)

    def add(self, entry: Entry, position: int | None = None) -> None:
        """Index one entry (and its contained resources).

        A second copy of a resource already seen (same type and id, e.g. the same
        Patient in several files of one folder) is not added again: references to it
        resolve to the first copy, and ``duplicates`` counts it. ``position``: its place
        in the input (default: the number of entries before it).
        """
        if self._found:
            self._found.clear()
        type_id = f"{entry.type}/{entry.id}" if entry.id else None
        if type_id is not None and type_id in self._by_type_id:
            first = self._by_type_id[type_id]
            if entry.full_url:
                self._by_url.setdefault(entry.full_url, first)
            self.duplicates += 1
            return
        self.position[id(entry)] = len(self.entries) if position is None else position
        self.entries.append(entry)
        if entry.type in TAG_KINDS:
            tag = tag_of(entry)
            if tag is not None:
                self._tagged.setdefault(tag, []).append(entry)
        full_url = entry.full_url
        if full_url:
            self._by_url.setdefault(full_url, entry)
            if not full_url.startswith("urn:"):
                match = TYPE_ID.search(full_url)
                if match:
                    self._by_type_id.setdefault(f"{match.group(1)}/{match.group(2)}", entry)
                    if (base := server_base(full_url)) is not None:
                        self.bases.add(base)
        if type_id is not None:
            self._by_type_id.setdefault(type_id, entry)
        res = entry.resource
        url = res.get("url")
        if isinstance(url, str) and url:
            self._by_canonical.setdefault(url, entry)
            version = res.get("version")
            if isinstance(version, str) and version:
                self._by_canonical.setdefault(f"{url}|{version}", entry)
        if "identifier" in res:
            self._unfiled.append(entry)
        contained = res.get("contained")
        if isinstance(contained, list):
            for item in contained:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    inner = Entry(item, None, entry.origin)
                    self._contained[(id(entry), item["id"])] = inner
                    self.position[id(inner)] = self.position[id(entry)]
                    self._container[id(inner)] = entry

    def resolve(self, value: Any, context: Entry | None = None) -> Entry | None:
        """The entry a Reference element (or a reference string) points to, or ``None``."""
        # the common case first: a reference string (not ``#id``) already looked up
        ref = value.get("reference") if type(value) is dict else value
        if type(ref) is str and ref and ref[0] != "#":
            found = self._found.get(ref)
            if found is None:
                found = self._resolve_string(ref, None)
                if found is None:
                    return self._logical(value) if ref is not value else None
                self._found[ref] = found
            return found
        return self._resolve(value, context)

    def _resolve(self, value: Any, context: Entry | None) -> Entry | None:
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
                if ref[0] == "#" and found.type in _MERGED_CONTAINED:
                    return self._same_outside(found) or found
                return found
        return self._logical(element)

    def _same_outside(self, inner: Entry) -> Entry | None:
        """The resource of the input outside any container that carries an identifier of
        the contained ``inner`` (same type): the same person or organization, written out
        again inside a resource, is one (a second one would be a copy of it)."""
        for system, value in identifier_pairs(inner.resource):
            ident = {"system": system, "value": value}
            found = self.resolve({"type": inner.type, "identifier": ident})
            if found is not None and found is not inner and self.container_of(found) is None:
                return found
        return None

    def _file_identifiers(self) -> None:
        """The identifiers of the entries added since the last lookup, into their tables."""
        by_identifier, by_any = self._by_identifier, self._by_identifier_any
        for entry in self._unfiled:
            for ident in identifier_pairs(entry.resource):
                by_identifier.setdefault((entry.type, *ident), entry)
                by_any.setdefault(ident, entry)
        self._unfiled.clear()

    def _logical(self, element: dict[str, Any]) -> Entry | None:
        """The entry ``Reference.identifier`` names (with ``Reference.type``, if given)."""
        ident = element.get("identifier")
        if isinstance(ident, dict):
            if self._unfiled:
                self._file_identifiers()
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
        type_id = _type_id(ref, self.bases)
        return self._by_type_id.get(type_id) if type_id is not None else None

    def _conditional(self, ref: str) -> Entry | None:
        rtype, _, query = ref.partition("?")
        rtype = rtype.rsplit("/", 1)[-1]
        if self._unfiled:
            self._file_identifiers()
        for value in parse_qs(query).get("identifier", []):
            system, sep, code = value.partition("|")
            if sep:
                found = self._by_identifier.get((rtype, system, code))
                if found is not None:
                    return found
        return None

    def tagged(self, episode: str) -> list[Entry]:
        """The resources of the :data:`TAG_KINDS` types whose own identifier names ``episode``,
        in input order."""
        return self._tagged.get(episode, [])

    def find_canonical(self, url: str) -> Entry | None:
        """The definitional resource (Questionnaire...) a canonical names: for ``url|version``
        the one of that ``url`` and ``version``, else (or when the input has no such
        version) the first whose ``url`` is ``url``."""
        found = self._by_canonical.get(url)
        if found is None and "|" in url:
            found = self._by_canonical.get(url.split("|", 1)[0])
        return found

    def container_of(self, entry: Entry) -> Entry | None:
        """The entry that contains ``entry``, when it is a contained resource."""
        return self._container.get(id(entry))


def _type_id(ref: str, bases: Set[str] = frozenset()) -> str | None:
    """``Type/id`` at the end of a reference string (:data:`TYPE_ID`), or ``None`` (also for
    an absolute URL on another server than the input's ``bases``: :func:`elsewhere`). Not
    remembered: most reference strings are looked up once per patient, and the index
    remembers what it found for each."""
    if PLAIN_TYPE_ID.fullmatch(ref) is not None:
        return ref
    match = TYPE_ID.search(ref)
    if match is None or elsewhere(ref, match, bases):
        return None
    return f"{match.group(1)}/{match.group(2)}"


def identifier_pairs(resource: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(system, value)`` of every identifier of ``resource`` that has both."""
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


# -- names for a store (the streaming reader): the same lookups, as strings -----------------

#: contained resources read as the input's own resource of that type and identifier, when
#: it has one (people and places, which a writer may copy into a resource)
_MERGED_CONTAINED = frozenset({"Practitioner", "PractitionerRole", "Organization", "Location"})
_SEP = "\x1f"  # no FHIR string holds a unit separator: keys of different parts never meet


def entry_keys(entry: Entry) -> tuple[list[str], list[str]]:
    """The names :meth:`Index.add` files ``entry`` under, as store keys: ``(Type/id names,
    other names)``. The first ``Type/id`` name (when the entry has an id) is its own."""
    type_ids: list[str] = []
    others: list[str] = []
    if entry.id:
        type_ids.append(f"t{_SEP}{entry.type}/{entry.id}")
    url = entry.full_url
    if url:
        others.append(f"u{_SEP}{url}")
        match = TYPE_ID.search(url)
        if match and not url.startswith("urn:"):
            type_ids.append(f"t{_SEP}{match.group(1)}/{match.group(2)}")
    canonical = entry.resource.get("url")
    if isinstance(canonical, str) and canonical:
        others.append(f"c{_SEP}{canonical}")
        version = entry.resource.get("version")
        if isinstance(version, str) and version:
            others.append(f"c{_SEP}{canonical}|{version}")
    others += identifier_keys(entry.type, entry.resource.get("identifier"))
    return type_ids, others


def type_id_key(rtype: str, rid: str) -> str:
    """The store key of ``Type/id`` (the first of :func:`entry_keys` for an entry with an
    id)."""
    return f"t{_SEP}{rtype}/{rid}"


def identifier_keys(rtype: str, identifiers: Any) -> list[str]:
    """The store keys of the ``identifier`` element of a resource of type ``rtype``, in the
    order :func:`entry_keys` gives them (typed, then untyped, for each identifier)."""
    keys: list[str] = []
    if identifiers is not None:
        for system, value in identifier_pairs({"identifier": identifiers}):
            keys.append(f"i{_SEP}{rtype}{_SEP}{system}{_SEP}{value}")
            keys.append(f"a{_SEP}{system}{_SEP}{value}")
    return keys


def canonical_keys(url: str) -> list[str]:
    """The store keys :meth:`Index.find_canonical` tries for a canonical, in order."""
    if "|" in url:
        return [f"c{_SEP}{url}", f"c{_SEP}{url.split('|', 1)[0]}"]
    return [f"c{_SEP}{url}"]


def reference_keys(value: Any, bases: Set[str] = frozenset()) -> list[str]:
    """The store keys a Reference element (or a reference string) may resolve by, in the
    order :meth:`Index.resolve` tries them; a contained ``#id`` has none (it is found in
    its container). ``bases``: the input's server bases (:func:`elsewhere`)."""
    if isinstance(value, str):
        ref: str | None = value
        element: dict[str, Any] = {}
    elif isinstance(value, dict):
        ref = reference_of(value)
        element = value
    else:
        return []
    keys: list[str] = []
    if ref and not ref.startswith("#"):
        keys.append(f"u{_SEP}{ref}")
        if "?" in ref:
            rtype, _, query = ref.partition("?")
            rtype = rtype.rsplit("/", 1)[-1]
            for param in parse_qs(query).get("identifier", []):
                system, sep, code = param.partition("|")
                if sep:
                    keys.append(f"i{_SEP}{rtype}{_SEP}{system}{_SEP}{code}")
        elif PLAIN_TYPE_ID.fullmatch(ref) is not None:  # what TYPE_ID finds in it: all of it
            keys.append(f"t{_SEP}{ref}")
        else:
            match = TYPE_ID.search(ref)
            if match and not elsewhere(ref, match, bases):
                keys.append(f"t{_SEP}{match.group(1)}/{match.group(2)}")
    ident = element.get("identifier")
    if isinstance(ident, dict):
        id_system, id_value = ident.get("system"), ident.get("value")
        of_type = element.get("type")
        if isinstance(id_system, str) and isinstance(id_value, str):
            if isinstance(of_type, str):
                keys.append(f"i{_SEP}{of_type}{_SEP}{id_system}{_SEP}{id_value}")
            else:
                keys.append(f"a{_SEP}{id_system}{_SEP}{id_value}")
    return keys
