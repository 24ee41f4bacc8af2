"""A count of what :func:`iopfhir.fhir.read.read_fhir` found, for reports and tests.

:func:`summarize` returns, in this key order::

    {"patients": 1, "episodes": 1, "care_plans": 3, "care_teams": 1, "team_members": 6,
     "sessions": 24, "conditions": 2, "goals": 4, "reviews": 4, "medications": 1,
     "prescriptions": 1, "allergies": 1, "measures": {"phq-9": 5, "gad-7": 5},
     "ignored": {"Claim": 3},
     "unmapped": {"Goal": {"Goal.target: not an instrument score (dropped)": 1}}}

``episodes`` counts EpisodeOfCare-backed episodes (those with a status); ``team_members``
the distinct members over an episode's care teams (summed over episodes); ``sessions``
the distinct sessions (an Appointment and its Encounter are one); ``reviews`` the dated
team reviews of goals and plans; ``medications`` (MedicationStatement), ``prescriptions``
(MedicationRequest) and ``allergies`` (AllergyIntolerance) what the episodes hold; ``measures`` the
administrations per instrument id (``dast-10``...), already deduplicated by the reader: a
QuestionnaireResponse, a total Observation, a panel with ``hasMember`` or a DiagnosticReport
with its ``result``s, alone or together, is one administration; ``ignored`` the
resources by type that the domain does not take; ``unmapped`` (on request) what of the
types it takes could not be mapped or not as written, by resource type (``$`` for the
input itself), then by FHIRPath and reason (``ImportResult.warnings``). ``measures``,
``ignored`` and ``unmapped`` are sorted by key. Counts only: no patient data.

Imports: :mod:`iopfhir.domain` (the Episode) and :mod:`iopfhir.fhir.read` (its result type).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from iopfhir.domain import Episode
from iopfhir.fhir.read import ImportResult

__all__ = ["summarize"]


def summarize(
    result: ImportResult, episodes: Iterable[Episode] | None = None, *, unmapped: bool = False
) -> dict[str, Any]:
    """Counts of patients, episodes, plans, teams, sessions, conditions, goals, reviews,
    medications, prescriptions, allergies and measures.

    ``episodes``: the episodes to count instead of ``result.episodes``, read once (the
    streaming reader's iterator: ``result``'s counts are read after it is exhausted).
    ``unmapped``: add what was not mapped (``iopfhir import --summary`` does)."""
    measures: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for episode in result.episodes if episodes is None else episodes:
        totals["team_members"] += len({m.member for team in episode.teams for m in team.members})
        measures.update(m.instrument for m in episode.measures)
        totals["episodes"] += episode.status is not None
        for name, part in (
            ("care_plans", episode.care_plans),
            ("care_teams", episode.teams),
            ("sessions", episode.sessions),
            ("conditions", episode.diagnoses),
            ("goals", episode.goals),
            ("reviews", episode.reviews),
            ("medications", episode.medications),
            ("prescriptions", episode.prescriptions),
            ("allergies", episode.allergies),
        ):
            totals[name] += len(part)
    out = {
        "patients": result.patients,
        "episodes": totals["episodes"],
        "care_plans": totals["care_plans"],
        "care_teams": totals["care_teams"],
        "team_members": totals["team_members"],
        "sessions": totals["sessions"],
        "conditions": totals["conditions"],
        "goals": totals["goals"],
        "reviews": totals["reviews"],
        "medications": totals["medications"],
        "prescriptions": totals["prescriptions"],
        "allergies": totals["allergies"],
        "measures": dict(sorted(measures.items())),
        "ignored": dict(sorted(result.ignored.items())),
    }
    if unmapped:
        out["unmapped"] = _unmapped(result)
    return out


def _unmapped(result: ImportResult) -> dict[str, dict[str, int]]:
    """What was seen but not taken as written, by resource type, then by ``"<FHIRPath>:
    <reason>"`` (reasons name types and rules, never data); both levels sorted."""
    out: dict[str, dict[str, int]] = {}
    for warning in result.warnings:
        rtype = warning.path.split(".", 1)[0]
        out.setdefault(rtype, {})[f"{warning.path}: {warning.reason}"] = warning.count
    return {t: dict(sorted(r.items())) for t, r in sorted(out.items())}
