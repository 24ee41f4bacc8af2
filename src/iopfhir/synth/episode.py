"""One synthetic episode from its parts, and the cohort.

:func:`synth_episode_data` calls the steps in the order of their random draws (frame,
team, support, diagnoses, care plans, sessions, measures, patient, referral,
disposition): changing the order changes every seed's output. Imports
:mod:`iopfhir.domain` and the other synth modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from iopfhir.domain import Episode

from .measures import draw_measures
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

__all__ = ["synth_episode_data", "synth_episodes"]

Data = dict[str, Any]


def synth_episode_data(index: int, seed: int, staff: dict[str, list[Data]]) -> Data:
    """One synthetic episode as input-format data (what an episode file holds)."""
    frame = draw_frame(index, seed)
    team = draw_team(frame, staff)
    support = draw_support(frame)
    dx = draw_diagnoses(frame)
    plans = draw_care_plans(frame, team, [d["key"] for d in dx])
    sessions, session_days = draw_sessions(frame, team, plans)
    measures = draw_measures(frame, team.lead, session_days)
    patient = draw_patient(frame)
    referral = draw_referral(frame, team)
    disposition = draw_disposition(frame)
    return {
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


def synth_episodes(n: int, seed: int = 0) -> Iterator[Episode]:
    """``n`` synthetic episodes, the same for the same ``seed``, built one at a time."""
    staff = staff_pool(seed)
    for index in range(n):
        yield Episode.model_validate(synth_episode_data(index, seed, staff))
