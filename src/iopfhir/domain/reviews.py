"""Weekly reviews: the goal statuses and plan changes a team review made, and goals over time.

A :class:`Review` is dated, authored by a practitioner and may name the team-review
session it happened in; it records the statuses it set on goals
(:class:`GoalStatusChange`) and the changes it made to the treatment plan's activities
(:class:`PlanChange`). A goal's history is the reviews that touched it, in date order
(list order among reviews of the same moment); its current status is the latest's (the
episode sets a reviewed goal's statuses from it).

:func:`derive_achievement` says what the targeted measures say of a goal (PHQ-9 total
under 5 by the due date: achieved); :func:`achievement_disagreements` lists the goals
whose typed achievement the scores contradict (reported, never changed silently).

Imports: :mod:`iopfhir.domain.common`, :mod:`iopfhir.domain.plans`,
:mod:`iopfhir.domain.measures` (the episode imports this module, not the reverse).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError, model_validator

from iopfhir.domain.common import Day, Key, Model, Timestamp, when
from iopfhir.domain.measures import Measure
from iopfhir.domain.plans import (
    Goal,
    GoalAchievementStatus,
    GoalLifecycleStatus,
    GoalTarget,
)

if TYPE_CHECKING:
    from iopfhir.domain.plans import CarePlan

__all__ = [
    "GoalStatusChange",
    "PlanChange",
    "Review",
    "achievement_disagreements",
    "current_statuses",
    "derive_achievement",
    "fill_goal_statuses",
    "goal_history",
    "status_problems",
]

PlanChangeKind = Literal["added", "stopped", "changed"]


class GoalStatusChange(Model):
    """The statuses one review set on one goal."""

    goal: Key
    lifecycle_status: GoalLifecycleStatus = "active"
    achievement_status: GoalAchievementStatus | None = None
    note: str | None = Field(default=None, min_length=1)


class PlanChange(Model):
    """A change one review made to a treatment-plan activity."""

    activity: Key
    change: PlanChangeKind
    note: str | None = Field(default=None, min_length=1)


class Review(Model):
    """A (weekly) team review of the plan: when, by whom, in which session, what it set."""

    key: Key
    date: Day | Timestamp
    author: Key
    session: Key | None = None
    goals: list[GoalStatusChange] = Field(default_factory=list)
    plan_changes: list[PlanChange] = Field(default_factory=list)

    @model_validator(mode="after")
    def _changes(self) -> Review:
        if not self.goals and not self.plan_changes:
            raise ValueError("@goals: a review records at least one goal status or plan change")
        seen: set[str] = set()
        for i, change in enumerate(self.goals):
            if change.goal in seen:
                raise ValueError(f"@goals[{i}].goal: the goal is set twice in one review")
            seen.add(change.goal)
        return self

    @property
    def day(self) -> dt.date:
        """The review's date (the day of a timestamp, in its own offset)."""
        return self.date.date() if isinstance(self.date, dt.datetime) else self.date


def _in_order(reviews: Iterable[Review]) -> list[Review]:
    """Reviews by date; list order among reviews of the same moment (a stable sort)."""
    return sorted(reviews, key=lambda r: when(r.date))


def goal_history(reviews: Iterable[Review], goal: str) -> list[tuple[Review, GoalStatusChange]]:
    """The reviews that set a status on ``goal``, oldest first, with what each set."""
    out = []
    for review in _in_order(reviews):
        for change in review.goals:
            if change.goal == goal:
                out.append((review, change))
    return out


def current_statuses(reviews: Iterable[Review]) -> dict[str, tuple[Review, GoalStatusChange]]:
    """Goal key → the latest review that set its status, and what it set."""
    out: dict[str, tuple[Review, GoalStatusChange]] = {}
    for review in _in_order(reviews):
        for change in review.goals:
            out[change.goal] = (review, change)
    return out


def _status_fields(review: Review, change: GoalStatusChange) -> dict[str, Any]:
    return {
        "lifecycle_status": change.lifecycle_status,
        "achievement_status": change.achievement_status,
        "status_date": review.day,
    }


def fill_goal_statuses(data: Any) -> Any:
    """Episode input (``mode="before"``) with each reviewed goal's current statuses
    (lifecycle, achievement, status date) set to its latest review's: the reviews are the
    record of who set what when, so they win over what the goal itself states."""
    if not isinstance(data, dict):
        return data
    reviews, care_plans = data.get("reviews"), data.get("care_plans")
    if not isinstance(reviews, list) or not isinstance(care_plans, list) or not reviews:
        return data  # nothing to set, or malformed: the episode's own validation reports it
    try:
        parsed = [r if isinstance(r, Review) else Review.model_validate(r) for r in reviews]
    except (ValidationError, TypeError, ValueError):
        return data
    latest = current_statuses(parsed)
    if not latest:
        return data
    plans = [_fill_plan(plan, latest) for plan in care_plans]
    return {**data, "care_plans": plans}


