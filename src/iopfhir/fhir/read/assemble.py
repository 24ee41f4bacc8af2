"""One patient's FHIR R4 resources → domain :class:`~iopfhir.domain.Episode` objects.

The read side's counterpart of ``iopfhir.fhir.build.episode_entries``: it decides which
episode each resource belongs to, runs the family readers (``people``, ``team``,
``episode``, ``plans``, ``sessions``, ``measures``, ``medications``) in a fixed order on one
:class:`~iopfhir.fhir.read._context.Context` per episode, and builds the Episode.

Resources are grouped by patient (``subject`` / ``patient`` / an Appointment's patient
participant); a patient's EpisodeOfCare resources each become an Episode, and the
patient's other resources go to the episode they link to (``Encounter.episodeOfCare``,
``EpisodeOfCare.diagnosis`` / ``team`` / ``referralRequest``, a resource's ``encounter``
/ ``context``, the care plan that lists a goal), else to the one whose period holds the
resource's day (:mod:`~iopfhir.fhir.read.dated`: a partial export's session whose
EpisodeOfCare it lacks), else to the first one. A patient with
no EpisodeOfCare gets one Episode with ``status`` and ``program`` left empty.

Keys: iopfhir's own business identifiers (``<episode>/<key>``, see MAPPING.md) give the
keys back exactly; other data gets keys made from resource ids (or ``fullUrl``),
sanitised to the domain key pattern and made unique, in input order, so the same input
always gives the same keys.

Every resource is mapped inside its own ``try``: one that does not fit is counted in
``unmapped`` with a reason (never its content) and the rest of the episode goes on.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.fhir.conventions` and the reader's own
modules.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from iopfhir.domain import Episode, Session, Team, TreatmentPlan
from iopfhir.fhir.read._context import Context, PatientGroup
from iopfhir.fhir.read.administrations import Administration
from iopfhir.fhir.read.aftercare import read_request
from iopfhir.fhir.read.consent import read_consent
from iopfhir.fhir.read.dated import episode_days, resource_day
from iopfhir.fhir.read.document import read_documents
from iopfhir.fhir.read.episode import (
    diagnoses_listed,
    diagnosis_order,
    read_condition,
    read_episode_of_care,
)
from iopfhir.fhir.read.index import Index
from iopfhir.fhir.read.keys import KeyAllocator, url_tail
from iopfhir.fhir.read.measures import read_measure
from iopfhir.fhir.read.medications import read_allergy, read_prescription, read_statement
from iopfhir.fhir.read.people import read_patient, read_support, read_unreferenced
from iopfhir.fhir.read.plans import read_other_goals, read_plan
from iopfhir.fhir.read.reviews import consistent_reviews, read_review
from iopfhir.fhir.read.safety import read_safety
from iopfhir.fhir.read.sessions import derived_participants, read_session
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.team import read_team
from iopfhir.fhir.read.values import as_list, own_key_or_none, parse_own

__all__ = ["EpisodeReader", "fix_references", "read_episode", "validated"]


class EpisodeReader:
    """Builds the Episode(s) of one patient. Shared state: the index and the counters."""

    def __init__(
        self,
        index: Index,
        unmapped: Counter[str],
        roles_of: Mapping[int, list[Entry]],
        episode_keys: KeyAllocator,
    ) -> None:
        self.index = index
        self.unmapped = unmapped
        self.roles_of = roles_of
        self.episode_keys = episode_keys

    def read_group(self, group: PatientGroup, admins: list[Administration]) -> list[Episode]:
        """The episodes of one patient."""
        eocs = [e for e in group.entries if e.type == "EpisodeOfCare"]
        if not eocs:
            return self._episodes([(None, group.entries, admins)], group)
        if len(eocs) == 1:  # every resource is its (all the assigner can answer)
            return self._episodes([(eocs[0], list(group.entries), admins)], group)
        buckets: dict[int, list[Entry]] = {id(e): [] for e in eocs}
        assign = self._assigner(group, eocs)
        for entry in group.entries:
            buckets[id(assign(entry))].append(entry)
        admin_buckets: dict[int, list[Administration]] = {id(e): [] for e in eocs}
        for adm in admins:
            target = eocs[0]
            for entry in adm.entries:
                found = assign(entry)
                if found is not eocs[0]:
                    target = found
                    break
            admin_buckets[id(target)].append(adm)
        return self._episodes([(e, buckets[id(e)], admin_buckets[id(e)]) for e in eocs], group)

    def _episodes(
        self,
        parts: list[tuple[Entry | None, list[Entry], list[Administration]]],
        group: PatientGroup,
    ) -> list[Episode]:
        out = []
        for eoc, entries, admins in parts:
            ctx = Context(self.index, self.unmapped, self.roles_of, group, eoc, entries)
            episode = read_episode(ctx, admins, self.episode_keys)
            if episode is not None:
                out.append(episode)
        return out

    def _assigner(self, group: PatientGroup, eocs: list[Entry]) -> Callable[[Entry], Entry]:
        """A function: entry → the EpisodeOfCare it belongs to (the first one by default)."""
        index = self.index
        direct: dict[int, Entry] = {}
        for eoc in eocs:
            direct[id(eoc)] = eoc
            res = eoc.resource
            refs = [
                d.get("condition") for d in as_list(res.get("diagnosis")) if isinstance(d, dict)
            ]
            refs += as_list(res.get("team")) + as_list(res.get("referralRequest"))
            for ref in refs:
                target = index.resolve(ref, eoc)
                if target is not None:
                    direct.setdefault(id(target), eoc)
        eoc_ids = {id(e) for e in eocs}

        def via_encounter(entry: Entry, depth: int = 0) -> Entry | None:
            res = entry.resource
            if entry.type == "Encounter":
                for ref in as_list(res.get("episodeOfCare")):
                    target = index.resolve(ref, entry)
                    if target is not None and id(target) in eoc_ids:
                        return target
                return None
            for key in ("encounter", "context"):
                for ref in as_list(res.get(key)):
                    target = index.resolve(ref, entry)
                    if target is None:
                        continue
                    if id(target) in eoc_ids:
                        return target
                    if target.type == "Encounter" and depth == 0:
                        found = via_encounter(target, 1)
                        if found is not None:
                            return found
            return None

        def passed_on(rtype: str, element: str) -> dict[int, Entry]:
            """The EpisodeOfCare of each ``rtype``, passed on to what its ``element`` names."""
            found_for: dict[int, Entry] = {}
            for entry in group.entries:
                if entry.type != rtype:
                    continue
                found = direct.get(id(entry)) or via_encounter(entry)
                if found is not None:
                    for ref in as_list(entry.resource.get(element)):
                        target = index.resolve(ref, entry)
                        if target is not None:
                            found_for.setdefault(id(target), found)
            return found_for

        appointment_eoc = passed_on("Encounter", "appointment")
        plan_eoc = passed_on("CarePlan", "goal")
        periods = [(e, days) for e in eocs if (days := episode_days(e.resource)) is not None]

        def by_day(entry: Entry) -> Entry | None:
            """The first episode whose period holds the day of a resource linked to none."""
            day = resource_day(entry.type, entry.resource) if periods else None
            if day is not None:
                for eoc, (start, end) in periods:
                    if start <= day and (end is None or day <= end):
                        return eoc
            return None

        by_episode_key: dict[str, Entry] = {}
        for eoc in eocs:
            own = own_key_or_none(eoc.resource, "episode")
            if own is not None:
                by_episode_key.setdefault(own[0], eoc)

        def by_identifier(entry: Entry) -> Entry | None:
            """iopfhir's own identifiers (``<episode>/<key>``) name the episode."""
            if not by_episode_key:
                return None
            for ident in as_list(entry.resource.get("identifier")):
                if isinstance(ident, dict):
                    parsed = parse_own(ident)
                    if parsed is not None and parsed[1] in by_episode_key:
                        return by_episode_key[parsed[1]]
            return None

        def assign(entry: Entry) -> Entry:
            if entry.type == "Provenance":  # a review: the episode of what it targets
                for ref in as_list(entry.resource.get("target")):
                    target = index.resolve(ref, entry)
                    if target is not None and target.type != "Provenance":
                        return assign(target)
            return (
                direct.get(id(entry))
                or by_identifier(entry)
                or via_encounter(entry)
                or appointment_eoc.get(id(entry))
                or plan_eoc.get(id(entry))
                or by_day(entry)
                or eocs[0]
            )

        return assign


