"""Care plans: the treatment plan, the relapse-prevention plan and the aftercare plan.

All three share goals, revisions, an author and a period (:class:`PlanBase`). The
treatment plan adds scheduled activities; the relapse-prevention plan holds triggers,
warning signs, coping strategies, routines, supports and crisis contacts as structured
lists; the aftercare plan holds referrals, booked appointments and check-ins.

A plan names the care teams it involves (``teams``: every team of the episode unless it
says otherwise) and may share goals held elsewhere (``shared_goals``). A :class:`Request`
is any other request for a service read from foreign data (a lab order, a referral to a
community service): neither the episode's referral nor an aftercare referral.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from iopfhir.domain.common import Code, Day, Key, Model, Period, Timestamp
from iopfhir.domain.vocabulary import (
    ActivityStatus,
    AftercareService,
    ContactMethod,
    InstrumentId,
    Modality,
    SessionKind,
    Setting,
)

__all__ = [
    "Activity",
    "AftercareAppointment",
    "AftercarePlan",
    "AftercareReferral",
    "CarePlan",
    "CheckIn",
    "CrisisContact",
    "Goal",
    "GoalAchievementStatus",
    "GoalLifecycleStatus",
    "GoalTarget",
    "PlanBase",
    "PlanIntent",
    "RelapsePreventionPlan",
    "Request",
    "Revision",
    "Schedule",
    "TreatmentPlan",
    "fill_plan_teams",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
PlanStatus = Literal[
    "draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"
]
PlanIntent = Literal["proposal", "plan", "order", "option"]
"""R4 ``CarePlan.intent`` (care-plan-intent)."""


class GoalTarget(Model):
    """A measurable target: an instrument total compared with a value, by a due date."""

    instrument: InstrumentId
    comparator: Literal["<", "<=", ">=", ">"]
    value: int = Field(ge=0)
    due: Day | None = None


GoalLifecycleStatus = Literal[
    "proposed",
    "planned",
    "accepted",
    "active",
    "on-hold",
    "completed",
    "cancelled",
    "entered-in-error",
    "rejected",
]
"""R4 ``Goal.lifecycleStatus``."""
GoalAchievementStatus = Literal[
    "in-progress",
    "improving",
    "worsening",
    "no-change",
    "achieved",
    "sustaining",
    "not-achieved",
    "no-progress",
    "not-attainable",
]
"""R4 ``Goal.achievementStatus`` (goal-achievement code system)."""


class Goal(Model):
    """A treatment goal (FHIR Goal). Its statuses are the current ones: when weekly
    reviews (:mod:`iopfhir.domain.reviews`) set them, the episode sets them to the latest
    review's; ``status_date`` is when the current status took effect."""

    key: Key
    description: str = Field(min_length=1)
    lifecycle_status: GoalLifecycleStatus = "active"
    achievement_status: GoalAchievementStatus | None = None
    status_date: Day | None = None
    start: Day | None = None
    targets: list[GoalTarget] = Field(default_factory=list)
    addresses: list[Key] = Field(default_factory=list)


class Schedule(Model):
    """When an activity happens: weekdays, start time, length, and the weeks it runs."""

    days: list[Weekday] = Field(default_factory=list)
    start_time: time | None = None
    duration_minutes: int = Field(gt=0, le=720)
    period: Period | None = None

    @property
    def minutes_per_week(self) -> int:
        """Planned minutes a week."""
        return len(self.days) * self.duration_minutes


class Activity(Model):
    """A planned activity of the treatment plan: group, individual or family therapy..."""

    key: Key
    kind: SessionKind | None = None
    kind_code: Code | None = None
    title: str | None = None
    modality: Modality | None = None
    status: ActivityStatus = "scheduled"
    lead: Key | None = None
    setting: Setting | None = None
    schedule: Schedule | None = None
    goals: list[Key] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind(self) -> Activity:
        if self.kind is not None and self.kind_code is not None:
            raise ValueError("@kind_code: an activity has a kind or a kind_code, not both")
        return self


class Revision(Model):
    """One revision of a plan: when, by whom, what changed (e.g. a weekly team review)."""

    date: Day | Timestamp
    author: Key | None = None
    summary: str = Field(min_length=1)


class PlanBase(Model):
    """What every care plan has."""

    key: Key
    title: str | None = None
    status: PlanStatus = "active"
    period: Period | None = None
    created: Day | None = None
    author: Key | None = None
    #: R4 ``CarePlan.intent``: what the plan is (the IOP's own plans are ``plan``)
    intent: PlanIntent = "plan"
    addresses: list[Key] = Field(default_factory=list)
    goals: list[Goal] = Field(default_factory=list)
    #: goals of other plans, or of the episode's ``other_goals``, this plan names too
    shared_goals: list[Key] = Field(default_factory=list)
    #: the care teams the plan involves (``CarePlan.careTeam``); ``None`` in a file means
    #: every team of the episode that has members (the episode fills the list in)
    teams: list[Key] | None = None
    revisions: list[Revision] = Field(default_factory=list)

    @model_validator(mode="after")
    def _iop_intent(self) -> PlanBase:
        # the IOP plan profiles fix CarePlan.intent = plan; foreign plans keep theirs
        if getattr(self, "kind", "other") != "other" and self.intent != "plan":
            raise ValueError("@intent: an IOP plan (not of kind other) has intent plan")
        return self


