"""Patient, organizations, locations, practitioners (+ their roles) and supports → FHIR R4.

Patient, Organization and Practitioner keep their own identifiers first (MRN, NPI), so the
same person or organization gets the same full URL in every episode and a bundle of
several episodes holds it once. Every practitioner also gets a PractitionerRole per
episode (identifier ``practitionerrole`` → ``<episode>/<key>``): it carries the role and
the organization, and every reference to a practitioner goes through it (except
``Annotation.authorReference``, which R4 does not allow to point to a role); one read from
data that had no PractitionerRole (``with_role`` false) gets none, and is referenced
directly.

A practitioner or organization that is ``reference_only`` (known from a conditional
reference to a record the input lacked) is no resource: every reference to it is that
conditional reference again, ``<Type>?identifier=<system>|<value>`` (``_context.conditional_ref``).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`.
"""

from __future__ import annotations

from iopfhir.domain import Location, Organization, Practitioner, Support, date_text
from iopfhir.fhir.build._context import (
    DATA_ABSENT,
    Context,
    Entry,
    code_concept,
    concept,
    conditional_ref,
    fhir_name,
    project_concept,
    telecom,
)
from iopfhir.fhir.conventions import PROFILE
from iopfhir.terminology import relationship_coding, role_coding

__all__ = [
    "location_ref",
    "location_to_fhir",
    "organization_to_fhir",
    "patient_to_fhir",
    "practitioner_role_to_fhir",
    "practitioner_to_fhir",
    "support_to_fhir",
]


def patient_to_fhir(ctx: Context) -> Entry:
    """The Patient: own identifiers, then ``patient`` → ``<episode>/<key>``."""
    patient = ctx.episode.patient
    res = ctx.head("Patient", ctx.patient_url, PROFILE.PATIENT, linked=True)
    res["identifier"] = ctx.patient_identifiers
    # US Core needs a name and a gender: an unknown one is a data-absent-reason, read back
    # as None (never a made-up value)
    res["name"] = fhir_name(patient.name) if patient.name is not None else DATA_ABSENT
    if patient.phone:
        res["telecom"] = telecom(patient.phone)
    if patient.gender is not None:
        res["gender"] = patient.gender
    else:
        res["_gender"] = DATA_ABSENT[0]
    if patient.birth_date is not None:
        res["birthDate"] = date_text(patient.birth_date)
    return ctx.patient_url, res


def organization_to_fhir(ctx: Context, org: Organization) -> Entry:
    """An Organization: own identifiers, then ``organization`` → ``<episode>/<key>``."""
    url = ctx.org_url[org.key]
    res = ctx.head("Organization", url, None, linked=False)
    res["identifier"] = ctx.org_identifiers[org.key]
    if org.kind is not None:
        res["type"] = [project_concept("organization-kind", org.kind)]
    if org.name:
        res["name"] = org.name
    if org.phone:
        res["telecom"] = telecom(org.phone)
    return url, res


def _location_identity(ctx: Context, place: Location) -> tuple[str, list[dict[str, str]]]:
    """Own identifiers first, then ``location`` → ``<episode>/<key>``; the full URL from
    the first (as an Organization's)."""
    return ctx.location_identity[place.key]


def location_ref(ctx: Context, key: str) -> dict[str, str]:
    """A reference to the episode's location ``key`` (``KeyError`` when there is none)."""
    place = next((p for p in ctx.episode.locations if p.key == key), None)
    if place is None:
        raise KeyError(key)
    if place.reference_only:
        return conditional_ref("Location", place)
    return ctx.ref("Location", _location_identity(ctx, place)[0])


def location_to_fhir(ctx: Context, place: Location) -> Entry:
    """A Location: own identifiers, then ``location`` → ``<episode>/<key>``; status, name,
    telecom phone, managingOrganization."""
    url, idents = _location_identity(ctx, place)
    res = ctx.head("Location", url, None, linked=False)
    res["identifier"] = idents
    if place.status is not None:
        res["status"] = place.status
    if place.name:
        res["name"] = place.name
    if place.phone:
        res["telecom"] = telecom(place.phone)
    if place.organization is not None:
        res["managingOrganization"] = ctx.org_ref[place.organization]
    return url, res


def practitioner_to_fhir(ctx: Context, prac: Practitioner) -> Entry:
    """A Practitioner: own identifiers, or ``practitioner`` → ``<episode>/<key>`` without."""
    url = ctx.practitioner_url[prac.key]
    res = ctx.head("Practitioner", url, None, linked=False)
    res["identifier"] = ctx.practitioner_identifiers[prac.key]
    if prac.name is not None:
        res["name"] = fhir_name(prac.name)
    if prac.phone or prac.email:
        res["telecom"] = telecom(prac.phone, prac.email)
    return url, res


def practitioner_role_to_fhir(ctx: Context, prac: Practitioner) -> Entry:
    """The practitioner's PractitionerRole in this episode: organization and every role
    they hold (``code``, 0..*: a practitioner with several roles keeps one PractitionerRole,
    so every reference to them stays the same)."""
    url = ctx.role_url[prac.key]
    res = ctx.head("PractitionerRole", url, None, linked=False)
    res["identifier"] = [ctx.identifier("practitionerrole", prac.key)]
    res["practitioner"] = ctx.practitioner_ref[prac.key]
    if prac.organization is not None:
        res["organization"] = ctx.org_ref[prac.organization]
    # every role is one CodeableConcept: package roles first, then foreign ones, in order
    # (the reader sorts them back by whether a role has a package key)
    roles = [concept(role_coding(r)) for r in prac.roles]
    roles += [code_concept(c) for c in prac.role_codes]
    if roles:
        res["code"] = roles
    return url, res


def support_to_fhir(ctx: Context, support: Support) -> Entry:
    """A RelatedPerson: ``relatedperson`` → ``<episode>/<key>``, then own identifiers."""
    url = ctx.support_url[support.key]
    res = ctx.head("RelatedPerson", url, None, linked=True)
    res["identifier"] = [
        ctx.identifier("relatedperson", support.key),
        *({"system": i.system, "value": i.value} for i in support.identifiers),
    ]
    res["patient"] = ctx.patient_ref
    if support.relationship is not None:
        res["relationship"] = [concept(relationship_coding(support.relationship))]
    res["name"] = fhir_name(support.name)
    if support.phone:
        res["telecom"] = telecom(support.phone)
    return url, res
