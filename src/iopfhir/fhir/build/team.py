"""Care teams → FHIR R4 CareTeam (US Core shape: every participant has a role and a member).

A member is referenced through their PractitionerRole (practitioners), RelatedPerson
(supports), the Patient, the Organization, or the member team's CareTeam. A member without a
role gets a role holding only a data-absent-reason extension, because US Core makes
``participant.role`` 1..1 and inventing a role would be worse.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`.
"""

from __future__ import annotations

from typing import Any

from iopfhir.domain import Team
from iopfhir.fhir.build._context import (
    DATA_ABSENT,
    Context,
    Entry,
    code_concept,
    concept,
    fhir_period,
)
from iopfhir.fhir.conventions import PROFILE
from iopfhir.terminology import role_coding

__all__ = ["team_to_fhir"]


def _team_ref(ctx: Context, key: str) -> dict[str, str]:
    """A reference to another team of the episode (a team can be a member: R4 allows it)."""
    if not any(t.key == key for t in ctx.episode.teams):
        raise KeyError(key)
    return ctx.ref("CareTeam", ctx.local_url("CareTeam", "careteam", key))


def team_to_fhir(ctx: Context, team: Team) -> Entry:
    """The CareTeam of ``team``."""
    url = ctx.local_url("CareTeam", "careteam", team.key)
    # iop-careteam (US Core) needs a participant: a team without members claims no profile
    profile = PROFILE.CARETEAM if team.members else None
    res = ctx.head("CareTeam", url, profile, linked=True)
    res["identifier"] = [ctx.identifier("careteam", team.key)]
    if team.status is not None:
        res["status"] = team.status
    if team.name:
        res["name"] = team.name
    res["subject"] = ctx.patient_ref
    if team.period is not None:
        res["period"] = fhir_period(team.period)
    participants = []
    for member in team.members:
        part: dict[str, Any] = {}
        if member.role is not None:
            part["role"] = [concept(role_coding(member.role))]
        elif member.role_code is not None:
            part["role"] = [code_concept(member.role_code)]
        else:
            part["role"] = DATA_ABSENT
        part["member"] = (
            ctx.person_ref.get(member.member)
            or ctx.org_ref.get(member.member)
            or _team_ref(ctx, member.member)
        )
        if member.period is not None:
            part["period"] = fhir_period(member.period)
        participants.append(part)
    if participants:
        res["participant"] = participants
    if team.organization is not None:
        res["managingOrganization"] = [ctx.org_ref[team.organization]]
    return url, res
