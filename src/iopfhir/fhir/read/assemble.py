"""FHIR R4 resources → domain :class:`~iopfhir.domain.Episode` objects.

Resources are grouped by patient (``subject`` / ``patient`` / an Appointment's patient
participant); a patient's EpisodeOfCare resources each become an Episode, and the
patient's other resources go to the episode they link to (``Encounter.episodeOfCare``,
``EpisodeOfCare.diagnosis`` / ``team`` / ``referralRequest``, a resource's ``encounter``
/ ``context``, the care plan that lists a goal) or else to the first one. A patient with
no EpisodeOfCare gets one Episode with ``status`` and ``program`` left empty.

Keys: iopfhir's own business identifiers (``<episode>/<key>``, see MAPPING.md) give the
keys back exactly; other data gets keys made from resource ids (or ``fullUrl``),
sanitised to the domain key pattern and made unique, in input order, so the same input
always gives the same keys.

Every resource is mapped inside its own ``try``: one that does not fit is counted in
``unmapped`` with a reason (never its content) and the rest of the episode goes on.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`
and the reader's own modules.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time
from typing import Any, TypeVar

from pydantic import ValidationError

from iopfhir.domain import (
    Activity,
    AftercareAppointment,
    AftercarePlan,
    AftercareReferral,
    CarePlan,
    CheckIn,
    Code,
    CrisisContact,
    Diagnosis,
    Discharge,
    Episode,
    Goal,
    GoalTarget,
    HumanName,
    Identifier,
    Measure,
    Organization,
    Patient,
    Practitioner,
    Program,
    Referral,
    RelapsePreventionPlan,
    Revision,
    Schedule,
    Session,
    Support,
    Team,
    TeamMember,
    TreatmentPlan,
)
from iopfhir.fhir.conventions import EXT, identifier_system, parse_identifier
from iopfhir.fhir.read.index import Index
from iopfhir.fhir.read.measures import Administration
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import (
    KeyAllocator,
    as_list,
    codings,
    email,
    extension,
    first_code,
    human_name,
    identifiers,
    parse_date,
    parse_moment,
    parse_period,
    parse_timestamp,
    phone,
    text,
)
from iopfhir.terminology import (
    code_system,
    code_system_url,
    instrument_by_code,
    relationship_key,
    role_key,
)

__all__ = ["EpisodeReader", "PatientGroup"]

T = TypeVar("T")

SECURITY_PART2 = {"ETH", "42CFRPart2"}
CARE_PLAN_KIND = code_system_url("care-plan-kind")

_APPOINTMENT_STATUS = {
    "proposed": "scheduled",
    "pending": "scheduled",
    "booked": "scheduled",
    "waitlist": "scheduled",
    "arrived": "attended",
    "checked-in": "attended",
    "fulfilled": "attended",
    "noshow": "no-show",
    "cancelled": "cancelled",
}
_ENCOUNTER_STATUS = {
    "planned": "scheduled",
    "arrived": "attended",
    "triaged": "attended",
    "in-progress": "attended",
    "onleave": "attended",
    "finished": "attended",
    "cancelled": "cancelled",
}
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
_ACTIVITY_STATUS = {
    "not-started",
    "scheduled",
    "in-progress",
    "on-hold",
    "completed",
    "cancelled",
    "stopped",
    "unknown",
    "entered-in-error",
}
_DAY_UNITS = {"min": 1, "h": 60, "d": 1440, "s": 1 / 60}


@dataclass(eq=False)
class PatientGroup:
    """One patient's resources, in input order."""

    key: str
    patient: Entry | None
    reference: str | None
    entries: list[Entry] = field(default_factory=list)


def own_key(resource: dict[str, Any], *kinds: str) -> tuple[str, str] | None:
    """``(episode key, local key)`` from iopfhir's own identifier of one of ``kinds``."""
    for ident in as_list(resource.get("identifier")):
        if isinstance(ident, dict):
            parsed = parse_identifier(ident.get("system"), ident.get("value"))
            if parsed and parsed[0] in kinds:
                return parsed[1], parsed[2]
    return None


def _concept_key(concepts: Any, system_name: str) -> str | None:
    system = code_system_url(system_name)
    known = code_system(system_name)["concepts"]
    for concept in as_list(concepts):
        for sys, code in codings(concept):
            if sys == system and code in known:
                return code
    return None


def _status(value: Any, allowed: set[str], default: str) -> str:
    return value if isinstance(value, str) and value in allowed else default


class EpisodeReader:
    """Builds the Episode(s) of one patient. Shared state: the index and the counters."""

    def __init__(
        self,
        index: Index,
        unmapped: Counter[str],
        roles_of: dict[int, list[Entry]],
        episode_keys: KeyAllocator,
    ) -> None:
        self.index = index
        self.unmapped = unmapped
        self.roles_of = roles_of
        self.episode_keys = episode_keys

    # -- entry point ------------------------------------------------------------------------

    def read_group(self, group: PatientGroup, admins: list[Administration]) -> list[Episode]:
        """The episodes of one patient."""
        eocs = [e for e in group.entries if e.type == "EpisodeOfCare"]
        if not eocs:
            return self._episodes([(None, group.entries, admins)], group)
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
            builder = _Builder(self, group, eoc, entries, admins)
            episode = builder.build()
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

        appointment_eoc: dict[int, Entry] = {}
        plan_eoc: dict[int, Entry] = {}
        for entry in group.entries:
            if entry.type == "Encounter":
                found = direct.get(id(entry)) or via_encounter(entry)
                if found is not None:
                    for ref in as_list(entry.resource.get("appointment")):
                        target = index.resolve(ref, entry)
                        if target is not None:
                            appointment_eoc.setdefault(id(target), found)
        for entry in group.entries:
            if entry.type == "CarePlan":
                found = direct.get(id(entry)) or via_encounter(entry)
                if found is not None:
                    for ref in as_list(entry.resource.get("goal")):
                        target = index.resolve(ref, entry)
                        if target is not None:
                            plan_eoc.setdefault(id(target), found)

        by_episode_key: dict[str, Entry] = {}
        for eoc in eocs:
            own = own_key(eoc.resource, "episode")
            if own is not None:
                by_episode_key.setdefault(own[0], eoc)

        def by_identifier(entry: Entry) -> Entry | None:
            """iopfhir's own identifiers (``<episode>/<key>``) name the episode."""
            if not by_episode_key:
                return None
            for ident in as_list(entry.resource.get("identifier")):
                if isinstance(ident, dict):
                    parsed = parse_identifier(ident.get("system"), ident.get("value"))
                    if parsed is not None and parsed[1] in by_episode_key:
                        return by_episode_key[parsed[1]]
            return None

        def assign(entry: Entry) -> Entry:
            return (
                direct.get(id(entry))
                or by_identifier(entry)
                or via_encounter(entry)
                or appointment_eoc.get(id(entry))
                or plan_eoc.get(id(entry))
                or eocs[0]
            )

        return assign


