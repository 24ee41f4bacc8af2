"""What every resource reader shares: the state of one episode being read.

:class:`Context` is the read side's counterpart of the builders' context: one per episode
(one per EpisodeOfCare of a patient, or one for a patient without any), handed to every
``read_x(ctx, ...)`` function of the family modules. It holds the index (reference
resolution), the ``unmapped`` counter shared by the whole read, the key allocators (one
namespace per kind of key) and the key each entry was given, the domain objects read so
far, and the links the families leave for each other (which Appointment a care-plan
activity lists, which entries are sessions or not, which ServiceRequests were used).

Every resource is mapped inside :meth:`Context.attempt`: one that does not fit is counted
in ``unmapped`` with a reason (never its content) and the rest of the episode goes on.

Imports: :mod:`iopfhir.domain` and the reader's ``source``, ``index`` and ``values``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from pydantic import ValidationError

from iopfhir.domain import (
    Allergy,
    CarePlan,
    Consent,
    Diagnosis,
    Goal,
    Location,
    Measure,
    MedicationUse,
    Organization,
    Practitioner,
    Prescription,
    Request,
    Session,
    Support,
    Team,
)
from iopfhir.fhir.read.index import Index
from iopfhir.fhir.read.keys import KeyAllocator, url_tail
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import as_list, codings, own_key_or_none

__all__ = ["SECURITY_PART2", "Context", "PatientGroup"]

P = ParamSpec("P")
T = TypeVar("T")

#: Security codes that mark an episode as 42 CFR Part 2.
SECURITY_PART2 = {"ETH", "42CFRPart2"}


@dataclass(eq=False)
class PatientGroup:
    """One patient's resources, in input order."""

    key: str
    patient: Entry | None
    reference: str | None
    entries: list[Entry] = field(default_factory=list)


class Context:
    """The state of one episode being read."""

    def __init__(
        self,
        index: Index,
        unmapped: Counter[str],
        roles_of: Mapping[int, list[Entry]],
        group: PatientGroup,
        eoc: Entry | None,
        entries: list[Entry],
    ) -> None:
        self.index = index
        #: the entry a reference found in an entry points to (``resolve(ref, at)``): the
        #: index's own method, bound once (the readers resolve several references per
        #: resource, and a method that passes the call on costs a Python call each time)
        self.resolve: Callable[[Any, Entry], Entry | None] = index.resolve
        self.unmapped = unmapped
        #: Practitioner entry id → the PractitionerRoles pointing to it, in input order (the
        #: streaming reader gives only those a reader may pick: the first one and the ones
        #: of this patient's episodes, ``practitionerrole`` → ``<episode>/<key>``)
        self.roles_of = roles_of
        self.group = group
        self.eoc = eoc
        self.entries = entries
        self.ours = self._detect_ours()
        self.keys: dict[str, KeyAllocator] = defaultdict(KeyAllocator)
        self.key_of: dict[tuple[str, int], str] = {}
        #: entry id → :func:`~iopfhir.fhir.read.people.entry_person_key` of it (asked for
        #: again at every session)
        self.person_of: dict[int, str | None] = {}
        self.organizations: list[Organization] = []
        self.locations: list[Location] = []
        self.practitioners: list[Practitioner] = []
        #: practitioner key → input place of this episode's own PractitionerRole of them
        #: (iopfhir's ``practitionerrole`` → ``<episode>/<key>``): the episode's order
        self.own_role_at: dict[str, int] = {}
        self.supports: list[Support] = []
        self.teams: list[Team] = []
        self.diagnoses: list[Diagnosis] = []
        self.care_plans: list[CarePlan] = []
        #: goals no care plan holds; other requests (ServiceRequests that are not referrals)
        self.other_goals: list[Goal] = []
        self.requests: list[Request] = []
        #: conditional reference (``Type?identifier=s|v``) to a record the input lacks → key
        self.reference_only: dict[str, str] = {}
        self.sessions: list[Session] = []
        self.measures: list[Measure] = []
        self.medications: list[MedicationUse] = []
        self.prescriptions: list[Prescription] = []
        self.allergies: list[Allergy] = []
        self.consents: list[Consent] = []
        self.patient_key = "patient"
        #: the program type of the episode (its EpisodeOfCare), once read
        self.program_type: str | None = None
        self.part2 = False
        #: Appointment entry id → activity key (from CarePlan outcomeReference / reference)
        self.activity_of_appointment: dict[int, str] = {}
        #: Encounter / Appointment entry id → session key
        self.session_of: dict[int, str] = {}
        #: entries that are not sessions (aftercare appointments, stays)
        self.not_sessions: set[int] = set()
        self.used_requests: set[int] = set()
        #: CarePlan entries that are not care plans of the episode (a referral's discharge plan)
        self.not_plans: set[int] = set()
        #: Appointment entry id → the Encounter of it (filled by the sessions reader)
        self.encounter_of: dict[int, Entry] | None = None
        #: the episode key named by iopfhir's own identifiers, when there is one
        self.episode_key_hint = self._own_episode_key()

    def _own_episode_key(self) -> str | None:
        if self.eoc is not None:
            own = own_key_or_none(self.eoc.resource, "episode")
            if own is not None:
                return own[0]
        if self.group.patient is not None:
            own = own_key_or_none(self.group.patient.resource, "patient")
            if own is not None:
                return own[0]
        return None

    def _detect_ours(self) -> bool:
        res = (
            self.eoc.resource
            if self.eoc
            else (self.group.patient.resource if self.group.patient else {})
        )
        if own_key_or_none(res, "episode", "patient"):
            return True
        return any(
            own_key_or_none(e.resource, "careplan", "session", "condition") for e in self.entries
        )

    def attempt(
        self, entry: Entry, what: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T | None:
        """Run one mapping step; count a failure against the resource type, never crash."""
        try:
            return what(*args, **kwargs)
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
        own = entry.own_key_or_none(*kinds) if kinds else None
        preferred = own[1] if own is not None else entry.id or url_tail(entry.full_url) or fallback
        key = allocator.take(preferred)
        self.key_of[(space, id(entry))] = key
        return key

    def note_security(self, entry: Entry) -> None:
        """A Part 2 security label on any resource makes the episode Part 2."""
        if self.part2:  # said already (most resources of a Part 2 episode carry a label)
            return
        meta = entry.resource.get("meta")
        if isinstance(meta, dict) and meta.get("security") is not None:
            for _sys, code in (p for s in as_list(meta.get("security")) for p in codings(s)):
                if code in SECURITY_PART2:
                    self.part2 = True
                    return


def _reason(exc: Exception) -> str:
    """A short reason for a failed mapping, without values from the data."""
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        if errors:
            loc = ".".join(str(p) for p in errors[0].get("loc", ()))
            return f"{errors[0].get('type', 'invalid')} at {loc}" if loc else "invalid"
    return type(exc).__name__
