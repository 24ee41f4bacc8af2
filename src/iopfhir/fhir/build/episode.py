"""The episode itself → EpisodeOfCare; the referral in → ServiceRequest (+ the inpatient
stay as an Encounter); diagnoses → Condition.

The EpisodeOfCare exists when the episode has a status or data that lives only there
(program, admission, discharge, referral, care manager); without a domain status it is
``finished`` when discharged, else ``active``. Diagnoses are listed on it in order
(``rank`` 1, 2, ...).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`.
"""

from __future__ import annotations

from typing import Any, Final

from iopfhir.domain import Diagnosis, Referral
from iopfhir.fhir.build._context import (
    CONDITION_CATEGORY,
    Context,
    Entry,
    code_concept,
    fhir_period,
    project_concept,
)
from iopfhir.fhir.conventions import EXT, PROFILE
from iopfhir.terminology import codes

__all__ = ["conditions_to_fhir", "episode_of_care_to_fhir", "referral_to_fhir"]

_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_ACT_CODE: Final = codes()["encounter_class"]["system"]


def episode_of_care_to_fhir(ctx: Context) -> Entry | None:
    """The EpisodeOfCare, or ``None`` when the episode has none (see the module docstring)."""
    ep = ctx.episode
    if ctx.eoc_url is None:
        return None
    res = ctx.head("EpisodeOfCare", ctx.eoc_url, PROFILE.EPISODE, linked=True)
    extensions: list[dict[str, Any]] = []
    if ep.program is not None:
        extensions.append(
            {
                "url": EXT.PROGRAM,
                "extension": [
                    {"url": "name", "valueString": ep.program.name},
                    {"url": "minimumHoursPerWeek", "valueDecimal": ep.program.min_hours_per_week},
                    {"url": "minimumDaysPerWeek", "valueInteger": ep.program.min_days_per_week},
                ],
            }
        )
    if ep.discharge is not None:
        extensions.append(
            {
                "url": EXT.DISCHARGE_DISPOSITION,
                "valueCodeableConcept": project_concept(
                    "discharge-disposition", ep.discharge.disposition
                ),
            }
        )
    if extensions:
        res["extension"] = extensions
    res["identifier"] = [ctx.identifier("episode", ep.key)]
    res["status"] = ep.status or ("finished" if ep.discharge is not None else "active")
    if ep.program is not None:
        res["type"] = [project_concept("program-type", ep.program.type)]
    if ep.diagnoses:
        res["diagnosis"] = [
            {"condition": ctx.condition_ref[d.key], "rank": rank}
            for rank, d in enumerate(ep.diagnoses, start=1)
        ]
    res["patient"] = ctx.patient_ref
    if ep.program is not None and ep.program.organization is not None:
        res["managingOrganization"] = ctx.org_ref[ep.program.organization]
    period: dict[str, str] = {}
    if ep.admission is not None:
        period["start"] = ep.admission.isoformat()
    if ep.discharge is not None:
        period["end"] = ep.discharge.date.isoformat()
    if period:
        res["period"] = period
    if ep.referral is not None:
        res["referralRequest"] = [
            ctx.ref("ServiceRequest", ctx.local_url("ServiceRequest", "referral", ep.referral.key))
        ]
    if ep.care_manager is not None:
        res["careManager"] = ctx.person_ref[ep.care_manager]
    if ctx.team_refs:
        res["team"] = ctx.team_refs
    return ctx.eoc_url, res


def referral_to_fhir(ctx: Context, referral: Referral) -> list[Entry]:
    """The referral ServiceRequest, and the inpatient stay Encounter when there is one.

    ``requester``: the referring practitioner, else the referring organization; when both
    are known the organization is the ``performer`` (R4 has one requester).
    """
    url = ctx.local_url("ServiceRequest", "referral", referral.key)
    res = ctx.head("ServiceRequest", url, PROFILE.REFERRAL, linked=True)
    res["identifier"] = [ctx.identifier("referral", referral.key)]
    res["status"] = "completed"
    res["intent"] = "order"
    res["category"] = [project_concept("referral-source", referral.source)]
    res["code"] = project_concept("level-of-care", "iop")
    res["subject"] = ctx.patient_ref
    out: list[Entry] = [(url, res)]
    if referral.stay is not None:
        stay_url = ctx.local_url("Encounter", "stay", referral.key)
        res["encounter"] = ctx.ref("Encounter", stay_url)
        stay = ctx.head("Encounter", stay_url, None, linked=True)
        stay["identifier"] = [ctx.identifier("stay", referral.key)]
        stay["status"] = "finished" if referral.stay.end is not None else "in-progress"
        stay["class"] = {"system": _ACT_CODE, "code": "IMP"}
        stay["subject"] = ctx.patient_ref
        stay["period"] = fhir_period(referral.stay)
        out.append((stay_url, stay))
    if referral.date is not None:
        res["authoredOn"] = referral.date.isoformat()
    if referral.requester is not None:
        res["requester"] = ctx.person_ref[referral.requester]
        if referral.organization is not None:
            res["performer"] = [ctx.org_ref[referral.organization]]
    elif referral.organization is not None:
        res["requester"] = ctx.org_ref[referral.organization]
    if referral.reason:
        res["reasonCode"] = [{"text": referral.reason}]
    return out


def _condition(ctx: Context, dx: Diagnosis) -> Entry:
    url = ctx.local_url("Condition", "condition", dx.key)
    res = ctx.head("Condition", url, PROFILE.CONDITION, linked=True)
    res["identifier"] = [ctx.identifier("condition", dx.key)]
    # con-5: an entered-in-error condition has no clinical status
    if dx.clinical_status is not None and dx.verification_status != "entered-in-error":
        res["clinicalStatus"] = {"coding": [{"system": _CLINICAL, "code": dx.clinical_status}]}
    if dx.verification_status is not None:
        res["verificationStatus"] = {
            "coding": [{"system": _VERIFICATION, "code": dx.verification_status}]
        }
    res["category"] = [
        {"coding": [{"system": CONDITION_CATEGORY[dx.category], "code": dx.category}]}
    ]
    res["code"] = code_concept(dx.code)
    res["subject"] = ctx.patient_ref
    if dx.onset is not None:
        res["onsetDateTime"] = dx.onset.isoformat()
    if dx.recorded is not None:
        res["recordedDate"] = dx.recorded.isoformat()
    return url, res


def conditions_to_fhir(ctx: Context) -> list[Entry]:
    """Every diagnosis as a Condition, in order."""
    return [_condition(ctx, dx) for dx in ctx.episode.diagnoses]
