"""FHIR R4 Patient, Organization, Practitioner (+ PractitionerRole), RelatedPerson,
Location → the episode's patient, organizations, practitioners, supports and locations.

The counterpart of :mod:`iopfhir.fhir.build.people`. Organizations, practitioners and
supports are read when something first refers to them (:func:`person_key`,
:func:`org_key`, :func:`member_key` give the key of what a reference names and add it to
the episode on first use), so the order of first reference decides who gets a wanted key
first; the assembly puts them back in input order afterwards. A practitioner's roles
(every ``PractitionerRole.code``) and organization come from the PractitionerRole a
reference went through, else from this episode's role (``practitionerrole`` →
``<episode>/<key>``), else the first one.
Practitioners and organizations of the episode that nothing references are found by those
identifiers (:func:`read_unreferenced`). Every Practitioner, PractitionerRole, Organization
and Location an episode takes is marked in the index (``Index.used``), so the reader can
count those no episode took as unmapped.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`
and the reader's ``_context``, ``source`` and ``values``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from iopfhir.domain import (
    Code,
    HumanName,
    Identifier,
    Location,
    Organization,
    Patient,
    Practitioner,
    Support,
)
from iopfhir.fhir.conventions import REFERENCE_KIND, identifier_system
from iopfhir.fhir.read._context import Context
from iopfhir.fhir.read.concepts import read_code
from iopfhir.fhir.read.held import note_unheld
from iopfhir.fhir.read.index import reference_of
from iopfhir.fhir.read.keys import url_tail
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import (
    as_list,
    codings,
    email,
    first_code,
    human_name,
    identifiers,
    note,
    note_telecoms,
    own_key_or_none,
    parse_date,
    phone,
    text,
)
from iopfhir.terminology import relationship_key, role_key

#: the ``unmapped`` reason of a Practitioner, PractitionerRole, Organization or Location
#: that no episode took (``<type>: <reason>``)
NOT_TAKEN = "taken by no episode (dropped)"

__all__ = [
    "NOT_TAKEN",
    "entry_person_key",
    "location_key",
    "member_key",
    "org_key",
    "person_key",
    "practitioner_key",
    "read_location",
    "read_organization",
    "read_patient",
    "read_practitioner",
    "read_support",
    "read_unreferenced",
]

#: the administrative-gender codes the domain takes
GENDERS = frozenset({"male", "female", "other", "unknown"})


def read_patient(ctx: Context) -> Patient:
    """The episode's Patient (a placeholder naming the reference when the input lacks it)."""
    entry = ctx.group.patient
    if entry is None:
        ref = ctx.group.reference or "unknown"
        ctx.patient_key = ctx.keys["people"].take("patient")
        return Patient(
            key=ctx.patient_key,
            identifiers=[Identifier(system=identifier_system(REFERENCE_KIND), value=ref)],
        )
    res = entry.resource
    note_unheld(res, "Patient")
    note_telecoms(res, "Patient.telecom")
    own = own_key_or_none(res, "patient")
    if own is not None:
        preferred = own[1]
    elif ctx.ours:
        preferred = "patient"
    else:
        preferred = entry.id or url_tail(entry.full_url) or "patient"
    ctx.patient_key = ctx.keys["people"].take(preferred)
    ctx.key_of[("people", id(entry))] = ctx.patient_key
    own_system = identifier_system("patient")
    idents = [i for i in identifiers(res, "Patient.identifier") if i.system != own_system]
    if not idents:
        value = entry.full_url or (f"Patient/{entry.id}" if entry.id else "Patient")
        idents = [Identifier(system=identifier_system(REFERENCE_KIND), value=value)]
    gender = res.get("gender")
    if gender is not None and not isinstance(gender, str):  # no code: cannot be looked up
        note("Patient.gender", "not a code (dropped)")
        gender = None
    elif gender is not None and gender not in GENDERS:
        note("Patient.gender", "not an administrative-gender code (dropped)")
    return Patient(
        key=ctx.patient_key,
        identifiers=idents,
        name=human_name(res, "Patient.name"),
        birth_date=parse_date(res.get("birthDate"), "Patient.birthDate"),
        gender=gender if gender in GENDERS else None,
        phone=phone(res),
    )


