"""FHIR R4 ``MeasureReport`` resources and flat tables from computed outcomes.

* :func:`summary_report`: ``type: summary`` for the cohort and period, with one stratifier per
  stratum column of the measure (``stratum.value.text`` is the value, ``unknown`` when absent);
* :func:`individual_reports`: ``type: individual`` per subject in the initial population,
  ``subject`` the patient, ``evaluatedResource`` the episode (or stay) and the resources its
  supplemental data name (the baseline and last scores: Observations or QuestionnaireResponses);
* :func:`report_bundle`: a ``collection`` Bundle of them;
* :func:`summary_rows`: one flat row per measure, stratifier and stratum (CSV, JSON, Parquet).

Everything is deterministic: ids derive from the measure, the subject and the period; no
clock is read (``MeasureReport.date`` is left out).
"""

from __future__ import annotations

import uuid
from typing import Any

from iopfhir.fhir.build.narrative import narrate
from iopfhir.outcomes.compute import Outcomes, Stratum, SubjectResult
from iopfhir.outcomes.measures import MeasureDef

__all__ = ["individual_reports", "report_bundle", "summary_report", "summary_rows"]

_POP = "http://terminology.hl7.org/CodeSystem/measure-population"
_IMPROVEMENT = "http://terminology.hl7.org/CodeSystem/measure-improvement-notation"
_NS = uuid.UUID("5c0d7a52-4f8e-4f5e-9d0c-6f3b2a1e9d41")


def _populations(pops: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {"code": {"coding": [{"system": _POP, "code": code}]}, "count": count}
        for code, count in pops.items()
    ]


def _score(value: float | None) -> dict[str, Any]:
    return {} if value is None else {"measureScore": {"value": value}}


def _base(m: MeasureDef, report_id: str, kind: str, period: tuple[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "id": report_id,
        "status": "complete",
        "type": kind,
        "measure": m.url,
    }
    out["period"] = {"start": period[0], "end": period[1]}
    if m.improvement:
        out["improvementNotation"] = {"coding": [{"system": _IMPROVEMENT, "code": m.improvement}]}
    return out


def _narrated(report: dict[str, Any], m: MeasureDef) -> dict[str, Any]:
    """``report`` with its narrative: the measure's title, then the (first) group's
    population counts and score, as the report's own elements do not name them."""
    group = report["group"][0]
    lines = [("Measure", m.title)]
    for population in group["population"]:
        code: str = population["code"]["coding"][0]["code"]  # initial-population...
        lines.append((code.replace("-", " ").capitalize(), str(population["count"])))
    if "measureScore" in group:
        lines.append(("Score", str(group["measureScore"]["value"])))
    return narrate(report, lines)


def _stratum(value: str, s: Stratum) -> dict[str, Any]:
    return {"value": {"text": value}, "population": _populations(s.populations), **_score(s.score)}


def summary_report(outcomes: Outcomes, measure_id: str) -> dict[str, Any]:
    """The summary MeasureReport of ``measure_id``."""
    m = outcomes.measure(measure_id)
    period = outcomes.report_period()
    summary = outcomes.summary(measure_id)
    report = _base(m, f"{m.id}-summary-{period[0]}-{period[1]}", "summary", period)
    group: dict[str, Any] = {
        "population": _populations(summary.overall.populations),
        **_score(summary.overall.score),
    }
    stratifiers = [
        {"code": [{"text": name}], "stratum": [_stratum(v, s) for v, s in values.items()]}
        for name, values in summary.strata.items()
        if values
    ]
    if stratifiers:
        group["stratifier"] = stratifiers
    report["group"] = [group]
    return _narrated(report, m)


def _individual(m: MeasureDef, row: SubjectResult, period: tuple[str, str]) -> dict[str, Any]:
    rid = str(uuid.uuid5(_NS, f"{m.url}|{row.subject_key}|{period[0]}|{period[1]}"))
    report = _base(m, rid, "individual", period)
    if row.patient_key:
        report["subject"] = {"reference": row.patient_key}
    score: float | None
    if m.scoring == "continuous-variable":
        score = round(row.observation, 4) if row.observation is not None else None
    else:
        den = row.populations.get("denominator", 0) - row.populations.get(
            "denominator-exclusion", 0
        )
        score = round(row.populations.get("numerator", 0) / den, 4) if den > 0 else None
    report["group"] = [{"population": _populations(row.populations), **_score(score)}]
    report["evaluatedResource"] = [
        {"reference": key} for key in dict.fromkeys((row.subject_key, *row.evaluated))
    ]
    return _narrated(report, m)


def individual_reports(outcomes: Outcomes, measure_id: str) -> list[dict[str, Any]]:
    """One individual MeasureReport per subject in the initial population of ``measure_id``."""
    m = outcomes.measure(measure_id)
    period = outcomes.report_period()
    return [_individual(m, row, period) for row in outcomes.subjects[measure_id]]


def report_bundle(outcomes: Outcomes, *, individual: bool = False) -> dict[str, Any]:
    """A collection Bundle: every summary report, then (``individual``) the individual ones."""
    reports = [summary_report(outcomes, m.id) for m in outcomes.measures]
    if individual:
        for m in outcomes.measures:
            reports += individual_reports(outcomes, m.id)
    entries = [
        {
            "fullUrl": "urn:uuid:" + str(uuid.uuid5(_NS, "MeasureReport/" + r["id"])),
            "resource": r,
        }
        for r in reports
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


_COLUMNS = (
    "measure",
    "stratifier",
    "stratum",
    "initial_population",
    "denominator",
    "denominator_exclusion",
    "numerator",
    "measure_population",
    "score",
)


def summary_rows(outcomes: Outcomes) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """(column names, rows): one row per measure overall, then per stratifier and stratum."""
    rows: list[dict[str, Any]] = []

    def row(m: MeasureDef, stratifier: str, value: str, s: Stratum) -> dict[str, Any]:
        out: dict[str, Any] = {"measure": m.id, "stratifier": stratifier, "stratum": value}
        for code in (
            "initial-population",
            "denominator",
            "denominator-exclusion",
            "numerator",
            "measure-population",
        ):
            out[code.replace("-", "_")] = s.populations.get(code)
        out["score"] = s.score
        return out

    for m in outcomes.measures:
        summary = outcomes.summary(m.id)
        rows.append(row(m, "", "", summary.overall))
        for name, values in summary.strata.items():
            rows += [row(m, name, v, s) for v, s in values.items()]
    return _COLUMNS, rows
