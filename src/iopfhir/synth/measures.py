"""The measures: the program's instruments every two weeks, and a suicide-risk screen.

Scores track a severity level that starts at a drawn baseline and improves by a drawn
share over the program, so most patients get better; answers scatter around the level.
Imports :mod:`iopfhir.terminology` (the instruments), :mod:`.people`, :mod:`.pools`.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from iopfhir.terminology import instrument

from .people import Frame
from .pools import ts

__all__ = ["draw_measures"]

Data = dict[str, Any]


def draw_measures(frame: Frame, lead: str, session_days: list[tuple[date, str]]) -> list[Data]:
    """Instruments on the first attended day of every second week; C-SSRS at the first."""
    rng, weeks = frame.rng, frame.weeks
    instruments = ["phq-9", "gad-7"] if frame.kind == "mental-health" else ["audit-c", "phq-9"]
    measures: list[Data] = []
    baseline = rng.uniform(0.45, 0.85)
    improvement = rng.uniform(0.2, 0.9)
    attended = sorted(session_days)
    for n, week in enumerate(range(0, weeks, 2)):
        candidates = [sd for sd in attended if (sd[0] - frame.start).days // 7 == week]
        if not candidates:
            continue
        day, s_key = candidates[0]
        level = baseline * (1 - improvement * week / max(1, weeks - 1))
        for inst_id in instruments:
            measures.append(
                {
                    "key": f"{inst_id}-w{week}",
                    "instrument": inst_id,
                    "date": ts(day, 8, 30 + n % 20, tz=frame.tz),
                    "answers": _scores(rng, inst_id, level),
                    "session": s_key,
                    "performer": lead,
                }
            )
        if n == 0:
            measures.append(
                {
                    "key": "c-ssrs-intake",
                    "instrument": "c-ssrs",
                    "date": ts(day, 8, 55, tz=frame.tz),
                    "answers": {"q1": int(rng.random() < 0.3), "q2": 0, "q6": 0},
                    "session": s_key,
                    "performer": lead,
                }
            )
    return measures


def _scores(rng: random.Random, inst_id: str, level: float) -> dict[str, int]:
    """Answers whose points track ``level`` (0 = no symptoms, 1 = most severe)."""
    inst = instrument(inst_id)
    answers: dict[str, int] = {}
    for item in inst.items:
        top = item.max_score
        mean = level * top
        answers[item.id] = max(0, min(top, round(rng.gauss(mean, 0.6))))
    return answers
