"""A third round of what the import dropped in silence, now counted under ``unmapped``
(or kept where the model has a place).

- Sessions: a practitioner neither the facilitator nor an attendee (untyped after the
  first, a further ``PPRF``) that the session does not hold as an Encounter participant
  either; a second Encounter naming an Appointment already read; an Appointment actor
  naming a person the input lacks (a reference-only practitioner is kept).
- The referral: ``basedOn`` after the discharge plan; a stay participant's types other
  than its one role.
- A Condition's categories other than the one kept (now the first, as documented).
- An aftercare Appointment's participants, ``supportingInformation`` and ``basedOn``
  other than the one practitioner, organization and referral it holds.
- A review's agents other than its author, entities other than its session, and a
  change's further sub-extension of one url.
- A relapse plan's support or crisis contact that does not resolve; a treatment
  activity's ``detail.goal`` outside its plan.

Every case is read by both readers, from NDJSON and from a Bundle (``_read``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from tests.fhir.both_readers import FORMS, unmapped_delta

from iopfhir.domain import AftercarePlan, RelapsePreventionPlan, TreatmentPlan
from iopfhir.fhir.conventions import EXT
from iopfhir.terminology import code_system_url

PATIENT_REF = {"reference": "Patient/pt"}
V3 = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


def _base() -> list[dict[str, Any]]:
    patient = {"resourceType": "Patient", "id": "pt", "birthDate": "1980-05-05"}
    eoc = {
        "resourceType": "EpisodeOfCare",
        "id": "eoc",
        "status": "active",
        "patient": PATIENT_REF,
        "period": {"start": "2026-01-10"},
    }
    doctors = [
        {"resourceType": "Practitioner", "id": rid, "name": [{"family": rid}]}
        for rid in ("dr1", "dr2", "dr3")
    ]
    return [patient, eoc, *doctors]


def _typed(rid: str, code: str | None, key: str = "actor") -> dict[str, Any]:
    part: dict[str, Any] = {key: {"reference": f"Practitioner/{rid}"}}
    if code is not None:
        part["type"] = [{"coding": [{"system": V3, "code": code}]}]
    return part


def _appointment(parts: list[dict[str, Any]], aid: str = "a1") -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": aid,
        "status": "booked",
        "start": "2026-02-02T10:00:00Z",
        "end": "2026-02-02T11:00:00Z",
        "participant": [
            {"actor": PATIENT_REF, "status": "accepted"},
            *({**p, "status": "accepted"} for p in parts),
        ],
    }


def _encounter(eid: str, status: str = "finished", **more: Any) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": status,
        "class": {"code": "AMB"},
        "subject": PATIENT_REF,
        "period": {"start": "2026-02-02T10:00:00Z", "end": "2026-02-02T11:00:00Z"},
        **more,
    }


# -- 1. sessions ---------------------------------------------------------------------------

SKIPPED = "a practitioner after the session's facilitator, untyped or a further PPRF (dropped)"


@FORMS
def test_further_practitioners_of_an_appointment_are_counted(tmp_path: Path, form: str) -> None:
    first = [_typed("dr1", "PPRF")]
    more = [*first, _typed("dr2", "PPRF"), _typed("dr3", None), _typed("dr1", "PPRF")]
    added, result, _ = unmapped_delta(
        [*_base(), _appointment(first)], [*_base(), _appointment(more)], tmp_path, form
    )
    assert added == Counter({f"Appointment.participant: {SKIPPED}": 2})
    (session,) = result.episodes[0].sessions
    assert session.facilitator == "dr1" and session.attendees == []


@FORMS
def test_further_practitioners_of_a_cancelled_encounter_are_kept(tmp_path: Path, form: str) -> None:
    """A cancelled Encounter is kept (``Session.forms``), and with it the practitioners it
    lists, as an attended one keeps them (``participants``): nothing is counted."""
    first = [_typed("dr1", "PPRF", "individual")]
    more = [*first, _typed("dr2", "PPRF", "individual"), _typed("dr3", None, "individual")]
    for status in ("cancelled", "finished"):
        added, result, _ = unmapped_delta(
            [*_base(), _encounter("e1", status, participant=first)],
            [*_base(), _encounter("e1", status, participant=more)],
            tmp_path / status,
            form,
        )
        assert added == Counter()
        (session,) = result.episodes[0].sessions
        assert session.status == ("cancelled" if status == "cancelled" else "attended")
        assert session.written_forms() == ("encounter",)
        assert [p.member for p in session.participants] == ["dr1", "dr2", "dr3"]


@FORMS
def test_appointment_people_its_encounter_does_not_list_are_counted(
    tmp_path: Path, form: str
) -> None:
    """The Encounter says who took part (its PPRF): the Appointment's other practitioners
    (a PPRF and an attendee) are not read from it."""
    link = {"appointment": [{"reference": "Appointment/a1"}]}
    led = [_typed("dr1", "PPRF", "individual")]
    same = _appointment([_typed("dr1", "PPRF")])
    other = _appointment([_typed("dr1", "PPRF"), _typed("dr2", "PPRF"), _typed("dr3", "PART")])
    added, result, _ = unmapped_delta(
        [*_base(), same, _encounter("e1", participant=led, **link)],
        [*_base(), other, _encounter("e1", participant=led, **link)],
        tmp_path,
        form,
    )
    assert added == Counter(
        {"Appointment.participant: a person the session's Encounter does not list (dropped)": 2}
    )
    (session,) = result.episodes[0].sessions
    assert session.facilitator == "dr1" and session.attendees == []


@FORMS
def test_a_second_encounter_of_an_appointment_is_counted(tmp_path: Path, form: str) -> None:
    link = {"appointment": [{"reference": "Appointment/a1"}]}
    appointment = _appointment([_typed("dr1", "PPRF")])
    added, result, _ = unmapped_delta(
        [*_base(), appointment, _encounter("e1", **link)],
        [*_base(), appointment, _encounter("e1", **link), _encounter("e2", **link)],
        tmp_path,
        form,
    )
    assert added == Counter(
        {"Encounter: a further one of an Appointment's session (merged, not read)": 1}
    )
    assert len(result.episodes[0].sessions) == 1


@FORMS
def test_appointment_actors_the_input_lacks_are_counted(tmp_path: Path, form: str) -> None:
    only = {"reference": "Practitioner?identifier=https://example.org/npi|123"}
    first = [_typed("dr1", "PPRF")]
    missing = [{"actor": {"reference": "Practitioner/ghost"}}, {"actor": only}]
    added, result, _ = unmapped_delta(
        [*_base(), _appointment(first)],
        [*_base(), _appointment([*first, *missing])],
        tmp_path,
        form,
    )
    # the reference-only practitioner is held (as an untyped one after the facilitator:
    # counted as such), the missing one is counted as missing
    assert added == Counter(
        {
            "Appointment.participant.actor: a person not in the input (dropped)": 1,
            f"Appointment.participant: {SKIPPED}": 1,
        }
    )
    # without a facilitator, the reference-only practitioner is one
    added, result, _ = unmapped_delta(
        [*_base(), _appointment([])],
        [*_base(), _appointment(missing)],
        tmp_path / "alone",
        form,
    )
    assert added == Counter(
        {"Appointment.participant.actor: a person not in the input (dropped)": 1}
    )
    (session,) = result.episodes[0].sessions
    held = {p.key: p for p in result.episodes[0].practitioners}
    assert session.facilitator is not None and held[session.facilitator].reference_only


# -- 2. the referral -------------------------------------------------------------------------


def _plan(pid: str, **more: Any) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": pid,
        "status": "active",
        "intent": "plan",
        "subject": PATIENT_REF,
        **more,
    }


def _referral(based_on: list[str], stay_types: list[str]) -> list[dict[str, Any]]:
    request = {
        "resourceType": "ServiceRequest",
        "id": "sr",
        "status": "completed",
        "intent": "order",
        "subject": PATIENT_REF,
        "authoredOn": "2026-01-05",
        "encounter": {"reference": "Encounter/stay"},
        "basedOn": [{"reference": r} for r in based_on],
    }
    types = [{"coding": [{"system": V3, "code": c}]} for c in stay_types]
    stay = {
        **_encounter("stay"),
        "class": {"code": "IMP"},
        "participant": [{"type": types, "individual": {"reference": "Practitioner/dr1"}}],
    }
    base = _base()
    base[1] = {**base[1], "referralRequest": [{"reference": "ServiceRequest/sr"}]}
    return [*base, request, stay, _plan("cp1"), _plan("cp2")]


@FORMS
def test_what_a_referral_holds_one_of_is_counted(tmp_path: Path, form: str) -> None:
    added, result, _ = unmapped_delta(
        _referral(["CarePlan/cp1"], ["ADM"]),
        _referral(
            ["CarePlan/cp1", "CarePlan/cp2", "CarePlan/cp1", "Goal/nothing"],
            ["ADM", "DIS", "ADM"],
        ),
        tmp_path,
        form,
    )
    assert added == Counter(
        {
            "ServiceRequest.basedOn: a CarePlan after the discharge plan (not a discharge "
            "plan; read as a plan of its own)": 1,
            "ServiceRequest.basedOn: after the discharge plan, not a CarePlan of the input": 1,
            "Encounter.participant.type: of a stay participant, not its one role (dropped)": 1,
        }
    )
    episode = result.episodes[0]
    assert episode.referral is not None and episode.referral.discharge_plan is not None
    (part,) = episode.referral.stay_participants
    assert part.role == "admitter"
    assert [p.key for p in episode.care_plans] == ["cp2"]


# -- 3. a Condition's categories -------------------------------------------------------------


@FORMS
def test_a_conditions_further_categories_are_counted(tmp_path: Path, form: str) -> None:
    def condition(*categories: dict[str, Any]) -> dict[str, Any]:
        return {
            "resourceType": "Condition",
            "id": "c1",
            "subject": PATIENT_REF,
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]},
            "category": list(categories),
        }

    diagnosis = {"coding": [{"system": CATEGORY, "code": "encounter-diagnosis"}]}
    problem = {"coding": [{"system": CATEGORY, "code": "problem-list-item"}]}
    other = {"coding": [{"system": "http://example.org/cat", "code": "sdoh"}]}
    added, result, _ = unmapped_delta(
        [*_base(), condition(diagnosis)],
        [*_base(), condition(diagnosis, problem, other, diagnosis)],
        tmp_path,
        form,
    )
    assert added == Counter(
        {
            "Condition.category: a further category after the first (dropped)": 1,
            "Condition.category: not problem-list-item, encounter-diagnosis or health-concern "
            "(dropped)": 1,
        }
    )
    (diag,) = result.episodes[0].diagnoses
    assert diag.category == "encounter-diagnosis"


# -- 4. an aftercare appointment -------------------------------------------------------------


def _aftercare(parts: list[str], orgs: list[str], based_on: list[str]) -> list[dict[str, Any]]:
    kind = {"coding": [{"system": code_system_url("care-plan-kind"), "code": "aftercare"}]}
    request = {
        "resourceType": "ServiceRequest",
        "id": "aft",
        "status": "active",
        "intent": "order",
        "subject": PATIENT_REF,
    }
    appointment = {
        "resourceType": "Appointment",
        "id": "visit",
        "status": "booked",
        "start": "2026-04-01T10:00:00Z",
        "end": "2026-04-01T11:00:00Z",
        "participant": [{"actor": {"reference": r}, "status": "accepted"} for r in parts],
        "supportingInformation": [{"reference": r} for r in orgs],
        "basedOn": [{"reference": r} for r in based_on],
    }
    plan = _plan(
        "after",
        category=[kind],
        activity=[
            {"reference": {"reference": "ServiceRequest/aft"}},
            {"reference": {"reference": "Appointment/visit"}},
        ],
    )
    organizations = [
        {"resourceType": "Organization", "id": oid, "name": oid} for oid in ("o1", "o2")
    ]
    return [*_base(), *organizations, request, appointment, plan]


@FORMS
def test_what_an_aftercare_appointment_holds_one_of_is_counted(tmp_path: Path, form: str) -> None:
    added, result, _ = unmapped_delta(
        _aftercare(["Patient/pt", "Practitioner/dr1"], ["Organization/o1"], ["ServiceRequest/aft"]),
        _aftercare(
            ["Patient/pt", "Practitioner/dr1", "Practitioner/dr2", "Practitioner/dr1", "Device/x"],
            ["Organization/o1", "Organization/o2", "Organization/o1"],
            ["ServiceRequest/aft", "ServiceRequest/elsewhere"],
        ),
        tmp_path,
        form,
    )
    assert added == Counter(
        {
            "Appointment.participant: of an aftercare appointment, not its patient or its one "
            "practitioner (dropped)": 2,
            "Appointment.supportingInformation: of an aftercare appointment, not its one "
            "organization (dropped)": 1,
            "Appointment.basedOn: of an aftercare appointment, not its one referral of the "
            "plan (dropped)": 1,
        }
    )
    plan = result.episodes[0].care_plans[0]
    assert isinstance(plan, AftercarePlan)
    (visit,) = plan.appointments
    assert (visit.practitioner, visit.organization, visit.referral) == ("dr1", "o1", "aft")


# -- 5. a review -----------------------------------------------------------------------------


@FORMS
def test_what_a_review_holds_one_of_is_counted(tmp_path: Path, form: str) -> None:
    goal = {
        "resourceType": "Goal",
        "id": "g1",
        "lifecycleStatus": "active",
        "description": {"text": "fewer symptoms"},
        "subject": PATIENT_REF,
        "statusDate": "2026-02-09",
    }
    plan = _plan("cp", goal=[{"reference": "Goal/g1"}])
    sessions = [
        _appointment([_typed("dr1", "PPRF")], "a1"),
        _appointment([_typed("dr1", "PPRF")], "a2"),
    ]

    def review(codes: list[str], agents: list[str], entities: list[str]) -> dict[str, Any]:
        parts = [
            {"url": "goal", "valueReference": {"reference": "Goal/g1"}},
            *({"url": "lifecycleStatus", "valueCode": c} for c in codes),
        ]
        return {
            "resourceType": "Provenance",
            "id": "rv",
            "extension": [{"url": EXT.GOAL_STATUS_CHANGE, "extension": parts}],
            "target": [{"reference": "Goal/g1"}],
            "occurredDateTime": "2026-02-09T10:00:00Z",
            "recorded": "2026-02-09T10:00:00Z",
            "agent": [{"who": {"reference": r}} for r in agents],
            "entity": [{"role": "source", "what": {"reference": r}} for r in entities],
        }

    base = [*_base(), goal, plan, *sessions]
    added, result, _ = unmapped_delta(
        [*base, review(["active"], ["Practitioner/dr1"], ["Appointment/a1"])],
        [
            *base,
            review(
                ["active", "completed"],
                ["Practitioner/dr1", "Practitioner/dr2", "Practitioner/dr1", "Organization/x"],
                ["Appointment/a1", "Appointment/a2", "Appointment/a1"],
            ),
        ],
        tmp_path,
        form,
    )
    assert added == Counter(
        {
            "Provenance.extension: a review change's further sub-extension of one url (dropped)": 1,
            "Provenance.agent: not the review's author (dropped)": 2,
            "Provenance.entity: not the review's session (dropped)": 1,
        }
    )
    (kept,) = result.episodes[0].reviews
    assert kept.author == "dr1" and kept.goals[0].lifecycle_status == "active"
    assert kept.session is not None


# -- 6. plans --------------------------------------------------------------------------------


@FORMS
def test_relapse_performers_that_do_not_resolve_are_counted(tmp_path: Path, form: str) -> None:
    element = code_system_url("relapse-element")
    kind = {"coding": [{"system": code_system_url("care-plan-kind"), "code": "relapse-prevention"}]}

    def activity(code: str, *refs: str) -> dict[str, Any]:
        return {
            "detail": {
                "status": "not-started",
                "code": {"coding": [{"system": element, "code": code}]},
                "performer": [{"reference": r} for r in refs],
            }
        }

    friend = {"resourceType": "RelatedPerson", "id": "friend", "patient": PATIENT_REF}
    line = {
        "resourceType": "Organization",
        "id": "line",
        "name": "Crisis line",
        "telecom": [{"system": "phone", "value": "988"}],
    }
    base = [*_base(), friend, line]
    added, result, _ = unmapped_delta(
        [
            *base,
            _plan(
                "rp",
                category=[kind],
                activity=[
                    activity("support", "RelatedPerson/friend"),
                    activity("crisis-contact", "Organization/line"),
                ],
            ),
        ],
        [
            *base,
            _plan(
                "rp",
                category=[kind],
                activity=[
                    activity("support", "RelatedPerson/friend", "RelatedPerson/gone"),
                    activity("crisis-contact", "Organization/line", "Organization/gone"),
                ],
            ),
        ],
        tmp_path,
        form,
    )
    assert added == Counter(
        {
            "CarePlan.activity.detail.performer: a relapse support that is not a practitioner "
            "or support of the episode (dropped)": 1,
            "CarePlan.activity.detail.performer: a crisis contact not in the input (dropped)": 1,
        }
    )
    plan = result.episodes[0].care_plans[0]
    assert isinstance(plan, RelapsePreventionPlan)
    assert len(plan.supports) == 1 and len(plan.crisis_contacts) == 1


@FORMS
def test_activity_goals_outside_the_plan_are_counted(tmp_path: Path, form: str) -> None:
    goals = [
        {
            "resourceType": "Goal",
            "id": gid,
            "lifecycleStatus": "active",
            "description": {"text": gid},
            "subject": PATIENT_REF,
        }
        for gid in ("g1", "g2")
    ]

    def plan(*refs: str) -> dict[str, Any]:
        detail = {
            "status": "scheduled",
            "description": "group therapy",
            "goal": [{"reference": r} for r in refs],
        }
        return _plan("cp", goal=[{"reference": "Goal/g1"}], activity=[{"detail": detail}])

    added, result, _ = unmapped_delta(
        [*_base(), *goals, plan("Goal/g1")],
        [*_base(), *goals, plan("Goal/g1", "Goal/g2", "Goal/gone")],
        tmp_path,
        form,
    )
    assert added == Counter({"CarePlan.activity.detail.goal: not a goal of the plan (dropped)": 2})
    treatment = result.episodes[0].care_plans[0]
    assert isinstance(treatment, TreatmentPlan)
    assert treatment.activities[0].goals == ["g1"]
