"""Domain rules that keep domain → FHIR → domain lossless (MAPPING.md, "Domain rules for a
lossless mapping"): each broken rule is an EpisodeInputError naming its JSON path; each
normalisation gives the value FHIR reads back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from domain_support import error_of
from pydantic import ValidationError

from iopfhir.domain import (
    Activity,
    AftercareAppointment,
    Code,
    Diagnosis,
    Episode,
    Identifier,
    Patient,
    Practitioner,
    Session,
    TeamMember,
    parse_episodes,
)

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
FOREIGN = Code(system="http://snomed.info/sct", code="12345")


# -- sessions ---------------------------------------------------------------------------


def test_attended_session_without_actual_times_took_place_as_planned() -> None:
    s = Session(key="s", status="attended", start=T0, end=T0 + timedelta(hours=3))
    assert (s.actual_start, s.actual_end) == (s.start, s.end)
    assert s.delivered_minutes == 180


def test_attended_session_keeps_recorded_actual_times() -> None:
    s = Session(
        key="s",
        status="attended",
        start=T0,
        end=T0 + timedelta(hours=3),
        actual_start=T0 + timedelta(minutes=5),
        actual_end=T0 + timedelta(hours=2),
    )
    assert s.actual_start == T0 + timedelta(minutes=5)


@pytest.mark.parametrize("status", ["scheduled", "no-show", "cancelled"])
def test_other_sessions_get_no_actual_times(status: str) -> None:
    s = Session(key="s", status=status, start=T0, end=T0 + timedelta(hours=1))
    assert s.actual_start is None and s.actual_end is None


def test_normalised_session_is_stable_through_a_dump() -> None:
    s = Session(key="s", status="attended", start=T0, end=T0 + timedelta(hours=1))
    assert Session.model_validate(s.model_dump()) == s


def test_session_kind_and_kind_code_exclude_each_other(data: dict[str, Any]) -> None:
    data["sessions"][2]["kind_code"] = {"system": "http://snomed.info/sct", "code": "12345"}
    assert error_of(data).path == "$.sessions[2].kind_code"


def test_cancel_reason_only_on_cancelled_sessions(data: dict[str, Any]) -> None:
    data["sessions"][0]["cancel_reason"] = "Snow"
    assert error_of(data).path == "$.sessions[0].cancel_reason"


def test_facilitator_is_not_an_attendee(data: dict[str, Any]) -> None:
    data["sessions"][8]["attendees"] = ["mother", "th-nguyen"]
    assert error_of(data).path == "$.sessions[8].attendees"


def test_attendee_listed_twice(data: dict[str, Any]) -> None:
    data["sessions"][8]["attendees"] = ["mother", "mother"]
    assert error_of(data).path == "$.sessions[8].attendees"


def test_patient_is_not_an_attendee(data: dict[str, Any]) -> None:
    data["sessions"][8]["attendees"] = ["mother", "patient"]
    assert error_of(data).path == "$.sessions[8].attendees[1]"


def test_facilitator_may_not_be_an_organization(data: dict[str, Any]) -> None:
    data["teams"][0]["members"].append({"member": "lakeside-iop"})
    data["sessions"][4]["facilitator"] = "lakeside-iop"
    error = error_of(data)
    assert error.path == "$.sessions[4].facilitator"
    assert "person" in str(error)


def test_facilitator_must_be_on_the_team(data: dict[str, Any]) -> None:
    data["sessions"][4]["facilitator"] = "dr-okafor"
    assert error_of(data).path == "$.sessions[4].facilitator"


def test_patient_on_the_team_may_facilitate(data: dict[str, Any]) -> None:
    data["teams"][0]["members"].append({"member": "patient"})
    data["sessions"][4]["facilitator"] = "patient"
    (episode,) = parse_episodes(data)
    assert episode.sessions[4].facilitator == "patient"


# -- measures ---------------------------------------------------------------------------


@pytest.mark.parametrize("session", ["w4-wed", "w7-mon"])  # the no-show and the cancelled one
def test_measure_not_linked_to_a_session_without_encounter(
    data: dict[str, Any], session: str
) -> None:
    data["measures"][3]["session"] = session
    error = error_of(data)
    assert error.path == "$.measures[3].session"
    assert "no-show or cancelled" in str(error)


# -- plans ------------------------------------------------------------------------------


def test_aftercare_appointment_end_after_start(data: dict[str, Any]) -> None:
    appt = data["care_plans"][2]["appointments"][1]
    appt["end"] = appt["start"]
    error = error_of(data)
    assert error.path == "$.care_plans[2].appointments[1].end"


def test_aftercare_appointment_without_end_is_fine() -> None:
    appt = AftercareAppointment(key="a", service="psychiatry", start=T0)
    assert appt.end is None
    with pytest.raises(ValidationError):
        AftercareAppointment(key="a", service="psychiatry", start=T0, end=T0 - timedelta(1))


def test_activity_kind_and_kind_code_exclude_each_other(data: dict[str, Any]) -> None:
    data["care_plans"][0]["activities"][0]["kind_code"] = {
        "system": "http://snomed.info/sct",
        "code": "12345",
    }
    assert error_of(data).path == "$.care_plans[0].activities[0].kind_code"
    with pytest.raises(ValidationError):
        Activity(key="a", kind="group-therapy", kind_code=FOREIGN)


# -- people -----------------------------------------------------------------------------


def test_practitioner_role_and_role_code_exclude_each_other(data: dict[str, Any]) -> None:
    data["practitioners"][0]["role_code"] = {"system": "http://snomed.info/sct", "code": "1"}
    assert error_of(data).path == "$.practitioners[0].role_code"
    with pytest.raises(ValidationError):
        Practitioner(key="p", name={"family": "X"}, role="therapist", role_code=FOREIGN)


def test_team_member_role_and_role_code_exclude_each_other(data: dict[str, Any]) -> None:
    data["teams"][0]["members"][0]["role_code"] = {"system": "http://snomed.info/sct", "code": "1"}
    assert error_of(data).path == "$.teams[0].members[0].role_code"
    with pytest.raises(ValidationError):
        TeamMember(member="p", role="therapist", role_code=FOREIGN)


# -- diagnoses and the episode ----------------------------------------------------------


def test_entered_in_error_diagnosis_has_no_clinical_status() -> None:
    dx = Diagnosis(key="d", code=FOREIGN, verification_status="entered-in-error")
    assert dx.clinical_status is None


def test_entered_in_error_diagnosis_with_a_clinical_status(data: dict[str, Any]) -> None:
    data["diagnoses"][1]["verification_status"] = "entered-in-error"
    assert error_of(data).path == "$.diagnoses[1].clinical_status"


def _patient() -> Patient:
    return Patient(identifiers=[Identifier(system="urn:x", value="1")])


def test_episode_of_care_data_implies_a_status() -> None:
    episode = Episode(key="e", patient=_patient(), admission=T0.date())
    assert episode.status == "active"
    discharged = Episode(
        key="e",
        patient=_patient(),
        admission=T0.date(),
        discharge={"date": T0.date(), "disposition": "completed"},
    )
    assert discharged.status == "finished"


def test_episode_without_episode_of_care_data_has_no_status() -> None:
    assert Episode(key="e", patient=_patient()).status is None


def test_given_status_is_kept() -> None:
    assert Episode(key="e", patient=_patient(), admission=T0.date(), status="onhold").status == (
        "onhold"
    )
