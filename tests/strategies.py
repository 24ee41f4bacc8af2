"""Hypothesis strategies for valid domain :class:`~iopfhir.domain.Episode` objects.

Every field of the domain is exercised; keys are unique in their namespace; every key
reference names something that exists (leads and facilitators are on the care team when
there is one); timestamps carry UTC offsets and whole seconds; measures have valid
answers, and a total only where it agrees with them.

Shapes the domain forbids because R4 cannot carry them (see MAPPING.md, "Domain rules
for a lossless mapping") are not drawn: a facilitator that is an organization, a
facilitator or the patient among the attendees, the patient leading a session without
the patient (team review...), a measure linked to a no-show or
cancelled session, an aftercare appointment whose end is not after its start, both a
``kind`` and a ``kind_code`` (or ``role`` and ``role_code``), ``cancel_reason`` on a
session that is not cancelled. Attended sessions are drawn with and without actual
times (the domain sets actual = planned when none are given).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from hypothesis import strategies as st
from pydantic import ValidationError

from iopfhir.domain import (
    Activity,
    AftercareAppointment,
    AftercarePlan,
    AftercareReferral,
    Age,
    AgeRange,
    Allergy,
    CheckIn,
    Code,
    ConditionTime,
    Consent,
    CrisisContact,
    Diagnosis,
    Discharge,
    DischargePlan,
    Episode,
    Goal,
    GoalStatusChange,
    GoalTarget,
    HumanName,
    Identifier,
    Location,
    Measure,
    MedicationUse,
    Organization,
    Patient,
    PlanChange,
    Practitioner,
    Prescription,
    Program,
    Provision,
    Reaction,
    Referral,
    RelapsePreventionPlan,
    Request,
    Review,
    Revision,
    Schedule,
    Session,
    SessionParticipant,
    StayParticipant,
    Support,
    Team,
    TeamMember,
    TreatmentPlan,
)
from iopfhir.domain.common import Period
from iopfhir.domain.measures import MEASURE_FORMS
from iopfhir.terminology import code_system, codes, instruments

__all__ = ["episodes"]

OFFSETS = [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]
BASE = datetime(2024, 1, 1, tzinfo=UTC)

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=12).map(
    lambda s: s.strip() or "x"
)
sentences = st.lists(words, min_size=1, max_size=4).map(lambda w: " ".join(w).capitalize())
phones = st.from_regex(r"\+1-555-0[0-9]{3}", fullmatch=True)
keys_text = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)


def concepts(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(code_system(name)["concepts"]))


roles = st.sampled_from(sorted(codes()["roles"]))
practitioner_roles = st.sampled_from(sorted(codes()["practitioner_roles"]))
relationships = st.sampled_from(sorted(codes()["relationships"]))
foreign_codes = st.builds(
    Code,
    system=st.sampled_from(["http://snomed.info/sct", "http://example.org/codes"]),
    code=st.from_regex(r"[0-9]{5,9}", fullmatch=True),
    display=st.none() | sentences,
)


@st.composite
def moments(draw: st.DrawFn, after: datetime = BASE, days: int = 120) -> datetime:
    """A timestamp with an offset, whole seconds, some time after ``after``."""
    seconds = draw(st.integers(min_value=0, max_value=days * 86400))
    tz = draw(st.sampled_from(OFFSETS))
    return (after + timedelta(seconds=seconds)).astimezone(tz).replace(microsecond=0)


@st.composite
def dates(draw: st.DrawFn, after: date = date(2024, 1, 1), days: int = 120) -> date:
    return after + timedelta(days=draw(st.integers(min_value=0, max_value=days)))


@st.composite
def periods(draw: st.DrawFn) -> Period:
    if draw(st.booleans()):
        start: date | datetime = draw(dates())
        end: date | datetime | None = draw(st.none() | dates(after=start))  # type: ignore[arg-type]
    else:
        start = draw(moments())
        end = draw(st.none() | moments(after=start))  # type: ignore[arg-type]
    return Period(start=start, end=end)


def identifiers(prefix: str, min_size: int = 0) -> st.SearchStrategy[list[Identifier]]:
    return st.lists(
        st.builds(
            Identifier,
            system=st.sampled_from(
                ["http://hl7.org/fhir/sid/us-npi", f"urn:oid:2.16.840.1.113883.3.{prefix}"]
            ),
            value=st.from_regex(r"[A-Z0-9]{4,10}", fullmatch=True),
        ),
        min_size=min_size,
        max_size=2,
        unique_by=lambda i: i.system,
    )


names = st.builds(HumanName, family=words.map(str.title), given=st.lists(words, max_size=2))


@st.composite
def measures_for(draw: st.DrawFn, key: str, sessions: list[str], people: list[str]) -> Measure:
    inst = draw(st.sampled_from(sorted(instruments().values(), key=lambda i: i.id)))
    mode = draw(st.sampled_from(["answers", "total", "both", "partial"]))
    answers: dict[str, int] = {}
    if mode != "total":
        items = list(inst.items)
        if mode == "partial" and len(items) > 1:
            items = items[: draw(st.integers(1, len(items) - 1))]
        for it in items:
            answers[it.id] = draw(st.sampled_from([a.score for a in it.answers]))
        for it in inst.extra_items:
            if draw(st.booleans()):
                answers[it.id] = draw(st.sampled_from([a.score for a in it.answers]))
    total: int | None = None
    if mode == "total":
        total = draw(st.integers(inst.min_total, inst.max_total))
    elif mode == "both":
        total = inst.score(answers).total
    return Measure(
        key=key,
        instrument=inst.id,
        date=draw(moments()),
        answers=answers,
        total=total,
        session=draw(st.none() | st.sampled_from(sessions)) if sessions else None,
        performer=draw(st.none() | st.sampled_from(people)),
    )


@st.composite
def session_forms(draw: st.DrawFn, session: Session, patient_key: str) -> Session:
    """``session`` as read from FHIR that had only its Appointment or only its Encounter
    (what one resource cannot carry is not drawn), or unchanged (every form)."""
    if session.status not in ("scheduled", "attended"):
        return session  # an Appointment only: what every such session is written as
    choice = draw(st.sampled_from([None, ["appointment"], ["encounter"]]))
    if choice is None or (choice == ["encounter"] and session.facilitator == patient_key):
        return session  # the patient leads a session only on its Appointment
    try:
        return Session.model_validate({**session.model_dump(), "forms": choice})
    except ValidationError:
        return session


@st.composite
def measure_forms(draw: st.DrawFn, measure: Measure, sex: str | None) -> Measure:
    """``measure`` as read from FHIR that had only some of its forms (normalised as the
    reader records them: the forms the builder writes, ``None`` when that is all), or
    unchanged."""
    if draw(st.booleans()):
        return measure
    chosen = draw(st.sets(st.sampled_from(MEASURE_FORMS), min_size=1))
    data = measure.model_dump()
    try:
        drawn = Measure.model_validate({**data, "forms": sorted(chosen)})
    except ValidationError:
        return measure
    written = list(drawn.written_forms(sex))
    if written == list(measure.written_forms(sex)):
        return measure
    if "questionnaire-response" not in written and measure.complete:
        # without the QR a total equal to the answers' reads as computed, not stated
        data["total"] = None
    try:
        return Measure.model_validate({**data, "forms": written})
    except ValidationError:
        return measure


ages = st.builds(
    Age,
    value=st.sampled_from([0.5, 17.0, 42.0]),
    unit=st.sampled_from(["a", "mo", "wk", "d"]),
)


@st.composite
def condition_times(draw: st.DrawFn) -> date | ConditionTime:
    """An R4 ``onset[x]`` / ``abatement[x]``: a date, a period, an age, an age range, text."""
    form = draw(st.sampled_from(["date", "period", "age", "range", "text"]))
    if form == "date":
        return draw(dates(after=date(2020, 1, 1)))
    if form == "period":
        return ConditionTime(period=draw(periods()))
    if form == "age":
        return ConditionTime(age=draw(ages))
    if form == "range":
        low, high = draw(st.none() | ages), draw(st.none() | ages)
        return ConditionTime(age_range=AgeRange(low=low or high or Age(value=1.0), high=high))
    return ConditionTime(text=draw(sentences))


@st.composite
def requests_for(
    draw: st.DrawFn, keys: list[str], parties: list[str], diagnoses: list[str]
) -> list[Request]:
    """Other requests (foreign ServiceRequests that are not referrals)."""
    parties_or_none = st.none() | st.sampled_from(parties) if parties else st.none()
    return [
        Request(
            key=key,
            status=draw(st.sampled_from(["draft", "active", "completed", "unknown"])),
            intent=draw(st.sampled_from(["order", "plan", "proposal", "original-order"])),
            code=draw(st.none() | foreign_codes),
            title=draw(st.none() | sentences),
            categories=draw(st.lists(foreign_codes, max_size=2)),
            priority=draw(st.none() | st.sampled_from(["routine", "urgent"])),
            authored=draw(st.none() | dates() | moments()),
            occurrence=draw(st.none() | dates() | moments() | periods()),
            requester=draw(parties_or_none),
            performers=draw(st.lists(st.sampled_from(parties), unique=True, max_size=2))
            if parties
            else [],
            reason_codes=draw(st.lists(foreign_codes, max_size=1)),
            reasons=draw(st.lists(st.sampled_from(diagnoses), unique=True, max_size=2))
            if diagnoses
            else [],
        )
        for key in keys
    ]


@st.composite
def encounter_parts(
    draw: st.DrawFn, status: str, staff: list[str], locations: list[str], orgs: list[str]
) -> dict[str, Any]:
    """A session's Encounter participants as foreign data wrote them (types in any system,
    or none), locations and service provider; none for a session without an Encounter."""
    if status not in ("scheduled", "attended"):
        return {}
    participants = [
        SessionParticipant(member=m, types=draw(st.lists(foreign_codes, max_size=2)))
        for m in (draw(st.lists(st.sampled_from(staff), max_size=2)) if staff else [])
    ]
    return {
        "participants": participants,
        "locations": draw(st.lists(st.sampled_from(locations), unique=True, max_size=2))
        if locations
        else [],
        "provider": draw(st.none() | st.sampled_from(orgs)) if orgs else None,
    }


@st.composite
def goals_for(draw: st.DrawFn, keys: list[str], diagnoses: list[str]) -> list[Goal]:
    out = []
    for key in keys:
        targets = draw(
            st.lists(
                st.builds(
                    GoalTarget,
                    instrument=st.sampled_from(sorted(instruments())),
                    comparator=st.sampled_from(["<", "<=", ">=", ">"]),
                    value=st.integers(0, 3),
                    due=st.none() | dates(),
                ),
                max_size=2,
            )
        )
        out.append(
            Goal(
                key=key,
                description=draw(sentences),
                lifecycle_status=draw(
                    st.sampled_from(["proposed", "active", "on-hold", "completed", "cancelled"])
                ),
                achievement_status=draw(
                    st.none() | st.sampled_from(["in-progress", "improving", "achieved"])
                ),
                status_date=draw(st.none() | dates()),
                start=draw(st.none() | dates()),
                targets=targets,
                addresses=draw(st.lists(st.sampled_from(diagnoses), unique=True, max_size=2))
                if diagnoses
                else [],
            )
        )
    return out


rx_codes = st.builds(
    Code,
    system=st.just("http://www.nlm.nih.gov/research/umls/rxnorm"),
    code=st.sampled_from(["312941", "1483744", "349332"]),
    display=st.none() | sentences,
)


@st.composite
def allergies(draw: st.DrawFn, key: str, prac_keys: list[str]) -> Allergy:
    """An allergy: an entered-in-error one has no clinical status (R4 ait-2)."""
    in_error = draw(st.integers(0, 5)) == 0
    return Allergy(
        key=key,
        code=draw(foreign_codes),
        category=draw(st.none() | st.sampled_from(["food", "medication", "environment"])),
        criticality=draw(st.none() | st.sampled_from(["low", "high", "unable-to-assess"])),
        clinical_status=None
        if in_error
        else draw(st.sampled_from(["active", "inactive", "resolved"])),
        verification_status="entered-in-error"
        if in_error
        else draw(st.none() | st.sampled_from(["unconfirmed", "confirmed", "refuted"])),
        recorded=draw(st.none() | dates()),
        recorder=draw(st.none() | st.sampled_from(prac_keys)) if prac_keys else None,
        reactions=[
            Reaction(
                manifestation=draw(foreign_codes),
                severity=draw(st.none() | st.sampled_from(["mild", "moderate", "severe"])),
            )
            for _ in range(draw(st.integers(0, 2)))
        ],
    )


@st.composite
def inpatient_referrals(
    draw: st.DrawFn, prac_keys: list[str], org_keys: list[str]
) -> Referral | None:
    """No referral, or one with a stay (its clinicians and hospital) and a discharge plan;
    with a requesting practitioner, the organization is the stay's hospital (needs a stay)."""
    if draw(st.booleans()):
        return None
    requester = draw(st.none() | st.sampled_from(prac_keys)) if prac_keys else None
    stay = draw(st.none() | st.just(Period(start=date(2023, 12, 1), end=date(2023, 12, 20))))
    may_have_org = org_keys and (requester is None or stay is not None)
    participation = sorted(codes()["stay_participation"]["codes"])
    return Referral(
        key="referral",
        source=draw(concepts("referral-source")),
        date=draw(st.none() | dates(after=date(2023, 12, 1), days=30)),
        requester=requester,
        organization=draw(st.none() | st.sampled_from(org_keys)) if may_have_org else None,
        reason=draw(st.none() | sentences),
        stay=stay,
        stay_participants=[
            StayParticipant(
                practitioner=draw(st.sampled_from(prac_keys)),
                role=draw(st.none() | st.sampled_from(participation)),
            )
            for _ in range(draw(st.integers(0, 2)))
        ]
        if stay is not None and prac_keys
        else [],
        discharge_plan=draw(
            st.none()
            | st.builds(
                DischargePlan,
                key=st.sampled_from(["discharge-plan", "dp-1"]),
                title=st.none() | sentences,
                status=st.sampled_from(["active", "completed", "revoked", "unknown"]),
                created=st.none() | dates(),
                author=st.none() | st.sampled_from(prac_keys) if prac_keys else st.none(),
                description=st.none() | sentences,
            )
        ),
    )


