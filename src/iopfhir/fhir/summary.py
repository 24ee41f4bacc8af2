"""A count of what :func:`iopfhir.fhir.read.read_fhir` found, for reports and tests.

:func:`summarize` returns, in this key order::

    {"patients": 1, "episodes": 1, "care_plans": 3, "care_teams": 1, "team_members": 6,
     "sessions": 24, "conditions": 2, "goals": 4, "reviews": 4, "medications": 1,
     "prescriptions": 1, "allergies": 1, "measures": {"phq-9": 5, "gad-7": 5},
     "ignored": {"Claim": 3}}

``episodes`` counts EpisodeOfCare-backed episodes (those with a status); ``team_members``
the distinct members over an episode's care teams (summed over episodes); ``sessions``
the distinct sessions (an Appointment and its Encounter are one); ``reviews`` the dated
team reviews of goals and plans; ``medications`` (MedicationStatement), ``prescriptions``
(MedicationRequest) and ``allergies`` (AllergyIntolerance) what the episodes hold; ``measures`` the
administrations per instrument id (``dast-10``...), already deduplicated by the reader: a
QuestionnaireResponse, a total Observation, a panel with ``hasMember`` or a DiagnosticReport
with its ``result``s, alone or together, is one administration; ``ignored`` the
resources by type that the domain does not take. ``measures`` and ``ignored`` are sorted
by key. Counts only: no patient data.

Imports: :mod:`iopfhir.fhir.read` (its result type) only.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from iopfhir.fhir.read import ImportResult

__all__ = ["summarize"]


def summarize(result: ImportResult) -> dict[str, Any]:
    """Counts of patients, episodes, plans, teams, sessions, conditions, goals, reviews,
    medications, prescriptions, allergies and measures."""
    measures: Counter[str] = Counter()
    team_members = 0
    for episode in result.episodes:
        team_members += len({m.member for team in episode.teams for m in team.members})
        measures.update(m.instrument for m in episode.measures)
    return {
        "patients": result.patients,
        "episodes": sum(1 for e in result.episodes if e.status is not None),
        "care_plans": sum(len(e.care_plans) for e in result.episodes),
        "care_teams": sum(len(e.teams) for e in result.episodes),
        "team_members": team_members,
        "sessions": sum(len(e.sessions) for e in result.episodes),
        "conditions": sum(len(e.diagnoses) for e in result.episodes),
        "goals": sum(len(e.goals) for e in result.episodes),
        "reviews": sum(len(e.reviews) for e in result.episodes),
        "medications": sum(len(e.medications) for e in result.episodes),
        "prescriptions": sum(len(e.prescriptions) for e in result.episodes),
        "allergies": sum(len(e.allergies) for e in result.episodes),
        "measures": dict(sorted(measures.items())),
        "ignored": dict(sorted(result.ignored.items())),
    }
