"""What the IOP model holds of a resource, element by element: the rest is counted.

Lives here: :func:`note_unheld`, which counts each top-level element of a resource that its
reading's reader does not take (:data:`HELD`, with the type's other R4 elements in
:data:`OTHERS`: both in :mod:`~iopfhir.fhir.read.held_elements`) as ``Patient.address: no
place in the IOP model (dropped)`` under ``unmapped``; a key that is no R4 element is
counted without its name. A reading is a resource type, or ``Type:role`` where one type is
read in more than one role (a referral ``ServiceRequest:referral`` beside any other
request). A resource read in each episode that holds it (a practitioner of two episodes)
is counted in each, as it is dropped from each.

A Patient's address, a Condition's encounter, a MedicationStatement's ``effectiveDateTime``
were dropped without a word before; a reader now says so for every element it does not
take, so ``--summary`` and ``--strict`` see them. A Flag and a RiskAssessment that an
instrument's answers raise are written anew from the measure: what they carry beyond it (an
``author``, a ``note``, others' identifiers) is counted the same way. Where a reading holds
``extension``, an extension its reader does not read (:data:`READ_EXTENSIONS`) is counted
as that element (``Encounter.extension: no place...``), once per resource.

Not counted: what is no content of its own (``resourceType``, ``id``, ``meta`` - whose
42 CFR Part 2 labels are read (with ``PSY``, which the writer decides too); any other
security label, any tag, and a profile the writer does not claim (US Core's...) is counted
at ``Type.meta.security`` / ``Type.meta.tag`` / ``Type.meta.profile`` - ,
the narrative ``text``, which is written anew from the data,
``language``, ``contained`` resources, read where they are referenced, and
``modifierExtension``, which :mod:`~iopfhir.fhir.read.modifiers` counts), a
data-absent-reason on a primitive (``_gender``: other extensions of a held primitive, a
birth time on ``_birthDate``, are counted as ``Patient.birthDate.extension``),
``identifier`` when every identifier is iopfhir's own (the keys of the model), and what
its writer derives (:data:`DERIVED`) on iopfhir's own resources, or on others' with the
value iopfhir writes (:func:`as_written`). Within a held element, what a reader cannot
take is counted by the reader itself (a ``Condition.category`` other than the three it
holds...). Where the model holds a resource's identifiers as its own keys only (a care
plan, a session's Encounter, an instrument's Observation), an identifier of anyone else
is ``identifier`` not held, counted so; where it keeps others' identifiers (people,
organizations, locations), their ``use``, ``type``, ``period`` and ``assigner`` are
counted as not kept. Not counted, by design: a ``display`` (of a Reference, beside a
code the model holds) and a HumanName's ``use`` and ``text``, which say how a thing is
shown, not what it is (the writer shows it from what the model holds).

Imports :mod:`iopfhir.fhir.conventions`, :mod:`iopfhir.terminology` and the reader's
``values``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, Final

from iopfhir.fhir.conventions import (
    CORE_EXT,
    EXT,
    ID_BASE,
    OBSERVATION_CATEGORY_SURVEY,
    SOURCE_RECORD_SYSTEM,
    profile_url,
)
from iopfhir.fhir.read.held_elements import HELD, OTHERS
from iopfhir.fhir.read.values import as_list, note
from iopfhir.terminology import codes
from iopfhir.terminology.security import security_data

__all__ = [
    "DERIVED",
    "HELD",
    "NOT_R4",
    "NO_PLACE",
    "OTHERS",
    "READ_EXTENSIONS",
    "as_written",
    "note_unheld",
]

#: the reason counted for an element the model has no place for
NO_PLACE: Final = "no place in the IOP model (dropped)"

#: top-level elements that are no content of their own (see the module's docstring)
_NOT_CONTENT: Final = frozenset(
    {"resourceType", "id", "meta", "text", "language", "contained", "modifierExtension"}
)


#: elements iopfhir's writer derives from other parts of the model (a Goal's
#: ``statusReason``: its latest review's note, read back from the review's Provenance; a
#: treatment plan's ``basedOn``: the referral's discharge plan; a referral's ``status``,
#: ``intent``, ``code`` and ``performer``: the IOP level of care and program; a Part 2
#: consent's ``category`` and ``organization``: the kind of consent and the program), not
#: counted on iopfhir's own resources (those with one of its identifiers; a review's
#: Provenance has none: its own are those whose ``extension`` gives its record identifier)
#: nor, on others', when the value is what iopfhir writes anyway (:func:`as_written`: an
#: instrument Observation's ``survey`` category, a referral's ``order`` intent...)
DERIVED: Final[Mapping[str, frozenset[str]]] = {
    "Goal": frozenset({"statusReason"}),
    "CarePlan": frozenset({"basedOn"}),
    "CarePlan:discharge": frozenset({"intent", "category", "encounter"}),
    "ServiceRequest:referral": frozenset({"status", "intent", "code", "performer"}),
    "Encounter:stay": frozenset({"status"}),
    "ServiceRequest:aftercare": frozenset({"intent"}),
    "Observation": frozenset({"category"}),
    "Consent": frozenset({"category", "organization"}),
    "Provenance": frozenset({"activity"}),
}

#: the reason counted, without a name, for a key that is no R4 element of its type
NOT_R4: Final = "an element R4 does not define for this type (dropped)"


@cache
def as_written() -> Mapping[str, Mapping[str, frozenset[Any]]]:
    """Per reading: the elements of :data:`DERIVED` whose value on others' resources may be
    what iopfhir writes for them whatever the model holds (a code, or the ``(system,
    code)`` of each coding of each CodeableConcept); such a value is kept as written, and
    not counted. Another value is."""
    survey = {(c["system"], c["code"]) for c in OBSERVATION_CATEGORY_SURVEY[0]["coding"]}
    provenance = codes()["provenance"]["activity"]
    return {
        "Observation": {"category": frozenset(survey)},
        "ServiceRequest:referral": {
            "status": frozenset({"completed"}),
            "intent": frozenset({"order"}),
        },
        "ServiceRequest:aftercare": {"intent": frozenset({"order"})},
        "CarePlan:discharge": {"intent": frozenset({"plan"})},
        "Consent": {
            "category": frozenset(
                (c["system"], c["code"]) for c in security_data()["consent"]["category"]
            )
        },
        "Provenance": {"activity": frozenset({(provenance["system"], provenance["code"])})},
    }


def _written_so(value: Any, written: frozenset[Any] | None) -> bool:
    """Whether ``value`` is what iopfhir writes (``written``, see :func:`as_written`):
    the code itself, or CodeableConcepts whose every coding is one of its (a ``display``
    and a concept's ``text`` aside)."""
    if written is None:
        return False
    if isinstance(value, str):
        return value in written
    concepts = as_list(value)
    if not concepts:
        return False
    for concept in concepts:
        if not isinstance(concept, dict) or concept.keys() - {"coding", "text"}:
            return False
        items = concept.get("coding")
        if not isinstance(items, list) or not items:
            return False
        for coding in items:
            if (
                not isinstance(coding, dict)
                or coding.keys() - {"system", "code", "display"}
                or (coding.get("system"), coding.get("code")) not in written
            ):
                return False
    return True


#: per reading whose ``extension`` is held: the extensions its reader reads (a session's
#: therapy modality and delivery setting, an episode's program and discharge disposition,
#: a consent's revocation, a review's changes and record identifier, a flag's detail)
READ_EXTENSIONS: Final[Mapping[str, frozenset[str]]] = {
    "Appointment": frozenset({EXT.THERAPY_MODALITY, EXT.DELIVERY_SETTING}),
    "Encounter": frozenset({EXT.THERAPY_MODALITY}),
    "EpisodeOfCare": frozenset({EXT.PROGRAM, EXT.DISCHARGE_DISPOSITION}),
    "Consent": frozenset({EXT.CONSENT_REVOKED}),
    "Provenance": frozenset({EXT.RECORD_IDENTIFIER, EXT.GOAL_STATUS_CHANGE, EXT.PLAN_CHANGE}),
    "Flag": frozenset({CORE_EXT.FLAG_DETAIL}),
}


def note_unheld(resource: dict[str, Any], reading: str, held: tuple[str, ...] = ()) -> None:
    """Count each top-level element of ``resource`` (read as ``reading``, a key of
    :data:`HELD`) that the model has no place for, and an extension its reader does not
    read (:data:`READ_EXTENSIONS`). ``held``: elements its reader took from this resource
    though :data:`HELD` does not list them (a session's length when it gives the end, a
    score's ``issued`` when it is its only time, a stay's status the writer derives)."""
    if "extension" in resource and (known := READ_EXTENSIONS.get(reading)) is not None:
        _note_extensions(resource["extension"], reading, known)
    meta = resource.get("meta")
    if type(meta) is dict:
        if "security" in meta or "tag" in meta:
            _note_meta(meta, reading.partition(":")[0])
        profiles = meta.get("profile")
        if profiles and not _own_profiles(profiles):
            note(f"{reading.partition(':')[0]}.meta.profile", NO_PLACE)
    # one set difference for most resources (the readers ask for every resource), and for
    # iopfhir's own no more than a look at their identifiers
    extra = resource.keys() - _SKIP[reading]
    if held:
        extra.difference_update(held)
    if not extra or (extra <= _SKIP_OWN[reading] and _own_only(resource.get("identifier"))):
        return
    _note_extra(resource, reading, extra)


#: the codes of the labels the writer decides (a Part 2 program's ``R``, ``ETH``,
#: ``42CFRPart2``, and ``PSY`` on its mental-health data): read as the program's
_WRITTEN_LABELS: Final = frozenset(
    security_data()["labels"][name]["code"]
    for name in [*security_data()["part2_labels"], "mental-health"]
)


def _note_meta(meta: dict[str, Any], rtype: str) -> None:
    """Count ``meta.tag``, and ``meta.security`` when a label is none the writer decides
    (a confidentiality ``N``, an ``HTEST`` test-data label): the model keeps no labels of
    its own, the writer labels a Part 2 episode anew."""
    if meta.get("tag"):
        note(f"{rtype}.meta.tag", NO_PLACE)
    labels = meta.get("security")
    for label in labels if type(labels) is list else as_list(labels):
        if type(label) is not dict or label.get("code") not in _WRITTEN_LABELS:
            note(f"{rtype}.meta.security", NO_PLACE)
            return


#: the start of the canonical URL of every profile the writer claims
_OWN_PROFILE: Final = profile_url("")


def _own_profiles(profiles: Any) -> bool:
    """Whether every profile ``meta.profile`` claims is one of the project's (the writer
    claims its own again; a US Core or other profile it does not claim is counted)."""
    if type(profiles) is not list:
        return False
    if len(profiles) == 1:  # most resources claim one, and every resource asks
        return type(p := profiles[0]) is str and p.startswith(_OWN_PROFILE)
    return all(type(p) is str and p.startswith(_OWN_PROFILE) for p in profiles)


def _note_extensions(items: Any, reading: str, known: frozenset[str]) -> None:
    """Count ``extension`` once when one of its extensions is none its reader reads (the
    url is not named: it comes from the input)."""
    for ext in items if type(items) is list else as_list(items):
        if not isinstance(ext, dict) or ext.get("url") not in known:
            note(f"{reading.partition(':')[0]}.extension", NO_PLACE)
            return


#: per reading: the keys that are never counted (held, or no content of their own)
_SKIP: Final = {reading: held | _NOT_CONTENT for reading, held in HELD.items()}
#: per reading: the keys not counted on a resource all of whose identifiers are iopfhir's
_SKIP_OWN: Final = {
    reading: frozenset({"identifier"}) | DERIVED.get(reading, frozenset()) for reading in HELD
}


def _note_extra(resource: dict[str, Any], reading: str, extra: set[str]) -> None:
    others = OTHERS[reading]
    rtype = reading.partition(":")[0]
    for key in sorted(extra):
        if key in others:
            if key == "identifier" and _own_only(resource[key], SOURCE_RECORD_SYSTEM):
                continue  # (the one a push gave a resource without any is no data either)
            if key in DERIVED.get(reading, ()) and (
                _own(resource) or _written_so(resource[key], as_written().get(reading, {}).get(key))
            ):
                continue
            note(f"{rtype}.{key}", NO_PLACE)
        elif key[0] == "_" and key[1:] in HELD[reading]:
            # a held primitive's extensions (a birth time on ``_birthDate``) have no place
            # in the model; one saying only that the value is absent loses nothing
            if _carries_data(resource[key]):
                note(f"{rtype}.{key[1:]}.extension", NO_PLACE)
        elif not (key[0] == "_" and key[1:] in others):
            note(rtype, NOT_R4)  # an unknown key may be data: never named


def _carries_data(element: Any) -> bool:
    """Whether the ``_``-element of a primitive (or of each of a list's primitives) has an
    extension other than a data-absent-reason (its ``id`` is no data)."""
    for item in element if type(element) is list else [element]:
        if isinstance(item, dict):
            for ext in as_list(item.get("extension")):
                if not isinstance(ext, dict) or ext.get("url") != CORE_EXT.DATA_ABSENT_REASON:
                    return True
    return False


def _own(resource: dict[str, Any]) -> bool:
    """Whether the resource is iopfhir's: one of its identifiers is iopfhir's own, or (a
    type without ``identifier``: a review's Provenance) an extension's ``valueIdentifier``."""
    items = as_list(resource.get("identifier")) or [
        e.get("valueIdentifier") for e in as_list(resource.get("extension")) if isinstance(e, dict)
    ]
    return any(
        isinstance(i, dict) and isinstance(i.get("system"), str) and i["system"].startswith(ID_BASE)
        for i in items
    )


def _own_only(identifiers: Any, also: str | None = None) -> bool:
    """Whether every identifier is iopfhir's own (the model's keys, not data), or of system
    ``also``; one or more."""
    items = identifiers if type(identifiers) is list else [identifiers]
    for ident in items:
        if type(ident) is not dict:
            return False
        system = ident.get("system")
        if type(system) is not str or not (system.startswith(ID_BASE) or system == also):
            return False
    return bool(items)