@st.composite
def reviews_for(
    draw: st.DrawFn,
    keys: list[str],
    authors: list[str],
    goals: list[str],
    activities: list[str],
    sessions: list[str],
) -> list[Review]:
    """Weekly reviews (goal statuses, plan changes) over the episode's keys."""
    if not authors or not (goals or activities):
        return []
    out = []
    for key in keys:
        changes = (
            [
                GoalStatusChange(
                    goal=goal,
                    lifecycle_status=draw(st.sampled_from(["active", "on-hold", "completed"])),
                    achievement_status=draw(
                        st.none() | st.sampled_from(["in-progress", "improving", "achieved"])
                    ),
                    note=draw(st.none() | sentences),
                )
                for goal in draw(st.lists(st.sampled_from(goals), unique=True, max_size=2))
            ]
            if goals
            else []
        )
        plan_changes = (
            [
                PlanChange(
                    activity=draw(st.sampled_from(activities)),
                    change=draw(st.sampled_from(["added", "stopped", "changed"])),
                    note=draw(st.none() | sentences),
                )
                for _ in range(draw(st.integers(0 if changes else 1, 2)))
            ]
            if activities
            else []
        )
        if not changes and not plan_changes:
            continue
        out.append(
            Review(
                key=key,
                date=draw(st.one_of(dates(), moments())),
                author=draw(st.sampled_from(authors)),
                session=draw(st.none() | st.sampled_from(sessions)) if sessions else None,
                goals=changes,
                plan_changes=plan_changes,
            )
        )
    return out


