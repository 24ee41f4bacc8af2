"""FHIR R4 (4.0.1) → the IOP domain: read any R4 JSON back into :class:`~iopfhir.domain.Episode`.

:func:`read_fhir` takes a Bundle of any type, a single resource, NDJSON (a file or a
directory of ``.ndjson``), a directory of JSON files, JSON text or bytes, a dict, or an
iterable of resource dicts, and returns an :class:`ImportResult`: one Episode per patient
(one per EpisodeOfCare when a patient has several), the resource types the domain does
not take (``ignored``), and what was seen but could not be mapped, with reasons
(``unmapped``; reasons name resource types and rules, never patient data), also as
``warnings``: one :class:`ReadWarning` (FHIRPath, reason, count) per kind of loss. A value
of a type the domain takes that it cannot take as written (an invalid ``birthDate``, a
name given as a string, a dateTime without a time zone, which is kept as written and
never shifted) is one of them, at its FHIRPath (``Patient.birthDate``).

What iopfhir itself wrote (``iopfhir.fhir.build``, see ``MAPPING.md``) reads back exactly:
domain → FHIR → domain gives an equal Episode. Anything else is read as far as it fits.

Layout: ``source`` (input → entries), ``index`` (reference resolution), ``values``
(datatypes, keys: the helpers every family shares), ``_context`` (the state of one episode
being read), one module per resource family, named as its builder in
:mod:`iopfhir.fhir.build` (``people``, ``team``, ``episode``, ``plans``, ``aftercare``,
``sessions``, ``measures``, ``reviews``; ``MAPPING.md`` names the function of each
direction),
``instruments`` and ``administrations`` (recognising and grouping instrument
administrations), ``assemble`` (which episode a resource belongs to; the families in
order; the Episode). This module groups the input by patient.
Imports: :mod:`iopfhir.errors`, :mod:`iopfhir.terminology`, :mod:`iopfhir.domain`,
:mod:`iopfhir.fhir.conventions`, :mod:`iopfhir.fhir.ndjson` (the NDJSON line reader).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from iopfhir.domain import Episode
from iopfhir.errors import R4_RESOURCE_TYPES
from iopfhir.fhir.read._context import PatientGroup
from iopfhir.fhir.read.administrations import find_administrations
from iopfhir.fhir.read.assemble import EpisodeReader
from iopfhir.fhir.read.index import Index, reference_of
from iopfhir.fhir.read.instruments import is_instrument_code
from iopfhir.fhir.read.reviews import is_review
from iopfhir.fhir.read.source import Entry, FhirSource, Loaded, load_entries
from iopfhir.fhir.read.values import KeyAllocator, as_list, codings, noting

__all__ = ["ImportResult", "ReadWarning", "read_fhir"]

#: Resource types the domain maps (Observation, QuestionnaireResponse and DiagnosticReport
#: only when they record a known instrument; Flag and RiskAssessment are checked against
#: the measures they come from, see ``safety``).
TAKEN = frozenset(
    {
        "Patient",
        "EpisodeOfCare",
        "Condition",
        "CarePlan",
        "Goal",
        "CareTeam",
        "Encounter",
        "Appointment",
        "ServiceRequest",
        "QuestionnaireResponse",
        "Observation",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "RelatedPerson",
        "Provenance",
        "Flag",
        "RiskAssessment",
        "DiagnosticReport",
        "MedicationStatement",
        "MedicationRequest",
        "AllergyIntolerance",
    }
)
#: Types taken only when coded with an instrument's code (a DiagnosticReport: its panel).
_INSTRUMENT_ONLY = frozenset({"Observation", "DiagnosticReport"})
#: Types that may record an instrument administration (``administrations``).
_MEASURE_TYPES = frozenset({"Observation", "QuestionnaireResponse", "DiagnosticReport"})
_NAMED_TYPE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[^/]+(?:/_history/[^/]+)?$")
SHARED = frozenset({"Practitioner", "PractitionerRole", "Organization"})

#: ``unmapped`` reasons that do not start with a FHIRPath: (path, reason) for each
_WHERE: Final = {
    "duplicate resource (same type and id): read once": (
        "Resource",
        "duplicate resource (same type and id): read once",
    ),
    "file without resourceType": ("$", "file without resourceType (skipped)"),
}


@dataclass(frozen=True, slots=True)
class ReadWarning:
    """Something in the input that the IOP model did not take as written.

    ``path``: the FHIRPath of the value or resource (``Patient.birthDate``,
    ``Encounter.period.start``, ``Goal``); ``reason``: what is wrong and what was done
    (``not a valid date (dropped)``); ``count``: how many times. Never the value.
    """

    path: str
    reason: str
    count: int = 1

    def __str__(self) -> str:
        times = f" ({self.count} times)" if self.count > 1 else ""
        return f"{self.path}: {self.reason}{times}"


@dataclass
class ImportResult:
    """What :func:`read_fhir` found.

    ``episodes``: one per patient, or one per EpisodeOfCare of a patient.
    ``patients``: how many patients the episodes belong to.
    ``ignored``: resources by type that the domain does not take (Claim, Immunization,
    Observations that are not instrument scores...).
    ``unmapped``: things of types the domain takes that could not be mapped or were not
    taken as written, by ``"<FHIRPath>: <reason>"`` (``"Goal: not part of a care plan"``,
    ``"Patient.birthDate: not a valid date (dropped)"``).
    ``warnings``: the same, structured (one :class:`ReadWarning` per reason, in the order
    found); empty when the input was read without loss.
    """

    episodes: list[Episode] = field(default_factory=list)
    patients: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    unmapped: Counter[str] = field(default_factory=Counter)

    @property
    def warnings(self) -> list[ReadWarning]:
        """Every ``unmapped`` reason as a :class:`ReadWarning`."""
        out = []
        for key, count in self.unmapped.items():
            where = _WHERE.get(key)
            if where is None:
                path, _sep, reason = key.partition(": ")
                where = (path, reason) if reason else ("$", key)
            out.append(ReadWarning(where[0], where[1], count))
        return out


def read_fhir(source: FhirSource) -> ImportResult:
    """Read FHIR R4 JSON into domain episodes.

    ``source``: a path (JSON file, NDJSON file, or a directory of them), JSON or NDJSON
    text or bytes, one resource dict, or an iterable of resource dicts. Raises
    :class:`~iopfhir.errors.FhirInputError` (naming the file) when the input is not JSON or
    holds something without a ``resourceType``; valid R4 never raises.
    """
    loaded = load_entries(source)
    result = ImportResult()
    with noting(result.unmapped):  # values the model cannot take are counted there
        _read(loaded, result)
    return result


def _read(loaded: Loaded, result: ImportResult) -> None:
    """Map the ``loaded`` entries into ``result``."""
    result.unmapped.update(loaded.skipped)
    index = Index(loaded.entries)
    if index.duplicates:
        result.unmapped["duplicate resource (same type and id): read once"] += index.duplicates

    groups, candidates = _group(index, result)
    roles_of: dict[int, list[Entry]] = {}
    for entry in index.entries:
        if entry.type == "PractitionerRole":
            target = index.resolve(entry.resource.get("practitioner"), entry)
            if target is not None:
                roles_of.setdefault(id(target), []).append(entry)

    group_of: dict[int, PatientGroup] = {}
    for group in groups.values():
        for entry in group.entries:
            group_of[id(entry)] = group

    def patient_of(entry: Entry) -> str | None:
        group = group_of.get(id(entry))
        return group.key if group else None

    admins, problems = find_administrations(candidates, index, patient_of)
    result.unmapped.update(problems)
    admins_by_group: dict[str, list[Any]] = {}
    for adm in admins:
        admins_by_group.setdefault(adm.patient, []).append(adm)
    absorbed = {id(e) for adm in admins for e in adm.entries}
    for entry in candidates:
        if id(entry) not in absorbed and entry.type != "Observation":
            result.ignored[entry.type] += 1

    reader = EpisodeReader(index, result.unmapped, roles_of, KeyAllocator())
    for group in groups.values():
        measure_free = [
            e for e in group.entries if id(e) not in absorbed and e.type not in _MEASURE_TYPES
        ]
        group.entries = measure_free
        episodes = reader.read_group(group, admins_by_group.get(group.key, []))
        if episodes:
            result.patients += 1
            result.episodes.extend(episodes)


def _patient_ref(entry: Entry) -> Any:
    res = entry.resource
    for key in ("subject", "patient"):
        value = res.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            return value
    if entry.type == "Appointment":
        for part in as_list(res.get("participant")):
            if isinstance(part, dict):
                actor = part.get("actor")
                ref = reference_of(actor) or ""
                if "Patient/" in ref or (
                    isinstance(actor, dict) and actor.get("type") == "Patient"
                ):
                    return actor
        for part in as_list(res.get("participant")):
            if isinstance(part, dict) and part.get("actor") is not None:
                return part["actor"]
    return None


def _target_patient_ref(index: Index, entry: Entry) -> Any:
    """The patient of the first target of a Provenance that names one."""
    for ref in as_list(entry.resource.get("target")):
        target = index.resolve(ref, entry)
        if target is not None and target.type != "Provenance":
            found = _patient_ref(target)
            if found is not None:
                return found
    return None


def _group(index: Index, result: ImportResult) -> tuple[dict[str, PatientGroup], list[Entry]]:
    """Patient groups in input order, and the resources that may record an instrument."""
    groups: dict[str, PatientGroup] = {}
    by_patient_entry: dict[int, str] = {}
    candidates: list[Entry] = []

    def group_for_patient(patient: Entry) -> PatientGroup:
        key = by_patient_entry.get(id(patient))
        if key is None:
            key = f"p{len(groups)}"
            by_patient_entry[id(patient)] = key
            groups[key] = PatientGroup(key=key, patient=patient, reference=None)
        return groups[key]

    for entry in index.entries:
        rtype = entry.type
        if rtype not in TAKEN:  # counted by type; a type R4 does not have is input: not named
            result.ignored[rtype if rtype in R4_RESOURCE_TYPES else "(not an R4 type)"] += 1
            continue
        if rtype in _INSTRUMENT_ONLY and not any(
            is_instrument_code(code) for _s, code in codings(entry.resource.get("code"))
        ):
            result.ignored[rtype] += 1
            continue
        if rtype == "Patient":
            group_for_patient(entry)
            continue
        if rtype in SHARED:
            continue
        if rtype == "Provenance":  # only reviews are taken; their patient is the target's
            if not is_review(entry.resource):
                result.ignored[rtype] += 1
                continue
            ref = _target_patient_ref(index, entry)
        else:
            ref = _patient_ref(entry)
        target = index.resolve(ref, entry) if ref is not None else None
        if target is not None and target.type == "Patient":
            group = group_for_patient(target)
        elif target is not None and target.type != "Patient":
            result.unmapped[f"{rtype}: subject is not a patient"] += 1
            continue
        else:
            text_ref = reference_of(ref) if ref is not None else None
            if text_ref is None:
                result.unmapped[f"{rtype}: no patient"] += 1
                continue
            named = _NAMED_TYPE.search(text_ref.split("?", 1)[0])
            if named and named.group(1) != "Patient":
                result.unmapped[f"{rtype}: subject is not a patient"] += 1
                continue
            key = f"ref:{text_ref}"
            if key not in groups:
                groups[key] = PatientGroup(key=key, patient=None, reference=text_ref)
            group = groups[key]
        group.entries.append(entry)
        if rtype in _MEASURE_TYPES:
            candidates.append(entry)
    return groups, candidates
