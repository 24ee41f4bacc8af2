"""CarePlans from others: both activity shapes (``detail`` and MCC's ``reference``),
foreign codes into ``*_code`` fields, non-IOP plans as ``TreatmentPlan(kind="other")``."""

from __future__ import annotations

from datetime import time
from typing import Any

from iopfhir.domain import TreatmentPlan
from iopfhir.fhir.read import read_fhir

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "pat",
    "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-7"}],
}
SUBJECT = {"reference": "Patient/pat"}
GOAL: dict[str, Any] = {
    "resourceType": "Goal",
    "id": "g1",
    "lifecycleStatus": "active",
    "achievementStatus": {"coding": [{"code": "improving"}]},
    "description": {"text": "PHQ-9 under 10"},
    "subject": SUBJECT,
    "target": [
        {
            "measure": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
            "detailQuantity": {"value": 10, "comparator": "<"},
            "dueDate": "2024-03-01",
        },
        {
            "measure": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
            "detailQuantity": {"value": 7, "comparator": "<"},
        },
    ],
}


def plan(activity: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": "cp1",
        "status": "active",
        "intent": "plan",
        "subject": SUBJECT,
        "goal": [{"reference": "Goal/g1"}],
        "activity": activity,
        **extra,
    }


def test_detail_shape() -> None:
    activity = {
        "detail": {
            "kind": "Appointment",
            "code": {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "76168009",
                        "display": "Group psychotherapy",
                    }
                ]
            },
            "status": "in-progress",
            "description": "DBT skills group",
            "goal": [{"reference": "Goal/g1"}],
            "scheduledTiming": {
                "repeat": {
                    "dayOfWeek": ["mon", "wed"],
                    "timeOfDay": ["09:30:00"],
                    "duration": 3,
                    "durationUnit": "h",
                }
            },
        }
    }
    result = read_fhir([PATIENT, GOAL, plan([activity])])
    (care_plan,) = result.episodes[0].care_plans
    assert isinstance(care_plan, TreatmentPlan)
    assert care_plan.kind == "other"
    (act,) = care_plan.activities
    assert act.kind is None
    assert act.kind_code is not None
    assert act.kind_code.code == "76168009"
    assert act.title == "DBT skills group"
    assert act.status == "in-progress"
    assert act.goals == ["g1"]
    assert act.schedule is not None
    assert (act.schedule.days, act.schedule.start_time, act.schedule.duration_minutes) == (
        ["mon", "wed"],
        time(9, 30),
        180,
    )
    (goal,) = care_plan.goals
    assert goal.achievement_status == "improving"
    assert [(t.instrument, t.comparator, t.value) for t in goal.targets] == [("phq-9", "<", 10)]
    assert result.unmapped["Goal.target: not an instrument score (dropped)"] == 1


def test_reference_shape_mcc() -> None:
    request = {
        "resourceType": "ServiceRequest",
        "id": "sr1",
        "status": "active",
        "intent": "order",
        "subject": SUBJECT,
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": "304891004"}],
            "text": "Cognitive behavioural therapy",
        },
    }
    appointment = {
        "resourceType": "Appointment",
        "id": "ap1",
        "status": "booked",
        "start": "2024-01-08T09:00:00-05:00",
        "end": "2024-01-08T10:00:00-05:00",
        "serviceType": [{"coding": [{"system": "http://snomed.info/sct", "code": "90853"}]}],
        "participant": [{"actor": SUBJECT, "status": "accepted"}],
    }
    activities = [
        {"reference": {"reference": "ServiceRequest/sr1"}},
        {"reference": {"reference": "Appointment/ap1"}},
        {"reference": {"reference": "ServiceRequest/missing", "display": "Peer support"}},
    ]
    result = read_fhir([PATIENT, GOAL, request, appointment, plan(activities)])
    episode = result.episodes[0]
    (care_plan,) = episode.care_plans
    assert isinstance(care_plan, TreatmentPlan)
    first, second, third = care_plan.activities
    assert first.kind_code is not None
    assert first.kind_code.code == "304891004"
    assert first.title == "Cognitive behavioural therapy"
    assert first.status == "in-progress"
    assert second.status == "scheduled"
    assert (third.title, third.status) == ("Peer support", "unknown")
    # the Appointment is also a session, linked to its activity
    (session,) = episode.sessions
    assert session.activity == second.key
    assert session.status == "scheduled"
    assert "ServiceRequest: not a referral of the episode" not in result.unmapped


def test_both_shapes_in_one_plan_and_unknown_activity_counted() -> None:
    activities = [
        {"detail": {"status": "scheduled", "description": "Family session"}},
        {"reference": {"reference": "ServiceRequest/nowhere"}},
        {"progress": [{"text": "only a note"}]},
    ]
    result = read_fhir([PATIENT, GOAL, plan(activities)])
    care_plan = result.episodes[0].care_plans[0]
    assert isinstance(care_plan, TreatmentPlan)
    assert len(care_plan.activities) == 2
    assert result.unmapped["CarePlan.activity: without detail or reference (dropped)"] == 1


def test_plan_addresses_and_author_and_notes() -> None:
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": SUBJECT,
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]},
    }
    doc = {"resourceType": "Practitioner", "id": "doc", "name": [{"family": "Nguyen"}]}
    extra = {
        "addresses": [{"reference": "Condition/c1"}],
        "author": {"reference": "Practitioner/doc"},
        "period": {"start": "2024-01-02", "end": "2024-03-01"},
        "note": [
            {
                "authorReference": {"reference": "Practitioner/doc"},
                "time": "2024-01-09T15:00:00+00:00",
                "text": "Week 1 review",
            }
        ],
    }
    result = read_fhir([PATIENT, GOAL, condition, doc, plan([], **extra)])
    care_plan = result.episodes[0].care_plans[0]
    assert care_plan.addresses == ["c1"]
    assert care_plan.author == "doc"
    assert [r.summary for r in care_plan.revisions] == ["Week 1 review"]
    assert care_plan.period is not None
    assert str(care_plan.period.start) == "2024-01-02"


def test_goal_shared_by_two_plans_is_kept_once() -> None:
    second = plan([]) | {"id": "cp2"}
    result = read_fhir([PATIENT, GOAL, plan([]), second])
    first, second_plan = result.episodes[0].care_plans
    assert [len(p.goals) for p in (first, second_plan)] == [1, 0]
    # the second plan keeps its link to the first plan's goal (issue 11: links kept exactly)
    assert second_plan.shared_goals == [first.goals[0].key]
    assert "Goal: in more than one care plan (kept in the first)" not in result.unmapped


def test_synthea_style_encounter_sessions() -> None:
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "79094001"}]}],
        "subject": SUBJECT,
        "period": {"start": "2024-01-09T06:38:03+00:00", "end": "2024-01-09T07:08:03+00:00"},
        "participant": [{"individual": {"reference": "Practitioner/doc"}}],
    }
    doc = {"resourceType": "Practitioner", "id": "doc", "name": [{"family": "Nguyen"}]}
    (episode,) = read_fhir([PATIENT, doc, encounter]).episodes
    (session,) = episode.sessions
    assert session.status == "attended"
    assert session.kind_code is not None
    assert session.kind_code.code == "79094001"
    # an untyped participant is kept as written, not promoted to the facilitator (PPRF)
    assert session.facilitator is None
    assert [(p.member, p.types) for p in session.participants] == [("doc", [])]
    assert not session.telehealth
    assert session.delivered_minutes == 30