def org_key(ctx: Context, ref: Any, at: Entry) -> str | None:
    """Key of the Organization a reference (found in ``at``) names (added on first use)."""
    entry = ctx.resolve(ref, at)
    if entry is None:
        return _reference_only(ctx, ref, "Organization")
    if entry.type != "Organization":
        return None
    return read_organization(ctx, entry)


def _reference_only(ctx: Context, ref: Any, rtype: str) -> str | None:
    """Key of the record a conditional reference ``<rtype>?identifier=<system>|<value>``
    names when the input does not hold it (a reference-only practitioner or organization:
    written back as the same reference), else ``None``."""
    text_ref = reference_of(ref)
    if text_ref is None or not text_ref.startswith(f"{rtype}?"):
        return None
    found = ctx.reference_only.get(text_ref)
    if found is not None:
        return found
    values = parse_qs(text_ref.partition("?")[2]).get("identifier", [])
    system, sep, value = values[0].partition("|") if len(values) == 1 else ("", "", "")
    if not (sep and system and value) or len(parse_qs(text_ref.partition("?")[2])) != 1:
        note(rtype, "conditional reference by something else than one identifier (dropped)")
        return None
    space = {"Organization": "org", "Location": "location"}.get(rtype, "people")
    key = ctx.keys[space].take(value)
    ident = [Identifier(system=system, value=value)]
    if rtype == "Organization":
        ctx.organizations.append(Organization(key=key, identifiers=ident, reference_only=True))
    elif rtype == "Location":
        ctx.locations.append(Location(key=key, identifiers=ident, reference_only=True))
    else:
        ctx.practitioners.append(Practitioner(key=key, identifiers=ident, reference_only=True))
    ctx.reference_only[text_ref] = key
    return key


def read_organization(ctx: Context, entry: Entry) -> str:
    """Key of an Organization entry (added on first use)."""
    if (cached := ctx.key_of.get(("org", id(entry)))) is not None:
        return cached
    ctx.index.used.add(id(entry))
    res = entry.resource
    note_unheld(res, "Organization")
    note_telecoms(res, "Organization.telecom")
    key = ctx.new_key("org", entry, "organization")
    org = Organization(
        key=key,
        name=text(res.get("name")) or "unknown",
        identifiers=[
            i
            for i in identifiers(res, "Organization.identifier")
            if i.system != identifier_system("organization")
        ],
        phone=phone(res),
        kind=read_code(res.get("type"), "organization-kind", "Organization.type"),
    )
    ctx.organizations.append(org)
    return key


def location_key(ctx: Context, ref: Any, at: Entry) -> str | None:
    """Key of the Location a reference (found in ``at``) names (added on first use)."""
    entry = ctx.resolve(ref, at)
    if entry is None:
        return _reference_only(ctx, ref, "Location")
    if entry.type != "Location":
        return None
    return read_location(ctx, entry)


def read_location(ctx: Context, entry: Entry) -> str:
    """Key of a Location entry (added on first use)."""
    if (cached := ctx.key_of.get(("location", id(entry)))) is not None:
        return cached
    ctx.index.used.add(id(entry))
    res = entry.resource
    note_unheld(res, "Location")
    note_telecoms(res, "Location.telecom")
    key = ctx.new_key("location", entry, "location")
    status = res.get("status")
    organization = None
    if res.get("managingOrganization") is not None:
        organization = org_key(ctx, res["managingOrganization"], entry)
    ctx.locations.append(
        Location(
            key=key,
            name=text(res.get("name")),
            identifiers=[
                i
                for i in identifiers(res, "Location.identifier")
                if i.system != identifier_system("location")
            ],
            status=status if status in ("active", "suspended", "inactive") else None,
            organization=organization,
            phone=phone(res),
        )
    )
    return key