def read_episode(
    ctx: Context, admins: list[Administration], episode_keys: KeyAllocator
) -> Episode | None:
    """The Episode of one context: every family read in this order (keys are given in
    order of first use, so the order is part of the output)."""
    if ctx.group.patient is not None:
        ctx.note_security(ctx.group.patient)
    patient = read_patient(ctx)
    by_type: dict[str, list[Entry]] = defaultdict(list)
    for entry in ctx.entries:
        by_type[entry.type].append(entry)
        ctx.note_security(entry)
    for adm in admins:
        for entry in adm.entries:
            ctx.note_security(entry)

    episode_fields: dict[str, Any] = {}
    if ctx.eoc is not None:
        episode_fields = ctx.attempt(ctx.eoc, read_episode_of_care, ctx, ctx.eoc) or {}
        if "program" in episode_fields:  # what a session's procedure codes depend on
            ctx.program_type = episode_fields["program"].type
    if by_type["Composition"]:  # a document: its referral and stay (before the plans)
        read_documents(ctx, by_type["Composition"], episode_fields)

    for entry in by_type["CareTeam"]:
        ctx.attempt(entry, read_team, ctx, entry)
    for entry in diagnosis_order(ctx, by_type["Condition"]):
        ctx.attempt(entry, read_condition, ctx, entry)
    listed = diagnoses_listed(ctx)
    for entry in by_type["CarePlan"]:
        if id(entry) not in ctx.not_plans:  # a referral's discharge plan is read with it
            ctx.attempt(entry, read_plan, ctx, entry)
    read_other_goals(ctx, by_type["Goal"])
    for entry in ctx.entries:
        if entry.type in ("Appointment", "Encounter"):
            ctx.attempt(entry, read_session, ctx, entry)
    measured = [(adm, ctx.attempt(adm.entries[0], read_measure, ctx, adm)) for adm in admins]
    read_safety(ctx, by_type["Flag"] + by_type["RiskAssessment"], measured)
    for problem, n in (p for a in admins for p in a.problems.items()):
        ctx.unmapped[problem] += n
    reviews = [r for e in by_type["Provenance"] if (r := ctx.attempt(e, read_review, ctx, e))]
    reviews = consistent_reviews(ctx, reviews)
    for entry in by_type["AllergyIntolerance"]:
        ctx.attempt(entry, read_allergy, ctx, entry)
    for entry in by_type["MedicationStatement"]:
        ctx.attempt(entry, read_statement, ctx, entry)
    for entry in by_type["MedicationRequest"]:
        ctx.attempt(entry, read_prescription, ctx, entry)
    for entry in by_type["ServiceRequest"]:
        if id(entry) not in ctx.used_requests:  # not a referral: one of the other requests
            ctx.attempt(entry, read_request, ctx, entry)

    for entry in by_type["Consent"]:
        ctx.attempt(entry, read_consent, ctx, entry)
    for entry in by_type["RelatedPerson"]:
        ctx.attempt(entry, read_support, ctx, entry)
    read_unreferenced(ctx)
    _in_input_order(ctx)
    fields: dict[str, Any] = {
        "patient": patient,
        "part2": ctx.part2,
        **episode_fields,
        "organizations": ctx.organizations,
        "locations": ctx.locations,
        "practitioners": ctx.practitioners,
        "supports": ctx.supports,
        "teams": ctx.teams,
        "diagnoses": ctx.diagnoses,
        "diagnoses_listed": listed,
        "care_plans": ctx.care_plans,
        "other_goals": ctx.other_goals,
        "requests": ctx.requests,
        "sessions": ctx.sessions,
        "measures": ctx.measures,
        "medications": ctx.medications,
        "prescriptions": ctx.prescriptions,
        "allergies": ctx.allergies,
        "reviews": reviews,
        "consents": ctx.consents,
    }
    if _nothing_read(ctx, fields):
        return None
    fields["key"] = _episode_key(ctx, episode_keys)
    return validated(ctx, fields)


