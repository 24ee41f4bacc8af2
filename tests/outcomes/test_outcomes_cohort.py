"""Every measure on a small cohort written by hand, against figures worked out by hand
(tests/outcomes/cohort.py explains each), on DuckDB; the MeasureReports made from them."""

from __future__ import annotations

from typing import Any

import pytest
from tests.outcomes import reference
from tests.outcomes.cohort import EXPECTED, cohort

from iopfhir.outcomes import (
    OutcomesError,
    compute,
    individual_reports,
    load_measures,
    parse_period,
    report_bundle,
    summary_report,
    summary_rows,
)
from iopfhir.validation import validate
from iopfhir.views import Source


@pytest.fixture(scope="module")
def outcomes(duckdb_engine: Any) -> Any:
    with Source.from_resources(cohort()) as source:
        return compute(source, duckdb_engine)


def test_every_measure_has_a_hand_computed_figure() -> None:
    assert {m.id for m in load_measures()} == set(EXPECTED)


@pytest.mark.parametrize("measure_id", sorted(EXPECTED))
def test_hand_computed(outcomes: Any, measure_id: str) -> None:
    populations, score = EXPECTED[measure_id]
    overall = outcomes.summary(measure_id).overall
    assert overall.populations == {**{k: 0 for k in overall.populations}, **populations}
    assert overall.score == score


def test_plain_python_reference_agrees(outcomes: Any) -> None:
    ref = reference.compute(cohort())
    for measure_id, (populations, score) in EXPECTED.items():
        assert ref[measure_id]["score"] == score, measure_id
        got = {k: v for k, v in ref[measure_id]["populations"].items() if v or k in populations}
        assert got == populations, measure_id


def _strata(outcomes: Any, measure_id: str, name: str) -> dict[str, tuple[int, int, Any]]:
    values = outcomes.summary(measure_id).strata[name]
    return {
        v: (s.populations["denominator"], s.populations["numerator"], s.score)
        for v, s in values.items()
    }


def test_strata(outcomes: Any) -> None:
    assert _strata(outcomes, "iop-phq9-response", "sex") == {
        "female": (2, 1, 0.5), "male": (0, 0, None),
    }  # fmt: skip
    assert _strata(outcomes, "iop-readmission-30", "period") == {
        "2025-Q1": (2, 1, 0.5), "2025-Q2": (1, 0, 0.0),
    }  # fmt: skip
    assert _strata(outcomes, "iop-readmission-90", "referral_source") == {
        "inpatient": (1, 1, 1.0), "php": (1, 1, 1.0), "unknown": (1, 0, 0.0),
    }  # fmt: skip
    assert _strata(outcomes, "iop-readmission-90", "age_band") == {
        "18-25": (1, 0, 0.0), "26-44": (1, 1, 1.0), "65+": (1, 1, 1.0),
    }  # fmt: skip
    assert _strata(outcomes, "iop-attendance", "program_type") == {
        "mental-health": (13, 11, round(11 / 13, 4)), "substance-use": (3, 2, 0.6667),
    }  # fmt: skip
    assert _strata(outcomes, "iop-attendance", "telehealth_band") == {
        "none": (4, 3, 0.75), "under-half": (12, 10, 0.8333),
    }  # fmt: skip


def test_period_keeps_index_dates_inside(duckdb_engine: Any) -> None:
    with Source.from_resources(cohort()) as source:
        o = compute(source, duckdb_engine, period=("2025-04-01", "2025-06-30"))
    assert [r.subject_key for r in o.subjects["iop-readmission-90"]] == ["EpisodeOfCare/EB"]
    assert [r.subject_key for r in o.subjects["iop-inpatient-readmission-30"]] == ["Encounter/sA2"]
    report = summary_report(o, "iop-readmission-90")
    assert report["period"] == {"start": "2025-04-01", "end": "2025-06-30"}


@pytest.mark.parametrize("text", ["2025-01-01", "2025-13-01/2025-12-31", "2025-02-01/2025-01-01"])
def test_bad_period(text: str) -> None:
    with pytest.raises(OutcomesError, match="period"):
        parse_period(text)


def test_individual_report(outcomes: Any) -> None:
    reports = {
        r["subject"]["reference"]: r for r in individual_reports(outcomes, "iop-phq9-response")
    }
    assert set(reports) == {"Patient/A", "Patient/B", "Patient/D"}
    a = reports["Patient/A"]
    assert a["type"] == "individual"
    assert a["measure"] == "https://iopfhir.org/fhir/Measure/iop-phq9-response"
    assert a["evaluatedResource"] == [
        {"reference": "EpisodeOfCare/EA"},
        {"reference": "Observation/a1"},
        {"reference": "Observation/a3"},
    ]
    counts = {p["code"]["coding"][0]["code"]: p["count"] for p in a["group"][0]["population"]}
    assert counts == {"initial-population": 1, "denominator": 1, "numerator": 1}
    assert a["group"][0]["measureScore"] == {"value": 1.0}
    assert "measureScore" not in reports["Patient/B"]["group"][0]  # not in the denominator


def test_reports_validate_against_r4(outcomes: Any) -> None:
    bundle = report_bundle(outcomes, individual=True)
    assert validate(bundle).errors == []
    summary = summary_report(outcomes, "iop-attendance")
    assert summary["type"] == "summary"
    names = [s["code"][0]["text"] for s in summary["group"][0]["stratifier"]]
    assert names == [
        "program_type", "referral_source", "telehealth_band", "age_band", "sex", "period",
    ]  # fmt: skip


def test_deterministic(duckdb_engine: Any, outcomes: Any) -> None:
    with Source.from_resources(list(reversed(cohort()))) as source:
        again = compute(source, duckdb_engine)
    assert report_bundle(again, individual=True) == report_bundle(outcomes, individual=True)
    assert summary_rows(again) == summary_rows(outcomes)


def test_unknown_measure(duckdb_engine: Any) -> None:
    with (
        Source.from_resources(cohort()) as source,
        pytest.raises(OutcomesError, match="no measure"),
    ):
        compute(source, duckdb_engine, measure_ids=["iop-nothing"])
