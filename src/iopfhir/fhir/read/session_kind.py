"""The kind of a session read from FHIR, and the elements that held it.

:func:`read_kind` looks for the kind in the Appointment's ``serviceType``, the Encounter's
``type`` and ``serviceType``, then the Appointment's ``appointmentType``: a code of
iopfhir's session kinds, else a procedure code (CPT / HCPCS) of exactly one kind, else
the first code found (``Session.kind_code``). :func:`kind_places` says which of the
Appointment's ``serviceType`` / ``appointmentType`` and the Encounter's ``type`` /
``serviceType`` held it, and whether the Encounter's type listed procedure codes beside
it (``Session.kind_in``), so the writer puts it back there and nowhere else (but in
``Encounter.type``, which the profile requires): a source without a service type gets
none, an Encounter type without procedure codes gets none. Every other concept these
elements list (a second service type, a local encounter type) is counted as dropped.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`
and the reader's ``values``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from iopfhir.domain import Code
from iopfhir.domain.sessions import KindPlace, SessionForm, default_kind_places
from iopfhir.fhir.conventions import CORE_EXT
from iopfhir.fhir.read.values import as_list, codings, concept_key, first_code, note
from iopfhir.terminology import code_system_url, codes, session_kinds_by_procedure

__all__ = ["kind_places", "read_kind"]


def _absent(concept: Any) -> bool:
    """Whether ``concept`` is a data-absent-reason alone (no coding, no text)."""
    if not isinstance(concept, dict) or set(concept) != {"extension"}:
        return False
    return all(
        isinstance(e, dict) and e.get("url") == CORE_EXT.DATA_ABSENT_REASON
        for e in as_list(concept["extension"])
    )


@cache
def _procedure_codes() -> frozenset[tuple[str, str]]:
    """(system, code) of every procedure code the writer derives: each kind's, and the
    programs' per-diem codes."""
    table = codes()
    entries = [e for found in table["session_procedures"].values() for e in found]
    entries += list(table["program_per_diem"].values())
    return frozenset((e["system"], e["code"]) for e in entries)


def _is_procedure(concept: Any) -> bool:
    """Whether ``concept`` holds procedure codes the writer derives (and nothing else)."""
    pairs = codings(concept)
    return bool(pairs) and all((sys or "", code) in _procedure_codes() for sys, code in pairs)


def _procedure_kind(concepts: list[Any]) -> str | None:
    for concept in concepts:
        for item in as_list(concept):
            for sys, code in codings(item):
                kind = session_kinds_by_procedure().get((sys or "", code))
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
    """Whether ``element`` of ``resource`` (a CodeableConcept or a list of them) gives the
    session's kind; each concept present that does not (a service category, ``ROUTINE``:
    the model has no place for it) is counted."""
    concepts = resource.get(element)
    if concepts is None:
        return False
    if type(concepts) is list and len(concepts) == 1 and _just_kind(concepts[0], kind):
        return True  # the common case: the kind's coding alone (nothing else to count)
    held = False
    for concept in as_list(concepts):
        if not held and _holds(concept, kind, kind_code):
            held = True
            _note_beside_kind(concept, f"{rtype}.{element}", kind)
        else:
            note(f"{rtype}.{element}", _NOT_THE_KIND)
    return held


#: why a coding or the text of the concept that gave the kind is counted
_BESIDE_THE_KIND = "a coding other than the session kind's (dropped)"
_TEXT_OF_THE_KIND = "the text of the session kind's concept (dropped)"


def _note_beside_kind(concept: Any, at: str, kind: str | None) -> None:
    """Count what of the concept that gave a session kind (``kind``: a project code) the
    writer does not give back: its other codings and its text. A concept of a procedure
    code (the kind read from it) is written as derived; a ``kind_code`` keeps its concept
    whole."""
    if kind is None or not isinstance(concept, dict):
        return
    pairs = codings(concept)
    ours = (_kind_system(), kind)
    if ours not in pairs:
        return  # a procedure code gave the kind: its concept is derived again
    if others := sum(1 for pair in pairs if pair != ours):
        note(f"{at}.coding", _BESIDE_THE_KIND, others)
    if concept.get("text") is not None:
        note(f"{at}.text", _TEXT_OF_THE_KIND)


@cache
def _kind_system() -> str:
    return code_system_url("session-kind")


def _encounter_type(encounter: dict[str, Any], kind: str | None, kind_code: Code | None) -> bool:
    """Whether the Encounter's type lists procedure codes (CPT / HCPCS) beside the kind,
    which the writer derives from the kind (``encounter-procedure``); a concept that is
    neither the kind nor such codes is counted."""
    procedures = False
    held = False
    for concept in as_list(encounter.get("type")):
        if not held and _just_kind(concept, kind):
            held = True  # the common case: the kind's coding alone
        elif not held and _holds(concept, kind, kind_code):
            held = True  # the concept of the kind (itself a procedure code, maybe)
            procedures = procedures or _procedure_kind([concept]) is not None
            _note_beside_kind(concept, "Encounter.type", kind)
        elif kind is not None and _is_procedure(concept):
            procedures = True
        elif not _absent(concept):  # a data-absent type is written again where no kind is
            note("Encounter.type", _NOT_THE_KIND)
    return procedures


def _just_kind(concept: Any, kind: str | None) -> bool:
    """Whether ``concept`` is the coding of session kind ``kind`` alone (no other coding,
    no text): it gives the kind, and nothing of it is left to count."""
    if kind is None or type(concept) is not dict or len(concept) != 1:
        return False
    items = concept.get("coding")
    if type(items) is not list or len(items) != 1 or type(item := items[0]) is not dict:
        return False
    return item.get("code") == kind and item.get("system") == _kind_system()


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
    derives: bool,
) -> list[KindPlace] | None:
    """``Session.kind_in``: where the source held the kind, among the resources
    ``written``; ``None`` when that is the default (each written resource's service
    type, the Encounter's type with the procedure codes), or the session has no kind, or
    it held the kind in none of them. An Appointment written that the source did not have
    (derived) takes the default's place; so do the procedure codes of a session that
    ``derives`` none (nothing is written there either way)."""
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
        procedures = encounter is None or _encounter_type(encounter, kind, kind_code)
        if kind is not None and (procedures or not derives):
            places.append("encounter-procedure")
        if encounter is not None and _held(encounter, "Encounter", "serviceType", kind, kind_code):
            places.append("encounter-service")
    if kind is None and kind_code is None:
        return None
    places.sort()
    default = default_kind_places(written)
    if kind is None:  # a kind_code derives no procedure codes: none written either way
        default = tuple(p for p in default if p != "encounter-procedure")
    if not places or tuple(places) == default:
        # none: a kind read from a resource not written (the Encounter of a no-show)
        return None
    return places