@st.composite
def consents_for(draw: st.DrawFn, keys: list[str], org_keys: list[str]) -> list[Consent]:
    """42 CFR Part 2 consents: any status (revoked ones inactive with a day), provisions
    permitting or denying by recipient, purpose, period and data class."""
    out = []
    for key in keys:
        given = draw(dates())
        status = draw(st.sampled_from(["active", "inactive", "draft", "rejected"]))
        revoked = draw(st.none() | dates(after=given)) if status == "inactive" else None
        provisions = [
            Provision(
                type=draw(st.sampled_from(["permit", "deny"])),
                recipients=draw(st.lists(st.sampled_from(org_keys), unique=True, max_size=2))
                if org_keys
                else [],
                purposes=draw(
                    st.lists(st.sampled_from(["TREAT", "HPAYMT", "COC", "HOPERAT"]), unique=True)
                ),
                period=draw(st.none() | periods()),
                data=draw(
                    st.lists(st.sampled_from(["substance-use", "mental-health"]), unique=True)
                ),
            )
            for _ in range(draw(st.integers(0, 3)))
        ]
        out.append(
            Consent(
                key=key,
                status=status,
                date=given,
                period=draw(st.none() | periods()),
                revoked=revoked,
                provisions=provisions,
            )
        )
    return out


