"""Weekly reviews → FHIR R4 Provenance, one per review.

A review's Provenance (profile ``iop-provenance-review``) targets the Goals it set a
status on and the CarePlans whose activities it changed; ``occurredDateTime`` is the
review date (``recorded``, an instant, the same moment: a date's midnight UTC), the
author is the agent (type ``author``, through their PractitionerRole), ``activity`` is
v3-DataOperation ``UPDATE``, and the team-review session's Appointment is an entity
(role ``source``). What the review set is kept in extensions so it reads back exactly:
``goal-status-change`` per goal, ``plan-change`` per plan change; R4 Provenance has no
``identifier``, so iopfhir's business identifier (``review`` → ``E/<key>``) is the
``record-identifier`` extension. The Goal itself carries the current statuses (built by
:mod:`iopfhir.fhir.build.plans`).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`
and the builders' ``_context``.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, Final

from iopfhir.domain import Review, TreatmentPlan
from iopfhir.fhir.build._context import Context, Entry, fhir_moment
from iopfhir.fhir.conventions import EXT, PROFILE
from iopfhir.terminology import codes

__all__ = ["ACHIEVEMENT", "review_to_fhir", "reviews_to_fhir"]

#: R4 Goal.achievementStatus code system
ACHIEVEMENT: Final = "http://terminology.hl7.org/CodeSystem/goal-achievement"


@cache
def _provenance_codes() -> tuple[dict[str, Any], dict[str, Any], str]:
    data = codes()["provenance"]

    def concept(name: str) -> dict[str, Any]:
        return {"coding": [{"system": data[name]["system"], "code": data[name]["code"]}]}

    return concept("activity"), concept("agent_type"), str(data["entity_role"])


def _instant(value: Any) -> str:
    """A FHIR instant: a timestamp as written, a date as its midnight UTC."""
    if isinstance(value, datetime):
        return value.isoformat()
    return f"{value.isoformat()}T00:00:00Z"


def reviews_to_fhir(ctx: Context) -> list[Entry]:
    """The Provenance of every review of the episode, in the episode's order."""
    if not ctx.episode.reviews:
        return []
    plan_of = {
        a.key: p.key
        for p in ctx.episode.care_plans
        if isinstance(p, TreatmentPlan)
        for a in p.activities
    }
    return [review_to_fhir(ctx, review, plan_of) for review in ctx.episode.reviews]


def review_to_fhir(ctx: Context, review: Review, plan_of: dict[str, str]) -> Entry:
    """One review's Provenance (``plan_of``: activity key → the key of its plan)."""
    activity, agent_type, entity_role = _provenance_codes()
    url = ctx.local_url("Provenance", "review", review.key)
    res = ctx.head("Provenance", url, PROFILE.PROVENANCE_REVIEW, linked=True)
    extensions: list[dict[str, Any]] = [
        {"url": EXT.RECORD_IDENTIFIER, "valueIdentifier": ctx.identifier("review", review.key)}
    ]
    targets: list[dict[str, str]] = []
    for change in review.goals:
        goal_ref = ctx.goal_ref[change.goal]
        parts: list[dict[str, Any]] = [
            {"url": "goal", "valueReference": goal_ref},
            {"url": "lifecycleStatus", "valueCode": change.lifecycle_status},
        ]
        if change.achievement_status is not None:
            parts.append(
                {
                    "url": "achievementStatus",
                    "valueCodeableConcept": {
                        "coding": [{"system": ACHIEVEMENT, "code": change.achievement_status}]
                    },
                }
            )
        if change.note is not None:
            parts.append({"url": "note", "valueString": change.note})
        extensions.append({"url": EXT.GOAL_STATUS_CHANGE, "extension": parts})
        targets.append(goal_ref)
    plan_targets: dict[str, dict[str, str]] = {}
    for plan_change in review.plan_changes:
        plan_key = plan_of[plan_change.activity]
        plan_ref = plan_targets.get(plan_key)
        if plan_ref is None:
            plan_ref = ctx.ref("CarePlan", ctx.local_url("CarePlan", "careplan", plan_key))
            plan_targets[plan_key] = plan_ref
        parts = [
            {"url": "plan", "valueReference": plan_ref},
            {"url": "activity", "valueString": plan_change.activity},
            {"url": "change", "valueCode": plan_change.change},
        ]
        if plan_change.note is not None:
            parts.append({"url": "note", "valueString": plan_change.note})
        extensions.append({"url": EXT.PLAN_CHANGE, "extension": parts})
    res["extension"] = extensions
    res["target"] = targets + list(plan_targets.values())
    res["occurredDateTime"] = fhir_moment(review.date)
    res["recorded"] = _instant(review.date)
    res["activity"] = activity
    res["agent"] = [{"type": agent_type, "who": ctx.person_ref[review.author]}]
    if review.session is not None:
        # the session's Appointment; its Encounter when it was read without one
        what = ctx.appointment_ref.get(review.session) or ctx.encounter_ref[review.session]
        res["entity"] = [{"role": entity_role, "what": what}]
    return url, res