def _nothing_read(ctx: Context, fields: dict[str, Any]) -> bool:
    """Whether the episode is only the name of a patient no resource of the input is:
    what named it was not read (a questionnaire of no instrument, a consent other than
    Part 2's), so it is no patient of the input's either."""
    if ctx.group.patient is not None or ctx.eoc is not None:
        return False
    return not any(value for name, value in fields.items() if name != "patient")


def _in_input_order(ctx: Context) -> None:
    """People, organizations and locations in the order of the input, not of first
    reference; practitioners with this episode's own PractitionerRole in the order of
    those roles (:func:`_in_role_order`)."""
    where: dict[str, int] = {}
    for (space, entry_id), key in ctx.key_of.items():
        if space in ("people", "org", "location"):
            where.setdefault(f"{space}:{key}", ctx.index.position.get(entry_id, 0))
    ctx.organizations.sort(key=lambda o: where.get(f"org:{o.key}", 0))
    ctx.locations.sort(key=lambda p: where.get(f"location:{p.key}", 0))
    ctx.practitioners.sort(key=lambda p: where.get(f"people:{p.key}", 0))
    ctx.supports.sort(key=lambda s: where.get(f"people:{s.key}", 0))
    if ctx.own_role_at:
        _in_role_order(ctx)


def _in_role_order(ctx: Context) -> None:
    """The practitioners that have this episode's own PractitionerRole (iopfhir's
    identifier, ``<episode>/<key>``) in the order of those roles, in the places they
    hold among the episode's practitioners; the others stay where the input has them.

    iopfhir writes a practitioner once (a bundle of several episodes holds one who
    works in several once, where the first of them has it) but a role per episode, in
    the episode's order: the Practitioners' order is the first episode's, the roles' the
    episode's own. Other data keeps the order of its Practitioners."""
    at = ctx.own_role_at
    places = [i for i, p in enumerate(ctx.practitioners) if p.key in at]
    ranked = sorted((ctx.practitioners[i] for i in places), key=lambda p: at[p.key])
    for i, prac in zip(places, ranked, strict=True):
        ctx.practitioners[i] = prac


