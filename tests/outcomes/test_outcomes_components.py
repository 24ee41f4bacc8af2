"""Scores and answers an EHR gives as components of one Observation (a PHQ-9 panel, LOINC
44249-1, with its total and item 9 as components; a GAD-7 panel, 69737-5, with its total),
as R4 allows and as the import reads them: the symptom measures count the totals, the
safety measures the item 9 answers, beside totals given as Observations of their own (a
blood-pressure panel's components are no score). DuckDB, Spark and the plain loop agree
with the hand-computed figures."""

from __future__ import annotations

from typing import Any

import pytest
from tests.outcomes.cohort import _episode, _patient
from tests.outcomes.figures import overall_agrees

from iopfhir.outcomes import compute
from iopfhir.views import Source

LOINC = "http://loinc.org"


def _code(code: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code}]}


def _panel(oid: str, code: str, day: str, *components: dict[str, Any]) -> dict[str, Any]:
    """Patient D's Observation ``code`` on ``day`` with ``components`` and no value."""
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": _code(code),
        "subject": {"reference": "Patient/D"},
        "effectiveDateTime": f"{day}T10:00:00Z",
        "component": list(components),
    }


def _item9(answer: str) -> dict[str, Any]:
    return {"code": _code("44260-8"), "valueCodeableConcept": _code(answer)}


def cohort() -> list[dict[str, Any]]:
    # 2025-03-03 to 2025-03-30
    episode = _episode("ED", "D", "mental-health", "2025-03-03", "2025-03-30", "completed",
                       None, True)  # fmt: skip
    gad7_first = {
        "resourceType": "Observation",
        "id": "gad-1",
        "status": "final",
        "code": _code("70274-6"),
        "subject": {"reference": "Patient/D"},
        "effectiveDateTime": "2025-03-03T10:00:00Z",
        "valueInteger": 12,
    }
    return [
        _patient("D", "male", "1980-05-05"),
        episode,
        # PHQ-9 18, item 9 "more than half the days" (a positive screen)
        _panel("phq-1", "44249-1", "2025-03-03",
               {"code": _code("44261-6"), "valueInteger": 18}, _item9("LA6570-1")),
        # PHQ-9 8 (a Quantity), item 9 "not at all"
        _panel("phq-2", "44249-1", "2025-03-28",
               {"code": _code("44261-6"), "valueQuantity": {"value": 8, "code": "{score}"}},
               _item9("LA6568-5")),
        gad7_first,  # GAD-7 12, an Observation of its own
        _panel("gad-2", "69737-5", "2025-03-28", {"code": _code("70274-6"), "valueInteger": 4}),
        # a blood-pressure panel: its components are no score of any instrument
        _panel("bp-1", "85354-9", "2025-03-10",
               {"code": _code("8480-6"), "valueQuantity": {"value": 128, "code": "mm[Hg]"}}),
        # a visit two days after the positive screen: its follow-up
        {
            "resourceType": "Encounter",
            "id": "v1",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB"},
            "subject": {"reference": "Patient/D"},
            "period": {"start": "2025-03-05T09:00:00Z", "end": "2025-03-05T10:00:00Z"},
        },
    ]  # fmt: skip


def _populations(outcomes: Any, measure_id: str) -> tuple[int, int]:
    p = outcomes.summary(measure_id).overall.populations
    return p.get("denominator", 0), p.get("numerator", 0)


@pytest.mark.parametrize("engine_name", ["duckdb_engine", "spark_engine"])
def test_totals_and_answers_given_as_components(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine = request.getfixturevalue(engine_name)
    with Source.from_resources(cohort()) as source:
        outcomes = compute(source, engine)
    assert outcomes.summary("iop-phq9-baseline").overall.score == 18
    assert outcomes.summary("iop-phq9-last").overall.score == 8
    assert outcomes.summary("iop-phq9-change").overall.score == -10
    assert _populations(outcomes, "iop-phq9-response") == (1, 1)  # 8 <= 18 / 2
    assert _populations(outcomes, "iop-phq9-remission") == (1, 0)  # 8 is not < 5
    assert outcomes.summary("iop-gad7-change").overall.score == -8
    assert _populations(outcomes, "iop-gad7-remission") == (1, 1)  # 4 < 5
    # two screening days (item 9 of each panel), the first positive and followed up
    assert _populations(outcomes, "iop-safety-positive") == (1, 1)
    assert _populations(outcomes, "iop-safety-followup") == (1, 1)


def test_the_plain_loop_agrees(duckdb_engine: Any) -> None:
    ref = overall_agrees(cohort(), duckdb_engine)
    assert ref["iop-phq9-change"]["score"] == -10
    assert ref["iop-safety-positive"]["populations"]["numerator"] == 1


def test_a_panel_is_no_repeat_but_a_panel_given_twice_is(duckdb_engine: Any) -> None:
    """A panel's several component rows are not a resource given twice; the same panel in
    two overlapping exports is, and counts once (the measures read each resource once)."""
    with Source.from_resources(cohort()) as source:
        once = compute(source, duckdb_engine)
    assert once.repeated == 0
    twice = [*cohort(), next(r for r in cohort() if r["id"] == "phq-1")]
    with Source.from_resources(twice) as source:
        outcomes = compute(source, duckdb_engine)
    assert outcomes.repeated == 1
    assert outcomes.summary("iop-phq9-baseline").overall.score == 18
    assert _populations(outcomes, "iop-safety-positive") == (1, 1)