def _fill_plan(plan: Any, latest: dict[str, tuple[Review, GoalStatusChange]]) -> Any:
    if isinstance(plan, dict):
        goals = plan.get("goals")
        if not isinstance(goals, list):
            return plan
        return {**plan, "goals": [_fill_goal(g, latest) for g in goals]}
    goals = getattr(plan, "goals", None)
    if isinstance(plan, Model) and isinstance(goals, list):
        return plan.model_copy(update={"goals": [_fill_goal(g, latest) for g in goals]})
    return plan


def _fill_goal(goal: Any, latest: dict[str, tuple[Review, GoalStatusChange]]) -> Any:
    if isinstance(goal, dict):
        key = goal.get("key")
        found = latest.get(key) if isinstance(key, str) else None
        if found is None:
            return goal
        return {**goal, **_status_fields(*found)}
    if isinstance(goal, Goal):
        found = latest.get(goal.key)
        if found is None:
            return goal
        update = {k: v for k, v in _status_fields(*found).items() if getattr(goal, k) != v}
        return goal.model_copy(update=update) if update else goal
    return goal


def status_problems(
    care_plans: Sequence[CarePlan], reviews: Sequence[Review]
) -> Iterator[tuple[str, str]]:
    """(JSON path, message) for every reviewed goal whose current statuses are not its
    latest review's."""
    latest = current_statuses(reviews)
    for p, plan in enumerate(care_plans):
        for g, goal in enumerate(plan.goals):
            found = latest.get(goal.key)
            if found is None:
                continue
            for field, value in _status_fields(*found).items():
                if getattr(goal, field) != value:
                    yield (
                        f"$.care_plans[{p}].goals[{g}].{field}",
                        "differs from the latest review that set the goal's status",
                    )


# -- achievement from the targeted measures ------------------------------------------------

_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">=": operator.ge,
    ">": operator.gt,
}


def _target_status(target: GoalTarget, measures: Sequence[Measure], on: date) -> str | None:
    """``achieved``, ``not-achieved`` (the due date reached without it), ``in-progress``, or
    ``None`` (no score of the instrument by then)."""
    cutoff = min(on, target.due) if target.due is not None else on
    scored = [
        (when(m.date), score)
        for m in measures
        if m.instrument == target.instrument
        and m.date.date() <= cutoff
        and (score := m.score) is not None
    ]
    if not scored:
        return "not-achieved" if target.due is not None and on >= target.due else None
    _moment, score = max(scored, key=lambda pair: pair[0])
    if _COMPARE[target.comparator](score, target.value):
        return "achieved"
    return "not-achieved" if target.due is not None and on >= target.due else "in-progress"


def derive_achievement(
    goal: Goal, measures: Sequence[Measure], on: date
) -> GoalAchievementStatus | None:
    """What the goal's targeted measures say on day ``on``: ``achieved`` when the latest
    score of each target's instrument (up to its due date) meets it, ``not-achieved`` when
    a due date is reached without that, else ``in-progress``; ``None`` when the goal has no
    targets or no score of a target's instrument yet."""
    if not goal.targets:
        return None
    statuses = [_target_status(t, measures, on) for t in goal.targets]
    if "not-achieved" in statuses:
        return "not-achieved"
    if None in statuses:
        return None
    if all(s == "achieved" for s in statuses):
        return "achieved"
    return "in-progress"


#: typed achievement statuses that claim the target is met, and those that deny it
_MET = frozenset({"achieved", "sustaining"})
_UNMET = frozenset({"not-achieved", "not-attainable"})


def achievement_disagreements(
    care_plans: Sequence[CarePlan], measures: Sequence[Measure], on: date
) -> list[tuple[str, str]]:
    """(JSON path, message) for every goal whose typed achievement the scores contradict
    on day ``on`` (typed achieved but the scores say not, or the reverse). Nothing is
    changed: the caller reports these as warnings."""
    out = []
    for p, plan in enumerate(care_plans):
        for g, goal in enumerate(plan.goals):
            typed = goal.achievement_status
            derived = derive_achievement(goal, measures, on)
            if typed is None or derived is None:
                continue
            if typed in _MET and derived != "achieved":
                reason = f"typed {typed}, but the targeted scores say {derived}"
            elif typed not in _MET and derived == "achieved":
                reason = f"typed {typed}, but the targeted scores meet the target"
            elif typed in _UNMET and derived == "in-progress":
                reason = f"typed {typed}, but the due date is not reached"
            else:
                continue
            out.append((f"$.care_plans[{p}].goals[{g}].achievement_status", reason))
    return out