def validated(ctx: Context, fields: dict[str, Any]) -> Episode | None:
    """The Episode; on a rule the data breaks, drop the broken part and say so."""
    fix_references(ctx, fields)
    try:
        return Episode(**fields)
    except ValidationError:
        pass
    for part in (
        "consents",
        "reviews",
        "medications",
        "prescriptions",
        "allergies",
        "measures",
        "sessions",
        "care_plans",
        "teams",
        "diagnoses",
    ):
        if fields.get(part):
            ctx.unmapped[f"Episode: {part} dropped (broke an episode rule)"] += len(fields[part])
            fields[part] = []
            if part == "diagnoses":  # the list of them with them
                fields["diagnoses_listed"] = None
            try:
                return Episode(**fields)
            except ValidationError:
                continue
    ctx.unmapped["Episode: could not be built"] += 1
    return None


def fix_references(ctx: Context, fields: dict[str, Any]) -> None:
    """Leads and facilitators must be on the care team when the episode has one."""
    if not ctx.teams:
        return
    _drop_empty_team_members(ctx, fields)
    on_team = {m.member for t in ctx.teams for m in t.members}
    plans = []
    for plan in fields["care_plans"]:
        if isinstance(plan, TreatmentPlan):
            acts = []
            for act in plan.activities:
                if act.lead is not None and act.lead not in on_team:
                    ctx.unmapped[
                        "CarePlan.activity.detail.performer: lead not on the care team (dropped)"
                    ] += 1
                    act = act.model_copy(update={"lead": None})
                acts.append(act)
            plan = plan.model_copy(update={"activities": acts})
        plans.append(plan)
    fields["care_plans"] = plans
    sessions: list[Session | dict[str, Any]] = []
    for session in fields["sessions"]:
        if session.facilitator is not None and session.facilitator not in on_team:
            session = _off_team_facilitator(ctx, session)
        sessions.append(session)
    fields["sessions"] = sessions


def _drop_empty_team_members(ctx: Context, fields: dict[str, Any]) -> None:
    """A team member that is a team left without members (none of its participants could
    be resolved) names nothing the episode holds: dropped and counted, so the other
    members and both teams are kept (R4 allows a CareTeam as a member of another)."""
    teams: list[Team] = ctx.teams
    keys = {t.key for t in teams}
    if not any(m.member in keys for t in teams for m in t.members):
        return  # the usual case: no team is a member of another
    while True:
        empty = {t.key for t in teams if not t.members}
        changed = False
        kept_teams = []
        for team in teams:
            kept = [m for m in team.members if m.member not in empty]
            if len(kept) != len(team.members):
                n = len(team.members) - len(kept)
                ctx.unmapped["CareTeam.participant.member: a team without members (dropped)"] += n
                team = team.model_copy(update={"members": kept})
                changed = True
            kept_teams.append(team)
        teams = kept_teams
        if not changed:
            break
    ctx.teams[:] = teams
    fields["teams"] = ctx.teams


def _off_team_facilitator(ctx: Context, session: Session) -> dict[str, Any]:
    """A session whose facilitator is not on the care team loses the facilitator; its
    Encounter still lists who took part (``Session.participants``), so only what its
    Appointment said is lost (counted). The changed session is given as its fields, which
    the Episode validates (a session it receives made is not checked again)."""
    forms = session.written_forms()
    if "appointment" in forms:
        ctx.unmapped[
            "Appointment.participant.actor: facilitator not on the care team (dropped)"
        ] += 1
    update: dict[str, Any] = {"facilitator": None}
    if "encounter" in forms and not session.participants:
        derived = derived_participants(ctx, session.facilitator, session.attendees)
        update["participants"] = derived
        if "appointment" not in forms:
            update["attendees"] = []
    return {**session.__dict__, **update}


def _episode_key(ctx: Context, episode_keys: KeyAllocator) -> str:
    candidates: list[str] = []
    if ctx.eoc is not None:
        own = own_key_or_none(ctx.eoc.resource, "episode")
        if own is not None:
            candidates.append(own[1])
    for entry in [*([ctx.group.patient] if ctx.group.patient else []), *ctx.entries]:
        for ident in as_list(entry.resource.get("identifier")):
            if isinstance(ident, dict):
                parsed = parse_own(ident)
                if parsed:
                    candidates.append(parsed[1])
                    break
        if candidates:
            break
    if not candidates:
        source = ctx.eoc or ctx.group.patient
        if source is not None:
            candidates.append(source.id or url_tail(source.full_url) or "episode")
        else:
            candidates.append(ctx.group.key)
    return episode_keys.take(candidates[0])
