"""The measures: the program's instruments every two weeks, and a suicide-risk screen.

Scores track the severity level of the patient's course (:mod:`.outcomes`: it falls,
plateaus or rises over the planned weeks); answers scatter around the level. Where the
program measures quality of life, PROMIS-10 and WHODAS 2.0 come with the first and the
last administration. Imports :mod:`iopfhir.terminology` (the instruments), :mod:`.people`,
:mod:`.outcomes`, :mod:`.pools`.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from iopfhir.terminology import instrument

from .outcomes import Course, quality_answers
from .people import Frame
from .pools import ts

__all__ = ["draw_measures"]

Data = dict[str, Any]

_SAFETY_ITEM_SHARE = 0.6  # thoughts of self-harm weigh less than the other symptoms
_SCREEN_YES = 0.8  # of the patients with such thoughts, the share the intake screen finds


def draw_measures(
    frame: Frame,
    lead: str,
    session_days: list[tuple[date, str]],
    course: Course,
    planned_weeks: int,
) -> list[Data]:
    """Instruments on the first attended day of every second week; C-SSRS at the first;
    PROMIS-10 and WHODAS 2.0 at the first and last when the course measures them."""
    rng, weeks = frame.rng, frame.weeks
    instruments = ["phq-9", "gad-7"] if frame.kind == "mental-health" else ["audit-c", "phq-9"]
    measures: list[Data] = []
    attended = sorted(session_days)
    occasions = []
    for week in range(0, weeks, 2):
        candidates = [sd for sd in attended if (sd[0] - frame.start).days // 7 == week]
        if candidates:
            occasions.append((week, *candidates[0]))
    for n, (week, day, s_key) in enumerate(occasions):
        level = course.level(week, planned_weeks)
        quality = course.quality_of_life and len(occasions) > 1 and n in (0, len(occasions) - 1)
        for inst_id in instruments + (["promis-10", "whodas-12"] if quality else []):
            answers = (
                _scores(rng, inst_id, level, course.self_harm)
                if inst_id in instruments
                else quality_answers(course.rng, inst_id, level)
            )
            measures.append(
                {
                    "key": f"{inst_id}-w{week}",
                    "instrument": inst_id,
                    "date": ts(day, 8, 30 + n % 20, tz=frame.tz),
                    "answers": answers,
                    "session": s_key,
                    "performer": lead,
                }
            )
        if n == 0:
            asked = rng.random() < _SCREEN_YES
            measures.append(
                {
                    "key": "c-ssrs-intake",
                    "instrument": "c-ssrs",
                    "date": ts(day, 8, 55, tz=frame.tz),
                    "answers": {"q1": int(course.self_harm and asked), "q2": 0, "q6": 0},
                    "session": s_key,
                    "performer": lead,
                }
            )
    return measures


def _scores(rng: random.Random, inst_id: str, level: float, self_harm: bool) -> dict[str, int]:
    """Answers whose points track ``level`` (0 = no symptoms, 1 = most severe); the
    self-harm item (PHQ-9 item 9) stays 0 for a patient without such thoughts."""
    inst = instrument(inst_id)
    safety_items = {item_id for item_id, _min, _flag in inst.safety}
    answers: dict[str, int] = {}
    for item in inst.items:
        top = item.max_score
        mean = level * top
        if item.id in safety_items:
            mean = mean * _SAFETY_ITEM_SHARE if self_harm else -top
        answers[item.id] = max(0, min(top, round(rng.gauss(mean, 0.6))))
    return answers
