"""The episode itself → EpisodeOfCare; the referral in → ServiceRequest (+ the inpatient
stay as an Encounter with its clinicians and hospital, + the hospital's discharge plan as a
CarePlan); diagnoses → Condition.

The EpisodeOfCare exists when the episode has a status or data that lives only there
(program, admission, discharge, referral, care manager); without a domain status it is
``finished`` when discharged, else ``active``. Diagnoses are listed on it in order
(``rank`` 1, 2, ...), or, for an episode read from FHIR, as its EpisodeOfCare listed them
(``Episode.diagnoses_listed``: only those, ranked where they were).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any, Final

from iopfhir.domain import Diagnosis, Referral, date_text
from iopfhir.domain.common import Age, ConditionTime
from iopfhir.fhir.build._context import (
    CONDITION_CATEGORY,
    UCUM,
    Context,
    Entry,
    Resource,
    code_concept,
    fhir_period,
    has_episode_of_care,
    project_concept,
)
from iopfhir.fhir.conventions import EXT, PROFILE
from iopfhir.terminology import codes

__all__ = [
    "conditions_to_fhir",
    "continued_plans",
    "discharge_plan_ref",
    "episode_of_care_to_fhir",
    "referral_to_fhir",
]

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
                    {"url": "maximumHoursPerWeek", "valueDecimal": ep.program.max_hours_per_week},
                    {"url": "maximumDaysPerWeek", "valueInteger": ep.program.max_days_per_week},
                ],
            }
        )
    if ep.discharge is not None and ep.discharge.disposition is not None:
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
    if ep.diagnoses_listed is not None:  # read from FHIR: the list as it came
        listed = [
            {"condition": ctx.condition_ref[d.diagnosis]}
            | ({"rank": d.rank} if d.rank is not None else {})
            for d in ep.diagnoses_listed
        ]
        if listed:
            res["diagnosis"] = listed
    elif ep.diagnoses:
        res["diagnosis"] = [
            {"condition": ctx.condition_ref[d.key], "rank": rank}
            for rank, d in enumerate(ep.diagnoses, start=1)
        ]
    res["patient"] = ctx.patient_ref
    if ep.program is not None and ep.program.organization is not None:
        res["managingOrganization"] = ctx.org_ref[ep.program.organization]
    period: dict[str, str] = {}
    if ep.admission is not None:
        period["start"] = date_text(ep.admission)
    if ep.discharge is not None:
        period["end"] = date_text(ep.discharge.date)
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
    """The referral ServiceRequest, the inpatient stay Encounter and the hospital's
    discharge plan (CarePlan) when there are.

    ``requester``: the referring (inpatient) practitioner, else the referring organization;
    ``performer``: the IOP (the program's organization); ``basedOn``: the discharge plan
    the referral carries out; ``encounter``: the stay. The stay Encounter lists the stay's
    clinicians (``participant``) and the hospital (``serviceProvider`` = the referral's
    organization).
    """
    url = ctx.local_url("ServiceRequest", "referral", referral.key)
    res = ctx.head("ServiceRequest", url, PROFILE.REFERRAL, linked=True)
    res["identifier"] = [ctx.identifier("referral", referral.key)]
    plan = referral.discharge_plan
    if plan is not None:
        res["basedOn"] = [discharge_plan_ref(ctx, plan.key)]
    res["status"] = "completed"
    res["intent"] = "order"
    res["category"] = [project_concept("referral-source", referral.source)]
    res["code"] = project_concept("level-of-care", "iop")
    res["subject"] = ctx.patient_ref
    out: list[Entry] = [(url, res)]
    if referral.stay is not None:
        stay_url = ctx.local_url("Encounter", "stay", referral.key)
        res["encounter"] = ctx.ref("Encounter", stay_url)
        out.append((stay_url, _stay(ctx, referral, stay_url)))
    if plan is not None:
        out.append(_discharge_plan(ctx, referral))
    if referral.date is not None:
        res["authoredOn"] = date_text(referral.date)
    if referral.requester is not None:
        res["requester"] = ctx.person_ref[referral.requester]
    elif referral.organization is not None:
        res["requester"] = ctx.org_ref[referral.organization]
    program = ctx.episode.program
    if program is not None and program.organization is not None:
        res["performer"] = [ctx.org_ref[program.organization]]
    if referral.reason:
        res["reasonCode"] = [{"text": referral.reason}]
    return out


def _stay(ctx: Context, referral: Referral, url: str) -> Resource:
    """The inpatient stay: class IMP, its clinicians and the hospital."""
    assert referral.stay is not None
    stay = ctx.head("Encounter", url, None, linked=True)
    stay["identifier"] = [ctx.identifier("stay", referral.key)]
    stay["status"] = "finished" if referral.stay.end is not None else "in-progress"
    stay["class"] = {"system": _ACT_CODE, "code": "IMP"}
    stay["subject"] = ctx.patient_ref
    participants = []
    for part in referral.stay_participants:
        entry: dict[str, Any] = {}
        if part.role is not None:
            entry["type"] = [_participation(part.role)]
        entry["individual"] = ctx.person_ref[part.practitioner]
        participants.append(entry)
    if participants:
        stay["participant"] = participants
    stay["period"] = fhir_period(referral.stay)
    # with a requesting practitioner the referral's organization lives only here
    if referral.organization is not None:
        stay["serviceProvider"] = ctx.org_ref[referral.organization]
    return stay


@cache
def _participation(key: str) -> dict[str, Any]:
    """The v3 ParticipationType CodeableConcept of a stay participation key (shared)."""
    table = codes()["stay_participation"]
    return {
        "coding": [
            {
                "system": table["system"],
                "code": table["codes"][key],
                "display": table["displays"][key],
            }
        ]
    }


def discharge_plan_ref(ctx: Context, key: str) -> dict[str, str]:
    """The reference to the referral's discharge plan (a CarePlan of the hospital)."""
    return ctx.ref("CarePlan", ctx.local_url("CarePlan", "dischargeplan", key))


def continued_plans(ctx: Context, plan_key: str) -> list[dict[str, str]]:
    """``CarePlan.basedOn`` of a plan: the discharge plan, for the episode's treatment plan
    (the IOP plan continues the hospital's); nothing for any other plan."""
    ep = ctx.episode
    treatment = ep.treatment_plan
    if ep.referral is None or ep.referral.discharge_plan is None or treatment is None:
        return []
    if treatment.key != plan_key or not has_episode_of_care(ep):
        return []
    return [discharge_plan_ref(ctx, ep.referral.discharge_plan.key)]


def _discharge_plan(ctx: Context, referral: Referral) -> Entry:
    """The hospital's discharge plan: a CarePlan of kind ``inpatient-discharge``."""
    plan = referral.discharge_plan
    assert plan is not None
    url = ctx.local_url("CarePlan", "dischargeplan", plan.key)
    res = ctx.head("CarePlan", url, PROFILE.CAREPLAN_DISCHARGE, linked=True)
    res["identifier"] = [ctx.identifier("dischargeplan", plan.key)]
    res["status"] = plan.status
    res["intent"] = "plan"
    res["category"] = [project_concept("care-plan-kind", "inpatient-discharge")]
    if plan.title:
        res["title"] = plan.title
    if plan.description:
        res["description"] = plan.description
    res["subject"] = ctx.patient_ref
    if referral.stay is not None:
        res["encounter"] = ctx.ref("Encounter", ctx.local_url("Encounter", "stay", referral.key))
    if plan.created is not None:
        res["created"] = date_text(plan.created)
    if plan.author is not None:
        res["author"] = ctx.person_ref[plan.author]
    return url, res


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
        res.update(_condition_time("onset", dx.onset))
    if dx.abatement is not None:
        res.update(_condition_time("abatement", dx.abatement))
    if dx.recorded is not None:
        res["recordedDate"] = date_text(dx.recorded)
    return url, res


def _age(age: Age) -> dict[str, Any]:
    return {"value": age.value, "unit": age.unit, "system": UCUM, "code": age.unit}


def _condition_time(element: str, value: date | ConditionTime) -> dict[str, Any]:
    """``onset[x]`` / ``abatement[x]``: dateTime, Period, Age, Range or string."""
    if isinstance(value, date):
        return {f"{element}DateTime": date_text(value)}
    if value.period is not None:
        return {f"{element}Period": fhir_period(value.period)}
    if value.age is not None:
        return {f"{element}Age": _age(value.age)}
    if value.age_range is not None:
        bounds = {"low": value.age_range.low, "high": value.age_range.high}
        return {f"{element}Range": {k: _age(v) for k, v in bounds.items() if v is not None}}
    return {f"{element}String": value.text}


def conditions_to_fhir(ctx: Context) -> list[Entry]:
    """Every diagnosis as a Condition, in order."""
    return [_condition(ctx, dx) for dx in ctx.episode.diagnoses]
