"""A session Encounter with a start and a ``length`` but no end (R4 allows a period's end to
be absent and gives ``Encounter.length``, a Duration): its hours are its length (in s,
min or h; at most a day), as the import reads it; with an end, the period gives them. The
intensity measures, the report's weeks, the plain loop and the import agree with the
hand-computed figures, on DuckDB and Spark."""

from __future__ import annotations

from typing import Any

import pytest
from tests.outcomes.cohort import _episode, _patient
from tests.outcomes.figures import overall_agrees, with_weekly_hours

from iopfhir.fhir.read import read_fhir

UCUM = "http://unitsofmeasure.org"


def _session(
    vid: str, day: str, end: str | None = None, length: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Patient E's group psychotherapy Encounter in episode EE from 09:00 on ``day``."""
    r: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": vid,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "90853"}]}],
        "subject": {"reference": "Patient/E"},
        "episodeOfCare": [{"reference": "EpisodeOfCare/EE"}],
        "period": {"start": f"{day}T09:00:00Z", **({"end": f"{day}T{end}:00Z"} if end else {})},
    }
    if length is not None:
        r["length"] = length
    return r


def _length(value: float, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def cohort() -> list[dict[str, Any]]:
    # 2025-03-03 (a Monday) to 2025-03-30: four whole weeks
    episode = _episode("EE", "E", "mental-health", "2025-03-03", "2025-03-30", "completed",
                       None, True)  # fmt: skip
    return [
        _patient("E", "female", "1975-09-09"),
        episode,
        _session("s1", "2025-03-03", end="12:00"),  # 180 min by its period
        _session("s2", "2025-03-04", length=_length(180, "min")),  # 180
        _session("s3", "2025-03-05", length=_length(1.5, "h")),  # 90
        _session("s4", "2025-03-06", length=_length(2, "d")),  # more than a day: none
        _session("s5", "2025-03-07", end="10:00", length=_length(180, "min")),  # 60: the period
        _session("s6", "2025-03-10", length={"value": 5400, "code": "s"}),  # 90
    ]


@pytest.mark.parametrize("engine_name", ["duckdb_engine", "spark_engine"])
def test_a_session_without_an_end_lasts_its_length(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine = request.getfixturevalue(engine_name)
    outcomes, weeks = with_weekly_hours(cohort(), engine)
    # 180 + 180 + 90 + 0 + 60 + 90 = 600 minutes, 10 hours over four whole weeks
    assert outcomes.summary("iop-intensity-hours").overall.score == 2.5
    assert weeks == {0: 8.5, 1: 1.5}


def test_the_plain_loop_agrees(duckdb_engine: Any) -> None:
    ref = overall_agrees(cohort(), duckdb_engine)
    assert ref["iop-intensity-hours"]["score"] == 2.5


def test_the_import_reads_the_same_lengths() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in cohort()]}  # fmt: skip
    (episode,) = read_fhir(bundle).episodes
    minutes = sorted((s.end - s.start).total_seconds() / 60 for s in episode.sessions)
    assert minutes == [0, 60, 90, 90, 180, 180]
