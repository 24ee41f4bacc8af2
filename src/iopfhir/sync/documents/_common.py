"""What the push and the pull of documents share: the document check, identifier
searches, logical references resolved on the server, and the reports.

:func:`check_document` is the one rule for "a FHIR document" on both sides (``Bundle``
of type ``document``, an identifier with system and value, the ``Composition`` first);
messages name the place (``Bundle.type``, ``Bundle.entry[0]``), never a value.

Imports :mod:`iopfhir.client`, :mod:`iopfhir.errors`, :mod:`iopfhir.sync.resources`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iopfhir.client import FhirClient
from iopfhir.errors import InputError, Issue
from iopfhir.sync.resources import escape_search

__all__ = [
    "DocumentPullReport",
    "DocumentPushReport",
    "PulledDocument",
    "Resource",
    "check_document",
    "document_key",
    "find_by_identifier",
    "identifier_criteria",
]

Resource = dict[str, Any]


def check_document(bundle: Any, *, where: str = "Bundle") -> Resource:
    """``bundle`` when it is a FHIR document Bundle; :class:`InputError` naming the place
    otherwise."""
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        raise InputError("not a FHIR Bundle", path=f"{where}.resourceType")
    if bundle.get("type") != "document":
        raise InputError("not a FHIR document (Bundle.type must be document)", path=f"{where}.type")
    ident = bundle.get("identifier")
    if not (isinstance(ident, Mapping) and ident.get("system") and ident.get("value")):
        raise InputError(
            "a document needs an identifier with system and value", path=f"{where}.identifier"
        )
    entries = bundle.get("entry")
    first = entries[0] if isinstance(entries, list) and entries else None
    resource = first.get("resource") if isinstance(first, Mapping) else None
    if not (isinstance(resource, Mapping) and resource.get("resourceType") == "Composition"):
        raise InputError("a document starts with its Composition", path=f"{where}.entry[0]")
    return dict(bundle)


def document_key(bundle: Mapping[str, Any]) -> tuple[str, str]:
    """The document's identifier as ``(system, value)`` (checked by :func:`check_document`)."""
    ident = bundle["identifier"]
    return str(ident["system"]), str(ident["value"])


def identifier_criteria(system: str, value: str) -> dict[str, str]:
    """``identifier=system|value`` (escaped) as search criteria."""
    return {"identifier": f"{escape_search(system)}|{escape_search(value)}"}


def find_by_identifier(
    client: FhirClient, resource_type: str, system: str, value: str
) -> list[Resource]:
    """The resources of ``resource_type`` the server holds with that business identifier
    (first page; ``Prefer: handling=strict``)."""
    search = client.search(resource_type).where(**identifier_criteria(system, value)).strict()
    return search.count(10).bundle_matches()


@dataclass
class DocumentPushReport:
    """What a push of a document did, per stored form (``Bundle``, ``DocumentReference``).

    ``actions`` maps the form to ``created``, ``updated``, ``unchanged`` or ``planned``
    (dry run); ``ids`` to the server id; ``resolved`` counts the logical references of the
    DocumentReference pointed at the server's resources, ``logical`` those kept logical.
    """

    dry_run: bool = False
    forms: list[str] = field(default_factory=list)
    actions: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    resolved: int = 0
    logical: int = 0
    round_trips: int = 0
    issues: list[Issue] = field(default_factory=list)

    @property
    def written(self) -> int:
        """How many writes reached the server (creates and updates)."""
        return sum(1 for a in self.actions.values() if a in ("created", "updated"))

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (no patient data: forms, actions, counts)."""
        return {
            "dry_run": self.dry_run,
            "forms": list(self.forms),
            "actions": dict(self.actions),
            "written": self.written,
            "references_resolved": self.resolved,
            "references_logical": self.logical,
            "round_trips": self.round_trips,
        }


@dataclass(frozen=True)
class PulledDocument:
    """One document fetched: the Bundle, its identifier, where it came from
    (``DocumentReference/<id>`` or ``Bundle/<id>``) and the exact bytes when it came as an
    attachment (``None`` for a stored Bundle, which the server may have re-serialised)."""

    bundle: Resource
    system: str
    value: str
    source: str
    raw: bytes | None = None


@dataclass
class DocumentPullReport:
    """How a pull of documents went: what was searched, found, skipped and why."""

    patient_id: str | None = None
    document_references: int = 0
    bundles: int = 0
    round_trips: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    fallbacks: list[str] = field(default_factory=list)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1
