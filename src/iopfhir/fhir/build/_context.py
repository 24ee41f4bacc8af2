"""What every resource builder shares: the per-episode context and constant FHIR values.

:class:`Context` computes, once per episode, the deterministic ``urn:uuid`` of every
resource the episode will produce (so any builder can refer forward, e.g. a care-plan
activity to a session's Appointment), the references to them, the ``meta`` blocks, and
the two output styles: bundle style (no ``id``, references to ``urn:uuid`` full URLs) and
NDJSON style (``id`` = the uuid, references ``Type/id``).

Built resources are plain dicts. Constant parts (codings, profile lists, security labels,
reference dicts) are shared between resources for speed: treat output as read-only and
copy before changing it.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Any, Final
from urllib.parse import quote

from iopfhir.domain import (
    Code,
    Episode,
    HumanName,
    Location,
    Organization,
    Period,
    Practitioner,
    date_text,
)
from iopfhir.fhir.conventions import (
    CORE_EXT,
    OBSERVATION_CATEGORY_SURVEY,
    identifier_system,
    urn_uuid,
)
from iopfhir.terminology import Coding, lookup_concept
from iopfhir.terminology.instruments import LOINC
from iopfhir.terminology.security import label, security_data

__all__ = [
    "CONDITION_CATEGORY",
    "DATA_ABSENT",
    "LOINC",
    "OBSERVATION_CATEGORY_SURVEY",
    "PART2_SECURITY",
    "PARTICIPANT_ATTENDEE",
    "PARTICIPANT_FACILITATOR",
    "UCUM",
    "Context",
    "Entry",
    "Resource",
    "code_concept",
    "concept",
    "conditional_ref",
    "fhir_moment",
    "fhir_name",
    "fhir_period",
    "has_episode_of_care",
    "project_concept",
    "telecom",
]

Resource = dict[str, Any]
#: ``(full URL, resource)``: the full URL is ``urn:uuid:<uuid5 of the first identifier>``.
Entry = tuple[str, Resource]

UCUM: Final = "http://unitsofmeasure.org"
_PARTICIPATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
#: Participant types: the session's facilitator (primary performer) and other attendees.
PARTICIPANT_FACILITATOR: Final = [{"coding": [{"system": _PARTICIPATION, "code": "PPRF"}]}]
PARTICIPANT_ATTENDEE: Final = [{"coding": [{"system": _PARTICIPATION, "code": "PART"}]}]
#: ``Condition.category`` systems: R4's own for two codes, US Core's for ``health-concern``.
CONDITION_CATEGORY: Final = {
    "problem-list-item": "http://terminology.hl7.org/CodeSystem/condition-category",
    "encounter-diagnosis": "http://terminology.hl7.org/CodeSystem/condition-category",
    "health-concern": "http://hl7.org/fhir/us/core/CodeSystem/condition-category",
}
#: A required element with nothing to say (US Core CareTeam.participant.role is 1..1).
DATA_ABSENT: Final = [
    {
        "extension": [
            {
                "url": CORE_EXT.DATA_ABSENT_REASON,
                "valueCode": "unknown",
            }
        ]
    }
]


def concept(coding: Coding) -> dict[str, Any]:
    """A CodeableConcept holding one coding."""
    return {"coding": [coding.to_fhir()]}


def code_concept(code: Code) -> dict[str, Any]:
    """A CodeableConcept from a domain :class:`Code` (foreign codes keep their display), its
    other codings after it, and its text."""
    coding = {"system": code.system, "code": code.code}
    if code.display:
        coding["display"] = code.display
    if not code.also and code.text is None:
        return {"coding": [coding]}
    codings = [coding]
    for other in code.also:
        more = {"system": other.system, "code": other.code}
        if other.display:
            more["display"] = other.display
        codings.append(more)
    concept: dict[str, Any] = {"coding": codings}
    if code.text is not None:
        concept["text"] = code.text
    return concept


def fhir_moment(value: date | datetime) -> str:
    """A FHIR ``date`` (for a date) or ``dateTime`` with its offset (for a timestamp)."""
    return date_text(value)


def fhir_period(period: Period) -> dict[str, str]:
    """A FHIR Period."""
    out = {"start": date_text(period.start)}
    if period.end is not None:
        out["end"] = date_text(period.end)
    return out


def fhir_name(name: HumanName) -> list[dict[str, Any]]:
    """``HumanName`` as a one-element list."""
    out: dict[str, Any] = {"family": name.family}
    if name.given:
        out["given"] = list(name.given)
    return [out]


def telecom(phone: str | None, email: str | None = None) -> list[dict[str, str]]:
    """``telecom`` entries for a phone number and an email address."""
    out = []
    if phone:
        out.append({"system": "phone", "value": phone})
    if email:
        out.append({"system": "email", "value": email})
    return out


def _security() -> list[dict[str, str]]:
    return [label(name) for name in security_data()["part2_labels"]]


#: The Part 2 labels of every patient-linked resource of a Part 2 program (confidentiality
#: R, ETH, 42CFRPart2); mental-health data gets PSY too (:mod:`.labels`, docs/part2.md).
PART2_SECURITY: Final = _security()


def conditional_ref(rtype: str, item: Practitioner | Organization | Location) -> dict[str, str]:
    """The conditional reference to a reference-only record, by its first identifier (the
    value URL-encoded as a search parameter: ``|`` separates system and value)."""
    ident = item.identifiers[0]
    value = quote(f"{ident.system}|{ident.value}", safe=":/|")
    return {"reference": f"{rtype}?identifier={value}"}


class Context:
    """One episode being built: keys → full URLs and references, in one output style."""

    def __init__(self, episode: Episode, *, ndjson: bool = False) -> None:
        self.episode = episode
        self.ndjson = ndjson
        self.key = episode.key
        self.security = PART2_SECURITY if episode.part2 else None
        self._profiles: dict[str, list[str]] = {}
        #: full URLs already taken in this episode (two domain objects never share one)
        self.taken: set[str] = set()

        self.patient_url, self.patient_identifiers = self._patient_identity()
        self.patient_ref = self.ref("Patient", self.patient_url)

        self.org_url: dict[str, str] = {}
        self.org_identifiers: dict[str, list[dict[str, str]]] = {}
        self.org_ref: dict[str, dict[str, str]] = {}
        for org in episode.organizations:
            ours = self.identifier("organization", org.key)
            own = [{"system": i.system, "value": i.value} for i in org.identifiers]
            idents = self._claim("Organization", [*own, ours], fallback=ours)
            self.org_identifiers[org.key] = idents
            self.org_url[org.key] = self._url("Organization", idents[0])
            self.org_ref[org.key] = self.ref("Organization", self.org_url[org.key])
            if org.reference_only:  # no resource: the conditional reference it came as
                self.org_ref[org.key] = conditional_ref("Organization", org)

        #: location key → (full URL, identifiers): claimed like an Organization's, so two
        #: locations that share an identifier still get two full URLs
        self.location_identity: dict[str, tuple[str, list[dict[str, str]]]] = {}
        for place in episode.locations:
            ours = self.identifier("location", place.key)
            own = [{"system": i.system, "value": i.value} for i in place.identifiers]
            idents = self._claim("Location", [*own, ours], fallback=ours)
            self.location_identity[place.key] = (self._url("Location", idents[0]), idents)

        #: Practitioner itself (for ``Annotation.authorReference``, which takes no role)
        self.practitioner_url: dict[str, str] = {}
        self.practitioner_identifiers: dict[str, list[dict[str, str]]] = {}
        self.practitioner_ref: dict[str, dict[str, str]] = {}
        self.role_url: dict[str, str] = {}
        #: person key → reference (a practitioner through their PractitionerRole)
        self.person_ref: dict[str, dict[str, str]] = {episode.patient.key: self.patient_ref}
        for prac in episode.practitioners:
            ours = self.identifier("practitioner", prac.key)
            own = [{"system": i.system, "value": i.value} for i in prac.identifiers]
            # without a PractitionerRole, the Practitioner carries the episode's key itself
            idents = self._claim(
                "Practitioner", (own or [ours]) if prac.with_role else [*own, ours], fallback=ours
            )
            self.practitioner_identifiers[prac.key] = idents
            url = self._url("Practitioner", idents[0])
            self.practitioner_url[prac.key] = url
            self.practitioner_ref[prac.key] = self.ref("Practitioner", url)
            role_url = self.local_url("PractitionerRole", "practitionerrole", prac.key)
            self.role_url[prac.key] = role_url
            self.person_ref[prac.key] = self.ref("PractitionerRole", role_url)
            if not prac.with_role:  # no PractitionerRole: references name the Practitioner
                self.person_ref[prac.key] = self.practitioner_ref[prac.key]
            if prac.reference_only:  # no resource: the conditional reference it came as
                self.person_ref[prac.key] = conditional_ref("Practitioner", prac)
                self.practitioner_ref[prac.key] = self.person_ref[prac.key]

        self.support_url: dict[str, str] = {}
        for support in episode.supports:
            url = self.local_url("RelatedPerson", "relatedperson", support.key)
            self.support_url[support.key] = url
            self.person_ref[support.key] = self.ref("RelatedPerson", url)

        #: the teams EpisodeOfCare.team and CarePlan.careTeam list: those with members (a
        #: member-less team claims no iop-careteam profile, which those references require;
        #: it belongs to the episode through its ``careteam`` identifier)
        self.team_refs = [
            self.ref("CareTeam", self.local_url("CareTeam", "careteam", t.key))
            for t in episode.teams
            if t.members
        ]
        self.condition_ref = {
            d.key: self.ref("Condition", self.local_url("Condition", "condition", d.key))
            for d in episode.diagnoses
        }
        self.goal_ref = {
            g.key: self.ref("Goal", self.local_url("Goal", "goal", g.key)) for g in episode.goals
        }
        self.eoc_url: str | None = None
        self.eoc_ref: dict[str, str] | None = None
        if has_episode_of_care(episode):
            self.eoc_url = self.local_url("EpisodeOfCare", "episode", episode.key)
            self.eoc_ref = self.ref("EpisodeOfCare", self.eoc_url)
        self.appointment_ref: dict[str, dict[str, str]] = {}
        self.encounter_ref: dict[str, dict[str, str]] = {}
        for session in episode.sessions:
            # only the resources the session is written as (``Session.written_forms``)
            forms = session.written_forms()
            if "appointment" in forms:
                self.appointment_ref[session.key] = self.ref(
                    "Appointment", self.local_url("Appointment", "session", session.key)
                )
            if "encounter" in forms:
                self.encounter_ref[session.key] = self.ref(
                    "Encounter", self.local_url("Encounter", "encounter", session.key)
                )

    # -- identity ---------------------------------------------------------------------------

    def identifier(self, kind: str, local_key: str) -> dict[str, str]:
        """iopfhir's business identifier ``<kind>`` → ``<episode key>/<local key>``."""
        return {"system": identifier_system(kind), "value": f"{self.key}/{local_key}"}

    def local_url(self, rtype: str, kind: str, local_key: str) -> str:
        """The full URL of a resource identified by iopfhir's own identifier."""
        return urn_uuid(rtype, identifier_system(kind), f"{self.key}/{local_key}")

    @staticmethod
    def _url(rtype: str, ident: dict[str, str]) -> str:
        return urn_uuid(rtype, ident["system"], ident["value"])

    def _claim(
        self, rtype: str, idents: list[dict[str, str]], *, fallback: dict[str, str]
    ) -> list[dict[str, str]]:
        """``idents``, unless their full URL is already another object's in this episode
        (two practitioners with one NPI): then ``fallback`` first, so both are kept."""
        url = self._url(rtype, idents[0])
        if url in self.taken:
            idents = [fallback, *(i for i in idents if i is not fallback)]
            url = self._url(rtype, fallback)
        self.taken.add(url)
        return idents

    def _patient_identity(self) -> tuple[str, list[dict[str, str]]]:
        patient = self.episode.patient
        own = [{"system": i.system, "value": i.value} for i in patient.identifiers]
        idents = [*own, self.identifier("patient", patient.key)]
        return self._url("Patient", idents[0]), idents

    # -- output style -----------------------------------------------------------------------

    def ref(self, rtype: str, url: str) -> dict[str, str]:
        """A Reference to the resource with full URL ``url``, in this context's style."""
        if self.ndjson:
            return {"reference": f"{rtype}/{url[9:]}"}
        return {"reference": url}

    def head(self, rtype: str, url: str, profile: str | None, *, linked: bool) -> Resource:
        """The start of a resource: ``resourceType``, ``id`` (NDJSON only) and ``meta``
        (profile; Part 2 labels when ``linked`` to the patient and the episode is Part 2)."""
        res: Resource = {"resourceType": rtype}
        if self.ndjson:
            res["id"] = url[9:]
        meta: dict[str, Any] = {}
        if profile is not None:
            profiles = self._profiles.get(profile)
            if profiles is None:
                profiles = self._profiles[profile] = [profile]
            meta["profile"] = profiles
        if linked and self.security is not None:
            meta["security"] = self.security
        if meta:
            res["meta"] = meta
        return res


def has_episode_of_care(episode: Episode) -> bool:
    """Whether the episode becomes an EpisodeOfCare: it has a status, or data that lives
    only there (program, admission, discharge, referral, care manager)."""
    return episode.status is not None or any(
        v is not None
        for v in (
            episode.program,
            episode.admission,
            episode.discharge,
            episode.referral,
            episode.care_manager,
        )
    )


@cache
def project_concept(system_name: str, key: str) -> dict[str, Any]:
    """A CodeableConcept with one coding of a project code system (display from the data);
    one shared object per code."""
    return concept(lookup_concept(system_name, key))
