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

A FHIR document (a ``document`` Bundle: ours from ``iopfhir.fhir.document``, PACIO's, one
shaped like C-CDA on FHIR) is checked as a document where it is unpacked
(``document_check``: one that breaks the document rules raises ``FhirInputError`` naming
the section and its FHIRPath) and its Composition is read by its sections (``document``):
the referral and its reason, the hospital stay as the referral's (never a session); the
resources the sections list are read by type as any others.

:func:`read_fhir_stream` reads the same input patient by patient through a temporary
store (``stream``, ``store``): the same episodes and counts at a constant cost per resource
and with memory bounded by the largest patient, for inputs of any size (``iopfhir import``
uses it); :func:`read_fhir_streamed` collects it into an :class:`ImportResult`.

Layout: ``source`` (input → entries), ``index`` (reference resolution), ``values``
(datatypes, keys: the helpers every family shares), ``_context`` (the state of one episode
being read), one module per resource family, named as its builder in
:mod:`iopfhir.fhir.build` (``people``, ``team``, ``episode``, ``plans``, ``aftercare``,
``sessions``, ``measures``, ``reviews``; ``MAPPING.md`` names the function of each
direction),
``instruments`` and ``administrations`` (recognising and grouping instrument
administrations), ``document_check`` and ``document`` (FHIR documents), ``assemble``
(which episode a resource belongs to; the families in order; the Episode), ``grouping``
(which patient a resource belongs to), ``result`` (what a read gives back), ``stream``
and ``store`` (the streaming reader), ``held`` and ``held_elements`` (what the model
holds of each reading's top-level elements: the rest is counted), ``nested`` with
``modifiers``, ``nested_extensions`` and ``nested_codings`` (what a resource holds inside
its elements that no reader reads, found from one survey of its JSON). This module groups
an input held in memory by patient.
Imports: :mod:`iopfhir.errors`, :mod:`iopfhir.terminology`, :mod:`iopfhir.domain`,
:mod:`iopfhir.fhir.conventions`, :mod:`iopfhir.fhir.ndjson` (the NDJSON line reader).
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from iopfhir.errors import R4_RESOURCE_TYPES
from iopfhir.fhir.read._context import PatientGroup
from iopfhir.fhir.read.administrations import find_administrations
from iopfhir.fhir.read.assemble import EpisodeReader
from iopfhir.fhir.read.grouping import (
    INSTRUMENT_ONLY,
    MEASURE_TYPES,
    NAMED_TYPE,
    SHARED,
    TAKEN,
    not_a_patient,
    patient_ref,
)
from iopfhir.fhir.read.index import Index, reference_of
from iopfhir.fhir.read.instruments import is_instrument_code
from iopfhir.fhir.read.keys import KeyAllocator
from iopfhir.fhir.read.nested import note_nested
from iopfhir.fhir.read.people import NOT_TAKEN
from iopfhir.fhir.read.result import ImportResult, ReadWarning
from iopfhir.fhir.read.reviews import is_review
from iopfhir.fhir.read.source import Entry, FhirSource, Loaded, load_entries
from iopfhir.fhir.read.stream import read_fhir_stream, read_fhir_streamed
from iopfhir.fhir.read.values import as_list, codings, noting
from iopfhir.terminology.programs import ProgramCodes, check_program_codes

__all__ = [
    "ImportResult",
    "ReadWarning",
    "read_fhir",
    "read_fhir_stream",
    "read_fhir_streamed",
]


def read_fhir(
    source: FhirSource,
    *,
    time_zone: tzinfo | None = None,
    program_codes: ProgramCodes | None = None,
) -> ImportResult:
    """Read FHIR R4 JSON into domain episodes.

    ``source``: a path (JSON file, NDJSON file, or a directory of them), JSON or NDJSON
    text or bytes, one resource dict, or an iterable of resource dicts. ``time_zone``: the
    zone of the times written without an offset (invalid R4, but some systems send them),
    which are then read in it (:func:`~iopfhir.domain.times.parse_time_zone`); without
    one they are kept as written and the writers refuse them. ``program_codes``: an EHR's
    own codes typing its IOP episodes, ``{(system, code): program type}``
    (:mod:`iopfhir.terminology.programs`): an EpisodeOfCare typed with one is of that
    program (:mod:`~iopfhir.fhir.read.program`). Raises
    :class:`~iopfhir.errors.FhirInputError` (naming the file) when the input is not JSON or
    holds something without a ``resourceType``; valid R4 never raises.
    """
    local = check_program_codes(program_codes or {})
    loaded = load_entries(source)
    result = ImportResult()
    with noting(result.unmapped, time_zone, local):  # values the model cannot take counted there
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
            e for e in group.entries if id(e) not in absorbed and e.type not in MEASURE_TYPES
        ]
        group.entries = measure_free
        episodes = reader.read_group(group, admins_by_group.get(group.key, []))
        if episodes:
            result.patients += 1
            result.episodes.extend(episodes)
    for entry in index.entries:  # practitioners, organizations, locations no episode took
        if entry.type in SHARED and id(entry) not in index.used:
            result.unmapped[f"{entry.type}: {NOT_TAKEN}"] += 1


def _target_patient_ref(index: Index, entry: Entry) -> Any:
    """The patient of the first target of a Provenance that names one."""
    for ref in as_list(entry.resource.get("target")):
        target = index.resolve(ref, entry)
        if target is not None and target.type != "Provenance":
            found = patient_ref(target)
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
        if rtype in INSTRUMENT_ONLY and not any(
            is_instrument_code(code) for _s, code in codings(entry.resource.get("code"))
        ):
            result.ignored[rtype] += 1
            continue
        note_nested(entry, result.unmapped)  # as the other reader does
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
            ref = patient_ref(entry)
        target = index.resolve(ref, entry) if ref is not None else None
        if target is not None and target.type == "Patient":
            group = group_for_patient(target)
        elif target is not None and target.type != "Patient":
            result.unmapped[f"{rtype}: {not_a_patient(rtype)}"] += 1
            continue
        else:
            text_ref = reference_of(ref) if ref is not None else None
            if text_ref is None:
                result.unmapped[f"{rtype}: no patient"] += 1
                continue
            named = NAMED_TYPE.search(text_ref.split("?", 1)[0])
            if named and named.group(1) != "Patient":
                result.unmapped[f"{rtype}: {not_a_patient(rtype)}"] += 1
                continue
            key = f"ref:{text_ref}"
            if key not in groups:
                groups[key] = PatientGroup(key=key, patient=None, reference=text_ref)
            group = groups[key]
        group.entries.append(entry)
        if rtype in MEASURE_TYPES:
            candidates.append(entry)
    return groups, candidates
