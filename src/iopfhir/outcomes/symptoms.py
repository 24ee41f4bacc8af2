"""Symptom and functioning scores per episode: the SQL that finds each instrument's scores
in an episode and takes the first and the last.

A score is a total Observation of an instrument of :data:`INSTRUMENTS` (final, amended or
corrected) or a QuestionnaireResponse scored in SQL
(:mod:`iopfhir.outcomes.questionnaires`), dated from :data:`BASELINE_DAYS_BEFORE` days
before admission to discharge. Per instrument the episode facts take the count
(``<i>_n``), the first score and its key (``<i>_base``, ``<i>_base_key``), the last
(``<i>_last``, ``<i>_last_key``; by date, then time, then key) and the change the
terminology data calls reliable (``<i>_reliable_points``).

These CTEs read only the scores and the episodes, so the facts of an episode can be
computed in two statements that run at once on an engine that can
(:func:`~iopfhir.outcomes.facts.symptom_facts_sql` beside the rest).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from iopfhir.outcomes.observations import scores_sql
from iopfhir.outcomes.questionnaires import questionnaire_scores_sql
from iopfhir.outcomes.spelling import Spelling, sql_list, sql_string
from iopfhir.outcomes.spelling import sql_date as _date
from iopfhir.terminology.instruments import LOINC, instrument

__all__ = [
    "BASELINE_DAYS_BEFORE",
    "INSTRUMENTS",
    "SCORE_STATUSES",
    "reliable_change_points",
    "symptom_columns",
    "symptom_ctes",
]

#: column prefix -> instrument id (the total-score code comes from the terminology data)
INSTRUMENTS = {
    "phq9": "phq-9",
    "gad7": "gad-7",
    "auditc": "audit-c",
    "dast10": "dast-10",
    "promis10": "promis-10",
    "whodas12": "whodas-12",
}
#: a score this many days before admission is the episode's baseline
BASELINE_DAYS_BEFORE = 14
#: the Observation statuses of a score that counts
SCORE_STATUSES = ("final", "amended", "corrected")


@cache
def _instrument_data() -> dict[str, Any]:
    path = resources.files("iopfhir.terminology").joinpath("data/instruments.json")
    return json.loads(path.read_text("utf-8"))["instruments"]  # type: ignore[no-any-return]


def reliable_change_points(inst_id: str) -> int | None:
    """The change in points the terminology data calls reliable for an instrument."""
    spec = _instrument_data()[inst_id].get("reliable_change")
    return int(spec["points"]) if spec else None


def _instrument_case() -> str:
    """A CASE naming the instrument (column prefix) of a total-score row of ``score``:
    LOINC-coded totals by their LOINC code, the others (PROMIS-10, WHODAS) by system and code."""
    whens = []
    for prefix, inst_id in INSTRUMENTS.items():
        inst = instrument(inst_id)
        code = sql_string(inst.total_code)
        if inst.code_system == LOINC:
            whens.append(f"WHEN loinc = {code} THEN {sql_string(prefix)}")
        else:
            whens.append(
                f"WHEN code_system = {sql_string(inst.code_system)} AND code = {code} "
                f"THEN {sql_string(prefix)}"
            )
    return "CASE " + " ".join(whens) + " END"


def symptom_ctes(s: Spelling) -> str:
    """CTEs ``osc`` (the total Observations), ``qsc`` (the scored responses), ``sc`` (the
    scores of each episode) and ``sx`` (per episode, each instrument's count, first and
    last). Read CTEs ``ep`` (the episodes, with ``start_d`` and ``end_d``) and ``qmap``
    (:func:`~iopfhir.outcomes.questionnaires.questionnaire_map_sql`); ends with a comma."""
    pivots = ",\n    ".join(_pivots(s))
    return f"""osc AS {s.materialized}(
  SELECT observation_key, patient_key, inst, score, effective, derived_from
  FROM (SELECT observation_key, patient_key, score, effective, derived_from,
               {_instrument_case()} AS inst
        FROM {scores_sql("s")} WHERE status IN {sql_list(SCORE_STATUSES)}) y
  WHERE inst IS NOT NULL
),
{questionnaire_scores_sql(INSTRUMENTS, "osc")},
sc AS (
  SELECT ep.episode_key, x.observation_key, x.inst, x.score,
    {s.struct(d="x.d", effective="x.effective", k="x.observation_key")} AS ord
  FROM (SELECT observation_key, patient_key, inst, score, effective, {_date("effective")} AS d
        FROM (SELECT observation_key, patient_key, inst, score, effective FROM osc
              UNION ALL
              SELECT observation_key, patient_key, inst, score, effective FROM qsc
              WHERE score IS NOT NULL) y) x
  JOIN ep ON x.patient_key = ep.patient_key
  WHERE {s.days("ep.start_d", "x.d")} >= -{BASELINE_DAYS_BEFORE}
    AND (ep.end_d IS NULL OR x.d <= ep.end_d)
),
sx AS (
  SELECT episode_key,
    {pivots}
  FROM sc GROUP BY episode_key
),"""  # noqa: S608


def _pivots(s: Spelling) -> list[str]:
    """The aggregates of ``sx``: per instrument its scores' count, and the score and key
    of the first and of the last (by ``ord``), each one aggregate of the (score, key)
    pair, so that score and key come from the same row."""
    pair = s.struct(score="score", k="observation_key")
    out = []
    for prefix in INSTRUMENTS:
        code = sql_string(prefix)
        out += [
            f"SUM(CASE WHEN inst = {code} THEN 1 ELSE 0 END) AS {prefix}_n",
            f"{s.min_by}({pair}, ord) FILTER (WHERE inst = {code}) AS {prefix}_first",
            f"{s.max_by}({pair}, ord) FILTER (WHERE inst = {code}) AS {prefix}_latest",
        ]
    return out


def symptom_columns() -> list[tuple[str, str]]:
    """The episode facts' symptom columns over CTE ``sx``: (SQL, name), in order."""
    out = []
    for prefix, inst_id in INSTRUMENTS.items():
        out += [
            (f"COALESCE(sx.{prefix}_n, 0)", f"{prefix}_n"),
            (f"sx.{prefix}_first.score", f"{prefix}_base"),
            (f"sx.{prefix}_first.k", f"{prefix}_base_key"),
            (f"sx.{prefix}_latest.score", f"{prefix}_last"),
            (f"sx.{prefix}_latest.k", f"{prefix}_last_key"),
        ]
        points = reliable_change_points(inst_id)
        if points is not None:
            out.append((str(points), f"{prefix}_reliable_points"))
    return out
