"""The people and organizations of an IOP episode: patient, clinicians, supports, teams.

Clinicians (:class:`Practitioner`) keep their identifiers (NPI) across the inpatient
record, the IOP and aftercare, so the same person is recognised in every record.
Family members and other supports (:class:`Support`) become FHIR RelatedPersons.
A :class:`Team` lists who plays which role; members are named by key (a person, an
organization, or another team). A :class:`Location` is a place care happens (a clinic
site, a group room): sessions name where they took place.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from iopfhir.domain.common import Code, Day, Gender, HumanName, Identifier, Key, Model, Period
from iopfhir.domain.vocabulary import Relationship, RoleKey

__all__ = [
    "Location",
    "Organization",
    "Patient",
    "Practitioner",
    "Support",
    "Team",
    "TeamMember",
]


def _legacy_role_schema(schema: dict[str, Any]) -> None:
    """The episode-file schema still takes ``role`` / ``role_code`` (one role, as older
    files have it); the model reads them as the first of ``roles`` / ``role_codes``."""
    props = schema.setdefault("properties", {})
    roles = props.get("roles", {}).get("items", {})
    props["role"] = {
        "anyOf": [{**roles}, {"type": "null"}],
        "description": "One role (older files): read as the first of roles.",
    }
    props["role_code"] = {
        "anyOf": [{**props.get("role_codes", {}).get("items", {})}, {"type": "null"}],
        "description": "One foreign role (older files): read as the first of role_codes.",
    }


def _reference_only(item: Model, fields: tuple[str, ...]) -> None:
    """A record known only by a conditional reference has an identifier and nothing else."""
    if not getattr(item, "identifiers", None):
        raise ValueError("@identifiers: a reference-only record needs its identifier")
    for name in fields:
        if getattr(item, name) not in (None, []):
            raise ValueError(f"@{name}: a reference-only record holds only its identifier")


class Patient(Model):
    """The person in the program: identifiers and minimal demographics."""

    key: Key = "patient"
    identifiers: list[Identifier] = Field(min_length=1)
    name: HumanName | None = None
    birth_date: Day | None = None
    gender: Gender | None = None
    phone: str | None = None


class Organization(Model):
    """A provider organization, program site, referral source or aftercare provider.

    ``reference_only``: known only from a conditional reference to a record the input did
    not hold (``Organization?identifier=<system>|<value>``, as Synthea writes to the
    hospitals of another file): written as that reference again, never as a resource; it
    has an identifier and nothing else."""

    key: Key
    name: str | None = Field(default=None, min_length=1)
    identifiers: list[Identifier] = Field(default_factory=list)
    phone: str | None = None
    kind: Literal["provider", "community", "crisis-line"] | None = None
    reference_only: bool = False

    @model_validator(mode="after")
    def _reference(self) -> Organization:
        if self.reference_only:
            _reference_only(self, ("name", "phone", "kind"))
        elif self.name is None:
            raise ValueError("@name: an organization has a name")
        return self


class Practitioner(Model):
    """A clinician or staff member (therapist, psychiatrist, case manager, peer specialist...).

    ``roles`` are the person's disciplines in this episode (package role keys, in order);
    ``role_codes`` carry roles from foreign data that have no key here. A practitioner may
    hold several (a psychiatrist who is also the addiction specialist). The role played on
    a team is on :class:`TeamMember`.

    Files written before several roles existed say ``role`` / ``role_code`` (one role):
    both are still read, as the first of ``roles`` / ``role_codes``, and ``role`` /
    ``role_code`` stay readable as properties (the first of each list).
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_extra=_legacy_role_schema,
    )

    key: Key
    name: HumanName | None = None
    identifiers: list[Identifier] = Field(default_factory=list)
    roles: list[RoleKey] = Field(default_factory=list)
    role_codes: list[Code] = Field(default_factory=list)
    organization: Key | None = None
    phone: str | None = None
    email: str | None = None
    #: known only from a conditional reference (``Practitioner?identifier=<system>|<value>``)
    #: to a record the input did not hold: written as that reference, never as a resource
    reference_only: bool = False
    #: written with a PractitionerRole, through which every reference goes (the default);
    #: ``False``: read from data that had none, so none is written and references name
    #: the Practitioner itself (roles and organization live on a PractitionerRole)
    with_role: bool = True

    @model_validator(mode="after")
    def _reference(self) -> Practitioner:
        if self.reference_only:
            fields = ("name", "roles", "role_codes", "organization", "phone", "email")
            _reference_only(self, fields)
        if not self.with_role and (self.roles or self.role_codes or self.organization):
            raise ValueError("@with_role: roles and an organization need the PractitionerRole")
        return self

    @model_validator(mode="before")
    @classmethod
    def _legacy_role(cls, data: Any) -> Any:
        """``role`` / ``role_code`` (one role, as files had it) → the head of the lists."""
        if not isinstance(data, dict) or ("role" not in data and "role_code" not in data):
            return data
        data = dict(data)
        role, role_code = data.pop("role", None), data.pop("role_code", None)
        if role is not None and role_code is not None:
            raise ValueError("@role_code: a practitioner has a role or a role_code, not both")
        if role is not None:
            data["roles"] = [role, *data.get("roles", [])]
        if role_code is not None:
            data["role_codes"] = [role_code, *data.get("role_codes", [])]
        return data

    @property
    def role(self) -> str | None:
        """The first role key (what files with one ``role`` hold)."""
        return self.roles[0] if self.roles else None

    @property
    def role_code(self) -> Code | None:
        """The first foreign role code."""
        return self.role_codes[0] if self.role_codes else None


class Support(Model):
    """A family member, friend, sponsor or other support person (FHIR RelatedPerson)."""

    key: Key
    name: HumanName
    relationship: Relationship | None = None
    phone: str | None = None
    identifiers: list[Identifier] = Field(default_factory=list)


class Location(Model):
    """A place where care is given (FHIR Location): a clinic site, a hospital, a room."""

    key: Key
    name: str | None = Field(default=None, min_length=1)
    identifiers: list[Identifier] = Field(default_factory=list)
    status: Literal["active", "suspended", "inactive"] | None = None
    organization: Key | None = None
    phone: str | None = None
    #: known only from a conditional reference (``Location?identifier=<system>|<value>``)
    reference_only: bool = False

    @model_validator(mode="after")
    def _reference(self) -> Location:
        if self.reference_only:
            _reference_only(self, ("name", "status", "organization", "phone"))
        return self


class TeamMember(Model):
    """One participant of a team: who (a practitioner, support, patient, organization or
    another team's key) and in which role. ``role`` is a package role key; ``role_code``
    carries a role from foreign data that has no key here."""

    member: Key
    role: RoleKey | None = None
    role_code: Code | None = None
    period: Period | None = None

    @model_validator(mode="after")
    def _one_role(self) -> TeamMember:
        if self.role is not None and self.role_code is not None:
            raise ValueError("@role_code: a team member has a role or a role_code, not both")
        return self


class Team(Model):
    """The multidisciplinary care team (FHIR CareTeam)."""

    key: Key
    name: str | None = None
    status: Literal["proposed", "active", "suspended", "inactive", "entered-in-error"] | None = (
        "active"
    )
    organization: Key | None = None
    members: list[TeamMember] = Field(default_factory=list)
    period: Period | None = None
