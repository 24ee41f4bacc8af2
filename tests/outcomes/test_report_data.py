"""The rows behind the outcomes report (``iopfhir.outcomes.report.data``).

A small cohort written here, with what the report must show worked out by hand (dates in
2025; weeks since admission are whole weeks of 7 days, a score before admission is week 0,
the last score of a week stands for it):

* P1: episode E1 03-03 (Mon) .. 03-30 (4 whole weeks), limits 9-20 h a week over 3 days.
  PHQ-9 27 on 02-01 (30 days before: outside the window), 20 on 02-24 (week 0), 18 on 03-04
  (week 0, later: it stands for week 0), 12 on 03-12 (day 9, week 1), 4 on 03-28 (day 25,
  week 3). GAD-7 12 on 03-03 (week 0), 7 on 03-30 (day 27, week 3).
  Sessions: week 0 three kept 3 h sessions (03-03, 03-05, 03-07); week 1 one kept 3 h
  (03-10) and a no-show (03-12); week 2 none; week 3 a kept 2 h (03-24) and a cancelled one
  (03-26). Inpatient admission 04-20: 21 days after discharge.
* P2: episode E2 03-03 .. 04-13 (42 days: 6 whole weeks), no limits. PHQ-9 16 on 03-03
  (week 0), 10 on 03-17 (day 14, week 2), 6 on 04-13 (day 41, week 5). Kept 2 h sessions on
  03-04 (week 0) and 03-11 (week 1). Inpatient admission 06-30: 78 days after discharge.
* P3: episode E3 from 03-17, still active. PHQ-9 15 on 03-17 (week 0).

So: PHQ-9 medians by week 0: 16 (18, 16, 15), 1: 12, 2: 10, 3: 4, 5: 6; attendance by week
0: 4 settled / 4 attended, 1: 3 / 2 (a no-show), 3: 2 / 1 (a cancellation); whole weeks of
E1: 9, 3, 0, 2 h and of E2: 2, 2, 0, 0, 0, 0 h; readmitted within 20 days: 0 of 2, within 21:
1 of 2, within 78: 2 of 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.engines import synth_ndjson as make_synth_ndjson

from iopfhir.outcomes import compute
from iopfhir.outcomes.report import ReportData, report_data
from iopfhir.views import Source

SK = "https://iopfhir.org/fhir/CodeSystem/session-kind"
PHQ, GAD = "44261-6", "70274-6"


def _episode(eid: str, pid: str, start: str, end: str | None, limits: bool) -> dict[str, Any]:
    r: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "id": eid,
        "status": "finished" if end else "active",
        "type": [
            {
                "coding": [
                    {
                        "system": "https://iopfhir.org/fhir/CodeSystem/program-type",
                        "code": "mental-health",
                    }
                ]
            }
        ],
        "patient": {"reference": f"Patient/{pid}"},
        "period": {"start": start, **({"end": end} if end else {})},
    }
    if limits:
        r["extension"] = [
            {
                "url": "https://iopfhir.org/fhir/StructureDefinition/iop-program",
                "extension": [
                    {"url": "minimumHoursPerWeek", "valueDecimal": 9.0},
                    {"url": "minimumDaysPerWeek", "valueInteger": 3},
                    {"url": "maximumHoursPerWeek", "valueDecimal": 20.0},
                    {"url": "maximumDaysPerWeek", "valueInteger": 5},
                ],
            }
        ]
    return r


def _score(oid: str, pid: str, code: str, day: str, value: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": f"{day}T09:00:00-05:00",
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": "{score}"},
    }


def _session(sid: str, pid: str, eid: str, day: str, hours: int, status: str) -> list[Any]:
    start, end = f"{day}T09:00:00-05:00", f"{day}T{9 + hours:02d}:00:00-05:00"
    out: list[dict[str, Any]] = [
        {
            "resourceType": "Appointment",
            "id": f"a-{sid}",
            "status": status,
            "serviceType": [{"coding": [{"system": SK, "code": "group-therapy"}]}],
            "start": start,
            "end": end,
            "participant": [{"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"}],
        }
    ]
    if status == "fulfilled":
        out.append(
            {
                "resourceType": "Encounter",
                "id": f"e-{sid}",
                "status": "finished",
                "class": {"code": "AMB"},
                "type": [{"coding": [{"system": SK, "code": "group-therapy"}]}],
                "subject": {"reference": f"Patient/{pid}"},
                "episodeOfCare": [{"reference": f"EpisodeOfCare/{eid}"}],
                "period": {"start": start, "end": end},
                "appointment": [{"reference": f"Appointment/a-{sid}"}],
            }
        )
    return out


def _stay(sid: str, pid: str, start: str, end: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": sid,
        "status": "finished",
        "class": {"code": "IMP"},
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": start, "end": end},
    }


def cohort() -> list[dict[str, Any]]:
    """The resources of the module docstring's cohort."""
    r: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": p, "gender": "female", "birthDate": "1980-01-01"}
        for p in ("P1", "P2", "P3")
    ]
    r += [
        _episode("E1", "P1", "2025-03-03", "2025-03-30", True),
        _episode("E2", "P2", "2025-03-03", "2025-04-13", False),
        _episode("E3", "P3", "2025-03-17", None, True),
        _score("s0", "P1", PHQ, "2025-02-01", 27),
        _score("s1", "P1", PHQ, "2025-02-24", 20),
        _score("s2", "P1", PHQ, "2025-03-04", 18),
        _score("s3", "P1", PHQ, "2025-03-12", 12),
        _score("s4", "P1", PHQ, "2025-03-28", 4),
        _score("g1", "P1", GAD, "2025-03-03", 12),
        _score("g2", "P1", GAD, "2025-03-30", 7),
        _score("t1", "P2", PHQ, "2025-03-03", 16),
        _score("t2", "P2", PHQ, "2025-03-17", 10),
        _score("t3", "P2", PHQ, "2025-04-13", 6),
        _score("u1", "P3", PHQ, "2025-03-17", 15),
        _stay("i1", "P1", "2025-04-20", "2025-04-25"),
        _stay("i2", "P2", "2025-06-30", "2025-07-03"),
    ]
    for sid, day, hours, status in (
        ("1a", "03", 3, "fulfilled"),
        ("1b", "05", 3, "fulfilled"),
        ("1c", "07", 3, "fulfilled"),
        ("1d", "10", 3, "fulfilled"),
        ("1e", "12", 3, "noshow"),
        ("1f", "24", 2, "fulfilled"),
        ("1g", "26", 2, "cancelled"),
    ):
        r += _session(sid, "P1", "E1", f"2025-03-{day}", hours, status)
    r += _session("2a", "P2", "E2", "2025-03-04", 2, "fulfilled")
    r += _session("2b", "P2", "E2", "2025-03-11", 2, "fulfilled")
    return r


