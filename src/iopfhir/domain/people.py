"""The people and organizations of an IOP episode: patient, clinicians, supports, teams.

Clinicians (:class:`Practitioner`) keep their identifiers (NPI) across the inpatient
record, the IOP and aftercare, so the same person is recognised in every record.
Family members and other supports (:class:`Support`) become FHIR RelatedPersons.
A :class:`Team` lists who plays which role; members are named by key.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from iopfhir.domain.common import Code, Gender, HumanName, Identifier, Key, Model, Period
from iopfhir.domain.vocabulary import Relationship, RoleKey

__all__ = ["Organization", "Patient", "Practitioner", "Support", "Team", "TeamMember"]


class Patient(Model):
    """The person in the program: identifiers and minimal demographics."""

    key: Key = "patient"
    identifiers: list[Identifier] = Field(min_length=1)
    name: HumanName | None = None
    birth_date: date | None = None
    gender: Gender | None = None
    phone: str | None = None


class Organization(Model):
    """A provider organization, program site, referral source or aftercare provider."""

    key: Key
    name: str = Field(min_length=1)
    identifiers: list[Identifier] = Field(default_factory=list)
    phone: str | None = None
    kind: Literal["provider", "community", "crisis-line"] | None = None


class Practitioner(Model):
    """A clinician or staff member (therapist, psychiatrist, case manager, peer specialist...).

    ``role`` is the person's discipline; the role played on a team is on :class:`TeamMember`.
    """

    key: Key
    name: HumanName
    identifiers: list[Identifier] = Field(default_factory=list)
    role: RoleKey | None = None
    role_code: Code | None = None
    organization: Key | None = None
    phone: str | None = None
    email: str | None = None

    @model_validator(mode="after")
    def _one_role(self) -> Practitioner:
        if self.role is not None and self.role_code is not None:
            raise ValueError("@role_code: a practitioner has a role or a role_code, not both")
        return self


class Support(Model):
    """A family member, friend, sponsor or other support person (FHIR RelatedPerson)."""

    key: Key
    name: HumanName
    relationship: Relationship | None = None
    phone: str | None = None
    identifiers: list[Identifier] = Field(default_factory=list)


class TeamMember(Model):
    """One participant of a team: who (a practitioner, support, patient or organization key)
    and in which role. ``role`` is a package role key; ``role_code`` carries a role from
    foreign data that has no key here."""

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
