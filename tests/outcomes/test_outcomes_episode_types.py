"""Only IOP episodes are measured: an EpisodeOfCare typed only with other programs' codes
(Synthea writes a ``hacc`` home-and-community-care episode for many visits) is none, and
neither its scores nor its discharge count; one of an iopfhir program type, with the
program's extension, or with no type at all is. DuckDB, Spark and the plain loop agree."""

from __future__ import annotations

from typing import Any

import pytest
from tests.outcomes import reference
from tests.outcomes.cohort import _episode, _patient, _score

from iopfhir.outcomes import compute
from iopfhir.views import Source

PHQ9 = "44261-6"
HACC = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/episodeofcare-type",
            "code": "hacc",
            "display": "Home and Community Care",
        }
    ]
}


def _typed(episode: dict[str, Any], *types: dict[str, Any]) -> dict[str, Any]:
    out = {**episode, "type": list(types)}
    if not types:
        del out["type"]
    return out


def cohort() -> list[dict[str, Any]]:
    r: list[dict[str, Any]] = []
    for pid in ("A", "B", "C", "D"):
        r.append(_patient(pid, "female", "1990-01-01"))
        r.append(_score(f"{pid}1", pid, PHQ9, "2025-03-01", 20))
        r.append(_score(f"{pid}2", pid, PHQ9, "2025-04-20", 4))
    iop = _episode("EA", "A", "mh-iop", "2025-03-02", "2025-04-25", "completed", None, False)
    hacc = _episode("EB", "B", "mh-iop", "2025-03-02", "2025-04-25", "completed", None, False)
    untyped = _episode("EC", "C", "mh-iop", "2025-03-02", "2025-04-25", "completed", None, False)
    # typed otherwise, but the program's extension says it is one of iopfhir's programs
    named = _episode("ED", "D", "mh-iop", "2025-03-02", "2025-04-25", "completed", None, True)
    r += [
        _typed(iop, *iop["type"], HACC),  # a program type beside another type: IOP
        _typed(hacc, HACC),
        _typed(untyped),
        _typed(named, HACC),
    ]
    return r


EXPECTED = {"EpisodeOfCare/EA", "EpisodeOfCare/EC", "EpisodeOfCare/ED"}


@pytest.mark.parametrize("engine_name", ["duckdb_engine", "spark_engine"])
def test_only_iop_episodes_are_measured(engine_name: str, request: pytest.FixtureRequest) -> None:
    engine = request.getfixturevalue(engine_name)
    with Source.from_resources(cohort()) as source:
        outcomes = compute(source, engine)
    for measure_id in ("iop-completion", "iop-phq9-baseline", "iop-phq9-response"):
        subjects = {row.subject_key for row in outcomes.subjects[measure_id]}
        assert subjects == EXPECTED, (engine_name, measure_id)
        assert outcomes.summary(measure_id).overall.populations["initial-population"] == 3
    assert outcomes.summary("iop-phq9-response").overall.score == 1.0


def test_the_plain_loop_agrees() -> None:
    ref = reference.compute(cohort())
    assert ref["iop-completion"]["populations"]["initial-population"] == 3
    assert ref["iop-phq9-response"]["populations"]["numerator"] == 3
    # the hacc episode's patient has a PHQ-9 in its window: not a baseline of an IOP episode
    assert ref["iop-phq9-baseline"]["populations"]["initial-population"] == 3
