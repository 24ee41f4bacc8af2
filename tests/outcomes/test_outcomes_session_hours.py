"""Session hours come from the whole dateTimes, their offsets honoured: a session written in
UTC that crosses midnight (an evening group in the Americas) is as long as it was, not
negative; start and end written with different offsets give the time between them.

Patient P, episode 2025-03-03 .. 03-30 (four whole weeks), finished session Encounters:

* week 0: 03-04 23:00Z .. 03-05 02:00Z (180 min, across midnight UTC); 03-05 18:00 .. 21:30
  at -05:00 (210);
* week 1: 03-11 22:30-05:00 .. 03-12 04:30Z (60: the start is 03:30Z); 03-12 09:00:00.500 ..
  10:30:00.250 at +01:00 (90: fractions of a second left out);
* week 2: 03-18 12:00Z .. 11:00Z (ends before it starts: 0); 03-19 with dates only (0);
* week 3: 03-25 10:00 .. 13:00 with no offset (180).

720 minutes: 3.0 hours a week on average over the four whole weeks.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pytest
from tests.outcomes.cohort import SK, _episode, _patient
from tests.outcomes.reference import compute as reference

from iopfhir.outcomes import compute
from iopfhir.outcomes.report import report_data
from iopfhir.views import Source, get_engine

SESSIONS = [
    ("2025-03-04T23:00:00Z", "2025-03-05T02:00:00Z"),
    ("2025-03-05T18:00:00-05:00", "2025-03-05T21:30:00-05:00"),
    ("2025-03-11T22:30:00-05:00", "2025-03-12T04:30:00Z"),
    ("2025-03-12T09:00:00.500+01:00", "2025-03-12T10:30:00.250+01:00"),
    ("2025-03-18T12:00:00Z", "2025-03-18T11:00:00Z"),
    ("2025-03-19", "2025-03-19"),
    ("2025-03-25T10:00:00", "2025-03-25T13:00:00"),
]
#: hours by program week (the report's table behind the hours chart)
WEEKS = {0: 6.5, 1: 2.5, 2: 0.0, 3: 3.0}


def cohort() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        _patient("P", "female", "1980-02-01"),
        _episode("EP", "P", "mental-health", "2025-03-03", "2025-03-30", "completed", None, False),
    ]
    for n, (start, end) in enumerate(SESSIONS):
        out.append(
            {
                "resourceType": "Encounter",
                "id": f"e{n}",
                "status": "finished",
                "class": {"code": "AMB"},
                "type": [{"coding": [{"system": SK, "code": "group-therapy"}]}],
                "subject": {"reference": "Patient/P"},
                "episodeOfCare": [{"reference": "EpisodeOfCare/EP"}],
                "period": {"start": start, "end": end},
            }
        )
    return out


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_hours_honour_offsets_and_midnight(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine = request.getfixturevalue(f"{engine_name}_engine")
    with Source.from_resources(cohort()) as source:
        outcomes = compute(source, engine)
    summary = outcomes.summary("iop-intensity-hours").overall
    assert summary.populations["measure-population"] == 1
    assert summary.score == 3.0
    (row,) = outcomes.subjects["iop-intensity-hours"]
    assert row.observation == 3.0


def test_the_report_shows_the_same_hours_by_week(duckdb_engine: Any) -> None:
    with Source.from_resources(cohort()) as source:
        outcomes = compute(source, duckdb_engine)
        data = report_data(source, duckdb_engine, outcomes)
    assert {r.week: r.hours for r in data.whole_weeks()} == WEEKS


@pytest.mark.parametrize("own", [True, False], ids=["private-database", "connection-passed-in"])
def test_hours_do_not_depend_on_the_session_time_zone(own: bool) -> None:
    """DuckDB reads R4's zoned dateTimes with its own parser (the string spelling only for
    the rest): a session time zone other than UTC changes no minute, for a dateTime with an
    offset, with ``Z`` or (read as UTC) with none."""
    connection = None if own else duckdb.connect()
    engine = get_engine("duckdb", connection=connection)
    try:
        (engine.connection if own else connection).execute("SET TimeZone = 'America/Chicago'")
        with Source.from_resources(cohort()) as source:
            outcomes = compute(source, engine)
            data = report_data(source, engine, outcomes)
    finally:
        engine.close()
    assert outcomes.summary("iop-intensity-hours").overall.score == 3.0
    assert {r.week: r.hours for r in data.whole_weeks()} == WEEKS


def test_the_reference_counts_the_same_hours() -> None:
    assert reference(cohort())["iop-intensity-hours"]["score"] == 3.0