class _Builder:
    """The state of one episode being read."""

    def __init__(
        self,
        reader: EpisodeReader,
        group: PatientGroup,
        eoc: Entry | None,
        entries: list[Entry],
        admins: list[Administration],
    ) -> None:
        self.reader = reader
        self.index = reader.index
        self.unmapped = reader.unmapped
        self.group = group
        self.eoc = eoc
        self.entries = entries
        self.admins = admins
        self.ours = self._detect_ours()
        self.keys: dict[str, KeyAllocator] = defaultdict(KeyAllocator)
        self.key_of: dict[tuple[str, int], str] = {}
        self.organizations: list[Organization] = []
        self.practitioners: list[Practitioner] = []
        self.supports: list[Support] = []
        self.teams: list[Team] = []
        self.diagnoses: list[Diagnosis] = []
        self.care_plans: list[CarePlan] = []
        self.sessions: list[Session] = []
        self.measures: list[Measure] = []
        self.patient_key = "patient"
        self.part2 = False
        #: Appointment entry id → activity key (from CarePlan outcomeReference / reference)
        self.activity_of_appointment: dict[int, str] = {}
        #: Encounter / Appointment entry id → session key
        self.session_of: dict[int, str] = {}
        #: entries that are not sessions (aftercare appointments, stays)
        self.not_sessions: set[int] = set()
        self.used_requests: set[int] = set()
        #: the episode key named by iopfhir's own identifiers, when there is one
        self.episode_key_hint = self._own_episode_key()

    # -- helpers ----------------------------------------------------------------------------

    def _own_episode_key(self) -> str | None:
        if self.eoc is not None:
            own = own_key(self.eoc.resource, "episode")
            if own is not None:
                return own[0]
        if self.group.patient is not None:
            own = own_key(self.group.patient.resource, "patient")
            if own is not None:
                return own[0]
        return None

    def read_unreferenced(self) -> None:
        """Practitioners and organizations of this episode that nothing references: found
        by their ``practitionerrole`` / ``organization`` identifiers ``<episode>/<key>``."""
        episode = self.episode_key_hint
        if episode is None:
            return
        for entry in self.index.entries:
            if entry.type == "PractitionerRole":
                own = own_key(entry.resource, "practitionerrole")
                if own is not None and own[0] == episode:
                    target = self.resolve(entry.resource.get("practitioner"), entry)
                    if target is not None and target.type == "Practitioner":
                        self.attempt(entry, lambda t=target, r=entry: self.practitioner_key(t, r))  # type: ignore[misc]
            elif entry.type == "Organization":
                own = own_key(entry.resource, "organization")
                if own is not None and own[0] == episode:
                    self.attempt(entry, lambda e=entry: self.org_entry_key(e))  # type: ignore[misc]

    def _detect_ours(self) -> bool:
        res = (
            self.eoc.resource
            if self.eoc
            else (self.group.patient.resource if self.group.patient else {})
        )
        if own_key(res, "episode", "patient"):
            return True
        return any(own_key(e.resource, "careplan", "session", "condition") for e in self.entries)

    def attempt(self, entry: Entry, what: Callable[[], T]) -> T | None:
        """Run one mapping step; count a failure against the resource type, never crash."""
        try:
            return what()
        except (ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
            reason = _reason(exc)
            self.unmapped[f"{entry.type}: {reason}"] += 1
            return None

    def new_key(self, space: str, entry: Entry, *kinds: str, fallback: str = "x") -> str:
        """The key of ``entry`` in namespace ``space`` (cached per entry)."""
        cached = self.key_of.get((space, id(entry)))
        if cached is not None:
            return cached
        allocator = self.keys[space]
        own = own_key(entry.resource, *kinds) if kinds else None
        preferred = own[1] if own is not None else entry.id or _url_tail(entry.full_url) or fallback
        key = allocator.take(preferred)
        self.key_of[(space, id(entry))] = key
        return key

    def resolve(self, ref: Any, ctx: Entry) -> Entry | None:
        return self.index.resolve(ref, ctx)

    def note_security(self, entry: Entry) -> None:
        meta = entry.resource.get("meta")
        if isinstance(meta, dict):
            for _sys, code in (p for s in as_list(meta.get("security")) for p in codings(s)):
                if code in SECURITY_PART2:
                    self.part2 = True

    # -- people and organizations -------------------------------------------------------------

    def org_key(self, ref: Any, ctx: Entry) -> str | None:
        entry = self.resolve(ref, ctx)
        if entry is None or entry.type != "Organization":
            return None
        return self.org_entry_key(entry)

    def org_entry_key(self, entry: Entry) -> str:
        """Key of an Organization entry (added on first use)."""
        cached = self.key_of.get(("org", id(entry)))
        if cached is not None:
            return cached
        res = entry.resource
        key = self.new_key("org", entry, "organization")
        org = Organization(
            key=key,
            name=text(res.get("name")) or "unknown",
            identifiers=[
                i for i in identifiers(res) if i.system != identifier_system("organization")
            ],
            phone=phone(res),
            kind=_concept_key(res.get("type"), "organization-kind"),
        )
        self.organizations.append(org)
        return key

    def person_key(self, ref: Any, ctx: Entry) -> str | None:
        """Key of the practitioner / support / patient a reference names (added on first use)."""
        entry = self.resolve(ref, ctx)
        if entry is None:
            return None
        if entry.type == "Patient":
            return self.patient_key if entry is self.group.patient else None
        if entry.type == "PractitionerRole":
            target = self.resolve(entry.resource.get("practitioner"), entry)
            if target is None or target.type != "Practitioner":
                return None
            return self.practitioner_key(target, entry)
        if entry.type == "Practitioner":
            return self.practitioner_key(entry, None)
        if entry.type == "RelatedPerson":
            return self.support_key(entry)
        return None

    def member_key(self, ref: Any, ctx: Entry) -> str | None:
        return self.person_key(ref, ctx) or self.org_key(ref, ctx)

    def practitioner_key(self, entry: Entry, role: Entry | None) -> str:
        cached = self.key_of.get(("people", id(entry)))
        if cached is not None:
            return cached
        roles = self.reader.roles_of.get(id(entry), [])
        if role is None and roles:
            # the role of this episode (one per practitioner per episode), else the first
            role = next(
                (
                    r
                    for r in roles
                    if (own_key(r.resource, "practitionerrole") or ("",))[0]
                    == self.episode_key_hint
                ),
                roles[0],
            )
        res = entry.resource
        own = own_key(res, "practitioner") or (
            own_key(role.resource, "practitionerrole") if role else None
        )
        allocator = self.keys["people"]
        key = allocator.take(own[1] if own else entry.id or _url_tail(entry.full_url) or "x")
        self.key_of[("people", id(entry))] = key
        role_key_value: str | None = None
        role_code: Code | None = None
        organization: str | None = None
        if role is not None:
            rres = role.resource
            for concept in as_list(rres.get("code")):
                for sys, code in codings(concept):
                    role_key_value = role_key_value or role_key(sys, code)
            if role_key_value is None:
                role_code = first_code(rres.get("code"))
            if rres.get("organization") is not None:
                organization = self.org_key(rres["organization"], role)
        name = human_name(res) or HumanName(family="unknown")
        self.practitioners.append(
            Practitioner(
                key=key,
                name=name,
                identifiers=[
                    i for i in identifiers(res) if i.system != identifier_system("practitioner")
                ],
                role=role_key_value,
                role_code=role_code,
                organization=organization,
                phone=phone(res),
                email=email(res),
            )
        )
        return key

    def support_key(self, entry: Entry) -> str:
        cached = self.key_of.get(("people", id(entry)))
        if cached is not None:
            return cached
        res = entry.resource
        key = self.new_key("people", entry, "relatedperson")
        relationship = None
        for concept in as_list(res.get("relationship")):
            for sys, code in codings(concept):
                relationship = relationship or relationship_key(sys, code)
        self.supports.append(
            Support(
                key=key,
                name=human_name(res) or HumanName(family="unknown"),
                relationship=relationship,
                phone=phone(res),
                identifiers=[
                    i for i in identifiers(res) if i.system != identifier_system("relatedperson")
                ],
            )
        )
        return key

    def read_patient(self) -> Patient:
        entry = self.group.patient
        if entry is None:
            ref = self.group.reference or "unknown"
            self.patient_key = self.keys["people"].take("patient")
            return Patient(
                key=self.patient_key,
                identifiers=[Identifier(system=identifier_system("fhir-reference"), value=ref)],
            )
        res = entry.resource
        own = own_key(res, "patient")
        if own is not None:
            preferred = own[1]
        elif self.ours:
            preferred = "patient"
        else:
            preferred = entry.id or _url_tail(entry.full_url) or "patient"
        self.patient_key = self.keys["people"].take(preferred)
        self.key_of[("people", id(entry))] = self.patient_key
        idents = [i for i in identifiers(res) if i.system != identifier_system("patient")]
        if not idents:
            value = entry.full_url or (f"Patient/{entry.id}" if entry.id else "Patient")
            idents = [Identifier(system=identifier_system("fhir-reference"), value=value)]
        gender = res.get("gender")
        return Patient(
            key=self.patient_key,
            identifiers=idents,
            name=human_name(res),
            birth_date=parse_date(res.get("birthDate")),
            gender=gender if gender in ("male", "female", "other", "unknown") else None,
            phone=phone(res),
        )

    # -- the episode ------------------------------------------------------------------------

    def build(self) -> Episode | None:
        if self.group.patient is not None:
            self.note_security(self.group.patient)
        patient = self.read_patient()
        by_type: dict[str, list[Entry]] = defaultdict(list)
        for entry in self.entries:
            by_type[entry.type].append(entry)
            self.note_security(entry)
        for adm in self.admins:
            for entry in adm.entries:
                self.note_security(entry)

        episode_fields: dict[str, Any] = {}
        if self.eoc is not None:
            episode_fields = self.attempt(self.eoc, lambda: self.read_eoc(self.eoc)) or {}
        key = self.episode_key()

        for entry in by_type["CareTeam"]:
            self.attempt(entry, lambda e=entry: self.read_team(e))  # type: ignore[misc]
        diag_order = self.diagnosis_order(by_type["Condition"])
        for entry in diag_order:
            self.attempt(entry, lambda e=entry: self.read_condition(e))  # type: ignore[misc]
        for entry in by_type["CarePlan"]:
            self.attempt(entry, lambda e=entry: self.read_plan(e))  # type: ignore[misc]
        self.count_loose_goals(by_type["Goal"])
        for entry in self.entries:
            if entry.type in ("Appointment", "Encounter"):
                self.attempt(entry, lambda e=entry: self.read_session(e))  # type: ignore[misc]
        for adm in self.admins:
            self.attempt(adm.entries[0], lambda a=adm: self.read_measure(a))  # type: ignore[misc]
        for problem, n in (p for a in self.admins for p in a.problems.items()):
            self.unmapped[problem] += n
        for entry in by_type["ServiceRequest"]:
            if id(entry) not in self.used_requests:
                self.unmapped["ServiceRequest: not a referral of the episode"] += 1

        for entry in by_type["RelatedPerson"]:
            self.attempt(entry, lambda e=entry: self.support_key(e))  # type: ignore[misc]
        self.read_unreferenced()
        self.in_input_order()
        fields: dict[str, Any] = {
            "key": key,
            "patient": patient,
            "part2": self.part2,
            **episode_fields,
            "organizations": self.organizations,
            "practitioners": self.practitioners,
            "supports": self.supports,
            "teams": self.teams,
            "diagnoses": self.diagnoses,
            "care_plans": self.care_plans,
            "sessions": self.sessions,
            "measures": self.measures,
        }
        return self.validated(fields)

    def in_input_order(self) -> None:
        """People and organizations in the order of the input, not of first reference."""
        where: dict[str, int] = {}
        for (space, entry_id), key in self.key_of.items():
            if space in ("people", "org"):
                where.setdefault(f"{space}:{key}", self.index.position.get(entry_id, 0))
        self.organizations.sort(key=lambda o: where.get(f"org:{o.key}", 0))
        self.practitioners.sort(key=lambda p: where.get(f"people:{p.key}", 0))
        self.supports.sort(key=lambda s: where.get(f"people:{s.key}", 0))

    def validated(self, fields: dict[str, Any]) -> Episode | None:
        """The Episode; on a rule the data breaks, drop the broken part and say so."""
        self.fix_references(fields)
        try:
            return Episode(**fields)
        except ValidationError:
            pass
        for part in ("measures", "sessions", "care_plans", "teams", "diagnoses"):
            if fields.get(part):
                self.unmapped[f"Episode: {part} dropped (broke an episode rule)"] += len(
                    fields[part]
                )
                fields[part] = []
                try:
                    return Episode(**fields)
                except ValidationError:
                    continue
        self.unmapped["Episode: could not be built"] += 1
        return None

    def fix_references(self, fields: dict[str, Any]) -> None:
        """Leads and facilitators must be on the care team when the episode has one."""
        if not self.teams:
            return
        on_team = {m.member for t in self.teams for m in t.members}
        plans = []
        for plan in fields["care_plans"]:
            if isinstance(plan, TreatmentPlan):
                acts = []
                for act in plan.activities:
                    if act.lead is not None and act.lead not in on_team:
                        self.unmapped["CarePlan: activity lead not on the care team"] += 1
                        act = act.model_copy(update={"lead": None})
                    acts.append(act)
                plan = plan.model_copy(update={"activities": acts})
            plans.append(plan)
        fields["care_plans"] = plans
        sessions = []
        for session in fields["sessions"]:
            if session.facilitator is not None and session.facilitator not in on_team:
                self.unmapped["Encounter: facilitator not on the care team"] += 1
                session = session.model_copy(update={"facilitator": None})
            sessions.append(session)
        fields["sessions"] = sessions

    def episode_key(self) -> str:
        candidates: list[str] = []
        if self.eoc is not None:
            own = own_key(self.eoc.resource, "episode")
            if own is not None:
                candidates.append(own[1])
        for entry in [*([self.group.patient] if self.group.patient else []), *self.entries]:
            for ident in as_list(entry.resource.get("identifier")):
                if isinstance(ident, dict):
                    parsed = parse_identifier(ident.get("system"), ident.get("value"))
                    if parsed:
                        candidates.append(parsed[1])
                        break
            if candidates:
                break
        if not candidates:
            source = self.eoc or self.group.patient
            if source is not None:
                candidates.append(source.id or _url_tail(source.full_url) or "episode")
            else:
                candidates.append(self.group.key)
        return self.reader.episode_keys.take(candidates[0])

    def read_eoc(self, entry: Entry | None) -> dict[str, Any]:
        assert entry is not None
        res = entry.resource
        out: dict[str, Any] = {}
        status = res.get("status")
        out["status"] = status if isinstance(status, str) else "active"
        period = _dict(res.get("period"))
        admission = parse_date(period.get("start"))
        if admission is not None:
            out["admission"] = admission
        program_ext = extension(res, EXT.PROGRAM)
        program_type = _concept_key(res.get("type"), "program-type")
        if program_type is not None:
            name, hours, days = None, None, None
            for sub in as_list((program_ext or {}).get("extension")):
                if not isinstance(sub, dict):
                    continue
                if sub.get("url") == "name":
                    name = text(sub.get("valueString"))
                elif sub.get("url") == "minimumHoursPerWeek":
                    hours = sub.get("valueDecimal")
                elif sub.get("url") == "minimumDaysPerWeek":
                    days = sub.get("valueInteger")
            program: dict[str, Any] = {"name": name or "IOP", "type": program_type}
            if res.get("managingOrganization") is not None:
                program["organization"] = self.org_key(res["managingOrganization"], entry)
            if hours is not None:
                program["min_hours_per_week"] = hours
            if days is not None:
                program["min_days_per_week"] = days
            out["program"] = Program(**program)
        disposition_ext = extension(res, EXT.DISCHARGE_DISPOSITION)
        disposition = _concept_key(
            (disposition_ext or {}).get("valueCodeableConcept"), "discharge-disposition"
        )
        end = parse_date(period.get("end"))
        if end is not None and disposition is not None:
            out["discharge"] = Discharge(date=end, disposition=disposition)
        if res.get("careManager") is not None:
            manager = self.person_key(res["careManager"], entry)
            if manager is not None and any(p.key == manager for p in self.practitioners):
                out["care_manager"] = manager
        for ref in as_list(res.get("referralRequest"))[:1]:
            target = self.resolve(ref, entry)
            if target is not None and target.type == "ServiceRequest":
                referral = self.attempt(target, lambda t=target: self.read_referral(t))  # type: ignore[misc]
                if referral is not None:
                    out["referral"] = referral
                    self.used_requests.add(id(target))
        return out

    def read_referral(self, entry: Entry) -> Referral:
        res = entry.resource
        fields: dict[str, Any] = {
            "key": self.new_key("referral", entry, "referral", fallback="referral"),
            "source": _concept_key(res.get("category"), "referral-source") or "other",
            "date": parse_date(res.get("authoredOn")),
        }
        if res.get("requester") is not None:
            requester = self.person_key(res["requester"], entry)
            if requester and any(p.key == requester for p in self.practitioners):
                fields["requester"] = requester
            else:
                org = self.org_key(res["requester"], entry)
                if org:
                    fields["organization"] = org
        for ref in as_list(res.get("performer")):
            org = self.org_key(ref, entry)
            if org and "organization" not in fields:
                fields["organization"] = org
        reason = next(
            (text(c.get("text")) for c in as_list(res.get("reasonCode")) if isinstance(c, dict)),
            None,
        )
        fields["reason"] = reason
        stay = self.resolve(res.get("encounter"), entry)
        if stay is not None and stay.type == "Encounter":
            self.not_sessions.add(id(stay))
            fields["stay"] = parse_period(stay.resource.get("period"))
        return Referral(**fields)

    # -- teams and diagnoses -----------------------------------------------------------------

    def read_team(self, entry: Entry) -> None:
        res = entry.resource
        key = self.new_key("teams", entry, "careteam")
        members = []
        for part in as_list(res.get("participant")):
            if not isinstance(part, dict) or part.get("member") is None:
                continue
            member = self.member_key(part["member"], entry)
            if member is None:
                self.unmapped["CareTeam: participant that cannot be resolved"] += 1
                continue
            role, role_code = None, None
            for concept in as_list(part.get("role")):
                for sys, code in codings(concept):
                    role = role or role_key(sys, code)
            if role is None:
                role_code = first_code(part.get("role"))
            members.append(
                TeamMember(
                    member=member,
                    role=role,
                    role_code=role_code,
                    period=parse_period(part.get("period")),
                )
            )
        status = res.get("status")
        organization = None
        for ref in as_list(res.get("managingOrganization"))[:1]:
            organization = self.org_key(ref, entry)
        self.teams.append(
            Team(
                key=key,
                name=text(res.get("name")),
                status=status
                if status in ("proposed", "active", "suspended", "inactive", "entered-in-error")
                else None,
                organization=organization,
                members=members,
                period=parse_period(res.get("period")),
            )
        )

    def diagnosis_order(self, conditions: list[Entry]) -> list[Entry]:
        if self.eoc is None:
            return conditions
        ranked: list[tuple[int, int, Entry]] = []
        listed: set[int] = set()
        for pos, diag in enumerate(as_list(self.eoc.resource.get("diagnosis"))):
            if not isinstance(diag, dict):
                continue
            target = self.resolve(diag.get("condition"), self.eoc)
            if target is not None and target.type == "Condition" and id(target) not in listed:
                raw_rank = diag.get("rank")
                rank = raw_rank if isinstance(raw_rank, int) else 10**6
                ranked.append((rank, pos, target))
                listed.add(id(target))
        ranked.sort(key=lambda t: (t[0], t[1]))
        present = {id(c) for c in conditions}
        first = [t[2] for t in ranked if id(t[2]) in present]
        return first + [c for c in conditions if id(c) not in listed]

    def read_condition(self, entry: Entry) -> None:
        res = entry.resource
        code = first_code(res.get("code"))
        if code is None:
            self.unmapped["Condition: no coded code"] += 1
            return
        category = "problem-list-item"
        for concept in as_list(res.get("category")):
            for _sys, c in codings(concept):
                if c in ("problem-list-item", "encounter-diagnosis", "health-concern"):
                    category = c
                    break
        clinical = next((c for _s, c in codings(res.get("clinicalStatus"))), None)
        verification = next((c for _s, c in codings(res.get("verificationStatus"))), None)
        key = self.new_key("diagnoses", entry, "condition")
        diagnosis = Diagnosis(
            key=key,
            code=code,
            category=category,
            clinical_status=clinical,
            verification_status=verification,
            onset=parse_date(res.get("onsetDateTime"))
            or parse_date(
                (res.get("onsetPeriod") or {}).get("start")
                if isinstance(res.get("onsetPeriod"), dict)
                else None
            ),
            recorded=parse_date(res.get("recordedDate")),
        )
        self.diagnoses.append(diagnosis)

    def condition_keys(self, refs: Any, ctx: Entry) -> list[str]:
        out = []
        for ref in as_list(refs):
            target = self.resolve(ref, ctx)
            if target is None:
                continue
            key = self.key_of.get(("diagnoses", id(target)))
            if key is not None and key not in out:
                out.append(key)
        return out

    # -- care plans --------------------------------------------------------------------------

    def read_plan(self, entry: Entry) -> None:
        res = entry.resource
        kind = _concept_key(res.get("category"), "care-plan-kind")
        key = self.new_key("care_plans", entry, "careplan")
        base: dict[str, Any] = {
            "key": key,
            "title": text(res.get("title")),
            "status": _status(res.get("status"), _PLAN_STATUS, "unknown"),
            "period": parse_period(res.get("period")),
            "created": parse_date(res.get("created")),
            "addresses": self.condition_keys(res.get("addresses"), entry),
        }
        if res.get("author") is not None:
            author = self.person_key(res["author"], entry)
            if author is not None and author != self.patient_key:
                base["author"] = author
        goals = []
        for ref in as_list(res.get("goal")):
            target = self.resolve(ref, entry)
            if target is None or target.type != "Goal":
                self.unmapped["CarePlan: goal reference that cannot be resolved"] += 1
                continue
            if ("goals", id(target)) in self.key_of:
                self.unmapped["Goal: in more than one care plan (kept in the first)"] += 1
                continue
            goal = self.attempt(target, lambda t=target: self.read_goal(t))  # type: ignore[misc]
            if goal is not None:
                goals.append(goal)
        base["goals"] = goals
        base["revisions"] = self.read_revisions(res, entry)
        activities = [a for a in as_list(res.get("activity")) if isinstance(a, dict)]
        plan: CarePlan
        if kind == "relapse-prevention":
            plan = RelapsePreventionPlan(**base, **self.read_relapse(activities, entry))
        elif kind == "aftercare":
            plan = AftercarePlan(**base, **self.read_aftercare(activities, entry))
        else:
            plan = TreatmentPlan(
                **base,
                kind="treatment" if kind == "treatment" else "other",
                activities=self.read_activities(activities, entry, goals),
            )
        self.care_plans.append(plan)

    def read_revisions(self, res: dict[str, Any], entry: Entry) -> list[Revision]:
        out = []
        for note in as_list(res.get("note")):
            if not isinstance(note, dict) or not text(note.get("text")):
                continue
            moment = parse_moment(note.get("time"))
            if moment is None:
                self.unmapped["CarePlan: note without a time"] += 1
                continue
            author = None
            if note.get("authorReference") is not None:
                author = self.person_key(note["authorReference"], entry)
                if author is not None and not any(p.key == author for p in self.practitioners):
                    author = None
            out.append(Revision(date=moment, author=author, summary=note["text"]))
        return out

    def read_goal(self, entry: Entry) -> Goal:
        res = entry.resource
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
                self.unmapped["Goal: target that is not an instrument score"] += 1
                continue
            value = quantity.get("value")
            comparator = quantity.get("comparator")
            if not isinstance(value, int | float) or float(value) != int(value):
                self.unmapped["Goal: target that is not an instrument score"] += 1
                continue
            if comparator not in ("<", "<=", ">=", ">"):
                self.unmapped["Goal: target without a comparator"] += 1
                continue
            targets.append(
                GoalTarget(
                    instrument=instrument_id,
                    comparator=comparator,
                    value=int(value),
                    due=parse_date(target.get("dueDate")),
                )
            )
        description = res.get("description")
        desc_text = text(description.get("text")) if isinstance(description, dict) else None
        if desc_text is None and isinstance(description, dict):
            described = first_code(description)
            desc_text = (described.display or described.code) if described else None
        achievement = next((c for _s, c in codings(res.get("achievementStatus"))), None)
        key = self.new_key("goals", entry, "goal")
        return Goal(
            key=key,
            description=desc_text or "unspecified goal",
            lifecycle_status=res.get("lifecycleStatus", "active"),
            achievement_status=achievement,
            start=parse_date(res.get("startDate")),
            targets=targets,
            addresses=self.condition_keys(res.get("addresses"), entry),
        )

    def count_loose_goals(self, goals: list[Entry]) -> None:
        for entry in goals:
            if ("goals", id(entry)) not in self.key_of:
                self.unmapped["Goal: not part of a care plan"] += 1

    def activity_key(self, activity: dict[str, Any], entry: Entry, n: int) -> str:
        raw = activity.get("id")
        preferred = raw if isinstance(raw, str) and raw else f"activity-{n}"
        return self.keys["activities"].take(preferred)

    def read_activities(
        self, activities: list[dict[str, Any]], entry: Entry, goals: list[Goal]
    ) -> list[Activity]:
        goal_keys = {g.key for g in goals}
        out = []
        for n, activity in enumerate(activities, start=1):
            key = self.activity_key(activity, entry, n)
            detail = activity.get("detail")
            fields: dict[str, Any] = {"key": key}
            if isinstance(detail, dict):
                fields.update(self.read_detail(detail, entry, goal_keys))
            elif activity.get("reference") is not None:
                target = self.resolve(activity["reference"], entry)
                display = (
                    activity["reference"].get("display")
                    if isinstance(activity["reference"], dict)
                    else None
                )
                fields["title"] = text(display)
                fields["status"] = "unknown"
                if target is not None:
                    tres = target.resource
                    concept = (
                        tres.get("code") or tres.get("serviceType") or tres.get("appointmentType")
                    )
                    kind = _concept_key(concept, "session-kind")
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
                        self.activity_of_appointment.setdefault(id(target), key)
                    if target.type == "ServiceRequest":
                        self.used_requests.add(id(target))
            else:
                self.unmapped["CarePlan: activity without detail or reference"] += 1
                continue
            for ref in as_list(activity.get("outcomeReference")):
                target = self.resolve(ref, entry)
                if target is not None and target.type in ("Appointment", "Encounter"):
                    self.activity_of_appointment.setdefault(id(target), key)
            activity_model = self.attempt(entry, lambda f=fields: Activity(**f))  # type: ignore[misc]
            if activity_model is not None:
                out.append(activity_model)
        return out

    def read_detail(
        self, detail: dict[str, Any], entry: Entry, goal_keys: set[str]
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        kind = _concept_key(detail.get("code"), "session-kind")
        if kind:
            fields["kind"] = kind
        else:
            fields["kind_code"] = first_code(detail.get("code"))
        fields["title"] = text(detail.get("description"))
        fields["status"] = _status(detail.get("status"), _ACTIVITY_STATUS, "unknown")
        setting = extension(detail, EXT.DELIVERY_SETTING)
        if setting and setting.get("valueCode") in ("in-person", "telehealth"):
            fields["setting"] = setting["valueCode"]
        modality = extension(detail, EXT.THERAPY_MODALITY)
        if modality:
            fields["modality"] = _concept_key(modality.get("valueCodeableConcept"), "modality")
        for ref in as_list(detail.get("performer"))[:1]:
            fields["lead"] = self.member_key(ref, entry)
        goals = []
        for ref in as_list(detail.get("goal")):
            target = self.resolve(ref, entry)
            key = self.key_of.get(("goals", id(target))) if target is not None else None
            if key is not None and key in goal_keys:
                goals.append(key)
        fields["goals"] = goals
        timing = detail.get("scheduledTiming")
        if isinstance(timing, dict):
            schedule = self.read_schedule(timing.get("repeat"))
            if schedule is not None:
                fields["schedule"] = schedule
        return fields

    def read_schedule(self, repeat: Any) -> Schedule | None:
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
        for value in as_list(repeat.get("timeOfDay"))[:1]:
            try:
                start_time = time.fromisoformat(value)
            except (TypeError, ValueError):
                start_time = None
        days = [d for d in as_list(repeat.get("dayOfWeek")) if d in _WEEKDAYS]
        return Schedule(
            days=days,
            start_time=start_time,
            duration_minutes=int(minutes),
            period=parse_period(repeat.get("boundsPeriod")),
        )

    def relapse_code(self, detail: dict[str, Any]) -> str | None:
        return _concept_key(detail.get("code"), "relapse-element")

    def read_relapse(self, activities: list[dict[str, Any]], entry: Entry) -> dict[str, Any]:
        out: dict[str, Any] = {
            "triggers": [],
            "warning_signs": [],
            "coping_strategies": [],
            "daily_routines": [],
            "supports": [],
            "crisis_contacts": [],
        }
        lists = {
            "trigger": "triggers",
            "warning-sign": "warning_signs",
            "coping-strategy": "coping_strategies",
            "daily-routine": "daily_routines",
        }
        for activity in activities:
            detail = activity.get("detail")
            if not isinstance(detail, dict):
                self.unmapped["CarePlan: relapse-prevention activity without detail"] += 1
                continue
            code = self.relapse_code(detail)
            description = text(detail.get("description"))
            if code in lists and description:
                out[lists[code]].append(description)
            elif code == "support":
                for ref in as_list(detail.get("performer")):
                    person = self.person_key(ref, entry)
                    if person is not None and person != self.patient_key:
                        out["supports"].append(person)
            elif code == "crisis-contact":
                for ref in as_list(detail.get("performer")):
                    target = self.resolve(ref, entry)
                    if target is None:
                        continue
                    contact = self.read_crisis_contact(target)
                    if contact is not None:
                        out["crisis_contacts"].append(contact)
            else:
                self.unmapped["CarePlan: relapse-prevention activity not recognised"] += 1
        return out

    def read_crisis_contact(self, target: Entry) -> CrisisContact | None:
        res = target.resource
        number = phone(res)
        name = text(res.get("name"))
        if not number or not name:
            self.unmapped["CarePlan: crisis contact without name or phone"] += 1
            return None
        note = None
        for concept in as_list(res.get("type")):
            if isinstance(concept, dict) and text(concept.get("text")):
                note = concept["text"]
                break
        return CrisisContact(
            key=self.keys["crisis"].take(target.id or "contact"),
            name=name,
            phone=number,
            note=note,
        )

    def read_aftercare(self, activities: list[dict[str, Any]], entry: Entry) -> dict[str, Any]:
        referrals: list[AftercareReferral] = []
        appointments: list[AftercareAppointment] = []
        check_ins: list[CheckIn] = []
        pending_appointments: list[Entry] = []
        for n, activity in enumerate(activities, start=1):
            ref = activity.get("reference")
            detail = activity.get("detail")
            if ref is not None:
                target = self.resolve(ref, entry)
                if target is None:
                    self.unmapped["CarePlan: aftercare reference that cannot be resolved"] += 1
                elif target.type == "ServiceRequest":
                    self.used_requests.add(id(target))
                    item = self.attempt(target, lambda t=target: self.read_aftercare_referral(t))  # type: ignore[misc]
                    if item is not None:
                        referrals.append(item)
                elif target.type == "Appointment":
                    self.not_sessions.add(id(target))
                    pending_appointments.append(target)
                else:
                    self.unmapped["CarePlan: aftercare reference of another type"] += 1
            elif isinstance(detail, dict):
                method = _concept_key(detail.get("code"), "check-in")
                due = (
                    parse_date(detail.get("scheduledPeriod", {}).get("start"))
                    if isinstance(detail.get("scheduledPeriod"), dict)
                    else None
                )
                if method is None or due is None:
                    self.unmapped["CarePlan: aftercare activity not recognised"] += 1
                    continue
                with_ = None
                for pref in as_list(detail.get("performer"))[:1]:
                    with_ = self.person_key(pref, entry)
                    if with_ == self.patient_key:
                        with_ = None
                status = detail.get("status")
                raw_id = activity.get("id")
                check_ins.append(
                    CheckIn.model_validate(
                        {
                            "key": self.keys["aftercare"].take(
                                raw_id if isinstance(raw_id, str) else f"check-in-{n}"
                            ),
                            "due": due,
                            "method": method,
                            "status": status
                            if status in ("not-started", "scheduled", "completed", "cancelled")
                            else "scheduled",
                            "with": with_,
                        }
                    )
                )
        referral_keys = {e: k for (space, e), k in self.key_of.items() if space == "aftercare"}
        for target in pending_appointments:
            booked = self.attempt(
                target,
                lambda t=target: self.read_aftercare_appointment(t, referral_keys),  # type: ignore[misc]
            )
            if booked is not None:
                appointments.append(booked)
        return {"referrals": referrals, "appointments": appointments, "check_ins": check_ins}

    def read_aftercare_referral(self, entry: Entry) -> AftercareReferral:
        res = entry.resource
        service = _concept_key(res.get("code"), "aftercare-service") or "other"
        fields: dict[str, Any] = {
            "key": self.new_key("aftercare", entry, "servicerequest"),
            "service": service,
            "status": _status(
                res.get("status"), {"draft", "active", "on-hold", "revoked", "completed"}, "active"
            ),
            "authored": parse_date(res.get("authoredOn")),
        }
        if res.get("requester") is not None:
            requester = self.person_key(res["requester"], entry)
            if requester and any(p.key == requester for p in self.practitioners):
                fields["requester"] = requester
        for ref in as_list(res.get("performer")):
            target = self.resolve(ref, entry)
            if target is None:
                continue
            if target.type == "Organization" and "organization" not in fields:
                fields["organization"] = self.org_key(ref, entry)
            elif target.type in ("Practitioner", "PractitionerRole") and (
                "practitioner" not in fields
            ):
                fields["practitioner"] = self.person_key(ref, entry)
        fields["reason"] = next(
            (text(c.get("text")) for c in as_list(res.get("reasonCode")) if isinstance(c, dict)),
            None,
        )
        return AftercareReferral(**fields)

    def read_aftercare_appointment(
        self, entry: Entry, referral_keys: dict[int, str]
    ) -> AftercareAppointment:
        res = entry.resource
        start = parse_timestamp(res.get("start"))
        if start is None:
            raise ValueError("aftercare appointment without a start")
        end = parse_timestamp(res.get("end"))
        fields: dict[str, Any] = {
            "key": self.new_key("aftercare", entry, "appointment"),
            "service": _concept_key(res.get("serviceType"), "aftercare-service") or "other",
            "start": start,
            # ours: end == start stands for "no end" (R4 app-2 needs both; MAPPING.md)
            "end": end if end is not None and end != start else None,
            "status": _status(
                res.get("status"),
                {"proposed", "booked", "fulfilled", "noshow", "cancelled"},
                "booked",
            ),
        }
        for part in as_list(res.get("participant")):
            if not isinstance(part, dict):
                continue
            target = self.resolve(part.get("actor"), entry)
            if target is not None and target.type in ("Practitioner", "PractitionerRole"):
                fields.setdefault("practitioner", self.person_key(part["actor"], entry))
        for ref in as_list(res.get("supportingInformation")):
            org = self.org_key(ref, entry)
            if org:
                fields.setdefault("organization", org)
        for ref in as_list(res.get("basedOn")):
            target = self.resolve(ref, entry)
            if target is not None and id(target) in referral_keys:
                fields.setdefault("referral", referral_keys[id(target)])
        return AftercareAppointment(**fields)

    # -- sessions ----------------------------------------------------------------------------

    def read_session(self, entry: Entry) -> None:
        if id(entry) in self.not_sessions or id(entry) in self.session_of:
            return
        res = entry.resource
        if own_key(res, "stay") is not None:
            return
        appointment: Entry | None = None
        encounter: Entry | None = None
        if entry.type == "Appointment":
            appointment = entry
            encounter = self.encounter_of.get(id(entry))
        else:
            encounter = entry
            for ref in as_list(res.get("appointment")):
                target = self.resolve(ref, entry)
                if target is not None and target.type == "Appointment":
                    if id(target) in self.not_sessions:
                        continue
                    appointment = target
                    break
        if appointment is not None and id(appointment) in self.session_of:
            if encounter is not None:
                self.session_of[id(encounter)] = self.session_of[id(appointment)]
            return
        status = self.session_status(appointment, encounter)
        if status is None:
            self.unmapped[f"{entry.type}: entered-in-error"] += 1
            return
        ares = appointment.resource if appointment else {}
        eres = encounter.resource if encounter else {}
        eperiod = _dict(eres.get("period"))
        start = parse_timestamp(ares.get("start")) or parse_timestamp(eperiod.get("start"))
        end = parse_timestamp(ares.get("end")) or parse_timestamp(eperiod.get("end")) or start
        if appointment is not None and not ares.get("start"):
            end = parse_timestamp(eperiod.get("end")) or start
        if start is None or end is None:
            self.unmapped[f"{entry.type}: session without a start time"] += 1
            return
        if end < start:
            end = start
        actual_start = actual_end = None
        if appointment is not None and encounter is not None and status == "attended":
            # the Encounter's period is what happened (equal to the plan when it went as
            # planned: the domain's default for attended sessions)
            a_start = parse_timestamp(eperiod.get("start"))
            a_end = parse_timestamp(eperiod.get("end"))
            if a_start and a_end and a_end >= a_start:
                actual_start, actual_end = a_start, a_end
        primary = appointment or encounter
        assert primary is not None
        key = self.new_key("sessions", primary, "session", "encounter")
        concept_sources = [
            ares.get("serviceType"),
            eres.get("type"),
            eres.get("serviceType"),
            ares.get("appointmentType"),
        ]
        kind = None
        kind_code = None
        for concept in concept_sources:
            kind = kind or _concept_key(concept, "session-kind")
        if kind is None:
            for concept in concept_sources:
                kind_code = kind_code or first_code(concept)
        telehealth = False
        for sys, code in codings(eres.get("class")):
            if code == "VR" and (sys is None or sys.endswith("v3-ActCode")):
                telehealth = True
        setting = extension(ares, EXT.DELIVERY_SETTING)
        if setting is not None and setting.get("valueCode") in ("telehealth", "in-person"):
            telehealth = setting["valueCode"] == "telehealth"
        facilitator, attendees = self.participants(appointment, encounter)
        activity = None
        for source in (appointment, encounter):
            if source is not None and id(source) in self.activity_of_appointment:
                activity = self.activity_of_appointment[id(source)]
                break
        cancel_reason = None
        reason = ares.get("cancelationReason")
        if isinstance(reason, dict):
            cancel_reason = text(reason.get("text"))
        session = Session(
            key=key,
            kind=kind,
            kind_code=kind_code,
            status=status,
            start=start,
            end=end,
            actual_start=actual_start,
            actual_end=actual_end,
            telehealth=telehealth,
            facilitator=facilitator,
            attendees=attendees,
            activity=activity,
            cancel_reason=cancel_reason if status == "cancelled" else None,
        )
        self.sessions.append(session)
        for source in (appointment, encounter):
            if source is not None:
                self.session_of[id(source)] = key

    @property
    def encounter_of(self) -> dict[int, Entry]:
        cached = getattr(self, "_encounter_of", None)
        if cached is None:
            cached = {}
            for entry in self.entries:
                if entry.type == "Encounter":
                    for ref in as_list(entry.resource.get("appointment")):
                        target = self.resolve(ref, entry)
                        if target is not None:
                            cached.setdefault(id(target), entry)
            self._encounter_of: dict[int, Entry] = cached
        return cached

    def session_status(self, appointment: Entry | None, encounter: Entry | None) -> str | None:
        if appointment is not None:
            raw = appointment.resource.get("status")
            if raw == "entered-in-error":
                return None
            mapped = _APPOINTMENT_STATUS.get(str(raw))
            if mapped is not None:
                if mapped == "scheduled" and encounter is not None:
                    enc = _ENCOUNTER_STATUS.get(str(encounter.resource.get("status")))
                    if enc == "attended":
                        return "attended"
                return mapped
        if encounter is not None:
            raw = encounter.resource.get("status")
            if raw == "entered-in-error":
                return None
            mapped = _ENCOUNTER_STATUS.get(str(raw))
            if mapped is not None:
                return mapped
            period = encounter.resource.get("period")
            return "attended" if isinstance(period, dict) and period.get("end") else "scheduled"
        return "scheduled"

    def participants(
        self, appointment: Entry | None, encounter: Entry | None
    ) -> tuple[str | None, list[str]]:
        facilitator: str | None = None
        untyped: list[str] = []
        attendees: list[str] = []
        for source, actor_key in ((encounter, "individual"), (appointment, "actor")):
            if source is None:
                continue
            for part in as_list(source.resource.get("participant")):
                if not isinstance(part, dict) or part.get(actor_key) is None:
                    continue
                target = self.resolve(part[actor_key], source)
                if target is None or target.type not in (
                    "Practitioner",
                    "PractitionerRole",
                    "RelatedPerson",
                    "Patient",
                ):
                    continue
                person = self.person_key(part[actor_key], source)
                if person is None:
                    continue
                types = {c for concept in as_list(part.get("type")) for _s, c in codings(concept)}
                if "PPRF" in types:
                    facilitator = facilitator or person
                elif "PART" in types or ("ATND" in types and person != self.patient_key):
                    if person not in attendees:
                        attendees.append(person)
                elif person != self.patient_key and target.type != "RelatedPerson":
                    untyped.append(person)
                elif target.type == "RelatedPerson" and person not in attendees:
                    attendees.append(person)
            if facilitator is not None or attendees:
                break
        if facilitator is None and appointment is not None:
            # the patient leads a session only on the Appointment (an Encounter participant
            # cannot be a Patient), so a PPRF there counts even when the Encounter has others
            for part in as_list(appointment.resource.get("participant")):
                if not isinstance(part, dict) or part.get("actor") is None:
                    continue
                types = {c for concept in as_list(part.get("type")) for _s, c in codings(concept)}
                if "PPRF" in types:
                    facilitator = self.person_key(part["actor"], appointment)
                    if facilitator is not None:
                        break
        if facilitator is None and untyped:
            facilitator = untyped[0]
        attendees = [a for a in attendees if a != facilitator]
        return facilitator, attendees

    # -- measures ----------------------------------------------------------------------------

    def read_measure(self, adm: Administration) -> None:
        when = adm.when
        if when is None:
            self.unmapped[f"{adm.entries[0].type}: instrument without a time"] += 1
            return
        if adm.total is None and not adm.answers:
            self.unmapped[f"{adm.entries[0].type}: instrument without a score or answers"] += 1
            return
        primary = adm.entries[0]
        allocator = self.keys["measures"]
        key = self.key_of.get(("measures", id(primary)))
        if key is None:
            key = allocator.take(adm.own_key or primary.id or _url_tail(primary.full_url) or "m")
            self.key_of[("measures", id(primary))] = key
        performer = None
        if adm.performer is not None:
            performer = self.person_key(*adm.performer)
        session = None
        if adm.encounter is not None:
            target = self.resolve(*adm.encounter)
            if target is not None:
                session = self.session_of.get(id(target))
        fields: dict[str, Any] = {
            "key": key,
            "instrument": adm.instrument.id,
            "date": when,
            "answers": adm.answers,
            "total": adm.total,
            "session": session,
            "performer": performer,
        }
        for attempt in (fields, {**fields, "answers": {}}, {**fields, "total": None}):
            if not attempt["answers"] and attempt["total"] is None:
                continue
            try:
                self.measures.append(Measure(**attempt))
            except ValidationError:
                continue
            if attempt is not fields:
                self.unmapped[f"{primary.type}: answers and total disagree (kept one)"] += 1
            return
        self.unmapped[f"{primary.type}: instrument values out of range"] += 1


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _url_tail(url: str | None) -> str | None:
    if not url:
        return None
    if url.startswith("urn:uuid:") or url.startswith("urn:oid:"):
        return url.rsplit(":", 1)[-1]
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return tail or None


def _reason(exc: Exception) -> str:
    """A short reason for a failed mapping, without values from the data."""
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        if errors:
            loc = ".".join(str(p) for p in errors[0].get("loc", ()))
            return f"{errors[0].get('type', 'invalid')} at {loc}" if loc else "invalid"
    return type(exc).__name__
