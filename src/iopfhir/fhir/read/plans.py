"""FHIR R4 CarePlan and Goal → the episode's care plans, with their goals, revisions and
activities (treatment activities, relapse-prevention lists).

The counterpart of :mod:`iopfhir.fhir.build.plans`. The plan kind comes from the project
``care-plan-kind`` category: ``relapse-prevention`` and ``aftercare`` plans get their own
shapes (aftercare activities are read by :mod:`iopfhir.fhir.read.aftercare`), anything
else is a treatment plan (kind ``other`` without the project category). A Goal belongs to
the first plan that lists it (later plans name it in ``shared_goals``); one no plan lists
is one of the episode's ``other_goals``. ``intent`` and ``careTeam`` (the teams of the
episode it names) are read as written. Treatment activities are
``detail`` activities, or ``reference`` activities pointing at a request or appointment
(read as far as they fit); ``outcomeReference`` links an activity to its sessions. An
activity's ``detail.goal`` that is not a goal of its plan, and a relapse plan's support or
crisis contact that does not resolve, are counted; so are what an activity holds beyond an
Activity (:mod:`~iopfhir.fhir.read.activity_parts`), a category the plan is not written
back with, an ``addresses`` naming no diagnosis of the episode and a goal target's
``dueDuration``.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`
and the reader's ``_context``, ``activity_parts``, ``aftercare``, ``episode``, ``people``,
``source`` and ``values``.
"""

from __future__ import annotations

from datetime import time
from typing import Any, Final, get_args

from iopfhir.domain import (
    Activity,
    AftercarePlan,
    CarePlan,
    CrisisContact,
    Goal,
    GoalTarget,
    RelapsePreventionPlan,
    Revision,
    Schedule,
    TreatmentPlan,
)
from iopfhir.domain.vocabulary import ActivityStatus
from iopfhir.fhir.conventions import CARE_PLAN_CATEGORY_ASSESS_PLAN, EXT
from iopfhir.fhir.read._context import Context
from iopfhir.fhir.read.activity_parts import (
    NOT_TO_PERFORM,
    UNRESOLVED,
    not_to_perform,
    note_activity,
    note_unread_parts,
    uncoded_text,
)
from iopfhir.fhir.read.aftercare import read_aftercare
from iopfhir.fhir.read.concepts import note_beside, read_code
from iopfhir.fhir.read.episode import condition_keys
from iopfhir.fhir.read.held import note_unheld
from iopfhir.fhir.read.people import PERSON_UNRESOLVED, member_key, person_key, practitioner_key
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import (
    as_list,
    codings,
    concept_key,
    extension,
    first_code,
    one_of,
    parse_date,
    parse_moment,
    parse_period,
    phone,
    text,
)
from iopfhir.fhir.read.values import note as note_value
from iopfhir.terminology import code_system_url, instrument_by_code

__all__ = ["read_goal", "read_other_goals", "read_plan"]

