"""FHIR R4 Provenance → the episode's weekly reviews.

The counterpart of :mod:`iopfhir.fhir.build.reviews`. A Provenance is a review when it
carries the ``goal-status-change`` or ``plan-change`` extensions (:func:`is_review`);
other Provenance is not the IOP model's and is left to the caller to count. The key
comes from the ``record-identifier`` extension (iopfhir's ``review`` identifier), else
the resource id; the date from ``occurredDateTime`` (else ``recorded``); the author is
the first agent that is a practitioner of the episode; the session is the entity that is
one of the episode's session Appointments or Encounters. A change naming a goal or an
activity the episode does not have, a goal's further status in one review, the agents
other than the author, the entities other than the session and a change's further
sub-extension of one url are counted and left out. A Goal whose current status is
not its latest review's (changed elsewhere after it) keeps its status; that goal's
history is dropped and counted (:func:`consistent_reviews`).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.fhir.conventions` and the reader's
``_context``, ``people``, ``source`` and ``values``.
"""

from __future__ import annotations

from typing import Any, get_args

from iopfhir.domain import GoalStatusChange, PlanChange, Review, TreatmentPlan
from iopfhir.domain.plans import GoalAchievementStatus, GoalLifecycleStatus
from iopfhir.domain.reviews import PlanChangeKind, current_statuses
from iopfhir.fhir.conventions import EXT
from iopfhir.fhir.read._context import Context
from iopfhir.fhir.read.held import note_unheld
from iopfhir.fhir.read.keys import url_tail
from iopfhir.fhir.read.people import person_key
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import as_list, codings, parse_moment, parse_own, text

__all__ = ["consistent_reviews", "is_review", "read_review"]

_LIFECYCLE: frozenset[str] = frozenset(get_args(GoalLifecycleStatus))
_ACHIEVEMENT: frozenset[str] = frozenset(get_args(GoalAchievementStatus))
_CHANGES: frozenset[str] = frozenset(get_args(PlanChangeKind))
_REVIEW_EXTENSIONS = frozenset({EXT.GOAL_STATUS_CHANGE, EXT.PLAN_CHANGE})


def is_review(resource: dict[str, Any]) -> bool:
    """Whether a Provenance records a review (it carries iopfhir's change extensions)."""
    return any(
        isinstance(ext, dict) and ext.get("url") in _REVIEW_EXTENSIONS
        for ext in as_list(resource.get("extension"))
    )


