"""Weekly reviews in the domain: what a review records, the goal history it makes, the
goal's current status (the latest review's), the reference rules (JSON paths), and goal
achievement derived from the targeted measure."""

from __future__ import annotations

import copy
import itertools
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from domain_support import _strings, error_of
from pydantic import ValidationError

from iopfhir.domain import (
    Episode,
    Goal,
    GoalStatusChange,
    GoalTarget,
    Measure,
    PlanChange,
    Review,
    achievement_disagreements,
    derive_achievement,
    goal_history,
    parse_episodes,
)
from iopfhir.domain.reviews import PlanChangeKind
from iopfhir.synth import synth_episodes
from iopfhir.terminology import codes

PACKAGED = Path(__file__).resolve().parents[2] / "src" / "iopfhir" / "examples"
EST = timezone(timedelta(hours=-5))


@pytest.fixture
def mh() -> dict[str, Any]:
    """The packaged mental-health example (it has three reviews) as raw data."""
    text = (PACKAGED / "mental-health-iop.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = _strings(yaml.safe_load(text))
    return loaded


def _episode(data: dict[str, Any]) -> Episode:
    return parse_episodes(copy.deepcopy(data), source="episode.yaml")[0]


def _goal(episode: Episode, key: str) -> Goal:
    return next(g for g in episode.goals if g.key == key)


# -- what a review records ---------------------------------------------------------------


def test_a_review_records_at_least_one_change() -> None:
    with pytest.raises(ValidationError, match="at least one"):
        Review(key="r", date=date(2026, 3, 6), author="th")


def test_a_review_sets_a_goal_once() -> None:
    change = GoalStatusChange(goal="g", lifecycle_status="active")
    with pytest.raises(ValidationError, match=r"goals\[1\]\.goal"):
        Review(key="r", date=date(2026, 3, 6), author="th", goals=[change, change])


def test_plan_changes_are_typed() -> None:
    with pytest.raises(ValidationError):
        PlanChange(activity="act", change="renamed")  # type: ignore[arg-type]
    assert PlanChange(activity="act", change="stopped").change == "stopped"
    # the kinds are the project code system the profile binds (codes.json)
    concepts = codes()["code_systems"]["plan-change-kind"]["concepts"]
    assert set(get_args(PlanChangeKind)) == set(concepts)


def test_the_example_reviews_load(mh: dict[str, Any]) -> None:
    episode = _episode(mh)
    assert [r.key for r in episode.reviews] == [
        "review-2026-03-13",
        "review-2026-03-27",
        "review-2026-04-24",
    ]
    assert episode.reviews[1].plan_changes[0] == PlanChange(
        activity="act-med-mgmt", change="changed", note="Sertraline increased."
    )


# -- goal history and current status -----------------------------------------------------


def test_goal_history_is_in_date_order_whatever_the_list_order(mh: dict[str, Any]) -> None:
    mh["reviews"].reverse()
    episode = _episode(mh)
    history = goal_history(episode.reviews, "goal-depression")
    assert [r.key for r, _c in history] == ["review-2026-03-13", "review-2026-04-24"]
    assert [c.achievement_status for _r, c in history] == ["improving", "achieved"]
    # the latest review, not the last in the list, sets the goal
    goal = _goal(episode, "goal-depression")
    assert (goal.lifecycle_status, goal.achievement_status) == ("completed", "achieved")
    assert goal.status_date == date(2026, 4, 24)


def test_the_latest_review_sets_the_goal_over_what_the_goal_states(mh: dict[str, Any]) -> None:
    goal_data = mh["care_plans"][0]["goals"][0]
    goal_data["lifecycle_status"] = "active"
    goal_data["achievement_status"] = "worsening"
    goal_data["status_date"] = "2026-03-01"
    mh["reviews"][2]["goals"][0]["achievement_status"] = "sustaining"
    goal = _goal(_episode(mh), "goal-depression")
    assert (goal.lifecycle_status, goal.achievement_status, goal.status_date) == (
        "completed",
        "sustaining",
        date(2026, 4, 24),
    )


def test_reviews_of_the_same_moment_apply_in_list_order(mh: dict[str, Any]) -> None:
    mh["reviews"].append(
        {
            "key": "review-same-day",
            "date": "2026-04-24",
            "author": "dr-patel",
            "goals": [{"goal": "goal-depression", "lifecycle_status": "on-hold"}],
        }
    )
    goal = _goal(_episode(mh), "goal-depression")
    assert (goal.lifecycle_status, goal.achievement_status) == ("on-hold", None)


def test_a_timestamped_review_sets_the_day_in_its_own_offset(mh: dict[str, Any]) -> None:
    mh["reviews"][2]["date"] = "2026-04-24T23:30:00-05:00"  # 04:30 UTC the next day
    goal = _goal(_episode(mh), "goal-depression")
    assert goal.status_date == date(2026, 4, 24)


def test_goals_no_review_touches_keep_their_own_status(mh: dict[str, Any]) -> None:
    goal = _goal(_episode(mh), "goal-coping")
    assert (goal.lifecycle_status, goal.achievement_status, goal.status_date) == (
        "active",
        "in-progress",
        None,
    )


def test_model_instances_are_set_too() -> None:
    goal = Goal(key="g", description="Feel better", lifecycle_status="proposed")
    review = Review(
        key="r",
        date=datetime(2026, 3, 6, 15, tzinfo=EST),
        author="th",
        goals=[
            GoalStatusChange(goal="g", lifecycle_status="active", achievement_status="improving")
        ],
    )
    episode = Episode.model_validate(
        {
            "key": "ep",
            "patient": {"key": "patient", "identifiers": [{"system": "urn:x", "value": "1"}]},
            "practitioners": [{"key": "th", "name": {"family": "Hale"}}],
            "care_plans": [{"kind": "treatment", "key": "tp", "goals": [goal]}],
            "reviews": [review],
        }
    )
    again = episode.goals[0]
    assert (again.lifecycle_status, again.achievement_status, again.status_date) == (
        "active",
        "improving",
        date(2026, 3, 6),
    )
    assert goal.lifecycle_status == "proposed"  # the input object is not changed


# -- references (JSON paths) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "value", "path"),
    [
        (("author",), "nobody", "$.reviews[1].author"),
        (("author",), "mother", "$.reviews[1].author"),  # a support, not a practitioner
        (("session",), "no-such-session", "$.reviews[1].session"),
        (("goals", 0, "goal"), "goal-unknown", "$.reviews[1].goals[0].goal"),
        (("plan_changes", 1, "activity"), "act-unknown", "$.reviews[1].plan_changes[1].activity"),
        (("key",), "review-2026-03-13", "$.reviews[1].key"),
    ],
)
def test_review_references_are_checked(
    mh: dict[str, Any], where: tuple[Any, ...], value: str, path: str
) -> None:
    node: Any = mh["reviews"][1]
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = value
    assert error_of(mh).path == path


