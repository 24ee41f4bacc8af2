"""Which patient a resource belongs to, and which resources the domain takes at all.

The rules both readers share (:func:`iopfhir.fhir.read.read_fhir` over an in-memory index,
:mod:`iopfhir.fhir.read.stream` over its store): :data:`TAKEN` (types the domain maps),
:data:`INSTRUMENT_ONLY` (types taken only when coded with an instrument's code),
:data:`MEASURE_TYPES` (types that may record an instrument administration), :data:`SHARED`
(types that belong to no patient) and :func:`patient_ref` (the reference naming a
resource's patient: ``subject``, ``patient``, an Appointment's patient participant).

Imports: the reader's ``source`` and ``values``.
"""

from __future__ import annotations

import re
from typing import Any

from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import as_list

__all__ = [
    "INSTRUMENT_ONLY",
    "MEASURE_TYPES",
    "NAMED_TYPE",
    "SHARED",
    "TAKEN",
    "not_a_patient",
    "patient_ref",
    "reference_text",
]

#: Resource types the domain maps (Observation, QuestionnaireResponse and DiagnosticReport
#: only when they record a known instrument; Flag and RiskAssessment are checked against
#: the measures they come from, see ``safety``; a Composition is read by its sections,
#: see ``document``).
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
        "Location",
        "Provenance",
        "Flag",
        "RiskAssessment",
        "DiagnosticReport",
        "MedicationStatement",
        "MedicationRequest",
        "AllergyIntolerance",
        "Composition",
        "Consent",
    }
)
#: Types taken only when coded with an instrument's code (a DiagnosticReport: its panel).
INSTRUMENT_ONLY = frozenset({"Observation", "DiagnosticReport"})
#: Types that may record an instrument administration (``administrations``).
MEASURE_TYPES = frozenset({"Observation", "QuestionnaireResponse", "DiagnosticReport"})
NAMED_TYPE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[^/]+(?:/_history/[^/]+)?$")
SHARED = frozenset({"Practitioner", "PractitionerRole", "Organization", "Location"})


def patient_ref(entry: Entry) -> Any:
    """The Reference element naming the patient of ``entry`` (``None``: none)."""
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
                ref = reference_text(actor) or ""
                if "Patient/" in ref or (
                    isinstance(actor, dict) and actor.get("type") == "Patient"
                ):
                    return actor
        for part in as_list(res.get("participant")):
            if isinstance(part, dict) and part.get("actor") is not None:
                return part["actor"]
    return None


def not_a_patient(rtype: str) -> str:
    """The ``unmapped`` reason of a resource of type ``rtype`` whose patient reference
    names something else: an Appointment's is only its first actor, for want of a patient
    participant (:func:`patient_ref`)."""
    if rtype == "Appointment":
        return "no patient participant"
    return "subject is not a patient"


def reference_text(value: Any) -> str | None:
    """The ``reference`` string of a Reference element, if it has one."""
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and ref:
            return ref
    return None
