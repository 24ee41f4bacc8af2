"""FHIR R4 CareTeam → a :class:`~iopfhir.domain.Team` of the episode.

The counterpart of :mod:`iopfhir.fhir.build.team`. Members are practitioners (through
their PractitionerRole or directly), supports, the patient, organizations or another
CareTeam of the episode that has members; a
participant whose member cannot be resolved is counted, not kept. A role is the package's
role key when its coding is known, else kept as a foreign ``role_code``; a role with no
coding of a system and a code (a text only) is counted, as it is written back unknown. The
Team holds one organization (the first ``managingOrganization``; the others are counted).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology` and the reader's ``_context``,
``people``, ``source`` and ``values``.
"""

from __future__ import annotations

from typing import Any

from iopfhir.domain import Team, TeamMember
from iopfhir.fhir.read._context import Context
from iopfhir.fhir.read.held import note_unheld
from iopfhir.fhir.read.people import member_key, org_key
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import as_list, codings, first_code, parse_period, text
from iopfhir.terminology import role_key

__all__ = ["read_team"]


def _team_key(ctx: Context, ref: Any, at: Entry) -> str | None:
    """Key of another CareTeam of this episode that is a member (R4 allows a team)."""
    target = ctx.resolve(ref, at)
    if target is None or target.type != "CareTeam" or target is at:
        return None
    if not any(e is target for e in ctx.entries):
        return None
    if not as_list(target.resource.get("participant")):  # no members: no IopCareTeam
        return None
    return ctx.new_key("teams", target, "careteam")


def read_team(ctx: Context, entry: Entry) -> None:
    """A CareTeam, added to the episode's teams."""
    res = entry.resource
    note_unheld(res, "CareTeam")
    key = ctx.new_key("teams", entry, "careteam")
    members = []
    for part in as_list(res.get("participant")):
        if not isinstance(part, dict) or part.get("member") is None:
            ctx.unmapped["CareTeam.participant: no member (dropped)"] += 1
            continue
        member = member_key(ctx, part["member"], entry) or _team_key(ctx, part["member"], entry)
        if member is None:
            ctx.unmapped[
                "CareTeam.participant.member: names no resource of the input (dropped)"
            ] += 1
            continue
        role, role_code = None, None
        for concept in as_list(part.get("role")):
            for sys, code in codings(concept):
                role = role or role_key(sys, code)
        if role is None:
            role_code = first_code(part.get("role"), "CareTeam.participant.role")
            if role_code is None and _said(part.get("role")):
                # a role given as text (``self``, ``sponsor``): written back as unknown
                ctx.unmapped[_UNCODED_ROLE] += 1
        members.append(
            TeamMember(
                member=member,
                role=role,
                role_code=role_code,
                period=parse_period(part.get("period"), "CareTeam.participant.period"),
            )
        )
    status = res.get("status")
    organization = None
    managing = as_list(res.get("managingOrganization"))
    for ref in managing[:1]:
        organization = org_key(ctx, ref, entry)
    if len(managing) > 1:  # the Team holds one organization
        _count_more_organizations(ctx, managing, entry)
    ctx.teams.append(
        Team(
            key=key,
            name=text(res.get("name")),
            status=status
            if status in ("proposed", "active", "suspended", "inactive", "entered-in-error")
            else None,
            organization=organization,
            members=members,
            period=parse_period(res.get("period"), "CareTeam.period"),
        )
    )


#: ``unmapped`` reason of a participant role that no coding says
_UNCODED_ROLE = "CareTeam.participant.role: no coding with a system and a code (dropped)"


def _said(concepts: Any) -> bool:
    """Whether a concept of ``concepts`` says something (a text, a coding): a concept with
    only a data-absent-reason extension (iopfhir's own unknown role) says nothing."""
    return any(
        isinstance(c, dict) and (c.get("text") or c.get("coding")) for c in as_list(concepts)
    )


def _count_more_organizations(ctx: Context, refs: list[Any], entry: Entry) -> None:
    """Count the ``managingOrganization`` after the first that name another resource
    than the first (the Team holds one organization; the first named again is no other)."""
    first = ctx.resolve(refs[0], entry)
    others = 0
    for ref in refs[1:]:
        target = ctx.resolve(ref, entry)
        if target is None or target is not first:
            others += 1
    if others:
        ctx.unmapped["CareTeam.managingOrganization: after the first (dropped)"] += others
