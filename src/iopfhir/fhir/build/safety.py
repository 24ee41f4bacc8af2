"""Safety signals of one measure → FHIR R4 Flag and RiskAssessment (profiles ``iop-flag``,
``iop-riskassessment``).

Nothing here is stored in the domain: the flags and the risk level are derived from the
answers (:meth:`iopfhir.terminology.Instrument.flags`, the C-SSRS risk level) every time,
so what reaches FHIR is what the items say.

* One Flag per safety flag the measure raises (PHQ-9 item 9 above 0, a C-SSRS item rule,
  AUDIT-C / DAST-10 at or above threshold): status ``active``, category from R4
  ``flag-category`` (``safety`` for the suicide-related flags, else ``clinical``: data in
  ``codes.json`` ``safety_signals``), code = the ``safety-flag`` concept, subject,
  ``period.start`` = the measure's date, encounter = the session's, and one R4 core
  ``flag-detail`` extension per Observation the flag comes from (the item Observations of
  the item rules that fired, then the total Observation for a total rule).
* For a risk-level instrument (C-SSRS screener) with a known level, a RiskAssessment:
  status ``final``, subject, encounter, ``occurrenceDateTime`` = the date, ``basis`` →
  the total Observation and the QuestionnaireResponse, one prediction {outcome = SNOMED CT
  44301001 suicide, qualitativeRisk = R4 ``risk-probability`` (none → negligible)}.

Identifiers: Flag ``flag`` → ``<episode>/<measure key>/<flag code>``, RiskAssessment
``riskassessment`` → ``<episode>/<measure key>``.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from iopfhir.domain import Measure
from iopfhir.fhir.build._context import Context, Entry, project_concept
from iopfhir.fhir.conventions import CORE_EXT, PROFILE
from iopfhir.terminology import Instrument, codes, instrument

__all__ = ["Evidence", "derived_flags", "flag_category", "risk_prediction", "safety_to_fhir"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """References to the resources of one measure that a Flag / RiskAssessment cites."""

    questionnaire_response: dict[str, str] | None
    items: dict[str, dict[str, str]]
    total: dict[str, str] | None


def derived_flags(
    inst: Instrument, answers: dict[str, int], total: int | None, sex: str | None
) -> tuple[tuple[str, tuple[str, ...], bool], ...]:
    """``(flag, item ids that raised it, raised by the total)`` per flag, in rule order."""
    return _derived(inst.id, tuple(answers.items()), total, sex)


@lru_cache(maxsize=4096)
def _derived(
    inst_id: str, answer_items: tuple[tuple[str, int], ...], total: int | None, sex: str | None
) -> tuple[tuple[str, tuple[str, ...], bool], ...]:
    # answer sets repeat (every item 0, the same few patterns): scoring them once is enough
    inst = instrument(inst_id)
    answers = dict(answer_items)
    raised = inst.flags(answers, total, sex=sex)
    out = []
    for flag in raised:
        items: list[str] = []
        by_total = False
        for rule in inst.flag_rules:
            if rule.flag != flag:
                continue
            if rule.item is not None:
                value = answers.get(rule.item)
                if value is not None and value >= rule.minimum and rule.item not in items:
                    items.append(rule.item)
            else:
                by_total = True
        out.append((flag, tuple(items), by_total))
    return tuple(out)


@cache
def flag_category(flag: str) -> dict[str, Any]:
    """The R4 ``flag-category`` CodeableConcept of a safety-flag code (one object per code)."""
    table = codes()["safety_signals"]["flag_category"]
    key = "safety" if flag in table["safety"] else table["default"]
    coding = {"system": table["system"], "code": key, "display": table["displays"][key]}
    return {"coding": [coding]}


def risk_prediction(level: str) -> dict[str, Any]:
    """The RiskAssessment prediction for a C-SSRS risk level (``none``/``low``/...): a
    fresh dict each time, as a caller may change the resource it goes into."""
    return copy.deepcopy(_risk_prediction(level))


@cache
def _risk_prediction(level: str) -> dict[str, Any]:
    table = codes()["safety_signals"]
    probability = table["risk_probability"]
    code = probability["levels"][level]
    outcome = {k: table["risk_outcome"][k] for k in ("system", "code", "display")}
    risk = {"system": probability["system"], "code": code, "display": probability["displays"][code]}
    return {"outcome": {"coding": [outcome]}, "qualitativeRisk": {"coding": [risk]}}


def safety_to_fhir(
    ctx: Context,
    measure: Measure,
    evidence: Evidence,
    score: int | None,
    forms: tuple[str, ...] = ("flags", "risk-assessment"),
) -> list[Entry]:
    """The Flags (in rule order), then the RiskAssessment, of one measure whose score
    (given or computed: ``measure.score``, passed in as the caller has it) is ``score``;
    each only when ``forms`` (``Measure.written_forms``) names it, and a Flag only with
    an Observation to cite."""
    inst = measure.definition
    when = measure.date.isoformat()
    encounter = ctx.encounter_ref.get(measure.session) if measure.session is not None else None
    sex = ctx.episode.patient.gender
    out: list[Entry] = []
    raised = derived_flags(inst, measure.answers, score, sex) if "flags" in forms else ()
    for flag, items, by_total in raised:
        cited = [evidence.items[i] for i in items if i in evidence.items]
        if by_total and evidence.total is not None:
            cited.append(evidence.total)
        if not cited:  # its Observations were not written (a measure read from FHIR)
            continue
        local = f"{measure.key}/{flag}"
        url = ctx.local_url("Flag", "flag", local)
        res = ctx.head("Flag", url, PROFILE.FLAG, linked=True)
        res["extension"] = [{"url": CORE_EXT.FLAG_DETAIL, "valueReference": ref} for ref in cited]
        res["identifier"] = [ctx.identifier("flag", local)]
        res["status"] = "active"
        res["category"] = [flag_category(flag)]
        res["code"] = project_concept("safety-flag", flag)
        res["subject"] = ctx.patient_ref
        res["period"] = {"start": when}
        if encounter is not None:
            res["encounter"] = encounter
        out.append((url, res))
    if (
        "risk-assessment" in forms
        and inst.scoring == "risk-level"
        and score is not None
        and evidence.total is not None
    ):
        level = inst.band(score)
        if level is not None:
            url = ctx.local_url("RiskAssessment", "riskassessment", measure.key)
            res = ctx.head("RiskAssessment", url, PROFILE.RISK_ASSESSMENT, linked=True)
            res["identifier"] = [ctx.identifier("riskassessment", measure.key)]
            res["status"] = "final"
            res["subject"] = ctx.patient_ref
            if encounter is not None:
                res["encounter"] = encounter
            res["occurrenceDateTime"] = when
            res["basis"] = [evidence.total]
            if evidence.questionnaire_response is not None:
                res["basis"].append(evidence.questionnaire_response)
            res["prediction"] = [risk_prediction(level)]
            out.append((url, res))
    return out
