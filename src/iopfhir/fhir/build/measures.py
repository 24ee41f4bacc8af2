"""Outcome measures → FHIR R4 QuestionnaireResponse + Observations (US Core screening and
assessment pattern).

One administration gives:

* a QuestionnaireResponse (``questionnaire`` = the instrument's canonical): one item per
  answered question (``linkId`` ``/<LOINC item code>``, answer = LOINC answer coding), and
  a total-score item only when the domain measure records a total (a total computed
  from the answers is not part of what was filled in);
* one Observation per answered item (value = the LOINC answer);
* a total-score Observation whenever the score is known (given or computed from complete
  answers): ``valueQuantity`` in ``{score}``, or for the C-SSRS screener the risk level
  as ``valueCodeableConcept``; its ``interpretation`` is the severity band's codings
  (project ``severity-band``, plus v3 ObservationInterpretation POS / NEG for screeners;
  the patient's gender picks the AUDIT-C screen where the threshold depends on it);
* a panel Observation (instruments with a panel code) whose ``hasMember`` lists the item
  and total Observations;
* the Flags and the C-SSRS RiskAssessment the answers raise (:mod:`.safety`).

Every Observation has category ``survey`` and ``derivedFrom`` → the QuestionnaireResponse.
The session link (``encounter``) exists only for sessions that have an Encounter
(scheduled or attended).

A measure read from FHIR is written in the forms its source had and no others
(``Measure.written_forms``: e.g. a total-only score is one total Observation, without a
QuestionnaireResponse, panel or interpretation; ``derivedFrom`` only when the QR is
written). The total Observation carries the total the source stated (kept even when it
disagrees with the answers), else the computed one; its band, the Flags and the
RiskAssessment come from the score the answers give (``Measure.score``).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from iopfhir.domain import Measure
from iopfhir.fhir.build._context import (
    OBSERVATION_CATEGORY_SURVEY,
    UCUM,
    Context,
    Entry,
)
from iopfhir.fhir.build.safety import Evidence, safety_to_fhir
from iopfhir.fhir.conventions import PROFILE
from iopfhir.terminology import Instrument, instrument

__all__ = ["measure_to_fhir"]

_SCORE: Final = {"unit": "{score}", "system": UCUM, "code": "{score}"}


@cache
def _tables(inst_id: str) -> dict[str, Any]:
    """Per instrument, built once: codes as CodeableConcepts, answers as codings."""
    inst = instrument(inst_id)
    items = {}
    for it in inst.all_items:
        answers = {
            a.score: {"system": a.system, "code": a.code, "display": a.display} for a in it.answers
        }
        items[it.id] = {
            "link": f"/{it.code}",
            "code": {"coding": [{"system": it.system, "code": it.code}]},
            "answers": answers,
            "concepts": {score: {"coding": [c]} for score, c in answers.items()},
        }
    return {
        "items": items,
        "order": [it.id for it in inst.all_items],
        "total": {"coding": [{"system": inst.code_system, "code": inst.total_code}]},
        "total_link": f"/{inst.total_code}",
        "panel": {"coding": [{"system": inst.code_system, "code": inst.panel_code}]}
        if inst.panel_code
        else None,
        "total_profile": PROFILE.observation_total(inst.id),
    }


def _total_value(inst: Instrument, total: int) -> tuple[str, Any]:
    """``(value[x] name, value)`` of a total score."""
    coding = inst.total_coding(total)
    if coding is not None:
        return "valueCodeableConcept", {"coding": [coding]}
    return "valueQuantity", {"value": total, **_SCORE}


@cache
def _interpretation(inst_id: str, band: str, sex: str | None) -> list[dict[str, Any]]:
    """``Observation.interpretation`` of a band: one concept with the band's codings."""
    codings = instrument(inst_id).interpretation(band, sex=sex)
    return [{"coding": [c.to_fhir() for c in codings]}]


