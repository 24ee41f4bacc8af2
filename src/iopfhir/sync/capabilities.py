"""What a server's CapabilityStatement lets a push and a pull do.

:func:`server_support` reads ``GET [base]/metadata`` (cached by the client) into a
:class:`ServerSupport`: the write mode (``transaction``, else ``batch``, else one request
per resource), and for each resource type whether it is accepted (a ``create`` or
``update`` interaction), whether it can be found by business identifier (an
``identifier`` search parameter), whether the server creates on ``PUT`` to a new id
(``updateCreate``), which search parameters and operations it lists.

Types the statement does not list at all are *unlisted*: the FHIR reading is "not
supported", but real servers (sekmet) accept them anyway. ``unlisted="attempt"`` sends
them (written by ``PUT`` to an id derived from the business identifier, so a rerun finds
them); ``unlisted="skip"`` reports them as not accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "IOP_TYPES",
    "ServerSupport",
    "TypeSupport",
    "WriteMode",
    "server_support",
]

WriteMode = Literal["transaction", "batch", "single"]
Unlisted = Literal["attempt", "skip"]

#: The resource types an IOP episode maps to (see ``iopfhir/fhir/MAPPING.md``).
IOP_TYPES = (
    "Patient",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "RelatedPerson",
    "CareTeam",
    "Condition",
    "EpisodeOfCare",
    "ServiceRequest",
    "Encounter",
    "Goal",
    "CarePlan",
    "Appointment",
    "QuestionnaireResponse",
    "Observation",
    "MedicationStatement",
    "MedicationRequest",
    "AllergyIntolerance",
    "Flag",
    "RiskAssessment",
    "Provenance",
    "Consent",
)


@dataclass(frozen=True, slots=True)
class TypeSupport:
    """One resource type as the server describes it."""

    type: str
    listed: bool
    interactions: frozenset[str] = frozenset()
    search_params: frozenset[str] = frozenset()
    includes: frozenset[str] = frozenset()
    operations: frozenset[str] = frozenset()
    update_create: bool | None = None
    conditional_create: bool | None = None

    @property
    def can_create(self) -> bool:
        return "create" in self.interactions

    @property
    def can_update(self) -> bool:
        return "update" in self.interactions

    @property
    def identifier_search(self) -> bool:
        """Existing resources can be found by business identifier."""
        return "identifier" in self.search_params and "search-type" in self.interactions

    def searchable_by(self, param: str) -> bool:
        return param in self.search_params and "search-type" in self.interactions


@dataclass(frozen=True, slots=True)
class ServerSupport:
    """The parts of a CapabilityStatement that push and pull act on."""

    mode: WriteMode
    types: Mapping[str, TypeSupport] = field(default_factory=dict)
    system_operations: frozenset[str] = frozenset()
    unlisted: Unlisted = "attempt"
    software: str = ""
    #: The server takes ``batch`` Bundles (used for look-ups in one round trip).
    batch: bool = False

    def type(self, name: str) -> TypeSupport:
        found = self.types.get(name)
        return found if found is not None else TypeSupport(name, listed=False)

    def write_strategy(self, name: str) -> tuple[str, str]:
        """``(strategy, reason)`` for writing resources of type ``name``.

        Strategies: ``identifier`` (conditional create on the business identifier, PUT
        updates), ``put-id`` (PUT to an id derived from the business identifier: create
        on first push, update later), ``skip`` (not accepted; the reason says why).
        """
        t = self.type(name)
        if not t.listed:
            if self.unlisted == "skip":
                return "skip", "not listed in the server's CapabilityStatement"
            return "put-id", "not listed in the CapabilityStatement; sent by PUT to a derived id"
        if not (t.can_create or t.can_update):
            return "skip", "read-only on this server (no create or update interaction)"
        if t.identifier_search and t.can_create:
            return "identifier", "conditional create on the business identifier"
        if t.can_update and t.update_create is not False:
            return "put-id", "no identifier search; PUT to an id derived from the identifier"
        return "skip", "cannot be written idempotently (no identifier search, no update-create)"

    def has_operation(self, name: str, resource_type: str | None = None) -> bool:
        """True when the statement lists operation ``name`` (on the type or system)."""
        name = name.lstrip("$")
        if resource_type is not None and name in self.type(resource_type).operations:
            return True
        return name in self.system_operations

    def describe(self, types: Iterable[str] = IOP_TYPES) -> dict[str, Any]:
        """A JSON-ready summary: the write mode and, per type, what the server offers."""
        out: dict[str, Any] = {"software": self.software, "write_mode": self.mode, "types": {}}
        for name in types:
            t = self.type(name)
            strategy, reason = self.write_strategy(name)
            out["types"][name] = {
                "listed": t.listed,
                "interactions": sorted(t.interactions),
                "identifier_search": t.identifier_search,
                "patient_search": t.searchable_by("patient") or t.searchable_by("subject"),
                "write": strategy,
                "reason": reason,
            }
        return out


def _names(items: Any, key: str) -> frozenset[str]:
    if not isinstance(items, list):
        return frozenset()
    return frozenset(str(i[key]) for i in items if isinstance(i, dict) and key in i)


def server_support(
    statement: Mapping[str, Any], *, unlisted: Unlisted = "attempt"
) -> ServerSupport:
    """Read a CapabilityStatement (``mode=server`` rest entry) into a :class:`ServerSupport`."""
    rests = statement.get("rest") or []
    rest: Mapping[str, Any] = next(
        (r for r in rests if isinstance(r, dict) and r.get("mode", "server") == "server"), {}
    )
    system = _names(rest.get("interaction"), "code")
    types: dict[str, TypeSupport] = {}
    for res in rest.get("resource") or []:
        if not isinstance(res, dict) or not isinstance(res.get("type"), str):
            continue
        includes = res.get("searchInclude")
        types[res["type"]] = TypeSupport(
            type=res["type"],
            listed=True,
            interactions=_names(res.get("interaction"), "code"),
            search_params=_names(res.get("searchParam"), "name"),
            includes=frozenset(str(i) for i in includes)
            if isinstance(includes, list)
            else frozenset(),
            operations=_names(res.get("operation"), "name"),
            update_create=res.get("updateCreate")
            if isinstance(res.get("updateCreate"), bool)
            else None,
            conditional_create=res.get("conditionalCreate")
            if isinstance(res.get("conditionalCreate"), bool)
            else None,
        )
    mode: WriteMode = "single"
    if "transaction" in system:
        mode = "transaction"
    elif "batch" in system:
        mode = "batch"
    software = statement.get("software")
    name = str(software.get("name", "")) if isinstance(software, dict) else ""
    return ServerSupport(
        mode=mode,
        types=types,
        system_operations=_names(rest.get("operation"), "name"),
        unlisted=unlisted,
        software=name,
        batch="batch" in system,
    )
