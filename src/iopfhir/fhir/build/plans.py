"""Care plans and goals → FHIR R4 CarePlan and Goal.

One CarePlan per plan (``intent`` as the plan says: ``plan`` for the IOP's own; ``careTeam``
the plan's teams; ``goal`` its goals, then the goals it shares), categorised by the project
``care-plan-kind`` code (absent for foreign ``other`` plans) and US Core ``assess-plan``.
The treatment plan's activities are ``detail`` activities whose ``outcomeReference`` lists
the Appointments of their sessions; the relapse-prevention plan's lists are ``detail``
activities coded ``relapse-element#<kind>`` (crisis contacts are contained Organizations);
the aftercare plan's activities come from :mod:`iopfhir.fhir.build.aftercare`. Revisions are
``CarePlan.note``.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`
and the builders' ``_context`` and ``aftercare``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Final

from iopfhir.domain import (
    Activity,
    CarePlan,
    Goal,
    RelapsePreventionPlan,
    TreatmentPlan,
    date_text,
)
from iopfhir.domain.reviews import current_statuses
from iopfhir.fhir.build._context import (
    LOINC,
    UCUM,
    Context,
    Entry,
    code_concept,
    fhir_moment,
    fhir_period,
    project_concept,
    telecom,
)
from iopfhir.fhir.build.aftercare import aftercare_activities
from iopfhir.fhir.build.episode import continued_plans
from iopfhir.fhir.conventions import CARE_PLAN_CATEGORY_ASSESS_PLAN, EXT, PROFILE
from iopfhir.terminology import instrument

__all__ = ["care_plan_to_fhir", "goal_to_fhir"]

_ACHIEVEMENT: Final = "http://terminology.hl7.org/CodeSystem/goal-achievement"
_ASSESS_PLAN: Final = {
    "coding": [
        {"system": CARE_PLAN_CATEGORY_ASSESS_PLAN[0], "code": CARE_PLAN_CATEGORY_ASSESS_PLAN[1]}
    ]
}
_PLAN_PROFILE: Final[dict[str, str | None]] = {
    "treatment": PROFILE.CAREPLAN_TREATMENT,
    "other": None,  # foreign plans: no care-plan-kind code, so no iop-careplan profile
    "relapse-prevention": PROFILE.CAREPLAN_RELAPSE,
    "aftercare": PROFILE.CAREPLAN_AFTERCARE,
}
_SCORE: Final = {"unit": "{score}", "system": UCUM, "code": "{score}"}
_RELAPSE_LISTS: Final = (
    ("trigger", "triggers"),
    ("warning-sign", "warning_signs"),
    ("coping-strategy", "coping_strategies"),
    ("daily-routine", "daily_routines"),
)


def goal_to_fhir(ctx: Context, goal: Goal) -> Entry:
    """A Goal; targets are instrument totals (LOINC) compared with a score."""
    url = ctx.local_url("Goal", "goal", goal.key)
    res = ctx.head("Goal", url, PROFILE.GOAL, linked=True)
    res["identifier"] = [ctx.identifier("goal", goal.key)]
    res["lifecycleStatus"] = goal.lifecycle_status
    if goal.achievement_status is not None:
        res["achievementStatus"] = {
            "coding": [{"system": _ACHIEVEMENT, "code": goal.achievement_status}]
        }
    res["description"] = {"text": goal.description}
    res["subject"] = ctx.patient_ref
    if goal.start is not None:
        res["startDate"] = date_text(goal.start)
    if goal.targets:
        targets = []
        for target in goal.targets:
            item: dict[str, Any] = {
                "measure": {
                    "coding": [{"system": LOINC, "code": instrument(target.instrument).total_code}]
                },
                "detailQuantity": {
                    "value": target.value,
                    "comparator": target.comparator,
                    **_SCORE,
                },
            }
            if target.due is not None:
                item["dueDate"] = date_text(target.due)
            targets.append(item)
        res["target"] = targets
    if goal.status_date is not None:
        res["statusDate"] = date_text(goal.status_date)
    latest = current_statuses(ctx.episode.reviews).get(goal.key) if ctx.episode.reviews else None
    if latest is not None and latest[1].note is not None:
        # derived from the latest review (read back from its Provenance, not from here)
        res["statusReason"] = latest[1].note
    if goal.addresses:
        res["addresses"] = [ctx.condition_ref[k] for k in goal.addresses]
    return url, res


def _activity(ctx: Context, act: Activity, sessions: list[dict[str, str]]) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    extensions: list[dict[str, Any]] = []
    if act.setting is not None:
        extensions.append({"url": EXT.DELIVERY_SETTING, "valueCode": act.setting})
    if act.modality is not None:
        extensions.append(
            {
                "url": EXT.THERAPY_MODALITY,
                "valueCodeableConcept": project_concept("modality", act.modality),
            }
        )
    if extensions:
        detail["extension"] = extensions
    detail["kind"] = "Appointment"
    if act.kind is not None:
        detail["code"] = project_concept("session-kind", act.kind)
    elif act.kind_code is not None:
        detail["code"] = code_concept(act.kind_code)
    if act.goals:
        detail["goal"] = [ctx.goal_ref[k] for k in act.goals]
    detail["status"] = act.status
    if act.schedule is not None:
        sched = act.schedule
        repeat: dict[str, Any] = {}
        if sched.period is not None:
            repeat["boundsPeriod"] = fhir_period(sched.period)
        repeat["duration"] = sched.duration_minutes
        repeat["durationUnit"] = "min"
        if sched.days:
            # once on each listed weekday
            repeat["frequency"] = 1
            repeat["period"] = 1
            repeat["periodUnit"] = "d"
            repeat["dayOfWeek"] = list(sched.days)
        if sched.start_time is not None:
            repeat["timeOfDay"] = [sched.start_time.isoformat()]
        detail["scheduledTiming"] = {"repeat": repeat}
    if act.lead is not None:
        detail["performer"] = [ctx.person_ref.get(act.lead) or ctx.org_ref[act.lead]]
    if act.title:
        detail["description"] = act.title
    out: dict[str, Any] = {"id": act.key}
    if sessions:
        out["outcomeReference"] = sessions
    out["detail"] = detail
    return out


def _treatment_activities(ctx: Context, plan: TreatmentPlan) -> list[dict[str, Any]]:
    by_activity: dict[str, list[dict[str, str]]] = defaultdict(list)
    keys = {a.key for a in plan.activities}
    for session in ctx.episode.sessions:
        if session.activity in keys:
            by_activity[session.activity].append(ctx.appointment_ref[session.key])
    return [_activity(ctx, act, by_activity.get(act.key, [])) for act in plan.activities]


def _relapse_activities(
    ctx: Context, plan: RelapsePreventionPlan
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    activities: list[dict[str, Any]] = []
    for code, field in _RELAPSE_LISTS:
        coded = project_concept("relapse-element", code)
        for text in getattr(plan, field):
            activities.append(
                {"detail": {"code": coded, "status": "in-progress", "description": text}}
            )
    support = project_concept("relapse-element", "support")
    for key in plan.supports:
        activities.append(
            {
                "detail": {
                    "code": support,
                    "status": "in-progress",
                    "performer": [ctx.person_ref[key]],
                }
            }
        )
    contained = []
    crisis = project_concept("relapse-element", "crisis-contact")
    for contact in plan.crisis_contacts:
        org: dict[str, Any] = {"resourceType": "Organization", "id": contact.key}
        if contact.note:
            org["type"] = [{"text": contact.note}]
        org["name"] = contact.name
        org["telecom"] = telecom(contact.phone)
        contained.append(org)
        activities.append(
            {
                "detail": {
                    "code": crisis,
                    "status": "in-progress",
                    "performer": [{"reference": f"#{contact.key}"}],
                }
            }
        )
    return activities, contained


def care_plan_to_fhir(ctx: Context, plan: CarePlan) -> Entry:
    """The CarePlan of any plan kind (its goals, referrals, appointments are separate)."""
    url = ctx.local_url("CarePlan", "careplan", plan.key)
    res = ctx.head("CarePlan", url, _PLAN_PROFILE[plan.kind], linked=True)
    res["identifier"] = [ctx.identifier("careplan", plan.key)]
    if based_on := continued_plans(ctx, plan.key):  # the hospital's discharge plan
        res["basedOn"] = based_on
    res["status"] = plan.status
    res["intent"] = plan.intent
    if plan.kind == "other":
        res["category"] = [_ASSESS_PLAN]
    else:
        res["category"] = [project_concept("care-plan-kind", plan.kind), _ASSESS_PLAN]
    if plan.title:
        res["title"] = plan.title
    res["subject"] = ctx.patient_ref
    if plan.period is not None:
        res["period"] = fhir_period(plan.period)
    if plan.created is not None:
        res["created"] = date_text(plan.created)
    if plan.author is not None:
        res["author"] = ctx.person_ref[plan.author]
    if plan.teams:
        res["careTeam"] = [
            ctx.ref("CareTeam", ctx.local_url("CareTeam", "careteam", k)) for k in plan.teams
        ]
    if plan.addresses:
        res["addresses"] = [ctx.condition_ref[k] for k in plan.addresses]
    goals = [g.key for g in plan.goals] + plan.shared_goals
    if goals:
        res["goal"] = [ctx.goal_ref[k] for k in goals]
    contained: list[dict[str, Any]] = []
    if isinstance(plan, TreatmentPlan):
        activities = _treatment_activities(ctx, plan)
    elif isinstance(plan, RelapsePreventionPlan):
        activities, contained = _relapse_activities(ctx, plan)
    else:
        activities = aftercare_activities(ctx, plan)
    if activities:
        res["activity"] = activities
    if plan.revisions:
        notes = []
        for rev in plan.revisions:
            note: dict[str, Any] = {}
            if rev.author is not None:
                note["authorReference"] = ctx.practitioner_ref[rev.author]
            note["time"] = fhir_moment(rev.date)
            note["text"] = rev.summary
            notes.append(note)
        res["note"] = notes
    if contained:
        # contained resources come right after meta/identity in R4 JSON order; order of
        # keys does not matter to JSON, but keep it readable
        res = {
            **{k: res[k] for k in ("resourceType", "id", "meta") if k in res},
            "contained": contained,
            **res,
        }
    return url, res
