"""The kind of a session read from FHIR, and the elements that held it.

:func:`read_kind` looks for the kind in the Appointment's ``serviceType``, the Encounter's
``type`` and ``serviceType``, then the Appointment's ``appointmentType``: a code of
iopfhir's session kinds, else a procedure code (CPT / HCPCS) of exactly one kind, else
the first code found (``Session.kind_code``). :func:`kind_places` says which of the
Appointment's ``serviceType`` / ``appointmentType`` and the Encounter's ``type`` /
``serviceType`` held it (``Session.kind_in``), so the writer puts it back there and
nowhere else (but in ``Encounter.type``, which the profile requires): a source without a
service type gets none.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology` and the reader's ``values``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from iopfhir.domain import Code
from iopfhir.domain.sessions import KindPlace, SessionForm, default_kind_places
from iopfhir.fhir.read.values import as_list, codings, concept_key, first_code, note
from iopfhir.terminology import codes

__all__ = ["kind_places", "read_kind"]


@cache
def _kind_of_procedure() -> dict[tuple[str, str], str]:
    """(system, code) → session kind, for the procedure codes of exactly one kind."""
    seen: dict[tuple[str, str], set[str]] = {}
    for kind, entries in codes()["session_procedures"].items():
        for e in entries:
            seen.setdefault((e["system"], e["code"]), set()).add(kind)
    return {pair: next(iter(kinds)) for pair, kinds in seen.items() if len(kinds) == 1}


def _procedure_kind(concepts: list[Any]) -> str | None:
    for concept in concepts:
        for item in as_list(concept):
            for sys, code in codings(item):
                kind = _kind_of_procedure().get((sys or "", code))
                if kind is not None:
                    return kind
    return None


def read_kind(
    appointment: dict[str, Any], encounter: dict[str, Any]
) -> tuple[str | None, Code | None]:
    """``(kind, kind_code)`` of a session from its Appointment and Encounter (either may
    be empty); at most one is not ``None``."""
    sources = [
        appointment.get("serviceType"),
        encounter.get("type"),
        encounter.get("serviceType"),
        appointment.get("appointmentType"),
    ]
    for concept in sources:
        kind = concept_key(concept, "session-kind")
        if kind:
            return kind, None
    kind = _procedure_kind(sources)
    if kind is not None:
        return kind, None
    for concept in sources:
        code = first_code(concept)
        if code is not None:
            return None, code
    return None, None


#: why a service or appointment type that is not the session's kind is counted
_NOT_THE_KIND = "a concept other than the session's kind (dropped)"


def _held(
    resource: dict[str, Any], rtype: str, element: str, kind: str | None, kind_code: Code | None
) -> bool:
    """Whether ``element`` of ``resource`` gives the session's kind; one present that does
    not (a service category, ``ROUTINE``: the model has no place for it) is counted."""
    concept = resource.get(element)
    if concept is None or concept == []:
        return False
    if _holds(concept, kind, kind_code):
        return True
    note(f"{rtype}.{element}", _NOT_THE_KIND)
    return False


def _holds(concept: Any, kind: str | None, kind_code: Code | None) -> bool:
    """Whether ``concept`` (a CodeableConcept or a list of them) gives the session's kind."""
    if concept is None:
        return False
    if kind is not None:
        return concept_key(concept, "session-kind") == kind or _procedure_kind([concept]) == kind
    found = first_code(concept)
    return (
        found is not None
        and kind_code is not None
        and (found.system, found.code) == (kind_code.system, kind_code.code)
    )


def kind_places(
    kind: str | None,
    kind_code: Code | None,
    appointment: dict[str, Any] | None,
    encounter: dict[str, Any] | None,
    written: tuple[SessionForm, ...],
) -> list[KindPlace] | None:
    """``Session.kind_in``: where the source held the kind, among the resources
    ``written``; ``None`` when that is the default (each written resource's service
    type, the Encounter's type), or the session has no kind, or it held the kind in none
    of them. An Appointment written that the source did not have (derived) takes the
    default's place."""
    places: list[KindPlace] = []
    if "appointment" in written:
        if appointment is None:
            places.append("appointment-service")
        else:
            if _held(appointment, "Appointment", "serviceType", kind, kind_code):
                places.append("appointment-service")
            if _held(appointment, "Appointment", "appointmentType", kind, kind_code):
                places.append("appointment-type")
    if "encounter" in written:
        places.append("encounter-type")  # where the writer puts it in any case
        if encounter is not None and _held(encounter, "Encounter", "serviceType", kind, kind_code):
            places.append("encounter-service")
    if kind is None and kind_code is None:
        return None
    places.sort()
    if not places or tuple(places) == default_kind_places(written):
        # none: a kind read from a resource not written (the Encounter of a no-show)
        return None
    return places
