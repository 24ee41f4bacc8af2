"""DuckDB and Spark compute identical figures (every measure, every stratum, every subject),
on the hand-written cohort (whose figures are known) and on a synthetic cohort of 1,000
patients. One Spark session serves the module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.engines import synth_ndjson
from tests.outcomes.cohort import EXPECTED, cohort

from iopfhir.outcomes import compute, report_bundle, summary_rows
from iopfhir.views import Source


@pytest.fixture(scope="module")
def synth_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_ndjson(tmp_path_factory.mktemp("cohort"), 1000, 11)


def test_hand_cohort_on_spark(spark_engine: Any) -> None:
    with Source.from_resources(cohort()) as source:
        outcomes = compute(source, spark_engine)
    for measure_id, (populations, score) in EXPECTED.items():
        overall = outcomes.summary(measure_id).overall
        assert overall.populations == {**{k: 0 for k in overall.populations}, **populations}
        assert overall.score == score, measure_id


def test_duckdb_and_spark_identical(
    synth_cohort: Path, duckdb_engine: Any, spark_engine: Any
) -> None:
    with Source.from_path(synth_cohort) as source:
        on_duckdb = compute(source, duckdb_engine)
        on_spark = compute(source, spark_engine)
    episodes = on_duckdb.subjects["iop-attendance"]
    assert len(episodes) > 900  # the cohort is really there
    assert summary_rows(on_spark) == summary_rows(on_duckdb)
    assert report_bundle(on_spark, individual=True) == report_bundle(on_duckdb, individual=True)