def test_a_review_may_name_its_session(mh: dict[str, Any]) -> None:
    session = mh["sessions"][3]["key"]
    mh["reviews"][0]["session"] = session
    assert _episode(mh).reviews[0].session == session


# -- achievement from the targeted measure -------------------------------------------------


def _phq9(day: date, total: int, key: str) -> Measure:
    return Measure(
        key=key,
        instrument="phq-9",
        date=datetime(day.year, day.month, day.day, 9, tzinfo=EST),
        total=total,
    )


REMISSION = Goal(
    key="g",
    description="PHQ-9 below 5",
    targets=[GoalTarget(instrument="phq-9", comparator="<", value=5, due=date(2026, 4, 26))],
)


@pytest.mark.parametrize(
    ("scores", "on", "expected"),
    [
        ([], date(2026, 3, 10), None),  # nothing scored yet
        ([], date(2026, 4, 26), "not-achieved"),  # due, never scored
        ([(date(2026, 3, 2), 14)], date(2026, 3, 10), "in-progress"),
        ([(date(2026, 3, 2), 14), (date(2026, 4, 20), 4)], date(2026, 4, 21), "achieved"),
        ([(date(2026, 3, 2), 14), (date(2026, 4, 20), 6)], date(2026, 4, 26), "not-achieved"),
        # a score after the due date does not count for the goal
        ([(date(2026, 4, 20), 8), (date(2026, 5, 3), 2)], date(2026, 5, 10), "not-achieved"),
        # nor a score after the day asked about
        ([(date(2026, 3, 2), 14), (date(2026, 4, 20), 3)], date(2026, 4, 1), "in-progress"),
        # the latest score counts, not the best
        ([(date(2026, 3, 30), 4), (date(2026, 4, 13), 9)], date(2026, 4, 14), "in-progress"),
    ],
)
def test_derive_achievement(scores: list[tuple[date, int]], on: date, expected: str | None) -> None:
    measures = [_phq9(day, total, f"m{i}") for i, (day, total) in enumerate(scores)]
    assert derive_achievement(REMISSION, measures, on) == expected


