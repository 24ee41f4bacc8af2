"""The measures on both shipped examples (converted to Bundles): the figures read off the
example files by hand, and a plain-Python reading of the same resources agrees with the SQL."""

from __future__ import annotations

from typing import Any

import pytest
from tests.engines import example_resources
from tests.outcomes import reference

from iopfhir.outcomes import compute
from iopfhir.views import Source

#: figures read off the example files (measures: PHQ-9 / GAD-7 / AUDIT-C totals by date;
#: discharge disposition; no readmission, no kept aftercare visit yet)
BY_HAND: dict[str, dict[str, float | None]] = {
    "mental-health-iop": {
        "iop-phq9-baseline": 18.0, "iop-phq9-last": 4.0, "iop-phq9-change": -14.0,
        "iop-phq9-response": 1.0, "iop-phq9-remission": 1.0,
        "iop-gad7-baseline": 15.0, "iop-gad7-last": 5.0, "iop-gad7-change": -10.0,
        "iop-gad7-response": 1.0, "iop-gad7-remission": 0.0,
        "iop-completion": 0.0, "iop-readmission-30": 0.0, "iop-followup-30": 0.0,
    },
    "co-occurring-sud-iop": {
        "iop-phq9-baseline": 13.0, "iop-phq9-last": 5.0, "iop-phq9-change": -8.0,
        "iop-phq9-response": 1.0, "iop-phq9-remission": 0.0, "iop-auditc-change": -10.0,
        "iop-completion": 1.0, "iop-readmission-30": 0.0, "iop-followup-30": 0.0,
    },
}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(BY_HAND))
def example(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return request.param, example_resources(tmp_path_factory.mktemp("ex"), request.param)


def test_example_by_hand(example: Any, duckdb_engine: Any) -> None:
    name, resources = example
    with Source.from_resources(resources) as source:
        outcomes = compute(source, duckdb_engine)
    for measure_id, score in BY_HAND[name].items():
        assert outcomes.summary(measure_id).overall.score == score, measure_id


def test_example_reference(example: Any, duckdb_engine: Any) -> None:
    _, resources = example
    with Source.from_resources(resources) as source:
        outcomes = compute(source, duckdb_engine)
    ref = reference.compute(resources)
    for m in outcomes.measures:
        overall = outcomes.summary(m.id).overall
        if not any(overall.populations.values()):
            assert m.id not in ref or not any(ref[m.id]["populations"].values()), m.id
            continue
        assert overall.score == ref[m.id]["score"], m.id
        assert {k: v for k, v in overall.populations.items() if v} == {
            k: v for k, v in ref[m.id]["populations"].items() if v
        }, m.id
