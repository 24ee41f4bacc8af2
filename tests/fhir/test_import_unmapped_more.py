"""More of what the import dropped in silence, now counted under ``unmapped`` (or kept),
and the practitioners' order of iopfhir's own output read back.

- ``EpisodeOfCare.referralRequest`` after the first: the Episode holds one referral.
- ``EpisodeOfCare.type`` concepts and codings other than the program type (the program
  type written twice is no other one); a program type read from an IOP billing code
  (HCPCS per diem, NUBC revenue code), iopfhir's coding written in its place.
- An Appointment actor that is a Location (kept as a location of a session with an
  Encounter, counted without one), a HealthcareService, a Device or another patient.
- The cheap ones found on the way: ``CareTeam.managingOrganization`` after the first,
  ``CarePlan.activity.detail.scheduledTiming.repeat.timeOfDay`` after the first.
- iopfhir writes a practitioner who works in several episodes once (where the first has
  them) but a PractitionerRole per episode in the episode's order: read back, each
  episode lists its practitioners in its own order, in both readers.

Every hand-built case is read by ``read_fhir`` and by ``read_fhir_streamed``, from NDJSON
and from a Bundle; the two must give the same episodes and counts.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.fhir.both_readers import FORMS, read_both, unmapped_delta

from iopfhir.cli import main
from iopfhir.domain import AftercarePlan, Episode, TreatmentPlan, load_episodes
from iopfhir.fhir.conventions import EXT
from iopfhir.fhir.read import ImportResult, read_fhir, read_fhir_stream
from iopfhir.terminology import code_system_url

PATIENT_REF = {"reference": "Patient/pt"}
PROGRAM = {"system": code_system_url("program-type"), "code": "substance-use"}
SNOMED = "http://snomed.info/sct"


def _patient() -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "pt", "birthDate": "1980-05-05"}


def _eoc(**more: Any) -> dict[str, Any]:
    return {
        "resourceType": "EpisodeOfCare",
        "id": "eoc",
        "status": "active",
        "patient": PATIENT_REF,
        "period": {"start": "2026-01-10"},
        **more,
    }


def _request(rid: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": "completed",
        "intent": "order",
        "subject": PATIENT_REF,
        "authoredOn": "2026-01-05",
    }


# -- 1. EpisodeOfCare.referralRequest after the first ------------------------------------


@FORMS
def test_referral_requests_after_the_first_are_counted(tmp_path: Path, form: str) -> None:
    requests = [_request("sr1"), _request("sr2")]
    first = [{"reference": "ServiceRequest/sr1"}]
    more = [
        *first,
        {"reference": "ServiceRequest/sr2"},  # a second referral: read as another request
        {"reference": "ServiceRequest/sr1"},  # the referral again: no other one
        {"display": "a third, by phone"},  # names nothing
    ]
    added, result, plain = unmapped_delta(
        [_patient(), *requests, _eoc(referralRequest=first)],
        [_patient(), *requests, _eoc(referralRequest=more)],
        tmp_path,
        form,
    )
    assert added == Counter(
        {
            "EpisodeOfCare.referralRequest: after the first (not the episode's referral; "
            "its ServiceRequest read on its own)": 1,
            "EpisodeOfCare.referralRequest: a further one, not a ServiceRequest of the input "
            "(dropped)": 1,
        }
    )
    episode = result.episodes[0]
    assert episode.referral is not None and episode.referral.key == "sr1"
    assert [r.key for r in episode.requests] == ["sr2"]
    assert result.episodes == plain.episodes


# -- 2. EpisodeOfCare.type other than the program type -----------------------------------


@FORMS
def test_types_other_than_the_program_type_are_counted(tmp_path: Path, form: str) -> None:
    ours = [{"coding": [PROGRAM]}]
    more = [
        {"coding": [PROGRAM, {"system": SNOMED, "code": "1234567"}]},  # a coding more
        {"coding": [PROGRAM]},  # the program type written again: no other
        {"coding": [{"system": SNOMED, "code": "7654321"}, {"system": SNOMED, "code": "7"}]},
        {"text": "intensive outpatient"},  # a concept without codings
    ]
    added, result, plain = unmapped_delta(
        [_patient(), _eoc(type=ours)], [_patient(), _eoc(type=more)], tmp_path, form
    )
    assert added == Counter(
        {
            "EpisodeOfCare.type.coding: not the program type (dropped)": 1,
            "EpisodeOfCare.type: not the program type (dropped)": 2,
        }
    )
    program = result.episodes[0].program
    assert program is not None and program.type == "substance-use"
    assert result.episodes == plain.episodes


@FORMS
def test_every_type_of_an_episode_without_a_program_type_is_counted(
    tmp_path: Path, form: str
) -> None:
    other = [{"coding": [{"system": SNOMED, "code": "1"}]}, {"coding": [{"code": "x"}]}]
    added, _result, _plain = unmapped_delta(
        [_patient(), _eoc()], [_patient(), _eoc(type=other)], tmp_path, form
    )
    assert added == Counter({"EpisodeOfCare.type: not a program type (dropped)": 2})


HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
NUBC = "https://www.nubc.org/CodeSystem/RevenueCodes"


@FORMS
@pytest.mark.parametrize(
    ("coding", "program_type"),
    [
        ({"system": HCPCS, "code": "H0015"}, "substance-use"),  # SUD IOP per diem
        ({"system": HCPCS, "code": "S9480"}, "mental-health"),  # psychiatric IOP per diem
        ({"system": NUBC, "code": "0906"}, "substance-use"),  # revenue code: chem. dep. IOP
        ({"system": NUBC, "code": "0905"}, "mental-health"),  # revenue code: psych. IOP
    ],
)
def test_an_episode_typed_by_an_iop_billing_code_is_of_its_program_type(
    tmp_path: Path, form: str, coding: dict[str, str], program_type: str
) -> None:
    """An EHR or a payer types an IOP episode by its billing code: the program is of the
    type the code names; iopfhir's coding is written in its place (counted), and what
    else the type holds is counted as beside any program type."""
    other = {"system": SNOMED, "code": "1234567"}
    added, result, plain = unmapped_delta(
        [_patient(), _eoc()],
        [_patient(), _eoc(type=[{"coding": [other, coding]}, {"coding": [coding]}])],
        tmp_path,
        form,
    )
    assert added == Counter(
        {
            "EpisodeOfCare.type.coding: an IOP billing code read as the program type "
            "(written as iopfhir's)": 1,
            "EpisodeOfCare.type.coding: not the program type (dropped)": 1,
        }
    )
    program = result.episodes[0].program
    assert program is not None and program.type == program_type
    assert plain.episodes[0].program is None
    # a billing code of no IOP (T1017, case management) names no program
    _, other_result, _ = unmapped_delta(
        [_patient(), _eoc()],
        [_patient(), _eoc(type=[{"coding": [{"system": HCPCS, "code": "T1017"}]}])],
        tmp_path / "other",
        form,
    )
    assert other_result.episodes[0].program is None


# -- 3. Appointment actors that are no person --------------------------------------------


def _appointment(status: str, actors: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": "a1",
        "status": status,
        "start": "2026-02-02T10:00:00Z",
        "end": "2026-02-02T11:00:00Z",
        "participant": [
            {"actor": PATIENT_REF, "status": "accepted"},
            *({"actor": a, "status": "accepted"} for a in actors),
        ],
    }


def _encounter() -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": PATIENT_REF,
        "appointment": [{"reference": "Appointment/a1"}],
        "period": {"start": "2026-02-02T10:00:00Z", "end": "2026-02-02T11:00:00Z"},
    }


PLACES: list[dict[str, Any]] = [
    {"resourceType": "Location", "id": "room", "name": "Group room", "status": "active"},
    {"resourceType": "HealthcareService", "id": "hs", "active": True},
    {"resourceType": "Device", "id": "dev", "status": "active"},
    {"resourceType": "Patient", "id": "other", "birthDate": "1990-01-01"},
]
ACTORS = [
    {"reference": "Location/room"},
    {"reference": "HealthcareService/hs"},
    {"reference": "Device/dev"},
    {"reference": "Patient/other"},
]


@FORMS
def test_appointment_actors_of_a_session_without_an_encounter(tmp_path: Path, form: str) -> None:
    people = [_patient(), _eoc(), *PLACES]
    added, result, plain = unmapped_delta(
        [*people, _appointment("booked", [])],
        [*people, _appointment("booked", ACTORS)],
        tmp_path,
        form,
    )
    assert added == Counter(
        {
            "Appointment.participant.actor: a Location of a session without an Encounter "
            "(dropped)": 1,
            "Appointment.participant.actor: a HealthcareService (dropped)": 1,
            "Appointment.participant.actor: a Device (dropped)": 1,
            "Appointment.participant.actor: a patient other than the episode's (dropped)": 1,
        }
    )
    assert len(result.episodes[0].sessions) == 1  # (the other patient: an episode too)
    assert result.episodes == plain.episodes  # none of them was kept


@FORMS
def test_a_location_actor_of_a_session_with_an_encounter_is_kept(tmp_path: Path, form: str) -> None:
    people = [_patient(), _eoc(), *PLACES]
    added, result, _plain = unmapped_delta(
        [*people, _appointment("booked", []), _encounter()],
        [*people, _appointment("booked", ACTORS), _encounter()],
        tmp_path,
        form,
    )
    assert added == Counter(
        {
            "Appointment.participant.actor: a HealthcareService (dropped)": 1,
            "Appointment.participant.actor: a Device (dropped)": 1,
            "Appointment.participant.actor: a patient other than the episode's (dropped)": 1,
        }
    )
    episode = result.episodes[0]
    (session,) = episode.sessions
    assert session.status == "attended" and session.locations == ["room"]
    assert [p.key for p in episode.locations] == ["room"]


# -- 4. the cheap ones found on the way --------------------------------------------------


@FORMS
def test_care_team_organizations_after_the_first_are_counted(tmp_path: Path, form: str) -> None:
    orgs = [
        {"resourceType": "Organization", "id": "o1", "name": "Clinic"},
        {"resourceType": "Organization", "id": "o2", "name": "Hospital"},
    ]
    member = {"resourceType": "Practitioner", "id": "dr", "name": [{"family": "Lee"}]}

    def team(*refs: str) -> dict[str, Any]:
        return {
            "resourceType": "CareTeam",
            "id": "ct",
            "status": "active",
            "subject": PATIENT_REF,
            "participant": [{"member": {"reference": "Practitioner/dr"}}],
            "managingOrganization": [{"reference": r} for r in refs],
        }

    base = [_patient(), _eoc(), *orgs, member]
    added, result, _plain = unmapped_delta(
        [*base, team("Organization/o1")],
        [*base, team("Organization/o1", "Organization/o2", "Organization/o1")],
        tmp_path,
        form,
    )
    assert added == Counter({"CareTeam.managingOrganization: after the first (dropped)": 1})
    assert result.episodes[0].teams[0].organization == "o1"


@FORMS
def test_times_of_day_after_the_first_are_counted(tmp_path: Path, form: str) -> None:
    def plan(*times: str) -> dict[str, Any]:
        repeat = {"duration": 60, "durationUnit": "min", "dayOfWeek": ["mon"]}
        return {
            "resourceType": "CarePlan",
            "id": "cp",
            "status": "active",
            "intent": "plan",
            "subject": PATIENT_REF,
            "activity": [
                {
                    "detail": {
                        "status": "scheduled",
                        "description": "group therapy",
                        "scheduledTiming": {"repeat": {**repeat, "timeOfDay": list(times)}},
                    }
                }
            ],
        }

    added, result, _plain = unmapped_delta(
        [_patient(), _eoc(), plan("09:00:00")],
        [_patient(), _eoc(), plan("09:00:00", "14:00:00")],
        tmp_path,
        form,
    )
    assert added == Counter(
        {"CarePlan.activity.detail.scheduledTiming.repeat.timeOfDay: after the first (dropped)": 1}
    )
    plan = result.episodes[0].care_plans[0]
    assert isinstance(plan, TreatmentPlan)
    (activity,) = plan.activities
    assert activity.schedule is not None and str(activity.schedule.start_time) == "09:00:00"


def _aftercare(request_refs: list[str], check_in_performers: list[str]) -> dict[str, Any]:
    kind = {"coding": [{"system": code_system_url("care-plan-kind"), "code": "aftercare"}]}
    check_in = {
        "code": {"coding": [{"system": code_system_url("check-in"), "code": "phone"}]},
        "status": "scheduled",
        "scheduledPeriod": {"start": "2026-04-01"},
        "performer": [{"reference": r} for r in check_in_performers],
    }
    return {
        "resourceType": "CarePlan",
        "id": "after",
        "status": "active",
        "intent": "plan",
        "category": [kind],
        "subject": PATIENT_REF,
        "activity": [
            *({"reference": {"reference": r}} for r in request_refs),
            {"detail": check_in},
        ],
    }


@FORMS
def test_what_an_aftercare_plan_holds_one_of_is_counted(tmp_path: Path, form: str) -> None:
    people: list[dict[str, Any]] = [
        {"resourceType": "Organization", "id": "o1", "name": "Clinic"},
        {"resourceType": "Organization", "id": "o2", "name": "Other clinic"},
        {"resourceType": "Practitioner", "id": "dr", "name": [{"family": "Lee"}]},
        {"resourceType": "Practitioner", "id": "dr2", "name": [{"family": "Kim"}]},
    ]

    def referral(*performers: str, reasons: int = 1) -> dict[str, Any]:
        return {
            **_request("aft"),
            "performer": [{"reference": r} for r in performers],
            "reasonCode": [{"text": f"reason {n}"} for n in range(reasons)],
        }

    base = [_patient(), _eoc(), *people]
    added, result, _plain = unmapped_delta(
        [
            *base,
            referral("Organization/o1", "Practitioner/dr"),
            _aftercare(["ServiceRequest/aft"], ["Practitioner/dr"]),
        ],
        [
            *base,
            referral(
                "Organization/o1",
                "Practitioner/dr",
                "Organization/o2",
                "Practitioner/dr2",
                reasons=3,
            ),
            _aftercare(["ServiceRequest/aft"], ["Practitioner/dr", "Practitioner/dr2"]),
        ],
        tmp_path,
        form,
    )
    assert added == Counter(
        {
            "ServiceRequest.performer: of an aftercare referral, not its one organization or "
            "practitioner (dropped)": 2,
            "ServiceRequest.reasonCode: not the referral's reason text (dropped)": 2,
            "CarePlan.activity.detail.performer: of a check-in, after the first (dropped)": 1,
        }
    )
    plan = result.episodes[0].care_plans[0]
    assert isinstance(plan, AftercarePlan)
    (kept,) = plan.referrals
    assert (kept.organization, kept.practitioner, kept.reason) == ("o1", "dr", "reason 0")


@FORMS
def test_a_referral_reason_coded_without_text_is_counted(tmp_path: Path, form: str) -> None:
    coded = {"coding": [{"system": SNOMED, "code": "35489007"}]}
    request = {**_request("sr1"), "reasonCode": [coded]}
    added, result, _plain = unmapped_delta(
        [_patient(), _request("sr1"), _eoc(referralRequest=[{"reference": "ServiceRequest/sr1"}])],
        [_patient(), request, _eoc(referralRequest=[{"reference": "ServiceRequest/sr1"}])],
        tmp_path,
        form,
    )
    assert added == Counter(
        {"ServiceRequest.reasonCode: not the referral's reason text (dropped)": 1}
    )
    assert result.episodes[0].referral is not None


@FORMS
def test_a_further_status_of_one_goal_in_a_review_is_counted(tmp_path: Path, form: str) -> None:
    goal = {
        "resourceType": "Goal",
        "id": "g1",
        "lifecycleStatus": "active",
        "description": {"text": "fewer symptoms"},
        "subject": PATIENT_REF,
        "statusDate": "2026-02-09",
    }
    plan = {
        "resourceType": "CarePlan",
        "id": "cp",
        "status": "active",
        "intent": "plan",
        "subject": PATIENT_REF,
        "goal": [{"reference": "Goal/g1"}],
    }
    doctor = {"resourceType": "Practitioner", "id": "dr", "name": [{"family": "Lee"}]}

    def status(code: str) -> dict[str, Any]:
        return {
            "url": EXT.GOAL_STATUS_CHANGE,
            "extension": [
                {"url": "goal", "valueReference": {"reference": "Goal/g1"}},
                {"url": "lifecycleStatus", "valueCode": code},
            ],
        }

    def review(*codes: str) -> dict[str, Any]:
        return {
            "resourceType": "Provenance",
            "id": "rv",
            "extension": [status(c) for c in codes],
            "target": [{"reference": "Goal/g1"}],
            "occurredDateTime": "2026-02-09T10:00:00Z",
            "recorded": "2026-02-09T10:00:00Z",
            "agent": [{"who": {"reference": "Practitioner/dr"}}],
        }

    base = [_patient(), _eoc(), doctor, goal, plan]
    added, result, plain = unmapped_delta(
        [*base, review("active")], [*base, review("active", "completed")], tmp_path, form
    )
    assert added == Counter({"Provenance: a further status of one goal in a review (dropped)": 1})
    assert len(result.episodes[0].reviews) == 1
    assert result.episodes == plain.episodes


# -- 5. the practitioners' order of iopfhir's own output ---------------------------------


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Episode], Path]:
    root = tmp_path_factory.mktemp("order")
    episodes, ndjson = root / "eps", root / "nd"
    assert main(["synth", "--patients", "20", "--seed", "7", "-o", str(episodes)]) == 0
    assert main(["convert", str(episodes), "--format", "ndjson", "-o", str(ndjson)]) == 0
    return list(load_episodes(episodes)), ndjson


def _practitioners(episodes: list[Episode]) -> dict[str, list[str]]:
    return {e.key: [p.key for p in e.practitioners] for e in episodes}


def _unequal(read: list[Episode], source: list[Episode]) -> list[str]:
    """Keys of the episodes read back that differ from their source (a short answer: a
    failed comparison of whole cohorts is too long to show)."""
    by_key = {e.key: e for e in source}
    return [e.key for e in read if by_key.get(e.key) != e] + (
        ["(count)"] if len(read) != len(source) else []
    )


def test_read_back_keeps_the_practitioners_order(cohort: tuple[list[Episode], Path]) -> None:
    source, ndjson = cohort
    # what makes the case: practitioners who work in several episodes, listed in
    # different places (written once, where the first episode has them)
    orders = _practitioners(source)
    shared = Counter(k for keys in orders.values() for k in keys)
    assert max(shared.values()) >= 2
    assert len({keys.index(k) for keys in orders.values() for k in keys if shared[k] > 1}) > 1
    result = read_fhir(ndjson)
    assert _practitioners(result.episodes) == _practitioners(source)
    assert _unequal(result.episodes, source) == []  # the rest was equal already
    assert not result.unmapped


def test_the_streaming_import_keeps_it_too(cohort: tuple[list[Episode], Path]) -> None:
    source, ndjson = cohort
    result = ImportResult()
    episodes = list(read_fhir_stream(ndjson, result=result))
    assert _practitioners(episodes) == _practitioners(source)
    assert _unequal(episodes, source) == []
    assert not result.unmapped


@FORMS
def test_other_data_keeps_the_order_of_its_practitioners(tmp_path: Path, form: str) -> None:
    """Without iopfhir's own role identifiers, the Practitioners' order is the rule (the
    roles listed the other way round change nothing): a guard of what the old code did
    already (the one test here that passes on it)."""
    doctors = [
        {"resourceType": "Practitioner", "id": rid, "name": [{"family": rid}]}
        for rid in ("dr-b", "dr-a", "dr-c")
    ]
    roles = [
        {
            "resourceType": "PractitionerRole",
            "id": f"role-{p['id']}",
            "practitioner": {"reference": f"Practitioner/{p['id']}"},
        }
        for p in reversed(doctors)
    ]
    team = {
        "resourceType": "CareTeam",
        "id": "ct",
        "subject": PATIENT_REF,
        "participant": [{"member": {"reference": f"PractitionerRole/{r['id']}"}} for r in roles],
    }
    result = read_both([_patient(), _eoc(), *doctors, *roles, team], tmp_path, form)
    assert [p.key for p in result.episodes[0].practitioners] == ["dr-b", "dr-a", "dr-c"]