def _parts(ctx: Context, ext: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The sub-extensions of a complex extension by url (the first of each; a change
    holds one of each, so a further one is counted)."""
    out: dict[str, dict[str, Any]] = {}
    for part in as_list(ext.get("extension")):
        if not (isinstance(part, dict) and isinstance(part.get("url"), str)):
            continue
        if out.setdefault(part["url"], part) is not part:
            ctx.unmapped[_MORE_PART] += 1
    return out


#: ``unmapped`` reasons of what a review holds one of
_MORE_PART = "Provenance.extension: a review change's further sub-extension of one url (dropped)"
_OTHER_AGENT = "Provenance.agent: not the review's author (dropped)"
_OTHER_ENTITY = "Provenance.entity: not the review's session (dropped)"


def _review_key(ctx: Context, entry: Entry) -> str:
    preferred = None
    for ext in as_list(entry.resource.get("extension")):
        if isinstance(ext, dict) and ext.get("url") == EXT.RECORD_IDENTIFIER:
            ident = ext.get("valueIdentifier")
            if isinstance(ident, dict):
                parsed = parse_own(ident)
                if parsed is not None and parsed[0] == "review":
                    preferred = parsed[2]
                    break
    if preferred is None:
        preferred = entry.id or url_tail(entry.full_url) or "review"
    return ctx.keys["reviews"].take(preferred)


def _author(ctx: Context, res: dict[str, Any], entry: Entry) -> str | None:
    """The first agent that is a practitioner of the episode; once the review is taken,
    the other agents are counted (:func:`_count_others`)."""
    for agent in as_list(res.get("agent")):
        if not isinstance(agent, dict) or agent.get("who") is None:
            continue
        key = person_key(ctx, agent["who"], entry)
        # person_key reads a practitioner on first use, so look after it
        if key is not None and any(p.key == key for p in ctx.practitioners):
            return key
    return None


def _session(ctx: Context, res: dict[str, Any], entry: Entry) -> str | None:
    for entity in as_list(res.get("entity")):
        if not isinstance(entity, dict):
            continue
        target = ctx.resolve(entity.get("what"), entry)
        if target is not None and target.type in ("Appointment", "Encounter"):
            key = ctx.session_of.get(id(target))
            if key is not None:
                return key
    return None


def _count_others(ctx: Context, res: dict[str, Any], entry: Entry, review: Review) -> None:
    """Count the agents other than the author and the entities other than the session of
    a review (one of each is what it holds; asked only when there is more than that)."""
    agents = as_list(res.get("agent"))
    if len(agents) > 1:
        for agent in agents:
            who = agent.get("who") if isinstance(agent, dict) else None
            if who is None or person_key(ctx, who, entry) != review.author:
                ctx.unmapped[_OTHER_AGENT] += 1
    entities = as_list(res.get("entity"))
    if len(entities) > 1 or (entities and review.session is None):
        for entity in entities:
            what = entity.get("what") if isinstance(entity, dict) else None
            target = ctx.resolve(what, entry) if what is not None else None
            found = ctx.session_of.get(id(target)) if target is not None else None
            if found is None or found != review.session:
                ctx.unmapped[_OTHER_ENTITY] += 1


def _goal_change(ctx: Context, ext: dict[str, Any], entry: Entry) -> GoalStatusChange | None:
    parts = _parts(ctx, ext)
    target = ctx.resolve((parts.get("goal") or {}).get("valueReference"), entry)
    goal = ctx.key_of.get(("goals", id(target))) if target is not None else None
    if goal is None:
        ctx.unmapped["Provenance: goal status of a goal not in the episode"] += 1
        return None
    lifecycle = (parts.get("lifecycleStatus") or {}).get("valueCode")
    if lifecycle not in _LIFECYCLE:
        ctx.unmapped["Provenance: goal status without a valid lifecycleStatus"] += 1
        return None
    achievement = next(
        (
            code
            for _s, code in codings(
                (parts.get("achievementStatus") or {}).get("valueCodeableConcept")
            )
            if code in _ACHIEVEMENT
        ),
        None,
    )
    return GoalStatusChange(
        goal=goal,
        lifecycle_status=lifecycle,
        achievement_status=achievement,
        note=text((parts.get("note") or {}).get("valueString")),
    )


def _plan_change(ext: dict[str, Any], activities: set[str], ctx: Context) -> PlanChange | None:
    parts = _parts(ctx, ext)
    activity = (parts.get("activity") or {}).get("valueString")
    change = (parts.get("change") or {}).get("valueCode")
    if activity not in activities or change not in _CHANGES:
        ctx.unmapped["Provenance: plan change of an unknown activity"] += 1
        return None
    return PlanChange(
        activity=activity, change=change, note=text((parts.get("note") or {}).get("valueString"))
    )


def read_review(ctx: Context, entry: Entry) -> Review | None:
    """The review a Provenance records (goals, sessions and plans read before it)."""
    res = entry.resource
    key = _review_key(ctx, entry)
    moment = parse_moment(res.get("occurredDateTime"), "Provenance.occurredDateTime")
    if moment is None:
        moment = parse_moment(res.get("recorded"), "Provenance.recorded")
    author = _author(ctx, res, entry)
    if moment is None or author is None:
        ctx.unmapped["Provenance: review without a date or a practitioner author"] += 1
        return None
    activities = {
        a.key for p in ctx.care_plans if isinstance(p, TreatmentPlan) for a in p.activities
    }
    goals: list[GoalStatusChange] = []
    changes: list[PlanChange] = []
    for ext in as_list(res.get("extension")):
        if not isinstance(ext, dict):
            continue
        if ext.get("url") == EXT.GOAL_STATUS_CHANGE:
            change = _goal_change(ctx, ext, entry)
            if change is not None and all(g.goal != change.goal for g in goals):
                goals.append(change)
            elif change is not None:  # a review gives a goal one status
                ctx.unmapped["Provenance: a further status of one goal in a review (dropped)"] += 1
        elif ext.get("url") == EXT.PLAN_CHANGE:
            plan_change = _plan_change(ext, activities, ctx)
            if plan_change is not None:
                changes.append(plan_change)
    if not goals and not changes:
        ctx.unmapped["Provenance: review without a change the episode can take"] += 1
        return None
    review = Review(
        key=key,
        date=moment,
        author=author,
        session=_session(ctx, res, entry),
        goals=goals,
        plan_changes=changes,
    )
    _count_others(ctx, res, entry, review)
    note_unheld(res, "Provenance")
    return review


def consistent_reviews(ctx: Context, reviews: list[Review]) -> list[Review]:
    """``reviews`` without the status changes of goals whose current status (as the Goal
    says) is not their latest review's: the Goal was changed after it, and the episode
    would otherwise take the review's status over the Goal's."""
    latest = current_statuses(reviews)
    stale: set[str] = set()
    for goal in (g for p in ctx.care_plans for g in p.goals):
        found = latest.get(goal.key)
        if found is None:
            continue
        review, change = found
        if (goal.lifecycle_status, goal.achievement_status, goal.status_date) != (
            change.lifecycle_status,
            change.achievement_status,
            review.day,
        ):
            stale.add(goal.key)
            ctx.unmapped[
                "Provenance: goal history dropped (the Goal changed after its last review)"
            ] += 1
    if not stale:
        return reviews
    out = []
    for review in reviews:
        goals = [c for c in review.goals if c.goal not in stale]
        if goals or review.plan_changes:
            out.append(review.model_copy(update={"goals": goals}))
    return out
