"""The hours of sessions an EHR records only as Appointments (fulfilled, no Encounter): each
attended session counts once in intensity, however it was recorded, as in attendance; an
Appointment without an end lasts its ``minutesDuration``, as the import reads it. One an
Encounter records gives the Encounter's hours only. DuckDB, Spark and the plain loop agree
with the hand-computed figures."""

from __future__ import annotations

from typing import Any

import pytest
from tests.outcomes.cohort import _episode, _patient
from tests.outcomes.figures import overall_agrees, with_weekly_hours

SESSION_KIND = "https://iopfhir.org/fhir/CodeSystem/session-kind"
CPT = "http://www.ama-assn.org/go/cpt"


def _appointment(
    aid: str, day: str, status: str, kind: dict[str, Any], *, end: str | None = "12:00",
    minutes: int | None = None, patient_status: str = "accepted",
) -> dict[str, Any]:  # fmt: skip
    """Patient F's session Appointment on ``day`` from 09:00, typed by ``kind`` (a
    CodeableConcept) as its service type."""
    r: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": aid,
        "status": status,
        "serviceType": [kind],
        "start": f"{day}T09:00:00Z",
        "participant": [{"actor": {"reference": "Patient/F"}, "status": patient_status}],
    }
    if end is not None:
        r["end"] = f"{day}T{end}:00Z"
    if minutes is not None:
        r["minutesDuration"] = minutes
    return r


def _kind(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


GROUP = _kind(SESSION_KIND, "group-therapy")


def cohort() -> list[dict[str, Any]]:
    # 2025-03-03 (a Monday) to 2025-03-30: four whole weeks
    episode = _episode("EF", "F", "mental-health", "2025-03-03", "2025-03-30", "completed",
                       None, True)  # fmt: skip
    recorded = {
        "resourceType": "Encounter",
        "id": "e3",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [GROUP],
        "subject": {"reference": "Patient/F"},
        "episodeOfCare": [{"reference": "EpisodeOfCare/EF"}],
        "appointment": [{"reference": "Appointment/a3"}],
        "period": {"start": "2025-03-05T09:00:00Z", "end": "2025-03-05T11:00:00Z"},
    }
    return [
        _patient("F", "male", "1968-12-01"),
        episode,
        _appointment("a1", "2025-03-03", "fulfilled", GROUP),  # 180 minutes
        # by its CPT code, no end: its minutesDuration
        _appointment("a2", "2025-03-04", "fulfilled", _kind(CPT, "90834"), end=None, minutes=60),
        _appointment("a3", "2025-03-05", "fulfilled", GROUP),  # e3 records it: e3's 120
        recorded,
        _appointment("a4", "2025-03-06", "noshow", GROUP),  # missed: no hours
        _appointment("a5", "2025-03-07", "fulfilled", _kind(CPT, "90846")),  # without F
        _appointment("a6", "2025-03-10", "fulfilled", GROUP, patient_status="declined"),
    ]


@pytest.mark.parametrize("engine_name", ["duckdb_engine", "spark_engine"])
def test_appointment_only_sessions_give_their_hours(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine = request.getfixturevalue(engine_name)
    outcomes, weeks = with_weekly_hours(cohort(), engine)
    # 180 + 60 + 120 minutes: 6 hours over four whole weeks
    assert outcomes.summary("iop-intensity-hours").overall.score == 1.5
    assert weeks == {0: 6.0}
    attendance = outcomes.summary("iop-attendance").overall.populations
    assert (attendance["denominator"], attendance["numerator"]) == (4, 3)


def test_the_plain_loop_agrees(duckdb_engine: Any) -> None:
    ref = overall_agrees(cohort(), duckdb_engine)
    assert ref["iop-intensity-hours"]["score"] == 1.5