class TreatmentPlan(PlanBase):
    """The IOP treatment plan: goals and scheduled activities. ``kind`` ``other`` holds
    care plans read from foreign data that are not IOP plans."""

    kind: Literal["treatment", "other"] = "treatment"
    activities: list[Activity] = Field(default_factory=list)

    @property
    def planned_minutes_per_week(self) -> int:
        """Planned minutes a week over every scheduled activity."""
        return sum(a.schedule.minutes_per_week for a in self.activities if a.schedule)


class CrisisContact(Model):
    """Someone to call in a crisis: a crisis line, a sponsor, a clinician on call."""

    key: Key
    name: str = Field(min_length=1)
    phone: str = Field(min_length=1)
    note: str | None = None


class RelapsePreventionPlan(PlanBase):
    """The relapse-prevention (safety) plan, kept as structured lists."""

    kind: Literal["relapse-prevention"] = "relapse-prevention"
    triggers: list[str] = Field(default_factory=list)
    warning_signs: list[str] = Field(default_factory=list)
    coping_strategies: list[str] = Field(default_factory=list)
    daily_routines: list[str] = Field(default_factory=list)
    supports: list[Key] = Field(default_factory=list)
    crisis_contacts: list[CrisisContact] = Field(default_factory=list)


class AftercareReferral(Model):
    """A referral out to an aftercare service (FHIR ServiceRequest)."""

    key: Key
    service: AftercareService
    status: Literal["draft", "active", "on-hold", "revoked", "completed"] = "active"
    authored: Day | None = None
    requester: Key | None = None
    organization: Key | None = None
    practitioner: Key | None = None
    reason: str | None = None


class AftercareAppointment(Model):
    """A booked aftercare appointment (FHIR Appointment)."""

    key: Key
    service: AftercareService
    start: Timestamp
    end: Timestamp | None = None
    status: Literal["proposed", "booked", "fulfilled", "noshow", "cancelled"] = "booked"
    practitioner: Key | None = None
    organization: Key | None = None
    referral: Key | None = None

    @model_validator(mode="after")
    def _times(self) -> AftercareAppointment:
        # FHIR writes an appointment without an end with end = start (R4 app-2), so an end
        # equal to the start would read back as "no end"
        if self.end is not None and self.end <= self.start:
            raise ValueError("@end: is not after start")
        return self


class CheckIn(Model):
    """A planned follow-up check-in in the months after discharge."""

    key: Key
    due: Day
    method: ContactMethod = "phone"
    status: Literal["not-started", "scheduled", "completed", "cancelled"] = "scheduled"
    with_: Key | None = Field(default=None, alias="with")


class AftercarePlan(PlanBase):
    """The aftercare plan: referrals, appointments and check-ins after the IOP."""

    kind: Literal["aftercare"] = "aftercare"
    referrals: list[AftercareReferral] = Field(default_factory=list)
    appointments: list[AftercareAppointment] = Field(default_factory=list)
    check_ins: list[CheckIn] = Field(default_factory=list)


CarePlan = Annotated[
    TreatmentPlan | RelapsePreventionPlan | AftercarePlan, Field(discriminator="kind")
]


RequestStatus = Literal[
    "draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"
]
RequestIntent = Literal[
    "proposal",
    "plan",
    "directive",
    "order",
    "original-order",
    "reflex-order",
    "filler-order",
    "instance-order",
    "option",
]


class Request(Model):
    """A request for a service from foreign data (FHIR ServiceRequest) that is neither the
    episode's referral nor an aftercare referral: kept as written so that re-export
    writes it again. ``requester`` and ``performers`` are people or organizations of the
    episode, ``reasons`` its diagnoses."""

    key: Key
    status: RequestStatus = "active"
    intent: RequestIntent = "order"
    code: Code | None = None
    title: str | None = Field(default=None, min_length=1)
    categories: list[Code] = Field(default_factory=list)
    priority: Literal["routine", "urgent", "asap", "stat"] | None = None
    authored: Day | Timestamp | None = None
    occurrence: Day | Timestamp | Period | None = None
    requester: Key | None = None
    performers: list[Key] = Field(default_factory=list)
    reason_codes: list[Code] = Field(default_factory=list)
    reasons: list[Key] = Field(default_factory=list)


def fill_plan_teams(data: Any) -> Any:
    """Raw episode input with each care plan's missing ``teams`` set to the keys of the
    episode's teams that have members (what ``CarePlan.careTeam`` listed before plans
    named their own teams); anything else is returned as is."""
    if not isinstance(data, dict) or not data.get("care_plans"):
        return data
    teams = [
        _get(t, "key")
        for t in data.get("teams") or ()
        if _get(t, "members")  # a member-less team claims no profile: not referenced
    ]
    plans = []
    changed = False
    for plan in data["care_plans"]:
        if isinstance(plan, dict) and plan.get("teams") is None:
            plan = {**plan, "teams": list(teams)}
            changed = True
        elif isinstance(plan, PlanBase) and plan.teams is None:
            plan = plan.model_copy(update={"teams": list(teams)})
            changed = True
        plans.append(plan)
    return {**data, "care_plans": plans} if changed else data


def _get(item: Any, name: str) -> Any:
    """A field of a model or of its raw (dict) input."""
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)
