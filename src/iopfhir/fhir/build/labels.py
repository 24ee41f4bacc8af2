"""Security labels per resource (DS4P), decided by the program and by the data.

The rule (data: ``terminology/data/security.json``, explained in ``docs/part2.md``):

* A program that is not 42 CFR Part 2 (``Episode.part2`` false) labels nothing.
* In a Part 2 program every patient-linked resource is a Part 2 record: confidentiality
  ``R``, sensitivity ``ETH`` (it identifies the patient as treated for substance use) and
  policy ``42CFRPart2`` (:data:`PART2_LABELS`, set by ``Context.head``).
* Of those, the mental-health data also carries ``PSY`` (:data:`PART2_PSY_LABELS`): a
  diagnosis coded in ICD-10-CM chapter F outside F10-F19 (substance use), and everything
  a mental-health instrument's administration writes (QuestionnaireResponse,
  Observations, Flags, RiskAssessment of PHQ-9, GAD-7, C-SSRS...).
* Organizations, Locations, Practitioners and PractitionerRoles are not patient data and
  never carry labels (they are built with ``linked=False``).

Label lists are shared constants: a resource's ``meta`` is its own, so switching its
``security`` list never touches another resource. Imports: :mod:`iopfhir.domain`,
:mod:`iopfhir.terminology` and the builders' ``_context``.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from iopfhir.domain import Measure
from iopfhir.fhir.build._context import PART2_SECURITY, Context, Entry
from iopfhir.terminology.security import label, security_data

__all__ = [
    "PART2_LABELS",
    "PART2_PSY_LABELS",
    "is_mental_health_condition",
    "is_mental_health_instrument",
    "label_conditions",
    "label_measure",
]

#: confidentiality R, sensitivity ETH, policy 42CFRPart2
PART2_LABELS: Final = PART2_SECURITY
#: the same with sensitivity PSY (mental-health data of a Part 2 program)
PART2_PSY_LABELS: Final = [*PART2_SECURITY[:-1], label("mental-health"), PART2_SECURITY[-1]]


@cache
def _mental_health() -> dict[str, Any]:
    data: dict[str, Any] = security_data()["mental_health"]
    return data


def is_mental_health_instrument(instrument_id: str) -> bool:
    """Whether an instrument measures mental health (its answers are PSY data)."""
    return instrument_id in _mental_health()["instruments"]


def is_mental_health_condition(resource: dict[str, Any]) -> bool:
    """Whether a Condition is a mental-health diagnosis: ICD-10-CM chapter F outside the
    substance-use block F10-F19."""
    data = _mental_health()
    for coding in (resource.get("code") or {}).get("coding", ()):
        code = coding.get("code") or ""
        if coding.get("system") == data["icd10cm_system"] and code.startswith(
            tuple(data["icd10cm_prefixes"])
        ):
            return True
    return False


def _psy(resource: dict[str, Any]) -> None:
    meta = resource.get("meta")
    if isinstance(meta, dict) and meta.get("security") is PART2_LABELS:
        meta["security"] = PART2_PSY_LABELS


def label_conditions(ctx: Context, entries: list[Entry]) -> list[Entry]:
    """``entries`` with PSY on the mental-health Conditions of a Part 2 episode."""
    if ctx.security is not None:
        for _url, res in entries:
            if res["resourceType"] == "Condition" and is_mental_health_condition(res):
                _psy(res)
    return entries


def label_measure(ctx: Context, measure: Measure, entries: list[Entry]) -> list[Entry]:
    """``entries`` (what one administration writes) with PSY when the episode is Part 2
    and the instrument measures mental health."""
    if ctx.security is not None and is_mental_health_instrument(measure.instrument):
        for _url, res in entries:
            _psy(res)
    return entries