def person_key(ctx: Context, ref: Any, at: Entry) -> str | None:
    """Key of the practitioner / support / patient a reference names (added on first use)."""
    entry = ctx.resolve(ref, at)
    if entry is None:
        return _reference_only(ctx, ref, "Practitioner")
    return entry_person_key(ctx, entry)


def entry_person_key(ctx: Context, entry: Entry) -> str | None:
    """:func:`person_key` of a reference already resolved to ``entry`` (found once per
    entry and episode: the answer does not change)."""
    memo = ctx.person_of
    key = id(entry)
    if key in memo:
        return memo[key]
    found = memo[key] = _entry_person_key(ctx, entry)
    return found


def _entry_person_key(ctx: Context, entry: Entry) -> str | None:
    if entry.type == "Patient":
        return ctx.patient_key if entry is ctx.group.patient else None
    if entry.type == "PractitionerRole":
        target = ctx.resolve(entry.resource.get("practitioner"), entry)
        if target is None or target.type != "Practitioner":
            return None
        return read_practitioner(ctx, target, entry)
    if entry.type == "Practitioner":
        return read_practitioner(ctx, entry, None)
    if entry.type == "RelatedPerson":
        return read_support(ctx, entry)
    return None


#: why a reference to a person is not kept: it names nothing of the input (a literal
#: reference to a resource the input does not hold), or something else than the element
#: takes (an organization, the patient where a practitioner is meant)
PERSON_UNRESOLVED = "names no person of the input (dropped)"
NOT_PRACTITIONER = "not a practitioner of the input (dropped)"


def practitioner_key(ctx: Context, ref: Any, at: Entry, path: str) -> str | None:
    """Key of the practitioner ``ref`` (at FHIRPath ``path`` of ``at``) names; anything
    else is counted there and gives ``None``."""
    key = person_key(ctx, ref, at)
    if key is not None and any(p.key == key for p in ctx.practitioners):
        return key
    note(path, PERSON_UNRESOLVED if key is None else NOT_PRACTITIONER)
    return None


def member_key(ctx: Context, ref: Any, at: Entry) -> str | None:
    """Key of a person or, failing that, an organization (care-team members, leads)."""
    return person_key(ctx, ref, at) or org_key(ctx, ref, at)


def read_practitioner(ctx: Context, entry: Entry, role: Entry | None) -> str:
    """Key of a Practitioner entry, read with ``role`` (or the episode's role of it)."""
    if role is not None:  # a reference to the role is one to its practitioner
        ctx.index.used.add(id(role))
    if (cached := ctx.key_of.get(("people", id(entry)))) is not None:
        return cached
    ctx.index.used.add(id(entry))
    roles = ctx.roles_of.get(id(entry), [])
    if role is None and roles:
        # the role of this episode (one per practitioner per episode), else the first
        role = next(
            (
                r
                for r in roles
                if (r.own_key("practitionerrole") or ("",))[0] == ctx.episode_key_hint
            ),
            roles[0],
        )
        ctx.index.used.add(id(role))
    res = entry.resource
    note_unheld(res, "Practitioner")
    note_telecoms(res, "Practitioner.telecom", ("phone", "email"))
    own = entry.own_key("practitioner") or (role.own_key("practitionerrole") if role else None)
    allocator = ctx.keys["people"]
    key = allocator.take(own[1] if own else entry.id or url_tail(entry.full_url) or "x")
    ctx.key_of[("people", id(entry))] = key
    role_keys: list[str] = []
    role_codes: list[Code] = []
    organization: str | None = None
    if role is not None:
        hint = ctx.episode_key_hint
        if hint is not None and (role.own_key("practitionerrole") or ("",))[0] == hint:
            # iopfhir writes one role per practitioner and episode, in the episode's
            # order (the Practitioner itself once, where its first episode has it)
            ctx.own_role_at[key] = ctx.index.position.get(id(role), 0)
        rres = role.resource
        note_unheld(rres, "PractitionerRole")
        role_keys, role_codes = _roles(rres.get("code"))
        if rres.get("organization") is not None:
            organization = org_key(ctx, rres["organization"], role)
    name = human_name(res, "Practitioner.name")  # none stays none (R4 name 0..*)
    ctx.practitioners.append(
        Practitioner(
            key=key,
            name=name,
            identifiers=[
                i
                for i in identifiers(res, "Practitioner.identifier")
                if i.system != identifier_system("practitioner")
            ],
            roles=role_keys,
            role_codes=role_codes,
            organization=organization,
            phone=phone(res),
            email=email(res),
            with_role=role is not None,  # none in the input: none written back
        )
    )
    return key


