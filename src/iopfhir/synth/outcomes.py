"""How each synthetic patient's treatment goes: the outcome course drawn before the episode.

A :class:`Course` says whether the symptoms fall, plateau or rise (and how far), whether
the patient drops out (and in which week), whether they are readmitted to inpatient care
after discharge (and how many days after), how well they keep their aftercare, and whether
the program measures quality of life (PROMIS-10, WHODAS 2.0). It is drawn from a random
stream of its own (``"<seed>-<index>-course"``), so the other draws of an episode keep
their order. The proportions (documented in docs/outcomes.md, "Synthetic cohorts"):

* trajectories: 45 % responders (the severity falls by 55-90 %), 25 % partial responders
  (20-45 %), 20 % non-responders (a plateau: -10 % to +15 %), 10 % worsening (rises by
  15-45 %); most of the change comes early (an exponential approach), scores are noisy;
* dropouts: 20 % stop attending in a week from the fourth to the second-to-last; before
  that they miss more sessions (15 % no-shows instead of 6 %), the week they stop is all
  no-shows, and they are discharged lost to follow-up or against advice;
* readmission to inpatient care within 90 days of discharge: 30 % of dropouts, 20 % of
  non-responders and worsening patients, 5 % of the others; 60 % of those within 30 days
  (written only when the cohort is drawn with readmissions: the readmission is the
  patient's next episode, see :mod:`.episode`);
* aftercare: each check-in and the first aftercare visit kept with probability 0.8
  (0.4 after a dropout);
* thoughts of self-harm: 30 % of patients report them (PHQ-9 item 9 above 0 while their
  symptoms last; the C-SSRS intake screen asks the first question yes for 80 % of them);
* quality of life: 60 % of programs give PROMIS-10 and WHODAS 2.0 at the first and last
  measurement.

Imports the terminology (instrument answers) only.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from iopfhir.terminology import instrument

__all__ = ["Course", "draw_course", "quality_answers"]

_TRAJECTORIES = {
    "responder": (0.45, (0.55, 0.90)),
    "partial": (0.25, (0.20, 0.45)),
    "non-responder": (0.20, (-0.10, 0.15)),
    "worsening": (0.10, (-0.45, -0.15)),
}
_DROPOUT = 0.20
_READMIT = {"dropout": 0.30, "poor": 0.20, "other": 0.05}
_READMIT_WITHIN_30 = 0.60
_KEEP_AFTERCARE = {"dropout": 0.4, "other": 0.8}
_QUALITY_OF_LIFE = 0.60
_SELF_HARM = 0.30
_SHAPE = 3.0  # how early the change comes: 1 - exp(-3 t), normalised to reach 1 at the end


@dataclass(frozen=True, slots=True)
class Course:
    """One patient's course: symptoms, dropout, readmission, aftercare, what is measured."""

    trajectory: str
    baseline: float  # severity level at admission, 0 (none) .. 1 (most severe)
    change: float  # the share by which the level falls by the end (negative: it rises)
    dropout_week: int | None  # the week (from 0) the patient stops attending
    readmit_days: int | None  # days from discharge to an inpatient readmission
    keep_aftercare: float  # probability of keeping each aftercare contact
    quality_of_life: bool  # PROMIS-10 and WHODAS 2.0 at the first and last measurement
    self_harm: bool  # reports thoughts of self-harm while symptomatic
    rng: random.Random

    def level(self, week: int, weeks: int) -> float:
        """The severity level in ``week`` of an episode of ``weeks`` weeks."""
        t = min(1.0, week / max(1, weeks - 1))
        progress = (1 - math.exp(-_SHAPE * t)) / (1 - math.exp(-_SHAPE))
        return max(0.0, min(1.0, self.baseline * (1 - self.change * progress)))

    @property
    def dropped_out(self) -> bool:
        """Whether the patient stopped attending before the planned end."""
        return self.dropout_week is not None


def draw_course(seed: int, index: int, weeks: int) -> Course:
    """The course of episode ``index`` of a program planned for ``weeks`` weeks."""
    rng = random.Random(f"{seed}-{index}-course")
    names = list(_TRAJECTORIES)
    trajectory = rng.choices(names, [_TRAJECTORIES[n][0] for n in names])[0]
    low, high = _TRAJECTORIES[trajectory][1]
    change = rng.uniform(low, high)
    baseline = rng.uniform(0.35, 0.85)
    dropout_week = rng.randint(3, max(3, weeks - 2)) if rng.random() < _DROPOUT else None
    if dropout_week is not None:
        risk = _READMIT["dropout"]
    elif trajectory in ("non-responder", "worsening"):
        risk = _READMIT["poor"]
    else:
        risk = _READMIT["other"]
    readmit_days = None
    if rng.random() < risk:
        within_30 = rng.random() < _READMIT_WITHIN_30
        readmit_days = rng.randint(3, 30) if within_30 else rng.randint(31, 90)
    keep = _KEEP_AFTERCARE["dropout" if dropout_week is not None else "other"]
    quality = rng.random() < _QUALITY_OF_LIFE
    self_harm = rng.random() < _SELF_HARM
    return Course(
        trajectory, baseline, change, dropout_week, readmit_days, keep, quality, self_harm, rng
    )


def quality_answers(rng: random.Random, inst_id: str, level: float) -> dict[str, int]:
    """PROMIS-10 or WHODAS 2.0 answers for a severity ``level``: PROMIS items rate health
    (5 best; the pain rating 0-10, 10 worst), WHODAS items difficulty (1 none .. 5 extreme)."""
    answers: dict[str, int] = {}
    for item in instrument(inst_id).items:
        values = sorted(a.score for a in item.answers)
        low, high = values[0], values[-1]
        if item.recode:  # the pain rating: higher is worse
            mean = low + level * 0.7 * (high - low)
        elif inst_id == "promis-10":  # higher is better health
            mean = high - level * (high - low)
        else:
            mean = low + level * (high - low)
        answers[item.id] = max(low, min(high, round(rng.gauss(mean, 0.6))))
    return answers
