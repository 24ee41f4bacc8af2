"""The IOP episode: the root of the model and of an episode file.

An :class:`Episode` is one patient's stay in one program: how they were referred
(often from an inpatient stay, with its clinicians and the hospital's discharge plan),
admission and discharge, diagnoses, the people and the team, the care plans, the
sessions and the outcome measures, medications and allergies, and whether the record is
protected substance-use treatment information (42 CFR Part 2) with the patient's consents
to disclose it (:mod:`iopfhir.domain.consent`). ``Episode.continuity()``
says who carried the patient from inpatient through IOP into aftercare.

The episode checks that every key it refers to exists (a session's facilitator must be
a practitioner, a goal must address a diagnosis...) and reports the JSON path of the
first reference that does not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from pydantic import Field, model_validator

from iopfhir.domain.common import Day, Key, Model, Period
from iopfhir.domain.consent import Consent, consent_problems
from iopfhir.domain.continuity import (
    Continuity,
    DischargePlan,
    StayParticipant,
    continuity_of,
    continuity_problems,
)
from iopfhir.domain.diagnoses import Diagnosis, ListedDiagnosis, listing_problems
from iopfhir.domain.measures import Measure
from iopfhir.domain.medications import Allergy, MedicationUse, Prescription, medication_problems
from iopfhir.domain.people import Location, Organization, Patient, Practitioner, Support, Team
from iopfhir.domain.plans import (
    AftercarePlan,
    CarePlan,
    Goal,
    RelapsePreventionPlan,
    Request,
    TreatmentPlan,
    fill_plan_teams,
)
from iopfhir.domain.reviews import Review, fill_goal_statuses, status_problems
from iopfhir.domain.sessions import Session, fill_session_modality, kinds_without_patient
from iopfhir.domain.vocabulary import (
    DischargeDisposition,
    EpisodeStatus,
    ProgramType,
    ReferralSource,
)

__all__ = ["Diagnosis", "Discharge", "Episode", "Program", "Referral", "WeekHours"]


class Program(Model):
    """The IOP itself: its kind and the intensity it requires (by default ASAM level 2.1
    for adults: 9 to 20 hours a week over 3 to 5 days)."""

    name: str = Field(min_length=1)
    type: ProgramType
    organization: Key | None = None
    min_hours_per_week: float = Field(default=9.0, ge=0, le=40)
    min_days_per_week: int = Field(default=3, ge=0, le=7)
    max_hours_per_week: float = Field(default=20.0, ge=0, le=40)
    max_days_per_week: int = Field(default=5, ge=0, le=7)

    @model_validator(mode="after")
    def _range(self) -> Program:
        if self.max_hours_per_week < self.min_hours_per_week:
            raise ValueError("@max_hours_per_week: is below min_hours_per_week")
        if self.max_days_per_week < self.min_days_per_week:
            raise ValueError("@max_days_per_week: is below min_days_per_week")
        return self


class Referral(Model):
    """How the patient came to the program (FHIR ServiceRequest, requested by ``requester``
    - the inpatient clinician - or else by ``organization``, and performed by the IOP; the
    inpatient stay an Encounter with its clinicians and the hospital, ``organization``; the
    hospital's discharge plan a CarePlan the IOP treatment plan continues)."""

    key: Key = "referral"
    source: ReferralSource
    date: Day | None = None
    requester: Key | None = None
    organization: Key | None = None
    reason: str | None = None
    stay: Period | None = None
    #: the clinicians of the inpatient stay (FHIR: the stay Encounter's participants)
    stay_participants: list[StayParticipant] = Field(default_factory=list)
    #: the hospital's discharge plan, which the IOP treatment plan continues
    discharge_plan: DischargePlan | None = None


class Discharge(Model):
    """How the episode ended: the day, and how (others' episodes may lack the how)."""

    date: Day
    disposition: DischargeDisposition | None = None


class WeekHours(Model):
    """Hours the patient received in one program week, against the program's intensity:
    below its minimum or above its maximum of hours or days."""

    week_start: Day
    hours: float
    days: int
    below_minimum: bool
    above_maximum: bool = False


class Episode(Model):
    """One patient's IOP episode: the root of an episode file."""

    key: Key
    patient: Patient
    program: Program | None = None
    status: EpisodeStatus | None = None
    admission: Day | None = None
    referral: Referral | None = None
    discharge: Discharge | None = None
    part2: bool = False
    care_manager: Key | None = None
    organizations: list[Organization] = Field(default_factory=list)
    locations: list[Location] = Field(default_factory=list)
    practitioners: list[Practitioner] = Field(default_factory=list)
    supports: list[Support] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    #: the diagnoses the EpisodeOfCare lists, as read from FHIR (which, each with its rank
    #: if given, in the source's order); ``None``: every diagnosis, ranked in order
    diagnoses_listed: list[ListedDiagnosis] | None = None
    care_plans: list[CarePlan] = Field(default_factory=list)
    #: goals no care plan holds (free-standing FHIR Goals); plans may name them
    #: (``shared_goals``)
    other_goals: list[Goal] = Field(default_factory=list)
    #: other requests for services (foreign ServiceRequests that are not referrals)
    requests: list[Request] = Field(default_factory=list)
    sessions: list[Session] = Field(default_factory=list)
    measures: list[Measure] = Field(default_factory=list)
    medications: list[MedicationUse] = Field(default_factory=list)
    prescriptions: list[Prescription] = Field(default_factory=list)
    allergies: list[Allergy] = Field(default_factory=list)
    reviews: list[Review] = Field(default_factory=list)
    #: the patient's consents to disclose Part 2 records (``part2``: the program is Part 2)
    consents: list[Consent] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _default_status(cls, data: Any) -> Any:
        """An episode with program, admission, discharge, referral or care manager is an
        EpisodeOfCare, which always has a status: without one it is ``finished`` when
        discharged, else ``active`` (what FHIR carries, so reading back is equal)."""
        if (
            isinstance(data, dict)
            and data.get("status") is None
            and any(
                data.get(k) is not None
                for k in ("program", "admission", "discharge", "referral", "care_manager")
            )
        ):
            data = {**data, "status": "finished" if data.get("discharge") is not None else "active"}
        return fill_session_modality(data)

    @model_validator(mode="before")
    @classmethod
    def _plan_teams(cls, data: Any) -> Any:
        """A plan that names no teams (``teams`` absent) involves every team of the
        episode that has members, as FHIR written before plans named their own
        teams has it (``CarePlan.careTeam``); the list is filled in so that reading
        back is equal."""
        return fill_plan_teams(data)

    @model_validator(mode="before")
    @classmethod
    def _goal_statuses(cls, data: Any) -> Any:
        """A reviewed goal's statuses default to its latest review's (``reviews.py``)."""
        return fill_goal_statuses(data)

    @model_validator(mode="after")
    def _references(self) -> Episode:
        problems = list(self.reference_problems())
        if problems:
            path, message = problems[0]
            raise ValueError(f"{path}: {message}")
        return self

    # -- lookups -------------------------------------------------------------------------

    def plans_of(self, kind: str) -> list[CarePlan]:
        """The care plans of one kind (``treatment``, ``relapse-prevention``, ``aftercare``)."""
        return [p for p in self.care_plans if p.kind == kind]

    @property
    def treatment_plan(self) -> TreatmentPlan | None:
        """The (first) IOP treatment plan."""
        for plan in self.care_plans:
            if isinstance(plan, TreatmentPlan) and plan.kind == "treatment":
                return plan
        return None

    @property
    def relapse_prevention(self) -> RelapsePreventionPlan | None:
        """The relapse-prevention plan, if any."""
        return next((p for p in self.care_plans if isinstance(p, RelapsePreventionPlan)), None)

    @property
    def aftercare(self) -> AftercarePlan | None:
        """The aftercare plan, if any."""
        return next((p for p in self.care_plans if isinstance(p, AftercarePlan)), None)

    @property
    def goals(self) -> list[Goal]:
        """Every goal of every plan, then the goals outside any plan (``other_goals``)."""
        return [*(g for p in self.care_plans for g in p.goals), *self.other_goals]

    # -- reference checks ----------------------------------------------------------------

    def reference_problems(self) -> Iterator[tuple[str, str]]:
        """Yield (JSON path, message) for every key that names nothing it may name."""
        yield from _duplicate_keys(self)
        keys = _Keys(self)
        check = keys.check
        if self.program:
            yield from check("$.program.organization", self.program.organization, keys.org)
        yield from check("$.care_manager", self.care_manager, keys.prac)
        if self.referral:
            yield from check("$.referral.requester", self.referral.requester, keys.prac)
            yield from check("$.referral.organization", self.referral.organization, keys.org)
        yield from continuity_problems(self)
        yield from listing_problems(self.diagnoses_listed, keys.diagnosis[0])
        yield from medication_problems(self)
        yield from consent_problems(self.consents, (o.key for o in self.organizations))
        for i, prac in enumerate(self.practitioners):
            yield from check(f"$.practitioners[{i}].organization", prac.organization, keys.org)
        for i, place in enumerate(self.locations):
            yield from check(f"$.locations[{i}].organization", place.organization, keys.org)
        for t, team in enumerate(self.teams):
            yield from check(f"$.teams[{t}].organization", team.organization, keys.org)
            for m, member in enumerate(team.members):
                yield from check(f"$.teams[{t}].members[{m}].member", member.member, keys.member)
        held: set[str] = set()  # goals of the plans so far: what a plan may share
        for p, plan in enumerate(self.care_plans):
            yield from _plan_problems(f"$.care_plans[{p}]", plan, keys)
            for g, key in enumerate(plan.shared_goals):
                if key not in held:  # FHIR: the first plan naming a goal holds it
                    yield f"$.care_plans[{p}].shared_goals[{g}]", "names no goal of an earlier plan"
            held.update(goal.key for goal in plan.goals)
        for g, goal in enumerate(self.other_goals):
            for a, key in enumerate(goal.addresses):
                yield from check(f"$.other_goals[{g}].addresses[{a}]", key, keys.diagnosis)
        yield from _request_problems(self, keys)
        yield from _session_problems(self, keys)
        yield from _review_problems(self, keys)
        no_encounter = {s.key for s in self.sessions if s.status in ("no-show", "cancelled")}
        for m, measure in enumerate(self.measures):
            yield from check(f"$.measures[{m}].session", measure.session, keys.session)
            if measure.session in no_encounter:
                # FHIR links a measure to the session's Encounter, which such a session lacks
                yield f"$.measures[{m}].session", "names a no-show or cancelled session"
            yield from check(f"$.measures[{m}].performer", measure.performer, keys.person)
        if self.discharge and self.admission and self.discharge.date < self.admission:
            yield "$.discharge.date", "discharge is before admission"

    # -- continuity ----------------------------------------------------------------------

    def continuity(self) -> Continuity:
        """Per practitioner, the phases of care (inpatient, IOP, aftercare) they took part
        in: who carried the patient from the hospital through the IOP into aftercare
        (:func:`iopfhir.domain.continuity.continuity_of` says what counts)."""
        return continuity_of(self)

    # -- intensity -----------------------------------------------------------------------

    def weekly_hours(self) -> list[WeekHours]:
        """Hours the patient received per program week: attended sessions the patient
        takes part in (team reviews and other meetings without the patient do not count),
        flagged when a week falls under the program minimum or over its maximum of hours
        or days (without a program: 9-20 hours over 3-5 days, ASAM level 2.1)."""
        attended = [s for s in self.sessions if s.status == "attended" and s.patient_present]
        if not attended:
            return []
        first = self.admission or min(s.start for s in attended).date()
        minutes: dict[int, int] = defaultdict(int)
        days: dict[int, set[date]] = defaultdict(set)
        for s in attended:
            week = (s.start.date() - first).days // 7
            minutes[week] += s.patient_minutes
            days[week].add(s.start.date())
        last = max(minutes)
        program = self.program or Program(name="IOP", type="mental-health")
        out = []
        for week in range(last + 1):
            hours = round(minutes.get(week, 0) / 60, 2)
            n_days = len(days.get(week, set()))
            out.append(
                WeekHours(
                    week_start=first + timedelta(days=7 * week),
                    hours=hours,
                    days=n_days,
                    below_minimum=hours < program.min_hours_per_week
                    or n_days < program.min_days_per_week,
                    above_maximum=hours > program.max_hours_per_week
                    or n_days > program.max_days_per_week,
                )
            )
        return out


#: What a key may name, and the words an error uses for it.
_Allowed = tuple[frozenset[str], str]

_TEAM_MEMBER = (
    "a practitioner, support, the patient, an organization or a team with members of the episode"
)


class _Keys:
    """The keys one episode defines, grouped by what a reference may name."""

    def __init__(self, episode: Episode) -> None:
        orgs = frozenset(o.key for o in episode.organizations)
        practitioners = frozenset(p.key for p in episode.practitioners)
        staff = practitioners | {s.key for s in episode.supports}
        people = staff | {episode.patient.key}
        on_team = frozenset(m.member for t in episode.teams for m in t.members)
        self.org: _Allowed = (orgs, "an organization of the episode")
        self.prac: _Allowed = (practitioners, "a practitioner of the episode")
        # a plan's author may be a support too; the message has always said practitioner
        self.author: _Allowed = (staff, "a practitioner of the episode")
        self.staff: _Allowed = (staff, "a practitioner or support of the episode")
        teams = frozenset(t.key for t in episode.teams)
        self.team: _Allowed = (teams, "a team of the episode")
        # a team member that is a team has members (iop-careteam: member only IopCareTeam)
        staffed = frozenset(t.key for t in episode.teams if t.members)
        self.member: _Allowed = (people | orgs | staffed, _TEAM_MEMBER)
        self.party: _Allowed = (people | orgs, "a person or organization of the episode")
        self.location: _Allowed = (
            frozenset(p.key for p in episode.locations),
            "a location of the episode",
        )
        self.attendee: _Allowed = (people, _TEAM_MEMBER)
        self.person: _Allowed = (people, "a person of the episode")
        self.diagnosis: _Allowed = (frozenset(d.key for d in episode.diagnoses), "a diagnosis")
        self.session: _Allowed = (frozenset(s.key for s in episode.sessions), "a session")
        # a team can be a member of another, but leads a session or an activity no more
        lead = on_team & (people | orgs) if episode.teams else people
        self.lead: _Allowed = (lead, "a member of the care team")
        # an organization cannot take part in an R4 Appointment / Encounter
        self.facilitator: _Allowed = (
            self.lead[0] & people,
            "a person (practitioner, support or the patient) on the care team",
        )
        self.activity: _Allowed = (
            frozenset(
                a.key
                for p in episode.care_plans
                if isinstance(p, TreatmentPlan)
                for a in p.activities
            ),
            "an activity of the treatment plan",
        )

    @staticmethod
    def check(path: str, key: str | None, allowed: _Allowed) -> tuple[tuple[str, str], ...]:
        # a tuple, not a generator: asked of every reference (``yield from`` takes either)
        if key is not None and key not in allowed[0]:
            # the key is input (a name, an MRN...): say where, not what
            return ((path, f"names no {allowed[1].removeprefix('a ').removeprefix('an ')}"),)
        return ()


def _plan_problems(base: str, plan: CarePlan, keys: _Keys) -> Iterator[tuple[str, str]]:
    """Reference problems of one care plan (``base`` is its JSON path)."""
    check = keys.check
    yield from check(f"{base}.author", plan.author, keys.author)
    for a, key in enumerate(plan.addresses):
        yield from check(f"{base}.addresses[{a}]", key, keys.diagnosis)
    for g, goal in enumerate(plan.goals):
        for a, key in enumerate(goal.addresses):
            yield from check(f"{base}.goals[{g}].addresses[{a}]", key, keys.diagnosis)
    for r, revision in enumerate(plan.revisions):
        yield from check(f"{base}.revisions[{r}].author", revision.author, keys.prac)
    own = {g.key for g in plan.goals}
    for g, key in enumerate(plan.shared_goals):
        if key in own or plan.shared_goals.index(key) != g:
            yield f"{base}.shared_goals[{g}]", "names a goal the plan already holds or names"
    for t, key in enumerate(plan.teams or ()):
        yield from check(f"{base}.teams[{t}]", key, keys.team)
    if isinstance(plan, TreatmentPlan):
        goals: _Allowed = (frozenset(g.key for g in plan.goals), "a goal of this plan")
        for a, act in enumerate(plan.activities):
            yield from check(f"{base}.activities[{a}].lead", act.lead, keys.lead)
            for g, key in enumerate(act.goals):
                yield from check(f"{base}.activities[{a}].goals[{g}]", key, goals)
    elif isinstance(plan, RelapsePreventionPlan):
        for s, key in enumerate(plan.supports):
            yield from check(f"{base}.supports[{s}]", key, keys.staff)
    else:
        referrals: _Allowed = (frozenset(r.key for r in plan.referrals), "a referral of this plan")
        items: tuple[tuple[str, list[Any], tuple[tuple[str, _Allowed], ...]], ...] = (
            (
                "referrals",
                list(plan.referrals),
                (("requester", keys.prac), ("organization", keys.org), ("practitioner", keys.prac)),
            ),
            (
                "appointments",
                list(plan.appointments),
                (("practitioner", keys.prac), ("organization", keys.org), ("referral", referrals)),
            ),
            ("check_ins", list(plan.check_ins), (("with_", keys.staff),)),
        )
        for field, values, checks in items:
            for r, item in enumerate(values):
                for attr, allowed in checks:
                    path = f"{base}.{field}[{r}].{attr.rstrip('_')}"
                    yield from check(path, getattr(item, attr), allowed)


def _session_problems(episode: Episode, keys: _Keys) -> Iterator[tuple[str, str]]:
    """Reference problems of the sessions: who led and attended, which activity."""
    check = keys.check
    patient, attendee, staff = episode.patient.key, keys.attendee[0], keys.staff[0]
    lead = keys.facilitator[0] - {patient}
    for s, session in enumerate(episode.sessions):
        if (  # nothing to report (the common case): no path written
            (session.facilitator is None or session.facilitator in lead)
            and attendee.issuperset(session.attendees)
            and patient not in session.attendees
            and (session.activity is None or session.activity in keys.activity[0])
            and staff.issuperset(p.member for p in session.participants)
            and keys.location[0].issuperset(session.locations)
            and (session.provider is None or session.provider in keys.org[0])
        ):
            continue
        yield from check(f"$.sessions[{s}].facilitator", session.facilitator, keys.facilitator)
        if session.facilitator == episode.patient.key and session.kind in kinds_without_patient():
            yield f"$.sessions[{s}].facilitator", "names the patient in a session without them"
        for a, key in enumerate(session.attendees):
            yield from check(f"$.sessions[{s}].attendees[{a}]", key, keys.attendee)
            if key == episode.patient.key:
                yield (
                    f"$.sessions[{s}].attendees[{a}]",
                    "the patient is not listed as an attendee",
                )
        yield from check(f"$.sessions[{s}].activity", session.activity, keys.activity)
        for p, part in enumerate(session.participants):
            yield from check(f"$.sessions[{s}].participants[{p}].member", part.member, keys.staff)
        for p, key in enumerate(session.locations):
            yield from check(f"$.sessions[{s}].locations[{p}]", key, keys.location)
        yield from check(f"$.sessions[{s}].provider", session.provider, keys.org)


def _request_problems(episode: Episode, keys: _Keys) -> Iterator[tuple[str, str]]:
    """Reference problems of the other requests: requester, performers, reasons."""
    check = keys.check
    for r, request in enumerate(episode.requests):
        yield from check(f"$.requests[{r}].requester", request.requester, keys.party)
        for p, key in enumerate(request.performers):
            yield from check(f"$.requests[{r}].performers[{p}]", key, keys.party)
        for d, key in enumerate(request.reasons):
            yield from check(f"$.requests[{r}].reasons[{d}]", key, keys.diagnosis)


def _review_problems(episode: Episode, keys: _Keys) -> Iterator[tuple[str, str]]:
    """Reference problems of the reviews (author, session, goals, activities), then goals
    whose current statuses are not their latest review's."""
    check = keys.check
    goals: _Allowed = (frozenset(g.key for g in episode.goals), "a goal of the episode")
    for r, review in enumerate(episode.reviews):
        yield from check(f"$.reviews[{r}].author", review.author, keys.prac)
        yield from check(f"$.reviews[{r}].session", review.session, keys.session)
        for g, change in enumerate(review.goals):
            yield from check(f"$.reviews[{r}].goals[{g}].goal", change.goal, goals)
        for c, plan_change in enumerate(review.plan_changes):
            path = f"$.reviews[{r}].plan_changes[{c}].activity"
            yield from check(path, plan_change.activity, keys.activity)
    yield from status_problems(episode.care_plans, episode.reviews)


def _duplicate_keys(episode: Episode) -> Iterator[tuple[str, str]]:
    """Keys must be unique within their kind, since FHIR identifiers are built from them."""
    # a path is written only for a duplicate (nearly every episode has none): each key
    # comes with its path's template and indices, not the path
    groups: dict[str, list[tuple[tuple[Any, ...], str]]] = {
        "organizations": [
            (("$.organizations[{}].key", i), o.key) for i, o in enumerate(episode.organizations)
        ],
        "people": [
            (("$.practitioners[{}].key", i), p.key) for i, p in enumerate(episode.practitioners)
        ]
        + [(("$.supports[{}].key", i), s.key) for i, s in enumerate(episode.supports)]
        + [(("$.patient.key",), episode.patient.key)],
        "teams": [(("$.teams[{}].key", i), t.key) for i, t in enumerate(episode.teams)],
        "diagnoses": [(("$.diagnoses[{}].key", i), d.key) for i, d in enumerate(episode.diagnoses)],
        "care_plans": [
            (("$.care_plans[{}].key", i), p.key) for i, p in enumerate(episode.care_plans)
        ],
        "goals": [
            (("$.care_plans[{}].goals[{}].key", i, j), g.key)
            for i, p in enumerate(episode.care_plans)
            for j, g in enumerate(p.goals)
        ]
        + [(("$.other_goals[{}].key", i), g.key) for i, g in enumerate(episode.other_goals)],
        "locations": [(("$.locations[{}].key", i), p.key) for i, p in enumerate(episode.locations)],
        "requests": [(("$.requests[{}].key", i), r.key) for i, r in enumerate(episode.requests)],
        "sessions": [(("$.sessions[{}].key", i), s.key) for i, s in enumerate(episode.sessions)],
        "activities": [
            (("$.care_plans[{}].activities[{}].key", i, j), a.key)
            for i, p in enumerate(episode.care_plans)
            if isinstance(p, TreatmentPlan)
            for j, a in enumerate(p.activities)
        ],
        "crisis contacts": [
            (("$.care_plans[{}].crisis_contacts[{}].key", i, j), c.key)
            for i, p in enumerate(episode.care_plans)
            if isinstance(p, RelapsePreventionPlan)
            for j, c in enumerate(p.crisis_contacts)
        ],
        "measures": [(("$.measures[{}].key", i), m.key) for i, m in enumerate(episode.measures)],
        "reviews": [(("$.reviews[{}].key", i), r.key) for i, r in enumerate(episode.reviews)],
    }
    aftercare: list[tuple[tuple[Any, ...], str]] = []
    for i, plan in enumerate(episode.care_plans):
        if isinstance(plan, AftercarePlan):
            aftercare += [
                (("$.care_plans[{}].referrals[{}].key", i, j), r.key)
                for j, r in enumerate(plan.referrals)
            ]
            aftercare += [
                (("$.care_plans[{}].appointments[{}].key", i, j), a.key)
                for j, a in enumerate(plan.appointments)
            ]
            aftercare += [
                (("$.care_plans[{}].check_ins[{}].key", i, j), c.key)
                for j, c in enumerate(plan.check_ins)
            ]
    groups["aftercare items"] = aftercare
    for what, entries in groups.items():
        seen: set[str] = set()
        for (template, *at), key in entries:
            if key in seen:
                yield template.format(*at), f"duplicate key among {what}"  # the key is input
            seen.add(key)
