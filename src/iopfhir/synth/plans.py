"""The three care plans: treatment (goals, program days, activities), relapse prevention,
aftercare.

:func:`draw_care_plans` makes the plans' draws in the order the episode needs them (the
program days, the skills group's setting, then the relapse plan's lists); the program
days come back with the plans because the session schedule follows them. Whether the
aftercare visit and check-ins are kept comes from the patient's course (:mod:`.outcomes`).
Imports :mod:`.outcomes`, :mod:`.people`, :mod:`.pools`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from iopfhir.domain import Goal, Measure, derive_achievement

from .outcomes import Course
from .people import Frame, Team
from .pools import WEEKDAYS, ts

__all__ = ["Plans", "draw_care_plans", "weekly_reviews"]

Data = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Plans:
    """The care plans, the three program days and whether the skills group is online."""

    care_plans: list[Data]
    days: list[str]
    skills_telehealth: bool


def draw_care_plans(frame: Frame, team: Team, dx_keys: list[str], course: Course) -> Plans:
    """The treatment, relapse-prevention and aftercare plans."""
    goals = _goals(frame, dx_keys)
    days = sorted(frame.rng.sample(WEEKDAYS, 3), key=WEEKDAYS.index)
    activities = _activities(frame, team, days)
    care_plans = [
        _treatment_plan(frame, team, dx_keys, goals, activities),
        _relapse_plan(frame, team, dx_keys),
        _aftercare_plan(frame, team, dx_keys, course),
    ]
    return Plans(care_plans, days, activities[1]["setting"] == "telehealth")


def _goals(frame: Frame, dx_keys: list[str]) -> list[Data]:
    start, end = frame.start.isoformat(), frame.end.isoformat()
    primary = "audit-c" if frame.kind == "substance-use" else "phq-9"
    return [
        {
            "key": "goal-1",
            "description": "Symptom remission on the primary measure",
            "lifecycle_status": "active",
            "start": start,
            "targets": [
                {
                    "instrument": primary,
                    "comparator": "<",
                    "value": 3 if primary == "audit-c" else 5,
                    "due": end,
                }
            ],
            "addresses": [dx_keys[0]],
        },
        {
            "key": "goal-2",
            "description": "Attend every scheduled program day",
            "lifecycle_status": "active",
            "start": start,
        },
    ]


def _activities(frame: Frame, team: Team, days: list[str]) -> list[Data]:
    """Process group on the first two program days, skills group on the third, family."""
    return [
        {
            "key": "act-group",
            "kind": "group-therapy",
            "title": "Process group",
            "modality": "relapse-prevention" if frame.kind != "mental-health" else "cbt",
            "status": "completed",
            "lead": team.by_role["counselor"],
            "setting": "in-person",
            "schedule": _schedule(frame, days[:2]),
            "goals": ["goal-1", "goal-2"],
        },
        {
            "key": "act-skills",
            "kind": "skills-group",
            "title": "Skills group",
            "modality": "dbt",
            "status": "completed",
            "lead": team.lead,
            "setting": frame.rng.choice(["in-person", "telehealth"]),
            "schedule": _schedule(frame, days[2:]),
            "goals": ["goal-1"],
        },
        {
            "key": "act-family",
            "kind": "family-therapy",
            "title": "Family session",
            "status": "completed",
            "lead": team.lead,
            "setting": "in-person",
        },
    ]


def _schedule(frame: Frame, days: list[str]) -> Data:
    return {
        "days": days,
        "start_time": "09:00:00",
        "duration_minutes": 180,
        "period": frame.period,
    }


def _treatment_plan(
    frame: Frame, team: Team, dx_keys: list[str], goals: list[Data], activities: list[Data]
) -> Data:
    start = frame.start
    return {
        "kind": "treatment",
        "key": "treatment-plan",
        "title": "IOP treatment plan",
        "status": "completed",
        "period": frame.period,
        "created": start.isoformat(),
        "author": team.lead,
        "addresses": dx_keys,
        "goals": goals,
        "activities": activities,
        "revisions": [
            {
                "date": (start + timedelta(weeks=w)).isoformat(),
                "author": team.lead,
                "summary": f"Weekly team review, week {w}",
            }
            for w in range(1, frame.weeks, 2)
        ],
    }


def weekly_reviews(frame: Frame, team: Team, plans: Plans, measures: list[Data]) -> list[Data]:
    """A team review at the end of every program week (no random draws): the symptom
    goal's achievement as its scores say that day (``derive_achievement``), the family
    session added at the first review, and both goals completed at the last."""
    treatment = plans.care_plans[0]
    goals = {g["key"]: Goal.model_validate(g) for g in treatment["goals"]}
    scored = [Measure.model_validate(m) for m in measures]
    out: list[Data] = []
    days = [frame.start + timedelta(days=7 * w - 1) for w in range(1, frame.weeks + 1)]
    days = [d for d in days if d < frame.end] + [frame.end]
    for n, day in enumerate(days, start=1):
        last = n == len(days)
        derived = derive_achievement(goals["goal-1"], scored, day) or "in-progress"
        changes: list[Data] = [
            {
                "goal": "goal-1",
                "lifecycle_status": "completed" if last else "active",
                "achievement_status": derived,
            }
        ]
        if last:
            changes.append({"goal": "goal-2", "lifecycle_status": "completed"})
        review: Data = {
            "key": f"review-week-{n}",
            "date": day.isoformat(),
            "author": team.lead,
            "goals": changes,
        }
        if n == 1:
            review["plan_changes"] = [{"activity": "act-family", "change": "added"}]
        out.append(review)
    return out


def _relapse_plan(frame: Frame, team: Team, dx_keys: list[str]) -> Data:
    rng = frame.rng
    return {
        "kind": "relapse-prevention",
        "key": "relapse-plan",
        "status": "active",
        "created": (frame.start + timedelta(days=7)).isoformat(),
        "author": team.lead,
        "addresses": dx_keys[:1],
        "triggers": rng.sample(
            [
                "Conflict at home",
                "Payday",
                "Poor sleep",
                "Isolation",
                "Work stress",
                "Old friends who use",
            ],
            3,
        ),
        "warning_signs": rng.sample(
            ["Skipping sessions", "Withdrawing", "Irritability", "Cravings", "Hopeless thoughts"],
            2,
        ),
        "coping_strategies": rng.sample(
            [
                "Call a support",
                "Urge surfing",
                "Walk outside",
                "Paced breathing",
                "Attend a meeting",
            ],
            3,
        ),
        "daily_routines": ["Regular wake time", "Daily check-in with support"],
        "supports": ["support-1", team.by_role["peer-support"]],
        "crisis_contacts": [
            {"key": "lifeline", "name": "988 Suicide and Crisis Lifeline", "phone": "988"}
        ],
    }


def _aftercare_plan(frame: Frame, team: Team, dx_keys: list[str], course: Course) -> Data:
    """The aftercare plan: a visit a week after discharge (kept: ``fulfilled``, else
    ``noshow``) and check-ins after 1, 3 and 6 months (kept: ``completed``, else
    ``not-started``), each kept with the course's probability."""
    end, tz, lead = frame.end, frame.tz, team.lead
    kept = [course.rng.random() < course.keep_aftercare for _ in range(4)]
    case_manager = team.by_role["case-manager"]
    authored = (end - timedelta(days=7)).isoformat()
    return {
        "kind": "aftercare",
        "key": "aftercare-plan",
        "status": "active",
        "period": {
            "start": (end + timedelta(days=1)).isoformat(),
            "end": (end + timedelta(days=183)).isoformat(),
        },
        "created": authored,
        "author": case_manager,
        "addresses": dx_keys,
        "referrals": [
            {
                "key": "ref-1",
                "service": "outpatient-therapy",
                "authored": authored,
                "requester": case_manager,
                "practitioner": lead,
            },
            {
                "key": "ref-2",
                "service": "peer-support-group",
                "authored": authored,
                "requester": team.by_role["peer-support"],
                "organization": "program-site",
            },
        ],
        "appointments": [
            {
                "key": "appt-1",
                "service": "outpatient-therapy",
                "start": ts(end + timedelta(days=7), 15, tz=tz),
                "end": ts(end + timedelta(days=7), 16, tz=tz),
                "practitioner": lead,
                "referral": "ref-1",
                "status": "fulfilled" if kept[0] else "noshow",
            }
        ],
        "check_ins": [
            {
                "key": f"checkin-{m}m",
                "due": (end + timedelta(days=30 * m)).isoformat(),
                "method": "phone",
                "with": case_manager,
                "status": "completed" if keep else "not-started",
            }
            for m, keep in zip((1, 3, 6), kept[1:], strict=True)
        ],
    }
