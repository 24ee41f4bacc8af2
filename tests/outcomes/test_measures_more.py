"""The measures added for issue 13 point 1: reliable change, positive safety screens and
their follow-up, quality of life / functioning change, aftercare check-ins kept, weeks above
the program maximum.

Each is checked against figures worked out by hand on a small cohort written here, against
the plain-Python reading (``reference.py``), on both shipped examples (figures read off the
example files) and on DuckDB = Spark over a synthetic cohort (one Spark session).

The cohort (dates in 2025):

* P (female): mental-health episode 03-03 (Mon) .. 03-30, 4 whole weeks, program limits
  9-12 h and 3-3 days a week, completed. PHQ-9 21, 16, 14 (-7: a reliable improvement, not
  a response); GAD-7 8 then 13 (+5: a reliable deterioration); PROMIS-10 global mental raw
  8 then 13 (+5); WHODAS 40 then 30 (-10). Sessions: week 1 three of 3 h (9 h, 3 days: not
  over), week 2 four of 3 h (4 days: over), week 3 three of 5 h (15 h: over), week 4 none:
  2 of 4 weeks over. Screens: PHQ-9 item 9 answered 2 (positive) on 03-03, a session on
  03-05 follows it up; C-SSRS risk level low (positive) on 03-17, a session on 03-19 follows
  it up; item 9 answered 0 on 03-28 (negative). Aftercare plan created 03-25: check-ins due
  04-29 completed, 06-28 not started, 05-10 entered in error (not counted), 09-30 (184
  days: outside the six months); an older plan (created 01-01) has a completed check-in
  due 04-10 that is not this episode's: 2 due, 1 kept.
* Q (male): mental-health episode 03-03 .. 03-16, no program limits, left against advice.
  PHQ-9 12 then 19 (+7: a reliable deterioration); one GAD-7. Sessions 03-04 and 03-11.
  A RiskAssessment at negligible risk on 03-03 (a negative screen); a safety Flag
  (self-harm-risk) on 03-14 (positive): nothing follows it within 7 days (no session, no
  screen, and the safety plan was made 03-01, before it): not followed up. A clinical Flag
  (unhealthy alcohol use) is no safety screen.
* R (female): mental-health episode 04-07 .. 05-04. A RiskAssessment at moderate risk on
  04-08 (positive), a relapse-prevention (safety) plan created 04-10: followed up. One
  WHODAS only (no change).
* S (male): mental-health episode 05-05 .. 06-01. PHQ-9 10 then 10 (no reliable change);
  PHQ-9 item 9 recorded as a Quantity 0 on 05-05 (a negative screen).

By hand:

* PHQ-9 reliable improvement: P, Q, S have two scores; P improves by 6+: 1/3. Reliable
  deterioration: Q: 1/3. GAD-7: only P has two: improvement 0/1, deterioration 1/1.
* PROMIS-10 change: +5.0 (P); WHODAS change: -10.0 (P).
* Positive safety screens: P, Q, R, S screened; P, Q, R positive: 3/4.
* Follow-up: positive screening days P 03-03, P 03-17, Q 03-14, R 04-08; all but Q's: 3/4.
* Check-ins kept: 1/2. Weeks above the maximum: 2/4 (only P has a maximum).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.engines import example_resources, synth_ndjson
from tests.outcomes import reference
from tests.outcomes.cohort import LOINC, _episode, _patient, _score, _session

from iopfhir.outcomes import compute, report_bundle, summary_rows
from iopfhir.validation import validate
from iopfhir.views import Source

PHQ, GAD, ITEM9, CSSRS_RISK = "44261-6", "70274-6", "44260-8", "93374-7"
PROMIS = "https://iopfhir.org/fhir/CodeSystem/promis-10"
WHODAS = "https://iopfhir.org/fhir/CodeSystem/whodas-12"
PLAN_KIND = "https://iopfhir.org/fhir/CodeSystem/care-plan-kind"
CHECK_IN = "https://iopfhir.org/fhir/CodeSystem/check-in"
NEW = (
    "iop-phq9-reliable-improvement",
    "iop-phq9-reliable-deterioration",
    "iop-gad7-reliable-improvement",
    "iop-gad7-reliable-deterioration",
    "iop-promis10-change",
    "iop-whodas12-change",
    "iop-safety-positive",
    "iop-safety-followup",
    "iop-checkins-kept",
    "iop-intensity-weeks-over",
)


def _p(ip: int, den: int, num: int) -> dict[str, int]:
    return {"initial-population": ip, "denominator": den, "numerator": num}


def _cv(n: int) -> dict[str, int]:
    return {"initial-population": n, "measure-population": n}


#: measure -> (populations, score), worked out by hand in the module docstring
EXPECTED: dict[str, tuple[dict[str, int], float | None]] = {
    "iop-phq9-reliable-improvement": (_p(3, 3, 1), 0.3333),
    "iop-phq9-reliable-deterioration": (_p(3, 3, 1), 0.3333),
    "iop-gad7-reliable-improvement": (_p(1, 1, 0), 0.0),
    "iop-gad7-reliable-deterioration": (_p(1, 1, 1), 1.0),
    "iop-promis10-change": (_cv(1), 5.0),
    "iop-whodas12-change": (_cv(1), -10.0),
    "iop-safety-positive": (_p(4, 4, 3), 0.75),
    "iop-safety-followup": (_p(4, 4, 3), 0.75),
    "iop-checkins-kept": (_p(2, 2, 1), 0.5),
    "iop-intensity-weeks-over": (_p(4, 4, 2), 0.5),
}


def _limits(episode: dict[str, Any], max_hours: float, max_days: int) -> dict[str, Any]:
    for ext in episode["extension"]:
        if ext["url"].endswith("/iop-program"):
            for sub in ext["extension"]:
                if sub["url"] == "maximumHoursPerWeek":
                    sub["valueDecimal"] = max_hours
                elif sub["url"] == "maximumDaysPerWeek":
                    sub["valueInteger"] = max_days
    return episode


def _total(oid: str, pid: str, system: str, code: str, day: str, value: int) -> dict[str, Any]:
    r = _score(oid, pid, code, day, value)
    r["code"] = {"coding": [{"system": system, "code": code}]}
    return r


def _answer(oid: str, pid: str, item: str, day: str, answer: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": item}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": f"{day}T09:30:00-05:00",
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": answer}]},
    }


def _risk(rid: str, pid: str, day: str, level: str) -> dict[str, Any]:
    return {
        "resourceType": "RiskAssessment",
        "id": rid,
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "occurrenceDateTime": f"{day}T10:00:00-05:00",
        "prediction": [
            {
                "outcome": {"coding": [{"system": "http://snomed.info/sct", "code": "44301001"}]},
                "qualitativeRisk": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/risk-probability",
                            "code": level,
                        }
                    ]
                },
            }
        ],
    }


def _flag(fid: str, pid: str, day: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Flag",
        "id": fid,
        "status": "active",
        "code": {
            "coding": [{"system": "https://iopfhir.org/fhir/CodeSystem/safety-flag", "code": code}]
        },
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": f"{day}T09:00:00-05:00"},
    }


def _plan(
    cid: str, pid: str, kind: str, created: str, check_ins: list[tuple[str, str, str]]
) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": cid,
        "status": "active",
        "intent": "plan",
        "category": [{"coding": [{"system": PLAN_KIND, "code": kind}]}],
        "subject": {"reference": f"Patient/{pid}"},
        "created": created,
        "activity": [
            {
                "id": key,
                "detail": {
                    "code": {"coding": [{"system": CHECK_IN, "code": "phone"}]},
                    "status": status,
                    "scheduledPeriod": {"start": due},
                },
            }
            for key, due, status in check_ins
        ],
    }


def cohort() -> list[dict[str, Any]]:
    """The resources of the cohort in the module docstring."""
    ep = _limits(
        _episode("EP", "P", "mental-health", "2025-03-03", "2025-03-30", "completed", None, True),
        12.0,
        3,
    )
    r: list[dict[str, Any]] = [
        _patient("P", "female", "1980-02-02"),
        _patient("Q", "male", "1970-07-07"),
        _patient("R", "female", "2000-01-01"),
        _patient("S", "male", "1990-01-01"),
        ep,
        _episode(
            "EQ",
            "Q",
            "mental-health",
            "2025-03-03",
            "2025-03-16",
            "left-against-advice",
            None,
            False,
        ),
        _episode("ER", "R", "mental-health", "2025-04-07", "2025-05-04", "completed", None, False),
        _episode("ES", "S", "mental-health", "2025-05-05", "2025-06-01", "completed", None, False),
        _score("p1", "P", PHQ, "2025-03-03", 21),
        _score("p2", "P", PHQ, "2025-03-17", 16),
        _score("p3", "P", PHQ, "2025-03-28", 14),
        _score("p4", "P", GAD, "2025-03-03", 8),
        _score("p5", "P", GAD, "2025-03-28", 13),
        _total("p6", "P", PROMIS, "gmh-raw", "2025-03-03", 8),
        _total("p7", "P", PROMIS, "gmh-raw", "2025-03-28", 13),
        _total("p8", "P", WHODAS, "simple-sum", "2025-03-03", 40),
        _total("p9", "P", WHODAS, "simple-sum", "2025-03-28", 30),
        _answer("p10", "P", ITEM9, "2025-03-03", "LA6570-1"),
        _answer("p11", "P", CSSRS_RISK, "2025-03-17", "LA9194-7"),
        _answer("p12", "P", ITEM9, "2025-03-28", "LA6568-5"),
        _plan(
            "cpP",
            "P",
            "aftercare",
            "2025-03-25",
            [
                ("c1", "2025-04-29", "completed"),
                ("c2", "2025-06-28", "not-started"),
                ("c3", "2025-05-10", "entered-in-error"),
                ("c4", "2025-09-30", "completed"),
            ],
        ),
        _plan("cpP0", "P", "aftercare", "2025-01-01", [("c0", "2025-04-10", "completed")]),
        _score("q1", "Q", PHQ, "2025-03-03", 12),
        _score("q2", "Q", PHQ, "2025-03-14", 19),
        _score("q3", "Q", GAD, "2025-03-03", 9),
        _risk("q4", "Q", "2025-03-03", "negligible"),
        _flag("q5", "Q", "2025-03-14", "self-harm-risk"),
        _flag("q6", "Q", "2025-03-05", "unhealthy-alcohol-use"),
        _plan("cpQ", "Q", "relapse-prevention", "2025-03-01", []),
        _risk("r1", "R", "2025-04-08", "moderate"),
        _plan("cpR", "R", "relapse-prevention", "2025-04-10", []),
        _total("r2", "R", WHODAS, "simple-sum", "2025-04-08", 33),
        _score("s1", "S", PHQ, "2025-05-05", 10),
        _score("s2", "S", PHQ, "2025-05-30", 10),
        _score("s3", "S", ITEM9, "2025-05-05", 0),
    ]
    p_days = [
        ("03", 3), ("05", 3), ("07", 3),  # week 1: 9 h over 3 days
        ("10", 3), ("11", 3), ("12", 3), ("14", 3),  # week 2: 12 h over 4 days
        ("17", 5), ("19", 5), ("21", 5),  # week 3: 15 h over 3 days
    ]  # fmt: skip
    for day, hours in p_days:
        r += _session(f"P{day}", "P", "EP", f"2025-03-{day}", hours)
    r += _session("Q04", "Q", "EQ", "2025-03-04", 2)
    r += _session("Q11", "Q", "EQ", "2025-03-11", 2)
    return r


@pytest.fixture(scope="module")
def outcomes(duckdb_engine: Any) -> Any:
    with Source.from_resources(cohort()) as source:
        return compute(source, duckdb_engine)


@pytest.mark.parametrize("measure_id", NEW)
def test_hand_computed(outcomes: Any, measure_id: str) -> None:
    populations, score = EXPECTED[measure_id]
    overall = outcomes.summary(measure_id).overall
    assert overall.populations == {**{k: 0 for k in overall.populations}, **populations}
    assert overall.score == score


def test_plain_python_reference_agrees() -> None:
    ref = reference.compute(cohort())
    for measure_id, (populations, score) in EXPECTED.items():
        assert ref[measure_id]["score"] == score, measure_id
        got = {k: v for k, v in ref[measure_id]["populations"].items() if v or k in populations}
        assert got == populations, measure_id


def test_per_episode(outcomes: Any) -> None:
    def numerators(measure_id: str) -> dict[str, int]:
        return {
            r.subject_key.split("/")[1]: r.populations["numerator"]
            for r in outcomes.subjects[measure_id]
        }

    assert numerators("iop-safety-followup") == {"EP": 2, "EQ": 0, "ER": 1}
    assert numerators("iop-safety-positive") == {"EP": 1, "EQ": 1, "ER": 1, "ES": 0}
    assert numerators("iop-phq9-reliable-deterioration") == {"EP": 0, "EQ": 1, "ES": 0}
    change = {r.subject_key: r.evaluated for r in outcomes.subjects["iop-promis10-change"]}
    assert change == {"EpisodeOfCare/EP": ("Observation/p6", "Observation/p7")}


def test_reports_valid_r4(outcomes: Any) -> None:
    bundle = report_bundle(outcomes, individual=True)
    reports = [
        e["resource"] for e in bundle["entry"] if e["resource"]["measure"].rsplit("/", 1)[1] in NEW
    ]
    assert len(reports) > len(NEW)
    for report in reports:
        assert validate(report).errors == [], report["id"]


#: figures read off the example files (discharge dates, PHQ-9 / GAD-7 totals, item 9 and
#: C-SSRS answers, check-ins and their statuses, program maximum 20 h / 5 days)
BY_HAND: dict[str, dict[str, float | None]] = {
    "mental-health-iop": {
        # PHQ-9 18 -> 4, GAD-7 15 -> 5; item 9 answered 1 on the first day, sessions follow;
        # three check-ins due 30, 91, 182 days after discharge, all still scheduled
        "iop-phq9-reliable-improvement": 1.0, "iop-phq9-reliable-deterioration": 0.0,
        "iop-gad7-reliable-improvement": 1.0, "iop-safety-positive": 1.0,
        "iop-safety-followup": 1.0, "iop-checkins-kept": 0.0,
        "iop-intensity-weeks-over": 0.0, "iop-promis10-change": None,
    },
    "co-occurring-sud-iop": {
        # PHQ-9 13 -> 5; C-SSRS question 1 yes (low risk) at intake; four check-ins due 14-182
        # days after discharge, none kept yet; no GAD-7
        "iop-phq9-reliable-improvement": 1.0, "iop-gad7-reliable-improvement": None,
        "iop-safety-positive": 1.0, "iop-safety-followup": 1.0, "iop-checkins-kept": 0.0,
        "iop-intensity-weeks-over": 0.0, "iop-whodas12-change": None,
    },
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BY_HAND))
def test_examples(name: str, tmp_path: Path, duckdb_engine: Any) -> None:
    resources = example_resources(tmp_path, name)
    with Source.from_resources(resources) as source:
        outcomes = compute(source, duckdb_engine, measure_ids=NEW)
    ref = reference.compute(resources)
    for measure_id, score in BY_HAND[name].items():
        assert outcomes.summary(measure_id).overall.score == score, measure_id
    for measure_id in NEW:  # the reference leaves out a measure with no subject
        expected = ref.get(measure_id, {"score": None})["score"]
        assert outcomes.summary(measure_id).overall.score == expected, measure_id
    checkins = outcomes.summary("iop-checkins-kept").overall.populations
    assert checkins["denominator"] == (3 if name == "mental-health-iop" else 4)


@pytest.fixture(scope="module")
def synth_nd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_ndjson(tmp_path_factory.mktemp("synth"), 300, 5)


def test_synthetic_cohort_duckdb_spark_and_python_agree(
    synth_nd: Path, duckdb_engine: Any, spark_engine: Any
) -> None:
    with Source.from_path(synth_nd) as source:
        on_duckdb = compute(source, duckdb_engine, measure_ids=NEW)
        on_spark = compute(source, spark_engine, measure_ids=NEW)
    assert summary_rows(on_spark) == summary_rows(on_duckdb)
    assert report_bundle(on_spark, individual=True) == report_bundle(on_duckdb, individual=True)
    resources = [
        orjson.loads(line)
        for path in sorted(synth_nd.glob("*.ndjson"))
        for line in path.read_bytes().splitlines()
    ]
    ref = reference.compute(resources)
    for measure_id in NEW:
        overall = on_duckdb.summary(measure_id).overall
        assert overall.score == ref[measure_id]["score"], measure_id
        assert overall.populations["initial-population"] > 0, measure_id
