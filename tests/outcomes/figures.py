"""What the outcome tests compare: each subject's figures per measure from an engine, and
the plain-Python reference's figures, both over a folder of NDJSON files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from tests.outcomes.reference import compute as reference

from iopfhir.outcomes import Outcomes, compute
from iopfhir.outcomes.report import report_data
from iopfhir.views import Source


def subject_figures(folder: Path, engine: Any) -> dict[str, list[str]]:
    """Measure id -> each subject's result (its repr), sorted: what two sources that mean
    the same must give alike."""
    with Source.from_path(folder) as src:
        outcomes = compute(src, engine)
    return {mid: sorted(repr(row) for row in rows) for mid, rows in outcomes.subjects.items()}


def reference_figures(folder: Path) -> dict[str, Any]:
    """The plain-Python reference over every NDJSON file of ``folder``."""
    files = sorted(folder.glob("*.ndjson"))
    return reference(orjson.loads(x) for p in files for x in p.read_bytes().splitlines())


def overall_agrees(resources: list[dict[str, Any]], engine: Any) -> dict[str, Any]:
    """Assert that every measure's overall populations (those not zero) and score from
    ``engine`` are the plain-Python reference's over ``resources``; return the reference's
    figures (for the test's own hand-computed checks)."""
    ref = reference(resources)
    with Source.from_resources(resources) as source:
        outcomes = compute(source, engine)
    for measure_id, want in ref.items():
        got = outcomes.summary(measure_id).overall
        nonzero = {k: v for k, v in want["populations"].items() if v}
        assert {k: v for k, v in got.populations.items() if v} == nonzero, measure_id
        assert got.score == want["score"], measure_id
    return ref


def with_weekly_hours(
    resources: list[dict[str, Any]], engine: Any
) -> tuple[Outcomes, dict[int, float]]:
    """The outcomes over ``resources`` on ``engine``, and the report's hours by program week
    (the weeks with any): the intensity measure and the report's chart must agree."""
    with Source.from_resources(resources) as source:
        outcomes = compute(source, engine)
        data = report_data(source, engine, outcomes)
    return outcomes, {w.week: w.hours for w in data.weeks if w.hours}
