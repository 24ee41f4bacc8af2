"""The session schedule: three program days a week, two family sessions, a weekly team
review and a family-education evening.

Each program day draws once whether the patient attended, did not show or the day was
cancelled (a patient who drops out misses more days, and every day of the week they stop:
:mod:`.outcomes`); family sessions (weeks 2 and second to last) are always attended. The team
reviews the patient's progress after the last program day of each week, and the family
takes part in one education evening in week 2: both meet without the patient and draw
nothing, so the random stream (and every other part of an episode) is as before. Returns
the attended program days too: the measures are taken on them. Imports :mod:`.people`,
:mod:`.plans`, :mod:`.pools`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from .outcomes import Course
from .people import Frame, Team
from .plans import Plans
from .pools import WEEKDAYS, ts

__all__ = ["draw_sessions"]

Data = dict[str, Any]


_NO_SHOW = {"dropout": 0.15, "other": 0.06}
_CANCELLED = 0.03


def draw_sessions(
    frame: Frame, team: Team, plans: Plans, course: Course
) -> tuple[list[Data], list[tuple[date, str]]]:
    """The sessions in order, and the (day, session key) of each attended program day."""
    sessions: list[Data] = []
    session_days: list[tuple[date, str]] = []
    days = plans.days
    for week in range(frame.weeks):
        monday = frame.start + timedelta(weeks=week)
        for day_key in days:
            day = monday + timedelta(days=WEEKDAYS.index(day_key))
            if day > frame.end:
                continue
            no_show = _NO_SHOW["dropout" if course.dropped_out else "other"]
            if week == course.dropout_week:
                no_show = 1.0
            s_key = f"s{len(sessions) + 1:03d}"
            session = _program_day(frame, team, plans, day, day_key, s_key, no_show)
            if session["status"] == "attended":
                session_days.append((day, session["key"]))
            sessions.append(session)
        last_day = monday + timedelta(days=WEEKDAYS.index(days[-1]))
        if week in (2, frame.weeks - 2) and week != course.dropout_week:
            sessions.append(_family_session(frame, team, last_day, f"s{len(sessions) + 1:03d}"))
        if week == 1:
            day = monday + timedelta(days=WEEKDAYS.index(days[0]))
            sessions.append(_family_education(frame, team, day, f"s{len(sessions) + 1:03d}"))
        if last_day <= frame.end:
            sessions.append(_team_review(frame, team, last_day, f"s{len(sessions) + 1:03d}"))
    return sessions, session_days


def _program_day(
    frame: Frame, team: Team, plans: Plans, day: date, day_key: str, s_key: str, no_show: float
) -> Data:
    tz = frame.tz
    activity = "act-group" if day_key in plans.days[:2] else "act-skills"
    roll = frame.rng.random()
    session: Data = {
        "key": s_key,
        "kind": "group-therapy" if activity == "act-group" else "skills-group",
        "status": "attended",
        "start": ts(day, 9, tz=tz),
        "end": ts(day, 12, tz=tz),
        "facilitator": team.by_role["counselor"] if activity == "act-group" else team.lead,
        "activity": activity,
        "telehealth": activity == "act-skills" and plans.skills_telehealth,
    }
    if roll < no_show:
        session["status"] = "no-show"
    elif roll < no_show + _CANCELLED:
        session["status"] = "cancelled"
        session["cancel_reason"] = "Program closed"
    else:
        session["actual_start"] = ts(day, 9, tz=tz)
        session["actual_end"] = ts(day, 12, tz=tz)
    return session


def _family_session(frame: Frame, team: Team, day: date, s_key: str) -> Data:
    tz = frame.tz
    return {
        "key": s_key,
        "kind": "family-therapy",
        "status": "attended",
        "start": ts(day, 13, tz=tz),
        "end": ts(day, 14, tz=tz),
        "actual_start": ts(day, 13, tz=tz),
        "actual_end": ts(day, 14, tz=tz),
        "facilitator": team.lead,
        "attendees": ["support-1"],
        "activity": "act-family",
    }


def _team_review(frame: Frame, team: Team, day: date, s_key: str) -> Data:
    """The weekly team review of the patient's progress (without the patient)."""
    tz = frame.tz
    return {
        "key": s_key,
        "kind": "team-review",
        "status": "attended",
        "start": ts(day, 13, tz=tz),
        "end": ts(day, 14, tz=tz),
        "facilitator": team.lead,
        "attendees": [p["key"] for p in team.practitioners if p["key"] != team.lead],
    }


def _family_education(frame: Frame, team: Team, day: date, s_key: str) -> Data:
    """An education evening for the family (without the patient), by video."""
    tz = frame.tz
    return {
        "key": s_key,
        "kind": "family-education",
        "status": "attended",
        "start": ts(day, 18, tz=tz),
        "end": ts(day, 19, tz=tz),
        "telehealth": True,
        "facilitator": team.by_role["counselor"],
        "attendees": ["support-1"],
        "modality": "supportive",
    }