def _roles(concepts: Any) -> tuple[list[str], list[Code]]:
    """``PractitionerRole.code``: one role per CodeableConcept, a package role key when one
    of its codings has one, else its first coding as a foreign code."""
    keys: list[str] = []
    foreign: list[Code] = []
    for concept in as_list(concepts):
        key = next((k for s, c in codings(concept) if (k := role_key(s, c)) is not None), None)
        if key is not None:
            keys.append(key)
        elif (code := first_code(concept)) is not None:
            foreign.append(code)
    return keys, foreign


def read_support(ctx: Context, entry: Entry) -> str:
    """Key of a RelatedPerson entry (added on first use)."""
    if (cached := ctx.key_of.get(("people", id(entry)))) is not None:
        return cached
    res = entry.resource
    note_unheld(res, "RelatedPerson")
    note_telecoms(res, "RelatedPerson.telecom")
    key = ctx.new_key("people", entry, "relatedperson")
    relationship = None
    for concept in as_list(res.get("relationship")):
        for sys, code in codings(concept):
            relationship = relationship or relationship_key(sys, code)
    name = human_name(res, "RelatedPerson.name")
    if name is None:  # a support has a name in the model: written back as "unknown"
        note("RelatedPerson.name", "missing (read as 'unknown')")
    ctx.supports.append(
        Support(
            key=key,
            name=name or HumanName(family="unknown"),
            relationship=relationship,
            phone=phone(res),
            identifiers=[
                i
                for i in identifiers(res, "RelatedPerson.identifier")
                if i.system != identifier_system("relatedperson")
            ],
        )
    )
    return key


def read_unreferenced(ctx: Context) -> None:
    """Practitioners, organizations and locations of this episode that nothing references:
    found by their ``practitionerrole`` / ``organization`` / ``location`` identifiers
    ``<episode>/<key>``."""
    episode = ctx.episode_key_hint
    if episode is None:
        return
    for entry in ctx.index.tagged(episode):  # by identifier, not a scan of every entry
        if entry.type == "PractitionerRole":
            own = own_key_or_none(entry.resource, "practitionerrole")
            if own is not None and own[0] == episode:
                target = ctx.resolve(entry.resource.get("practitioner"), entry)
                if target is not None and target.type == "Practitioner":
                    ctx.attempt(entry, read_practitioner, ctx, target, entry)
        elif entry.type == "Organization":
            own = own_key_or_none(entry.resource, "organization")
            if own is not None and own[0] == episode:
                ctx.attempt(entry, read_organization, ctx, entry)
        elif entry.type == "Practitioner":  # one without a PractitionerRole
            own = own_key_or_none(entry.resource, "practitioner")
            if own is not None and own[0] == episode:
                ctx.attempt(entry, read_practitioner, ctx, entry, None)
        elif entry.type == "Location":
            own = own_key_or_none(entry.resource, "location")
            if own is not None and own[0] == episode:
                ctx.attempt(entry, read_location, ctx, entry)
