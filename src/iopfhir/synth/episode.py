"""One synthetic episode from its parts, and the cohort.

:func:`synth_episode_data` calls the steps in the order of their random draws (frame,
team, support, diagnoses, care plans, sessions, measures, patient, referral,
disposition): changing the order changes every seed's output. The patient's course
(:mod:`.outcomes`) is drawn from a stream of its own right after the frame: a dropout
shortens the frame. With ``readmissions=True`` a patient readmitted after discharge comes
back as the next episode of the cohort (the same patient, referred from the readmission
stay), so a cohort of N episodes has fewer than N patients; without it (the default)
every episode is a patient of its own, as the ``synth`` command writes them. Imports
:mod:`iopfhir.domain` and the other synth modules.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from iopfhir.domain import Episode

from .measures import draw_measures
from .outcomes import draw_course
from .people import (
    Frame,
    Team,
    draw_diagnoses,
    draw_disposition,
    draw_frame,
    draw_medications,
    draw_patient,
    draw_referral,
    draw_support,
    draw_team,
)
from .plans import draw_care_plans, weekly_reviews
from .pools import NPI_SYSTEM, staff_pool
from .schedule import draw_sessions

__all__ = ["Readmission", "synth_episode_data", "synth_episodes"]

Data = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Readmission:
    """A patient readmitted to inpatient care after an earlier episode of the cohort."""

    patient: Data
    kind: str
    admitted: date


def synth_episode_data(
    index: int, seed: int, staff: dict[str, list[Data]], readmission: Readmission | None = None
) -> Data:
    """One synthetic episode as input-format data (what an episode file holds)."""
    return _episode(index, seed, staff, readmission)[0]


def _episode(
    index: int, seed: int, staff: dict[str, list[Data]], readmission: Readmission | None
) -> tuple[Data, Readmission | None]:
    """The episode's data, and the readmission that follows it (if any)."""
    frame = draw_frame(index, seed)
    planned_weeks = frame.weeks
    course = draw_course(seed, index, planned_weeks)
    if readmission is not None:  # the next IOP episode after the readmission stay
        course = replace(course, readmit_days=None)
        ready = readmission.admitted + timedelta(days=course.rng.randint(5, 14))
        start = ready + timedelta(days=(7 - ready.weekday()) % 7)  # admitted on a Monday
        frame = replace(frame, kind=readmission.kind, start=start)
    weeks = planned_weeks if course.dropout_week is None else course.dropout_week + 1
    end = frame.start + timedelta(weeks=weeks) - timedelta(days=3)
    period = {"start": frame.start.isoformat(), "end": end.isoformat()}
    frame = replace(frame, weeks=weeks, end=end, period=period)
    team = draw_team(frame, staff)
    support = draw_support(frame)
    dx = draw_diagnoses(frame)
    plans = draw_care_plans(frame, team, [d["key"] for d in dx], course)
    sessions, session_days = draw_sessions(frame, team, plans, course)
    measures = draw_measures(frame, team.lead, session_days, course, planned_weeks)
    patient = draw_patient(frame)
    if readmission is not None:
        patient = copy.deepcopy(readmission.patient)
    referral = draw_referral(frame, team, readmission.admitted if readmission else None)
    disposition = draw_disposition(frame, course.dropped_out)
    following = None
    if course.readmit_days is not None:
        admitted = frame.end + timedelta(days=course.readmit_days)
        following = Readmission(copy.deepcopy(patient), frame.kind, admitted)
    data = {
        "key": f"syn-{seed}-{index:05d}",
        "patient": patient,
        "program": _program(frame.kind),
        "status": "finished",
        "admission": frame.start.isoformat(),
        "referral": referral,
        "discharge": {"date": frame.end.isoformat(), "disposition": disposition},
        "part2": frame.kind != "mental-health",
        "care_manager": team.by_role["case-manager"],
        "organizations": [_program_site(seed)],
        "practitioners": team.practitioners,
        "supports": [support],
        "teams": [_team(frame, team)],
        "diagnoses": dx,
        "care_plans": plans.care_plans,
        "sessions": sessions,
        "measures": measures,
        "reviews": weekly_reviews(frame, team, plans, measures),
        **draw_medications(frame, team, dx),
    }
    return data, following


def _program(kind: str) -> Data:
    return {
        "name": f"{kind.replace('-', ' ').title()} IOP",
        "type": kind,
        "organization": "program-site",
        "min_hours_per_week": 9,
        "min_days_per_week": 3,
    }


def _program_site(seed: int) -> Data:
    return {
        "key": "program-site",
        "name": "Riverside Behavioral Health IOP",
        "identifiers": [{"system": NPI_SYSTEM, "value": f"19{seed:08d}"}],
        "kind": "provider",
    }


def _team(frame: Frame, team: Team) -> Data:
    return {
        "key": "iop-team",
        "name": "IOP team",
        "status": "inactive",
        "organization": "program-site",
        "period": frame.period,
        "members": [{"member": p["key"], "role": p["role"]} for p in team.practitioners]
        + [{"member": "support-1", "role": "caregiver"}],
    }


def synth_episodes(n: int, seed: int = 0, *, readmissions: bool = False) -> Iterator[Episode]:
    """``n`` synthetic episodes, the same for the same ``seed``, built one at a time.

    ``readmissions``: a patient whose course readmits them to inpatient care after
    discharge comes back as the next episode (the same patient, referred from that stay),
    which the readmission measures find; without it every episode has its own patient.
    """
    staff = staff_pool(seed)
    readmission: Readmission | None = None
    for index in range(n):
        data, following = _episode(index, seed, staff, readmission)
        readmission = following if readmissions else None
        yield Episode.model_validate(data)