#: a plan's author the model does not hold: the patient (a plan is a clinician's)
_PATIENT_AUTHOR = "the patient (dropped)"
_REQUEST_TO_ACTIVITY_STATUS = {
    "draft": "not-started",
    "active": "in-progress",
    "on-hold": "on-hold",
    "revoked": "cancelled",
    "completed": "completed",
    "entered-in-error": "entered-in-error",
    "unknown": "unknown",
    "proposed": "not-started",
    "pending": "not-started",
    "booked": "scheduled",
    "fulfilled": "completed",
    "cancelled": "cancelled",
    "noshow": "cancelled",
}
_PLAN_STATUS = {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
_ACTIVITY_STATUS: frozenset[str] = frozenset(get_args(ActivityStatus))
_DAY_UNITS = {"min": 1, "h": 60, "d": 1440, "s": 1 / 60}
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: relapse-element code → the RelapsePreventionPlan list of text it fills
_RELAPSE_LISTS = {
    "trigger": "triggers",
    "warning-sign": "warning_signs",
    "coping-strategy": "coping_strategies",
    "daily-routine": "daily_routines",
}


def read_plan(ctx: Context, entry: Entry) -> None:
    """A CarePlan of any kind, with its goals, added to the episode's care plans."""
    res = entry.resource
    note_unheld(res, "CarePlan")
    kind = concept_key(res.get("category"), "care-plan-kind")
    _note_categories(res.get("category"), kind)
    key = ctx.new_key("care_plans", entry, "careplan")
    base: dict[str, Any] = {
        "key": key,
        "title": text(res.get("title")),
        "status": one_of(res.get("status"), _PLAN_STATUS, "unknown"),
        "period": parse_period(res.get("period"), "CarePlan.period"),
        "created": parse_date(res.get("created"), "CarePlan.created"),
        "addresses": condition_keys(ctx, res.get("addresses"), entry, "CarePlan.addresses"),
    }
    if res.get("author") is not None:
        author = person_key(ctx, res["author"], entry)
        if author is not None and author != ctx.patient_key:
            base["author"] = author
        else:
            note_value("CarePlan.author", PERSON_UNRESOLVED if author is None else _PATIENT_AUTHOR)
    base["intent"] = _intent(res.get("intent"))
    if kind in ("treatment", "relapse-prevention", "aftercare") and base["intent"] != "plan":
        note_value("CarePlan.intent", "of an IOP plan is plan (read as plan)")
        base["intent"] = "plan"
    base["teams"] = _plan_teams(ctx, res, entry)
    goals: list[Goal] = []
    shared: list[str] = []
    for ref in as_list(res.get("goal")):
        target = ctx.resolve(ref, entry)
        if target is None or target.type != "Goal":
            ctx.unmapped["CarePlan.goal: a reference to no Goal of the input (dropped)"] += 1
            continue
        held = ctx.key_of.get(("goals", id(target)))
        if held is not None:  # held by an earlier plan: named here too
            if held in _held_goals(ctx) and held not in shared:
                shared.append(held)
            continue
        goal = ctx.attempt(target, read_goal, ctx, target)
        if goal is not None:
            goals.append(goal)
    base["goals"] = goals
    base["shared_goals"] = [k for k in shared if k not in {g.key for g in goals}]
    base["revisions"] = _read_revisions(ctx, res, entry)
    activities = [a for a in as_list(res.get("activity")) if isinstance(a, dict)]
    plan: CarePlan
    if kind == "relapse-prevention":
        plan = RelapsePreventionPlan(**base, **_read_relapse(ctx, activities, entry))
    elif kind == "aftercare":
        plan = AftercarePlan(**base, **read_aftercare(ctx, activities, entry))
    else:
        plan = TreatmentPlan(
            **base,
            kind="treatment" if kind == "treatment" else "other",
            activities=_read_activities(ctx, activities, entry, goals),
        )
    ctx.care_plans.append(plan)


_INTENTS = frozenset({"proposal", "plan", "order", "option"})


def _intent(value: Any) -> str:
    """``CarePlan.intent`` as written; a value R4 does not have is noted, read as ``plan``."""
    if value in _INTENTS:
        return str(value)
    if value is not None:
        note_value("CarePlan.intent", "not a care-plan-intent code (read as plan)")
    return "plan"


def _plan_teams(ctx: Context, res: dict[str, Any], entry: Entry) -> list[str]:
    """The teams of the episode that ``CarePlan.careTeam`` names, in order."""
    read = {t.key for t in ctx.teams}
    out: list[str] = []
    for ref in as_list(res.get("careTeam")):
        target = ctx.resolve(ref, entry)
        key = ctx.key_of.get(("teams", id(target))) if target is not None else None
        if key is None or key not in read:
            ctx.unmapped["CarePlan.careTeam: not a care team of the episode (dropped)"] += 1
        elif key not in out:
            out.append(key)
    return out


def _held_goals(ctx: Context) -> set[str]:
    """Keys of the goals the plans read so far hold."""
    return {g.key for p in ctx.care_plans for g in p.goals}


def _read_revisions(ctx: Context, res: dict[str, Any], entry: Entry) -> list[Revision]:
    out = []
    for note in as_list(res.get("note")):
        if not isinstance(note, dict) or not text(note.get("text")):
            continue
        moment = parse_moment(note.get("time"), "CarePlan.note.time")
        if moment is None:
            ctx.unmapped["CarePlan.note: without a time (dropped)"] += 1
            continue
        author = None
        if note.get("authorReference") is not None:
            author = practitioner_key(
                ctx, note["authorReference"], entry, "CarePlan.note.authorReference"
            )
        out.append(Revision(date=moment, author=author, summary=note["text"]))
    return out


def read_goal(ctx: Context, entry: Entry) -> Goal:
    """A Goal; targets that are not an instrument score with a comparator are counted."""
    res = entry.resource
    note_unheld(res, "Goal")
    targets = []
    for target in as_list(res.get("target")):
        if not isinstance(target, dict):
            continue
        instrument_id = None
        for _sys, code in codings(target.get("measure")):
            hit = instrument_by_code(code)
            if hit is not None and hit[1] == "total":
                instrument_id = hit[0].id
                break
        quantity = target.get("detailQuantity")
        if instrument_id is None or not isinstance(quantity, dict):
            ctx.unmapped["Goal.target: not an instrument score (dropped)"] += 1
            continue
        value = quantity.get("value")
        comparator = quantity.get("comparator")
        if not isinstance(value, int | float) or float(value) != int(value):
            ctx.unmapped["Goal.target: not an instrument score (dropped)"] += 1
            continue
        if comparator not in ("<", "<=", ">=", ">"):
            ctx.unmapped["Goal.target.detail: without a comparator (dropped)"] += 1
            continue
        if target.get("dueDuration") is not None:  # the model holds a due date only
            note_value("Goal.target.dueDuration", "not kept (dropped)")
        targets.append(
            GoalTarget(
                instrument=instrument_id,
                comparator=comparator,
                value=int(value),
                due=parse_date(target.get("dueDate"), "Goal.target.dueDate"),
            )
        )
    description = res.get("description")
    desc_text = text(description.get("text")) if isinstance(description, dict) else None
    if desc_text is None and isinstance(description, dict):
        described = first_code(description)
        desc_text = (described.display or described.code) if described else None
    achievement = next((c for _s, c in codings(res.get("achievementStatus"))), None)
    key = ctx.new_key("goals", entry, "goal")
    return Goal(
        key=key,
        description=desc_text or "unspecified goal",
        lifecycle_status=res.get("lifecycleStatus", "active"),
        achievement_status=achievement,
        status_date=parse_date(res.get("statusDate"), "Goal.statusDate"),
        start=parse_date(res.get("startDate"), "Goal.startDate"),
        targets=targets,
        addresses=condition_keys(ctx, res.get("addresses"), entry, "Goal.addresses"),
    )


def read_other_goals(ctx: Context, goals: list[Entry]) -> None:
    """The Goals no care plan took, as the episode's ``other_goals``."""
    for entry in goals:
        if ("goals", id(entry)) not in ctx.key_of:
            goal = ctx.attempt(entry, read_goal, ctx, entry)
            if goal is not None:
                ctx.other_goals.append(goal)


def _note_categories(categories: Any, kind: str | None) -> None:
    """Count the categories a plan is not written back with (it gets its kind's code and
    US Core ``assess-plan``): another code system's (a SNOMED plan type), none at all, and
    the other codings and text of a category with one of those two codes."""
    listed = as_list(categories)
    if not listed:
        note_value("CarePlan.category", "missing (written back as assess-plan)")
    written = {CARE_PLAN_CATEGORY_ASSESS_PLAN}
    if kind is not None:
        written.add((code_system_url("care-plan-kind"), kind))
    for concept in listed:
        if written.isdisjoint(codings(concept)):
            note_value("CarePlan.category", "not a plan kind or assess-plan (dropped)")
        else:
            note_beside(concept, "CarePlan.category", written)


def _read_activities(
    ctx: Context, activities: list[dict[str, Any]], entry: Entry, goals: list[Goal]
) -> list[Activity]:
    goal_keys = {g.key for g in goals}
    out = []
    for n, activity in enumerate(activities, start=1):
        detail = activity.get("detail")
        if isinstance(detail, dict) and not_to_perform(detail):
            ctx.unmapped[NOT_TO_PERFORM] += 1  # a prohibition is no activity to schedule
            continue
        raw = activity.get("id")
        key = ctx.keys["activities"].take(raw if isinstance(raw, str) and raw else f"activity-{n}")
        fields: dict[str, Any] = {"key": key}
        note_activity(activity, detail if isinstance(detail, dict) else None)
        if isinstance(detail, dict):
            fields.update(_read_detail(ctx, detail, entry, goal_keys))
        elif activity.get("reference") is not None:
            target = ctx.resolve(activity["reference"], entry)
            if target is None:
                ctx.unmapped[UNRESOLVED] += 1
            display = (
                activity["reference"].get("display")
                if isinstance(activity["reference"], dict)
                else None
            )
            fields["title"] = text(display)
            fields["status"] = "unknown"
            if target is not None:
                tres = target.resource
                concept = tres.get("code") or tres.get("serviceType") or tres.get("appointmentType")
                kind = concept_key(concept, "session-kind")
                if kind:
                    fields["kind"] = kind
                else:
                    fields["kind_code"] = first_code(concept)
                fields["title"] = fields["title"] or (
                    text(tres.get("description"))
                    or (text(concept.get("text")) if isinstance(concept, dict) else None)
                )
                fields["status"] = _REQUEST_TO_ACTIVITY_STATUS.get(
                    str(tres.get("status")), "unknown"
                )
                if target.type == "Appointment":
                    ctx.activity_of_appointment.setdefault(id(target), key)
                if target.type == "ServiceRequest":
                    # the request itself is kept too (the episode's other requests)
                    ctx.unmapped[
                        "CarePlan.activity.reference: a request, read as a detail activity"
                    ] += 1
        else:
            ctx.unmapped["CarePlan.activity: without detail or reference (dropped)"] += 1
            continue
        for ref in as_list(activity.get("outcomeReference")):
            target = ctx.resolve(ref, entry)
            if target is not None and target.type in ("Appointment", "Encounter"):
                ctx.activity_of_appointment.setdefault(id(target), key)
            else:  # written back as the activity's sessions only
                note_value("CarePlan.activity.outcomeReference", "not a session of the input")
        activity_model = ctx.attempt(entry, Activity, **fields)
        if activity_model is not None:
            out.append(activity_model)
    return out


def _read_detail(
    ctx: Context, detail: dict[str, Any], entry: Entry, goal_keys: set[str]
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    kind = concept_key(detail.get("code"), "session-kind")
    if kind:
        fields["kind"] = kind
        note_beside(
            detail.get("code"),
            "CarePlan.activity.detail.code",
            {(code_system_url("session-kind"), kind)},
        )
    else:
        fields["kind_code"] = first_code(detail.get("code"))
    # a code with text only names the activity when nothing else does
    fields["title"] = text(detail.get("description")) or uncoded_text(detail.get("code"))
    fields["status"] = one_of(detail.get("status"), _ACTIVITY_STATUS, "unknown")
    setting = extension(detail, EXT.DELIVERY_SETTING)
    if setting and setting.get("valueCode") in ("in-person", "telehealth"):
        fields["setting"] = setting["valueCode"]
    modality = extension(detail, EXT.THERAPY_MODALITY)
    if modality:
        fields["modality"] = read_code(
            modality.get("valueCodeableConcept"),
            "modality",
            "CarePlan.activity.detail.extension.valueCodeableConcept",
        )
    performers = as_list(detail.get("performer"))
    for ref in performers[:1]:
        fields["lead"] = member_key(ctx, ref, entry)
        if fields["lead"] is None:
            note_value("CarePlan.activity.detail.performer", "cannot be resolved (dropped)")
    if len(performers) > 1:  # the model holds one lead
        note_value("CarePlan.activity.detail.performer", "more than one (kept the first)")
    goals = []
    for ref in as_list(detail.get("goal")):
        target = ctx.resolve(ref, entry)
        key = ctx.key_of.get(("goals", id(target))) if target is not None else None
        if key is not None and key in goal_keys:
            goals.append(key)
        else:  # an activity serves goals of its plan
            ctx.unmapped["CarePlan.activity.detail.goal: not a goal of the plan (dropped)"] += 1
    fields["goals"] = goals
    timing = detail.get("scheduledTiming")
    if isinstance(timing, dict):
        schedule = _read_schedule(timing.get("repeat"))
        if schedule is not None:
            fields["schedule"] = schedule
            for key in sorted(timing.keys() - {"id", "extension", "repeat"}):
                note_value(f"CarePlan.activity.detail.scheduledTiming.{key}", "not taken (dropped)")
        else:
            note_value(
                "CarePlan.activity.detail.scheduledTiming",
                "not a repeat with a duration of at most 12 hours (dropped)",
            )
    for other in ("scheduledPeriod", "scheduledString"):
        if detail.get(other) is not None:
            note_value(f"CarePlan.activity.detail.{other}", "not taken (dropped)")
    return fields


def _read_schedule(repeat: Any) -> Schedule | None:
    if not isinstance(repeat, dict):
        return None
    duration = repeat.get("duration")
    unit = repeat.get("durationUnit", "min")
    if not isinstance(duration, int | float) or unit not in _DAY_UNITS:
        return None
    minutes = duration * _DAY_UNITS[unit]
    if not float(minutes).is_integer() or not 0 < minutes <= 720:
        return None
    start_time = None
    times = as_list(repeat.get("timeOfDay"))
    for value in times[:1]:
        try:
            start_time = time.fromisoformat(value)
        except (TypeError, ValueError):
            start_time = None
    if len(times) > 1:  # the Schedule holds one start time
        note_value(
            "CarePlan.activity.detail.scheduledTiming.repeat.timeOfDay",
            "after the first (dropped)",
            len(times) - 1,
        )
    days = [d for d in as_list(repeat.get("dayOfWeek")) if d in _WEEKDAYS]
    _note_repeat(repeat, bool(days))
    return Schedule(
        days=days,
        start_time=start_time,
        duration_minutes=int(minutes),
        period=parse_period(
            repeat.get("boundsPeriod"),
            "CarePlan.activity.detail.scheduledTiming.repeat.boundsPeriod",
        ),
    )


#: the parts of ``Timing.repeat`` a Schedule holds (duration, days, a start time, bounds)
#: and those the writer derives from its days (once a day on each)
_REPEAT_READ: Final = frozenset(
    {"id", "extension", "duration", "durationUnit", "timeOfDay", "dayOfWeek", "boundsPeriod"}
)
_REPEAT_DERIVED: Final = {"frequency": 1, "period": 1, "periodUnit": "d"}


def _note_repeat(repeat: dict[str, Any], days: bool) -> None:
    """Count what a schedule's ``repeat`` holds beyond a :class:`Schedule` (a count, a
    ``when``, bounds other than a period, a frequency other than once a day on its days,
    a day that is no R4 day)."""
    at = "CarePlan.activity.detail.scheduledTiming.repeat"
    for key in sorted(repeat.keys() - _REPEAT_READ):
        if not (days and _REPEAT_DERIVED.get(key, ...) == repeat[key]):
            note_value(f"{at}.{key}", "not taken (dropped)")
    if any(d not in _WEEKDAYS for d in as_list(repeat.get("dayOfWeek"))):
        note_value(f"{at}.dayOfWeek", "not a day of the week (dropped)")


#: ``unmapped`` reasons of a relapse plan's performers it cannot hold
_OTHER_SUPPORT = (
    "CarePlan.activity.detail.performer: a relapse support that is not a practitioner or "
    "support of the episode (dropped)"
)
_NO_CONTACT = "CarePlan.activity.detail.performer: a crisis contact not in the input (dropped)"


#: what a relapse-prevention activity's reader reads of its detail (a list's, a support's
#: or crisis contact's), and the status the writer gives every one
_RELAPSE_TEXT: Final = frozenset({"code", "description"})
_RELAPSE_PEOPLE: Final = frozenset({"code", "performer"})
_RELAPSE_STATUS: Final = "in-progress"


def _read_relapse(ctx: Context, activities: list[dict[str, Any]], entry: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "triggers": [],
        "warning_signs": [],
        "coping_strategies": [],
        "daily_routines": [],
        "supports": [],
        "crisis_contacts": [],
    }
    for activity in activities:
        detail = activity.get("detail")
        if not isinstance(detail, dict):
            ctx.unmapped[
                "CarePlan.activity: relapse-prevention activity without detail (dropped)"
            ] += 1
            continue
        code = concept_key(detail.get("code"), "relapse-element")
        if code is not None:
            relapse = {(code_system_url("relapse-element"), code)}
            note_beside(detail.get("code"), "CarePlan.activity.detail.code", relapse)
            # a list's text, or the people of a support or crisis contact (as written)
            read = _RELAPSE_TEXT if code in _RELAPSE_LISTS else _RELAPSE_PEOPLE
            note_unread_parts(activity, detail, read, _RELAPSE_STATUS)
        description = text(detail.get("description"))
        if code in _RELAPSE_LISTS and description:
            out[_RELAPSE_LISTS[code]].append(description)
        elif code == "support":
            for ref in as_list(detail.get("performer")):
                person = person_key(ctx, ref, entry)
                if person is not None and person != ctx.patient_key:
                    out["supports"].append(person)
                else:
                    ctx.unmapped[_OTHER_SUPPORT] += 1
        elif code == "crisis-contact":
            for ref in as_list(detail.get("performer")):
                target = ctx.resolve(ref, entry)
                if target is None:
                    ctx.unmapped[_NO_CONTACT] += 1
                    continue
                contact = _read_crisis_contact(ctx, target)
                if contact is not None:
                    out["crisis_contacts"].append(contact)
        else:
            ctx.unmapped[
                "CarePlan.activity.detail: relapse-prevention activity not recognised (dropped)"
            ] += 1
    return out


def _read_crisis_contact(ctx: Context, target: Entry) -> CrisisContact | None:
    res = target.resource
    number = phone(res)
    name = text(res.get("name"))
    if not number or not name:
        ctx.unmapped[
            "CarePlan.activity.reference: crisis contact without name or phone (dropped)"
        ] += 1
        return None
    note = None
    for concept in as_list(res.get("type")):
        if isinstance(concept, dict) and text(concept.get("text")):
            note = concept["text"]
            break
    return CrisisContact(
        key=ctx.keys["crisis"].take(target.id or "contact"),
        name=name,
        phone=number,
        note=note,
    )
