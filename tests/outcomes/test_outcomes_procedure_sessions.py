"""Sessions an EHR records as Encounters typed by their procedure code only (CPT
psychotherapy codes, HCPCS G0410), with no iopfhir session kind and no Appointment: each
is a session of the one kind its code stands for, as the import reads it. Attended and
cancelled ones count in attendance; a family session without the patient (CPT 90846)
counts in neither attendance nor the patient's hours. DuckDB, Spark and the plain loop
agree, and the figures are the hand-computed ones."""

from __future__ import annotations

from typing import Any

import pytest
from tests.outcomes.cohort import _episode, _patient
from tests.outcomes.figures import overall_agrees

from iopfhir.outcomes import compute
from iopfhir.views import Source

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def _visit(
    vid: str, day: str, hours: int, system: str, code: str, status: str = "finished"
) -> dict[str, Any]:
    """An EHR's Encounter of patient A in episode EA, typed by its procedure code only."""
    return {
        "resourceType": "Encounter",
        "id": vid,
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"system": system, "code": code}], "text": "therapy"}],
        "subject": {"reference": "Patient/A"},
        "episodeOfCare": [{"reference": "EpisodeOfCare/EA"}],
        "period": {"start": f"{day}T09:00:00-05:00", "end": f"{day}T{9 + hours:02d}:00:00-05:00"},
    }


def cohort() -> list[dict[str, Any]]:
    # 2025-03-03 (a Monday) to 2025-03-30: four whole weeks
    episode = _episode("EA", "A", "mental-health", "2025-03-03", "2025-03-30", "completed",
                       None, True)  # fmt: skip
    return [
        _patient("A", "female", "1990-01-01"),
        episode,
        *(_visit(f"g{d}", f"2025-03-0{d}", 3, CPT, "90853") for d in (3, 4, 5)),  # group
        _visit("i1", "2025-03-11", 1, CPT, "90834"),  # individual
        _visit("g9", "2025-03-12", 3, CPT, "90853", status="cancelled"),
        _visit("f1", "2025-03-13", 1, CPT, "90846"),  # family therapy without the patient
        _visit("h1", "2025-03-18", 2, HCPCS, "G0410"),  # group psychotherapy (HCPCS)
    ]


@pytest.mark.parametrize("engine_name", ["duckdb_engine", "spark_engine"])
def test_procedure_typed_encounters_are_sessions(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine = request.getfixturevalue(engine_name)
    with Source.from_resources(cohort()) as source:
        outcomes = compute(source, engine)
    attendance = outcomes.summary("iop-attendance").overall
    # settled: five finished sessions and one cancelled; 90846 is no session of the patient
    assert attendance.populations["denominator"] == 6
    assert attendance.populations["numerator"] == 5
    assert outcomes.summary("iop-cancellation").overall.populations["numerator"] == 1
    # 9 + 1 + 2 hours attended over four whole weeks (the family session without the
    # patient is none of their hours)
    assert outcomes.summary("iop-intensity-hours").overall.score == 3.0


def test_the_plain_loop_agrees(duckdb_engine: Any) -> None:
    ref = overall_agrees(cohort(), duckdb_engine)
    assert ref["iop-attendance"]["populations"]["numerator"] == 5
