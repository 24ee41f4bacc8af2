"""One episode's resources, looked up the ways the document builder needs them.

:class:`DocIndex` holds the ``(full URL, resource)`` entries of one episode (bundle style,
from :func:`iopfhir.fhir.build.episode_entries`) and finds them by iopfhir's business
identifier kind (``condition``, ``careplan``...) and local key, by the resources they
reference, and gives the short texts a narrative shows (a person's name, a concept's
display, a phone number). It reads FHIR only: what the document says is what its entries
hold. Imports: :mod:`iopfhir.fhir.conventions`, :mod:`iopfhir.terminology`,
:mod:`iopfhir.errors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from iopfhir.errors import MappingError
from iopfhir.fhir.conventions import EXT, parse_identifier
from iopfhir.terminology import relationship_key

__all__ = ["DocIndex", "Resource", "concept_text", "references_in", "short_moment"]

Resource = dict[str, Any]


def references_in(value: Any) -> Iterator[str]:
    """Every ``Reference.reference`` string inside ``value`` (a resource or part of one),
    skipping references to contained resources (``#id``)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("reference")
            if isinstance(ref, str) and not ref.startswith("#"):
                yield ref
            stack.extend(v for k, v in item.items() if k != "reference")
        elif isinstance(item, list):
            stack.extend(item)


def concept_text(concept: Any) -> str:
    """What a CodeableConcept says to a reader: its text, else its first display, else
    its first code; ``""`` for none."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []):
        if coding.get("display"):
            return str(coding["display"])
    for coding in concept.get("coding", []):
        if coding.get("code"):
            return str(coding["code"])
    return ""


def short_moment(value: Any) -> str:
    """A FHIR date or dateTime for reading: ``2026-03-02`` or ``2026-03-02 09:00``."""
    if not isinstance(value, str):
        return ""
    if len(value) > 10 and value[10] == "T":
        return f"{value[:10]} {value[11:16]}"
    return value


class DocIndex:
    """The entries of one episode by full URL, by identifier kind and by local key."""

    def __init__(self, entries: list[tuple[str, Resource]]) -> None:
        self.entries = entries
        self.by_url: dict[str, Resource] = {}
        self.order: dict[str, int] = {}
        #: kind → [(local key, full URL)] in episode order
        self.kinds: dict[str, list[tuple[str, str]]] = {}
        #: full URL → the local key of iopfhir's identifier
        self.keys: dict[str, str] = {}
        self._keyed: dict[tuple[str, str], str] = {}
        for position, (url, resource) in enumerate(entries):
            if url in self.by_url:
                continue
            self.by_url[url] = resource
            self.order[url] = position
            parsed = _our_identifier(resource)
            if parsed is not None:
                kind, _episode, local = parsed
                self.kinds.setdefault(kind, []).append((local, url))
                self._keyed.setdefault((kind, local), url)
                self.keys[url] = local
        patients = [u for u, r in self.by_url.items() if r["resourceType"] == "Patient"]
        if not patients:
            raise MappingError("a transition-of-care document needs the episode's patient")
        self.patient_url = patients[0]

    # -- lookups ------------------------------------------------------------------------------

    def of_kind(self, kind: str) -> list[tuple[str, str]]:
        """``(local key, full URL)`` of every resource with identifier kind ``kind``."""
        return self.kinds.get(kind, [])

    def urls(self, kind: str) -> list[str]:
        """Full URLs of every resource with identifier kind ``kind``, in episode order."""
        return [url for _local, url in self.of_kind(kind)]

    def local(self, kind: str, local_key: str) -> str | None:
        """The full URL of the resource ``kind`` → ``<episode>/<local_key>``, if any."""
        return self._keyed.get((kind, local_key))

    def get(self, ref: Any) -> Resource | None:
        """The resource a Reference (dict) or full URL (str) points to, if it is here."""
        url = ref.get("reference") if isinstance(ref, dict) else ref
        return self.by_url.get(url) if isinstance(url, str) else None

    def care_plans(self, kind: str) -> list[str]:
        """CarePlans (identifier kind ``careplan``) of one project care-plan kind; ``other``
        plans are written without a care-plan-kind code, so they are the ones with none."""
        return [url for url in self.urls("careplan") if self._plan_kind(url) == kind]

    def _plan_kind(self, url: str) -> str:
        for category in self.by_url[url].get("category", []):
            for c in category.get("coding", []):
                if c.get("system", "").endswith("/care-plan-kind") and c.get("code"):
                    return str(c["code"])
        return "other"

    # -- texts ----------------------------------------------------------------------------

    def name(self, ref: Any) -> str:
        """A readable name of the person, organization or team a reference points to."""
        res = self.get(ref)
        if res is None:
            return ""
        rtype = res["resourceType"]
        if rtype == "PractitionerRole":
            return self.name(res.get("practitioner")) or self.name(res.get("organization"))
        if rtype in ("Organization", "CareTeam", "Location"):
            return str(res.get("name", ""))
        names = res.get("name")
        if isinstance(names, list) and names:
            first = names[0]
            given = " ".join(first.get("given", []))
            return " ".join(part for part in (given, first.get("family", "")) if part)
        return ""

    def role(self, ref: Any) -> str:
        """The role(s) of a PractitionerRole, or a RelatedPerson's relationship."""
        res = self.get(ref)
        if res is None:
            return ""
        if res["resourceType"] == "PractitionerRole":
            return ", ".join(t for t in (concept_text(c) for c in res.get("code", [])) if t)
        if res["resourceType"] == "RelatedPerson":
            return ", ".join(
                _relationship(c) for c in res.get("relationship", []) if _relationship(c)
            )
        return ""

    def phone(self, ref: Any) -> str:
        """The first phone number of a person or organization (a role: its practitioner's)."""
        res = self.get(ref)
        if res is None:
            return ""
        for contact in res.get("telecom", []):
            if contact.get("system") == "phone" and contact.get("value"):
                return str(contact["value"])
        if res["resourceType"] == "PractitionerRole":
            return self.phone(res.get("practitioner"))
        return ""


def _relationship(concept: Any) -> str:
    """A relationship as words: its text or display, else the package's key (``mother``)."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []):
        if coding.get("display"):
            return str(coding["display"])
        key = relationship_key(coding.get("system"), coding.get("code"))
        if key:
            return key.replace("-", " ")
    return ""


def _our_identifier(resource: Resource) -> tuple[str, str, str] | None:
    idents = resource.get("identifier")
    if isinstance(idents, dict):
        idents = [idents]
    if not idents and resource["resourceType"] == "Provenance":
        idents = [
            ext.get("valueIdentifier", {})
            for ext in resource.get("extension", [])
            if ext.get("url") == EXT.RECORD_IDENTIFIER
        ]
    # the patient, an organization or a practitioner has its own identifiers first
    for ident in reversed(idents or []):
        parsed = parse_identifier(ident.get("system"), ident.get("value"))
        if parsed is not None:
            return parsed
    return None