def measure_to_fhir(ctx: Context, measure: Measure) -> list[Entry]:
    """QuestionnaireResponse, item Observations, total Observation, panel, then the Flags
    and RiskAssessment the answers raise (:mod:`iopfhir.fhir.build.safety`), in that order;
    of a measure read from FHIR only the forms its source had (``Measure.written_forms``)."""
    inst = measure.definition
    forms = measure.written_forms(ctx.episode.patient.gender)
    tables = _tables(inst.id)
    items = tables["items"]
    when = measure.date.isoformat()
    performer = ctx.person_ref[measure.performer] if measure.performer is not None else None
    encounter = ctx.encounter_ref.get(measure.session) if measure.session is not None else None
    answered = [i for i in tables["order"] if i in measure.answers]

    out: list[Entry] = []
    derived: list[dict[str, str]] | None = None
    qr_ref = None
    if "questionnaire-response" in forms:
        qr_entry = _questionnaire_response(ctx, measure, answered, encounter, performer)
        out.append(qr_entry)
        qr_ref = ctx.ref("QuestionnaireResponse", qr_entry[0])
        derived = [qr_ref]

    def observation(local: str, profile: str, code: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        url = ctx.local_url("Observation", "observation", f"{measure.key}{local}")
        obs = ctx.head("Observation", url, profile, linked=True)
        obs["identifier"] = [ctx.identifier("observation", f"{measure.key}{local}")]
        obs["status"] = "final"
        obs["category"] = OBSERVATION_CATEGORY_SURVEY
        obs["code"] = code
        obs["subject"] = ctx.patient_ref
        if encounter is not None:
            obs["encounter"] = encounter
        obs["effectiveDateTime"] = when
        if performer is not None:
            obs["performer"] = [performer]
        return url, obs

    members = []
    item_refs: dict[str, dict[str, str]] = {}
    if "items" in forms:
        for item_id in answered:
            item = items[item_id]
            url, obs = observation(f"/{item_id}", PROFILE.OBSERVATION_ITEM, item["code"])
            obs["valueCodeableConcept"] = item["concepts"][measure.answers[item_id]]
            if derived is not None:
                obs["derivedFrom"] = derived
            out.append((url, obs))
            item_refs[item_id] = ctx.ref("Observation", url)
            members.append(item_refs[item_id])
    score = measure.score
    total_ref = None
    if "total" in forms and score is not None:
        url, obs = observation("", tables["total_profile"], tables["total"])
        # the total as the source stated it (when it did), else the computed one
        name, value = _total_value(inst, measure.total if measure.total is not None else score)
        obs[name] = value
        band = inst.band(score)
        if band is not None and "interpretation" in forms:
            obs["interpretation"] = _interpretation(inst.id, band, ctx.episode.patient.gender)
        if derived is not None:
            obs["derivedFrom"] = derived
        out.append((url, obs))
        total_ref = ctx.ref("Observation", url)
        members.append(total_ref)
    if tables["panel"] is not None and members and "panel" in forms:
        url, obs = observation("/panel", PROFILE.OBSERVATION_PANEL, tables["panel"])
        obs["hasMember"] = members
        if derived is not None:
            obs["derivedFrom"] = derived
        out.append((url, obs))
    if "flags" in forms or "risk-assessment" in forms:
        evidence = Evidence(qr_ref, item_refs, total_ref)
        out += safety_to_fhir(ctx, measure, evidence, score, forms)
    return out


def _questionnaire_response(
    ctx: Context,
    measure: Measure,
    answered: list[str],
    encounter: dict[str, str] | None,
    performer: dict[str, str] | None,
) -> Entry:
    inst = measure.definition
    tables = _tables(inst.id)
    items = tables["items"]
    qr_url = ctx.local_url("QuestionnaireResponse", "questionnaireresponse", measure.key)
    qr = ctx.head("QuestionnaireResponse", qr_url, PROFILE.QUESTIONNAIRE_RESPONSE, linked=True)
    qr["identifier"] = ctx.identifier("questionnaireresponse", measure.key)
    qr["questionnaire"] = inst.questionnaire
    qr["status"] = "completed" if measure.complete else "in-progress"
    qr["subject"] = ctx.patient_ref
    if encounter is not None:
        qr["encounter"] = encounter
    qr["authored"] = measure.date.isoformat()
    if performer is not None:
        qr["author"] = performer
    qr_items = [
        {
            "linkId": items[i]["link"],
            "answer": [{"valueCoding": items[i]["answers"][measure.answers[i]]}],
        }
        for i in answered
    ]
    if measure.total is not None:
        name, value = _total_value(inst, measure.total)
        answer = (
            {"valueCoding": value["coding"][0]}
            if name == "valueCodeableConcept"
            else {"valueInteger": measure.total}
        )
        qr_items.append({"linkId": tables["total_link"], "answer": [answer]})
    if qr_items:
        qr["item"] = qr_items
    return qr_url, qr
