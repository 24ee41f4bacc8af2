"""Sessions an EHR types where R4 allows beside ``Encounter.type``: an Appointment's service
type (0..*, any of them, not only the first) or appointment type, an Encounter's service
type, by iopfhir's session kind or by a procedure code of one kind (CPT psychotherapy). Each
is a session of that kind, as the import reads it; a kind without the patient (CPT 90846)
is none of the patient's sessions nor hours; an Appointment of an unknown service is no
session. DuckDB, Spark and the plain loop agree with the hand-computed figures."""

from __future__ import annotations

from typing import Any

import pytest
from tests.outcomes.cohort import _episode, _patient
from tests.outcomes.figures import overall_agrees

from iopfhir.outcomes import compute
from iopfhir.views import Source

CPT = "http://www.ama-assn.org/go/cpt"
SESSION_KIND = "https://iopfhir.org/fhir/CodeSystem/session-kind"
SNOMED = "http://snomed.info/sct"


def _concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _appointment(aid: str, day: str, status: str, **types: Any) -> dict[str, Any]:
    """Patient B's Appointment on ``day`` (09:00-12:00), typed by ``types``
    (``serviceType`` / ``appointmentType``) only."""
    return {
        "resourceType": "Appointment",
        "id": aid,
        "status": status,
        **types,
        "start": f"{day}T09:00:00-05:00",
        "end": f"{day}T12:00:00-05:00",
        "participant": [{"actor": {"reference": "Patient/B"}, "status": "accepted"}],
    }


def _encounter(
    vid: str, day: str, hours: int, service: dict[str, Any] | None, appointment: str | None = None
) -> dict[str, Any]:
    """Patient B's finished Encounter in episode EB, typed by its service type only (a
    single CodeableConcept in R4) and by a type of no session kind."""
    r: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": vid,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"text": "behavioral health visit"}],
        "subject": {"reference": "Patient/B"},
        "episodeOfCare": [{"reference": "EpisodeOfCare/EB"}],
        "period": {"start": f"{day}T09:00:00-05:00", "end": f"{day}T{9 + hours:02d}:00:00-05:00"},
    }
    if service is not None:
        r["serviceType"] = service
    if appointment is not None:
        r["appointment"] = [{"reference": f"Appointment/{appointment}"}]
    return r


def cohort() -> list[dict[str, Any]]:
    # 2025-03-03 (a Monday) to 2025-03-30: four whole weeks
    episode = _episode("EB", "B", "mental-health", "2025-03-03", "2025-03-30", "completed",
                       None, True)  # fmt: skip
    return [
        _patient("B", "male", "1985-06-01"),
        episode,
        # a session: group therapy by its CPT code in the service type, attended
        _appointment("a1", "2025-03-03", "fulfilled", serviceType=[_concept(CPT, "90853")]),
        # a session: individual therapy by its CPT code in the appointment type, missed
        _appointment("a2", "2025-03-05", "noshow", appointmentType=_concept(CPT, "90834")),
        # a session: iopfhir's kind in the second service type (the first is a local one)
        _appointment(
            "a3",
            "2025-03-07",
            "cancelled",
            serviceType=[
                _concept("urn:oid:2.16.840.1.113883.3.9999", "GRP"),
                _concept(SESSION_KIND, "group-therapy"),
            ],
        ),
        # none of the patient's: family therapy without the patient
        _appointment("a4", "2025-03-10", "fulfilled", serviceType=[_concept(CPT, "90846")]),
        # a session booked, then held: its Encounter (no kind of its own) settles it
        _appointment("a5", "2025-03-12", "booked", serviceType=[_concept(CPT, "90853")]),
        _encounter("e5", "2025-03-12", 3, None, appointment="a5"),
        # a session recorded as an Encounter only, individual therapy in its service type
        _encounter("e6", "2025-03-17", 1, _concept(CPT, "90837")),
        # none of the patient's sessions nor hours: family therapy without the patient
        _encounter("e7", "2025-03-19", 1, _concept(CPT, "90846")),
        # no session: a service of no session kind (SNOMED psychiatry service)
        _appointment("a8", "2025-03-20", "fulfilled", serviceType=[_concept(SNOMED, "722165004")]),
    ]


@pytest.mark.parametrize("engine_name", ["duckdb_engine", "spark_engine"])
def test_sessions_typed_by_service_or_appointment_type(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine = request.getfixturevalue(engine_name)
    with Source.from_resources(cohort()) as source:
        outcomes = compute(source, engine)
    attendance = outcomes.summary("iop-attendance").overall.populations
    # settled: a1 attended, a2 missed, a3 cancelled, a5 attended (by e5), e6 attended
    assert (attendance["denominator"], attendance["numerator"]) == (5, 3)
    assert outcomes.summary("iop-no-show").overall.populations["numerator"] == 1
    assert outcomes.summary("iop-cancellation").overall.populations["numerator"] == 1
    # a1 3 h (an Appointment no Encounter records) + e5 3 h + e6 1 h over four whole
    # weeks; e7 (without the patient) is none of the hours
    assert outcomes.summary("iop-intensity-hours").overall.score == 1.75


def test_the_plain_loop_agrees(duckdb_engine: Any) -> None:
    ref = overall_agrees(cohort(), duckdb_engine)
    assert ref["iop-attendance"]["populations"]["denominator"] == 5
