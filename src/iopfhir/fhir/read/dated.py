"""The day a resource happened on, and whether an EpisodeOfCare's period holds it: how a
patient's resource that links to no episode of the input finds its episode.

A partial or incremental export (``_since``, a few resource types) often holds sessions
and scores whose ``Encounter.episodeOfCare`` names an EpisodeOfCare it does not carry, or
none at all; with several episodes of the patient in the input, such a resource goes to
the episode whose period holds its day (the first one, in input order), and only when no
period holds it to the first episode.

Days are compared as R4 writes them (``YYYY-MM-DD``, the first ten characters of a date
or dateTime): no time zone is guessed, a year or a month alone places nothing.

Imports: the reader's ``values``.
"""

from __future__ import annotations

from typing import Any, Final

from iopfhir.fhir.read.values import as_dict

__all__ = ["episode_days", "resource_day"]

#: per resource type: the elements giving its day, in order (a period's ``start``)
_DAY_OF: Final[dict[str, tuple[str, ...]]] = {
    "Encounter": ("period",),
    "Appointment": ("start",),
    "Observation": ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued"),
    "QuestionnaireResponse": ("authored",),
    "DiagnosticReport": ("effectiveDateTime", "effectivePeriod", "issued"),
    "CarePlan": ("period", "created"),
    "Goal": ("startDate",),
    "ServiceRequest": ("occurrenceDateTime", "occurrencePeriod", "authoredOn"),
    "Flag": ("period",),
    "RiskAssessment": ("occurrenceDateTime", "occurrencePeriod"),
    "Condition": ("onsetDateTime", "onsetPeriod", "recordedDate"),
    "MedicationRequest": ("authoredOn",),
    "MedicationStatement": ("effectiveDateTime", "effectivePeriod", "dateAsserted"),
    "Provenance": ("occurredDateTime", "occurredPeriod", "recorded"),
}


def _day(value: Any) -> str | None:
    """``YYYY-MM-DD`` of a date, dateTime or instant (or of a Period's start)."""
    if isinstance(value, dict):
        value = value.get("start")
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        return value[:10]
    return None


def resource_day(rtype: str, resource: dict[str, Any]) -> str | None:
    """The day ``resource`` (of type ``rtype``) happened on, when it gives one."""
    for element in _DAY_OF.get(rtype, ()):
        day = _day(resource.get(element))
        if day is not None:
            return day
    return None


def episode_days(resource: dict[str, Any]) -> tuple[str, str | None] | None:
    """An EpisodeOfCare's first and last day (``None``: still open), or ``None`` when it
    gives no start."""
    period = as_dict(resource.get("period"))
    start = _day(period.get("start"))
    if start is None:
        return None
    return start, _day(period.get("end"))