@st.composite
def episodes(draw: st.DrawFn) -> Episode:
    """A valid Episode with every part of the model drawn."""
    counter = iter(range(10_000))

    def fresh(prefix: str) -> str:
        return f"{prefix}-{next(counter)}"

    episode_key = "ep-" + draw(keys_text)
    patient = Patient(
        key=draw(st.sampled_from(["patient", "pt-" + draw(keys_text)])),
        identifiers=draw(identifiers("1", min_size=1)),
        name=draw(st.none() | names),
        birth_date=draw(st.none() | st.dates(date(1940, 1, 1), date(2008, 12, 31))),
        gender=draw(st.none() | st.sampled_from(["male", "female", "other", "unknown"])),
        phone=draw(st.none() | phones),
    )
    organizations = [
        Organization(
            key=fresh("org"),
            name=draw(sentences),
            identifiers=draw(identifiers("2")),
            phone=draw(st.none() | phones),
            kind=draw(st.none() | st.sampled_from(["provider", "community", "crisis-line"])),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    org_keys = [o.key for o in organizations]
    maybe_org = st.none() | st.sampled_from(org_keys) if org_keys else st.none()
    locations = [
        Location(
            key=fresh("loc"),
            name=draw(st.none() | sentences),
            identifiers=draw(identifiers("5")),
            status=draw(st.none() | st.sampled_from(["active", "inactive"])),
            organization=draw(maybe_org),
            phone=draw(st.none() | phones),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    location_keys = [p.key for p in locations]
    practitioners = []
    for _ in range(draw(st.integers(0, 4))):
        foreign = draw(st.booleans())
        practitioners.append(
            Practitioner(
                key=fresh("pr"),
                name=draw(st.none() | names),
                identifiers=draw(identifiers("3")),
                # several roles (package keys, then foreign codes), or none
                roles=[] if foreign else draw(st.lists(practitioner_roles, max_size=2)),
                role_codes=draw(st.lists(foreign_codes, min_size=1, max_size=2))
                if foreign
                else draw(st.lists(foreign_codes, max_size=1)),
                organization=draw(maybe_org),
                phone=draw(st.none() | phones),
                email=draw(st.none() | st.just("staff@example.org")),
            )
        )
        prac = practitioners[-1]
        if not (prac.roles or prac.role_codes or prac.organization) and draw(st.booleans()):
            # read from data without a PractitionerRole: none is written back
            practitioners[-1] = prac.model_copy(update={"with_role": False})
    prac_keys = [p.key for p in practitioners]
    supports = [
        Support(
            key=fresh("sp"),
            name=draw(names),
            relationship=draw(st.none() | relationships),
            phone=draw(st.none() | phones),
            identifiers=draw(identifiers("4")),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    support_keys = [s.key for s in supports]
    people = [*prac_keys, *support_keys, patient.key]
    members_pool = people + org_keys
    teams = []
    for _ in range(draw(st.integers(0, 2))):
        members = []
        # a team may be a member of a later team (R4 CareTeam.participant.member)
        pool = members_pool + [t.key for t in teams if t.members]
        for member in draw(st.lists(st.sampled_from(pool), max_size=4, unique=True)):
            foreign = draw(st.booleans())
            members.append(
                TeamMember(
                    member=member,
                    role=None if foreign else draw(st.none() | roles),
                    role_code=draw(foreign_codes) if foreign else None,
                    period=draw(st.none() | periods()),
                )
            )
        teams.append(
            Team(
                key=fresh("team"),
                name=draw(st.none() | sentences),
                status=draw(st.none() | st.sampled_from(["proposed", "active", "inactive"])),
                organization=draw(maybe_org),
                members=members,
                period=draw(st.none() | periods()),
            )
        )
    team_names = {t.key for t in teams}  # a team member may be a team: it leads nothing
    on_team = sorted({m.member for t in teams for m in t.members} - team_names) if teams else people
    #: who may facilitate a session: a person on the team (an organization cannot)
    facilitators = [k for k in on_team if k in people]
    diagnoses = [
        Diagnosis(
            key=fresh("dx"),
            code=draw(
                st.builds(
                    Code,
                    system=st.sampled_from(
                        ["http://hl7.org/fhir/sid/icd-10-cm", "http://snomed.info/sct"]
                    ),
                    code=st.sampled_from(["F33.1", "F41.1", "35489007", "F10.20"]),
                    display=st.none() | sentences,
                )
            ),
            category=draw(
                st.sampled_from(["problem-list-item", "encounter-diagnosis", "health-concern"])
            ),
            clinical_status=(status := draw(st.none() | st.sampled_from(["active", "remission"]))),
            verification_status=draw(st.none() | st.sampled_from(["confirmed", "provisional"])),
            onset=draw(st.none() | condition_times()),
            # R4 con-4: only an inactive, resolved or remitted condition has an abatement
            abatement=draw(st.none() | condition_times()) if status == "remission" else None,
            recorded=draw(st.none() | dates()),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    dx_keys = [d.key for d in diagnoses]

    # a plan names teams with members (a member-less team claims no iop-careteam profile)
    team_keys = [t.key for t in teams if t.members]

    def plan_base(prefix: str) -> dict[str, Any]:
        goal_keys = [fresh("goal") for _ in range(draw(st.integers(0, 2)))]
        revisions = [
            Revision(
                date=draw(st.one_of(dates(), moments())),
                author=draw(st.none() | st.sampled_from(prac_keys)) if prac_keys else None,
                summary=draw(sentences),
            )
            for _ in range(draw(st.integers(0, 2)))
        ]
        return {
            "key": fresh(prefix),
            "title": draw(st.none() | sentences),
            "status": draw(st.sampled_from(["draft", "active", "completed"])),
            "period": draw(st.none() | periods()),
            "created": draw(st.none() | dates()),
            "author": draw(st.none() | st.sampled_from(prac_keys + support_keys))
            if prac_keys + support_keys
            else None,
            "addresses": draw(st.lists(st.sampled_from(dx_keys), unique=True, max_size=2))
            if dx_keys
            else [],
            "goals": draw(goals_for(goal_keys, dx_keys)),
            # goals of earlier plans it names too; the teams it involves (None: every one)
            "shared_goals": draw(st.lists(st.sampled_from(earlier), unique=True, max_size=2))
            if (earlier := [g.key for p in care_plans for g in p.goals])
            else [],
            "teams": draw(st.none() | st.lists(st.sampled_from(team_keys), unique=True))
            if team_keys
            else draw(st.none() | st.just([])),
            "revisions": revisions,
        }

    care_plans: list[Any] = []
    activity_keys: list[str] = []
    for _ in range(draw(st.integers(0, 2))):
        base = plan_base("tp")
        plan_goals = [g.key for g in base["goals"]]
        activities = []
        for _ in range(draw(st.integers(0, 3))):
            foreign = draw(st.booleans())
            start = draw(moments())
            schedule = draw(
                st.none()
                | st.builds(
                    Schedule,
                    days=st.lists(
                        st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
                        unique=True,
                        max_size=3,
                    ),
                    start_time=st.none() | st.just(time(9, 30)) | st.just(time(17, 0)),
                    duration_minutes=st.sampled_from([45, 60, 90, 180]),
                    period=st.none() | st.just(Period(start=start.date())),
                )
            )
            activities.append(
                Activity(
                    key=fresh("act"),
                    kind=None if foreign else draw(st.none() | concepts("session-kind")),
                    kind_code=draw(foreign_codes) if foreign else None,
                    title=draw(st.none() | sentences),
                    modality=draw(st.none() | concepts("modality")),
                    status=draw(st.sampled_from(["scheduled", "in-progress", "completed"])),
                    lead=draw(st.none() | st.sampled_from(on_team)) if on_team else None,
                    setting=draw(st.none() | st.sampled_from(["in-person", "telehealth"])),
                    schedule=schedule,
                    goals=draw(st.lists(st.sampled_from(plan_goals), unique=True, max_size=2))
                    if plan_goals
                    else [],
                )
            )
        activity_keys += [a.key for a in activities]
        kind = draw(st.sampled_from(["treatment", "treatment", "other"]))
        # a foreign plan keeps its intent; the IOP plan profiles fix intent = plan
        intent = draw(st.sampled_from(["plan", "order", "proposal"])) if kind == "other" else "plan"
        care_plans.append(TreatmentPlan(**base, kind=kind, intent=intent, activities=activities))
    if draw(st.booleans()):
        contacts = [
            CrisisContact(
                key=fresh("cc"),
                name=draw(sentences),
                phone=draw(phones),
                note=draw(st.none() | sentences),
            )
            for _ in range(draw(st.integers(0, 2)))
        ]
        text_lists = st.lists(sentences, max_size=3)
        care_plans.append(
            RelapsePreventionPlan(
                **plan_base("rp"),
                triggers=draw(text_lists),
                warning_signs=draw(text_lists),
                coping_strategies=draw(text_lists),
                daily_routines=draw(text_lists),
                supports=draw(
                    st.lists(st.sampled_from(prac_keys + support_keys), unique=True, max_size=2)
                )
                if prac_keys + support_keys
                else [],
                crisis_contacts=contacts,
            )
        )
    if draw(st.booleans()):
        referrals = [
            AftercareReferral(
                key=fresh("ref"),
                service=draw(concepts("aftercare-service")),
                status=draw(st.sampled_from(["draft", "active", "completed"])),
                authored=draw(st.none() | dates()),
                requester=draw(st.none() | st.sampled_from(prac_keys)) if prac_keys else None,
                organization=draw(maybe_org),
                practitioner=draw(st.none() | st.sampled_from(prac_keys)) if prac_keys else None,
                reason=draw(st.none() | sentences),
            )
            for _ in range(draw(st.integers(0, 2)))
        ]
        ref_keys = [r.key for r in referrals]
        appointments = []
        for _ in range(draw(st.integers(0, 2))):
            start = draw(moments())
            appointments.append(
                AftercareAppointment(
                    key=fresh("appt"),
                    service=draw(concepts("aftercare-service")),
                    start=start,
                    end=draw(st.none() | st.just(start + timedelta(hours=1))),
                    status=draw(st.sampled_from(["proposed", "booked", "fulfilled"])),
                    practitioner=draw(st.none() | st.sampled_from(prac_keys))
                    if prac_keys
                    else None,
                    organization=draw(maybe_org),
                    referral=draw(st.none() | st.sampled_from(ref_keys)) if ref_keys else None,
                )
            )
        check_ins = [
            CheckIn.model_validate(
                {
                    "key": fresh("ci"),
                    "due": draw(dates()),
                    "method": draw(st.sampled_from(["phone", "video", "in-person", "text"])),
                    "status": draw(st.sampled_from(["not-started", "scheduled", "completed"])),
                    "with": draw(st.none() | st.sampled_from(prac_keys + support_keys))
                    if prac_keys + support_keys
                    else None,
                }
            )
            for _ in range(draw(st.integers(0, 2)))
        ]
        care_plans.append(
            AftercarePlan(
                **plan_base("ac"),
                referrals=referrals,
                appointments=appointments,
                check_ins=check_ins,
            )
        )

    sessions = []
    for _ in range(draw(st.integers(0, 4))):
        status = draw(st.sampled_from(["scheduled", "attended", "no-show", "cancelled"]))
        start = draw(moments())
        end = start + timedelta(minutes=draw(st.sampled_from([60, 90, 180])))
        actual_start = actual_end = None
        if status == "attended" and draw(st.booleans()):
            actual_start = start + timedelta(minutes=draw(st.integers(1, 15)))
            actual_end = end + timedelta(minutes=draw(st.integers(-10, 10)))
        foreign = draw(st.booleans())
        kind = None if foreign else draw(st.none() | concepts("session-kind"))
        # a session without the patient (team review...) is not led by the patient
        leads = [
            k
            for k in facilitators
            if k != patient.key or kind not in codes()["session_kinds_without_patient"]
        ]
        facilitator = draw(st.none() | st.sampled_from(leads)) if leads else None
        others = [k for k in support_keys + prac_keys if k != facilitator]
        sessions.append(
            Session(
                key=fresh("s"),
                kind=kind,
                kind_code=draw(foreign_codes) if foreign else None,
                status=status,
                start=start,
                end=end,
                actual_start=actual_start,
                actual_end=actual_end,
                telehealth=draw(st.booleans()),
                facilitator=facilitator,
                attendees=draw(st.lists(st.sampled_from(others), unique=True, max_size=2))
                if others
                else [],
                activity=draw(st.none() | st.sampled_from(activity_keys))
                if activity_keys
                else None,
                modality=draw(st.none() | concepts("modality")),
                cancel_reason=draw(st.none() | sentences) if status == "cancelled" else None,
                **draw(encounter_parts(status, prac_keys + support_keys, location_keys, org_keys)),
            )
        )
    reasons = (
        st.lists(st.sampled_from(dx_keys), unique=True, max_size=2) if dx_keys else st.just([])
    )
    person_keys = [*prac_keys, *support_keys, patient.key]
    medication_list = [
        MedicationUse(
            key=fresh("med"),
            code=draw(rx_codes),
            status=draw(st.sampled_from(["active", "completed", "stopped", "on-hold"])),
            period=draw(st.none() | periods()),
            asserted=draw(st.none() | dates() | moments()),
            dosage=draw(st.none() | sentences),
            reasons=draw(reasons),
            source=draw(st.none() | st.sampled_from(person_keys)),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    prescription_list = [
        Prescription(
            key=fresh("rx"),
            code=draw(rx_codes),
            status=draw(st.sampled_from(["active", "completed", "stopped", "draft"])),
            authored=draw(st.none() | dates() | moments()),
            prescriber=draw(st.none() | st.sampled_from(prac_keys)) if prac_keys else None,
            dosage=draw(st.none() | sentences),
            reasons=draw(reasons),
            refills=draw(st.none() | st.integers(0, 5)),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    allergy_list = [
        draw(allergies(fresh("alg"), prac_keys)) for _ in range(draw(st.integers(0, 2)))
    ]
    # sessions read from FHIR: only an Appointment or only an Encounter (issue 11)
    sessions = [draw(session_forms(s, patient.key)) for s in sessions]
    # a measure links to a session's Encounter: no-show and cancelled sessions have none
    session_keys = [s.key for s in sessions if "encounter" in s.written_forms()]
    measure_list = [
        draw(measures_for(fresh("m"), session_keys, people)) for _ in range(draw(st.integers(0, 3)))
    ]
    measure_list = [draw(measure_forms(m, patient.gender)) for m in measure_list]

    other_goals = draw(goals_for([fresh("og") for _ in range(draw(st.integers(0, 2)))], dx_keys))
    fields: dict[str, Any] = {
        "key": episode_key,
        "patient": patient,
        "part2": draw(st.booleans()),
        "organizations": organizations,
        "locations": locations,
        "other_goals": other_goals,
        "requests": draw(
            requests_for(
                [fresh("rq") for _ in range(draw(st.integers(0, 2)))],
                [*people, *org_keys],
                dx_keys,
            )
        ),
        "practitioners": practitioners,
        "supports": supports,
        "teams": teams,
        "diagnoses": diagnoses,
        "care_plans": care_plans,
        "sessions": sessions,
        "measures": measure_list,
        "reviews": draw(
            reviews_for(
                [fresh("rv") for _ in range(draw(st.integers(0, 3)))],
                prac_keys,
                [g.key for p in care_plans for g in p.goals],
                activity_keys,
                [s.key for s in sessions],
            )
        ),
        "medications": medication_list,
        "prescriptions": prescription_list,
        "allergies": allergy_list,
        "consents": draw(
            consents_for([fresh("cs") for _ in range(draw(st.integers(0, 2)))], org_keys)
        ),
    }
    status = draw(st.none() | st.sampled_from(["planned", "active", "finished", "onhold"]))
    if status is not None:
        admission = draw(dates())
        fields.update(
            status=status,
            admission=admission,
            program=Program(
                name=draw(sentences),
                type=draw(concepts("program-type")),
                organization=draw(maybe_org),
                min_hours_per_week=draw(st.sampled_from([9.0, 12.0, 9.5])),
                min_days_per_week=draw(st.integers(3, 5)),
                max_hours_per_week=draw(st.sampled_from([20.0, 19.0, 12.5])),
                max_days_per_week=draw(st.integers(5, 7)),
            ),
            care_manager=draw(st.none() | st.sampled_from(prac_keys)) if prac_keys else None,
            referral=draw(inpatient_referrals(prac_keys, org_keys)),
        )
        if status == "finished":
            fields["discharge"] = Discharge(
                date=draw(dates(after=admission, days=60)),
                disposition=draw(concepts("discharge-disposition")),
            )
    return Episode(**fields)