@pytest.fixture(scope="module")
def synth_ndjson(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``iopfhir synth --patients 60 --seed 3``, converted to NDJSON."""
    return make_synth_ndjson(tmp_path_factory.mktemp("synth"), 60, 3)


@pytest.fixture(scope="module")
def hand(duckdb_engine: Any) -> Iterator[tuple[Any, ReportData]]:
    with Source.from_resources(cohort()) as source:
        outcomes = compute(source, duckdb_engine)
        yield outcomes, report_data(source, duckdb_engine, outcomes)


def _points(data: ReportData, inst: str) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for p in data.scores:
        if p.instrument == inst:
            out.setdefault(p.episode_key, []).append((p.week, p.score))
    return out


def test_trajectories_by_week_since_admission(hand: tuple[Any, ReportData]) -> None:
    _, data = hand
    assert _points(data, "phq-9") == {
        "EpisodeOfCare/E1": [(0, 18.0), (1, 12.0), (3, 4.0)],
        "EpisodeOfCare/E2": [(0, 16.0), (2, 10.0), (5, 6.0)],
        "EpisodeOfCare/E3": [(0, 15.0)],
    }
    assert _points(data, "gad-7") == {"EpisodeOfCare/E1": [(0, 12.0), (3, 7.0)]}
    assert data.median_trajectory("phq-9") == [
        (0, 16.0, 3),
        (1, 12.0, 1),
        (2, 10.0, 1),
        (3, 4.0, 1),
        (5, 6.0, 1),
    ]
    assert data.instruments() == ["phq-9", "gad-7"]


def test_trajectory_ends_agree_with_the_measures(hand: tuple[Any, ReportData]) -> None:
    # the last point of each episode is the score the PHQ-9 "last" measure reads
    outcomes, data = hand
    last = {
        r.subject_key: r.observation for r in outcomes.subjects["iop-phq9-last"] if r.observation
    }
    ends = {k: v[-1][1] for k, v in _points(data, "phq-9").items()}
    assert last and all(ends[k] == v for k, v in last.items())


def test_attendance_and_hours_by_program_week(hand: tuple[Any, ReportData]) -> None:
    _, data = hand
    assert data.attendance_by_week() == [(0, 4, 4, 0, 0), (1, 3, 2, 1, 0), (3, 2, 1, 0, 1)]
    whole = {(r.episode_key, r.week): r.hours for r in data.whole_weeks()}
    assert whole == {
        **{("EpisodeOfCare/E1", w): h for w, h in enumerate([9.0, 3.0, 0.0, 2.0])},
        **{("EpisodeOfCare/E2", w): h for w, h in enumerate([2.0, 2.0, 0.0, 0.0, 0.0, 0.0])},
    }
    e1 = next(e for e in data.episodes if e.episode_key == "EpisodeOfCare/E1")
    assert (e1.min_hours_per_week, e1.max_hours_per_week, e1.weeks_full) == (9.0, 20.0, 4)


def test_readmission_curve(hand: tuple[Any, ReportData]) -> None:
    outcomes, data = hand
    curve = {day: (share, n, d) for day, share, n, d in data.readmission_curve()}
    assert curve[20] == (0.0, 0, 2)
    assert curve[21] == (0.5, 1, 2)
    assert curve[77] == (0.5, 1, 2)
    assert curve[78] == (1.0, 2, 2)
    for days in (30, 90):
        assert curve[days][0] == outcomes.summary(f"iop-readmission-{days}").overall.score


def test_period_keeps_the_episodes_of_the_measures(duckdb_engine: Any) -> None:
    with Source.from_resources(cohort()) as source:
        outcomes = compute(source, duckdb_engine, period=("2025-03-01", "2025-03-31"))
        data = report_data(source, duckdb_engine, outcomes)
    # E1 is discharged in March, E3 admitted in March (no discharge); E2 ends in April
    assert [e.episode_key for e in data.episodes] == ["EpisodeOfCare/E1", "EpisodeOfCare/E3"]
    assert {p.episode_key for p in data.scores} == {"EpisodeOfCare/E1", "EpisodeOfCare/E3"}


def test_synthetic_cohort_agrees_with_the_measures(duckdb_engine: Any, synth_ndjson: Path) -> None:
    """Attendance, intensity and readmission summed from the report's rows equal the
    measures computed in SQL (read from ``compute``, not written here)."""
    with Source.from_path(synth_ndjson) as source:
        outcomes = compute(source, duckdb_engine)
        data = report_data(source, duckdb_engine, outcomes)
    att = outcomes.summary("iop-attendance").overall.populations
    weeks = data.attendance_by_week()
    assert sum(w[1] for w in weeks) == att["denominator"]
    assert sum(w[2] for w in weeks) == att["numerator"]
    inten = outcomes.summary("iop-intensity-weeks").overall.populations
    limits = {e.episode_key: e for e in data.episodes if e.min_hours_per_week is not None}
    whole = [r for r in data.whole_weeks() if r.episode_key in limits]
    assert len(whole) == inten["denominator"]
    curve = {day: share for day, share, _, _ in data.readmission_curve()}
    for days in (30, 90):
        assert curve[days] == outcomes.summary(f"iop-readmission-{days}").overall.score
    lines = (synth_ndjson / "EpisodeOfCare.ndjson").read_text().splitlines()
    assert len(data.episodes) == len(lines) == 60


def test_spark_gives_the_same_rows(spark_engine: Any, hand: tuple[Any, ReportData]) -> None:
    outcomes, data = hand
    with Source.from_resources(cohort()) as source:
        spark = report_data(source, spark_engine, outcomes)
    assert spark.episodes == data.episodes
    assert spark.scores == data.scores
    assert spark.weeks == data.weeks