def test_derive_achievement_needs_every_target() -> None:
    goal = REMISSION.model_copy(
        update={
            "targets": [
                *REMISSION.targets,
                GoalTarget(instrument="gad-7", comparator="<", value=10),
            ]
        }
    )
    phq = [_phq9(date(2026, 4, 20), 3, "p")]
    assert derive_achievement(goal, phq, date(2026, 4, 21)) is None  # no GAD-7 yet
    gad = Measure(key="g", instrument="gad-7", date=phq[0].date, total=12)
    assert derive_achievement(goal, [*phq, gad], date(2026, 4, 21)) == "in-progress"
    gad = gad.model_copy(update={"total": 6})
    assert derive_achievement(goal, [*phq, gad], date(2026, 4, 21)) == "achieved"
    assert derive_achievement(Goal(key="x", description="No target"), phq, date(2026, 5, 1)) is None


def test_the_example_typed_achievements_agree_with_the_scores(mh: dict[str, Any]) -> None:
    episode = _episode(mh)
    assert achievement_disagreements(episode.care_plans, episode.measures, date(2026, 4, 26)) == []
    derived = [derive_achievement(g, episode.measures, date(2026, 4, 26)) for g in episode.goals]
    assert derived[:2] == ["achieved", "achieved"]


def test_a_typed_achievement_the_scores_contradict_is_reported_not_changed(
    mh: dict[str, Any],
) -> None:
    mh["reviews"][2]["goals"][1]["achievement_status"] = "not-achieved"  # GAD-7 met its target
    for measure in mh["measures"]:
        if measure["key"] == "phq9-wk8":
            measure["answers"]["q1"] = 3  # PHQ-9 at discharge no longer under 5
            measure.pop("total", None)
    episode = _episode(mh)
    found = achievement_disagreements(episode.care_plans, episode.measures, date(2026, 4, 26))
    assert [path for path, _ in found] == [
        "$.care_plans[0].goals[0].achievement_status",
        "$.care_plans[0].goals[1].achievement_status",
    ]
    assert "not-achieved" in found[0][1] and "meet the target" in found[1][1]
    # nothing was changed silently
    assert _goal(episode, "goal-depression").achievement_status == "achieved"
    assert _goal(episode, "goal-anxiety").achievement_status == "not-achieved"


# -- synth -------------------------------------------------------------------------------


def test_synth_reviews_every_week_with_achievement_from_the_scores() -> None:
    for episode in synth_episodes(12, seed=3):
        weeks = [r.day for r in episode.reviews]
        assert weeks == sorted(weeks) and len(weeks) >= 4
        assert all(0 < (b - a).days <= 7 for a, b in itertools.pairwise(weeks))
        goal = _goal(episode, "goal-1")
        for review, change in goal_history(episode.reviews, "goal-1"):
            derived = derive_achievement(goal, episode.measures, review.day) or "in-progress"
            assert change.achievement_status == derived
        assert goal.lifecycle_status == "completed" and goal.status_date == weeks[-1]
        end = episode.discharge.date if episode.discharge else weeks[-1]
        assert achievement_disagreements(episode.care_plans, episode.measures, end) == []
