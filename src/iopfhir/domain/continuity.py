"""Continuity of care: the inpatient stay before the IOP, the hospital's discharge plan the
IOP plan continues, and who carried the patient from inpatient through IOP into aftercare.

* :class:`StayParticipant` - a clinician of the inpatient stay and how they took part
  (attender, admitter, discharger, consultant, referrer: HL7 v3 ParticipationType, mapped
  in the terminology data ``codes.json`` ``stay_participation``).
* :class:`DischargePlan` - the hospital's discharge plan (a CarePlan of its own; the IOP
  treatment plan is ``basedOn`` it).
* :class:`Continuity` / :class:`ClinicianPhases` - the result of
  :meth:`iopfhir.domain.Episode.continuity`: per practitioner, the phases they took part in.

:func:`continuity_of` computes the result. It reads an episode through a protocol and
imports no episode module (the episode calls it): imports go to the domain's ``common``,
``people``, ``plans``, ``sessions``, ``measures``, ``medications`` and ``vocabulary`` modules
and :mod:`iopfhir.terminology`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import Field

from iopfhir.domain.common import Day, Key, Model, Period
from iopfhir.domain.measures import Measure
from iopfhir.domain.medications import Prescription
from iopfhir.domain.people import Practitioner, Team
from iopfhir.domain.plans import (
    AftercarePlan,
    RelapsePreventionPlan,
    TreatmentPlan,
)
from iopfhir.domain.sessions import Session
from iopfhir.terminology import codes

__all__ = [
    "PHASES",
    "ClinicianPhases",
    "Continuity",
    "DischargePlan",
    "Phase",
    "StayParticipant",
    "continuity_of",
    "continuity_problems",
]

#: The phases of care, in order.
Phase = Literal["inpatient", "iop", "aftercare"]
PHASES: tuple[Phase, ...] = ("inpatient", "iop", "aftercare")

if TYPE_CHECKING:
    Participation = str
else:
    from iopfhir.domain.vocabulary import _restricted

    Participation = _restricted("stay participation", codes()["stay_participation"]["codes"])


class StayParticipant(Model):
    """A clinician of the inpatient stay (FHIR ``Encounter.participant``)."""

    practitioner: Key
    #: how they took part (v3 ParticipationType by key: attender, admitter...)
    role: Participation | None = None


class DischargePlan(Model):
    """The hospital's discharge plan for the stay (FHIR CarePlan, kind
    ``inpatient-discharge``), which the IOP treatment plan continues (``basedOn``)."""

    key: Key = "discharge-plan"
    title: str | None = Field(default=None, min_length=1)
    status: Literal["active", "completed", "revoked", "unknown"] = "completed"
    created: Day | None = None
    #: the inpatient clinician who wrote it (a practitioner key)
    author: Key | None = None
    #: what the plan says (discharge instructions), as text
    description: str | None = Field(default=None, min_length=1)


class ClinicianPhases(Model):
    """One practitioner and the phases of care they took part in, in phase order."""

    practitioner: Key
    phases: list[Phase]

    @property
    def spans_all(self) -> bool:
        """Whether they took part in every phase (inpatient, IOP and aftercare)."""
        return len(self.phases) == len(PHASES)


class Continuity(Model):
    """Who took part in which phase, per practitioner (in the episode's order)."""

    clinicians: list[ClinicianPhases] = Field(default_factory=list)

    def spanning(self, *phases: Phase) -> list[str]:
        """Keys of the practitioners who took part in every phase named (all three when
        none is named)."""
        wanted = set(phases or PHASES)
        return [c.practitioner for c in self.clinicians if wanted <= set(c.phases)]

    def phases_of(self, practitioner: str) -> list[Phase]:
        """The phases one practitioner took part in (empty when none)."""
        return next((c.phases for c in self.clinicians if c.practitioner == practitioner), [])


class _Referral(Protocol):
    """What continuity reads of a referral (:class:`iopfhir.domain.Referral`)."""

    @property
    def requester(self) -> str | None: ...
    @property
    def organization(self) -> str | None: ...
    @property
    def stay(self) -> Period | None: ...
    @property
    def stay_participants(self) -> Sequence[StayParticipant]: ...
    @property
    def discharge_plan(self) -> DischargePlan | None: ...


class _Episode(Protocol):
    """What continuity reads of an episode (:class:`iopfhir.domain.Episode`; a protocol so
    that this module does not import the episode module, which imports it)."""

    @property
    def referral(self) -> _Referral | None: ...
    @property
    def care_manager(self) -> str | None: ...
    @property
    def practitioners(self) -> Sequence[Practitioner]: ...
    @property
    def teams(self) -> Sequence[Team]: ...
    @property
    def care_plans(self) -> Sequence[TreatmentPlan | RelapsePreventionPlan | AftercarePlan]: ...
    @property
    def sessions(self) -> Sequence[Session]: ...
    @property
    def measures(self) -> Sequence[Measure]: ...
    @property
    def prescriptions(self) -> Sequence[Prescription]: ...


def continuity_of(episode: _Episode) -> Continuity:
    """Per practitioner of ``episode``, the phases they took part in:

    * inpatient: a participant of the referral's stay, the referral's requester, or the
      author of the discharge plan;
    * iop: the care manager, a member of a care team, the author or a revision author of
      the treatment / relapse-prevention plans, an activity lead, a session's facilitator,
      attendee or Encounter participant, a measure's performer, a prescriber;
    * aftercare: the aftercare plan's author, a referral's requester or practitioner, an
      appointment's practitioner, a check-in's contact.

    Practitioners who took part in no phase are left out.
    """
    found: dict[str, set[Phase]] = {}
    prac_keys = [p.key for p in episode.practitioners]
    known = set(prac_keys)

    def add(phase: Phase, keys: Iterable[str | None]) -> None:
        for key in keys:
            if key is not None and key in known:
                found.setdefault(key, set()).add(phase)

    referral = episode.referral
    if referral is not None:
        add("inpatient", [p.practitioner for p in referral.stay_participants])
        add("inpatient", [referral.requester])
        if referral.discharge_plan is not None:
            add("inpatient", [referral.discharge_plan.author])
    add("iop", [episode.care_manager])
    add("iop", [m.member for t in episode.teams for m in t.members])
    for plan in episode.care_plans:
        phase: Phase = "aftercare" if isinstance(plan, AftercarePlan) else "iop"
        add(phase, [plan.author, *(r.author for r in plan.revisions)])
        if isinstance(plan, TreatmentPlan):
            add("iop", [a.lead for a in plan.activities])
        elif isinstance(plan, AftercarePlan):
            add("aftercare", _aftercare_people(plan))
    add("iop", [s.facilitator for s in episode.sessions])
    add("iop", [k for s in episode.sessions for k in s.attendees])
    add("iop", [p.member for s in episode.sessions for p in s.participants])
    add("iop", [m.performer for m in episode.measures])
    add("iop", [p.prescriber for p in episode.prescriptions])
    return Continuity(
        clinicians=[
            ClinicianPhases(practitioner=k, phases=[p for p in PHASES if p in found[k]])
            for k in prac_keys
            if k in found
        ]
    )


def _aftercare_people(plan: AftercarePlan) -> list[Any]:
    people: list[Any] = []
    for ref in plan.referrals:
        people += [ref.requester, ref.practitioner]
    people += [a.practitioner for a in plan.appointments]
    people += [c.with_ for c in plan.check_ins]
    return people


def continuity_problems(episode: _Episode) -> Iterator[tuple[str, str]]:
    """(JSON path, message) for the referral's continuity parts that break a rule: stay
    participants and the discharge plan's author must be practitioners of the episode,
    participants need a stay, and a referral requested by a practitioner names its
    organization only with a stay (the stay's hospital: R4 has no other place for it)."""
    referral = episode.referral
    if referral is None:
        return
    practitioners = {p.key for p in episode.practitioners}
    for i, part in enumerate(referral.stay_participants):
        if part.practitioner not in practitioners:
            yield (
                f"$.referral.stay_participants[{i}].practitioner",
                "names no practitioner of the episode",
            )
    if referral.stay_participants and referral.stay is None:
        yield "$.referral.stay_participants", "needs a stay"
    plan = referral.discharge_plan
    if plan is not None and plan.author is not None and plan.author not in practitioners:
        yield "$.referral.discharge_plan.author", "names no practitioner of the episode"
    if referral.requester is not None and referral.organization is not None and not referral.stay:
        yield (
            "$.referral.organization",
            "with a requesting practitioner, the organization is the stay's hospital: needs a stay",
        )
