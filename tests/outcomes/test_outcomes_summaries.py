"""The summaries :func:`~iopfhir.outcomes.compute` sums on the engine (one GROUPING SETS
query over the per-subject table) equal the sums over the subjects in Python; the subjects
are built when first read; the engine keeps the per-subject table (``create_table``)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests.engines import synth_ndjson
from tests.outcomes.cohort import cohort

from iopfhir.outcomes import Outcomes, compute
from iopfhir.outcomes.measures import load_measures, summary_sql, summary_strata
from iopfhir.views import Source, ViewError, get_engine


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_ndjson(tmp_path_factory.mktemp("cohort"), 150, 5)


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    engine = get_engine("duckdb")
    yield engine
    engine.close()


compute_module = importlib.import_module("iopfhir.outcomes.compute")


def _python_summaries(outcomes: Outcomes) -> dict[str, Any]:
    # an Outcomes without summaries sums its subjects in Python (the reference)
    plain = Outcomes(outcomes.period, outcomes.measures, dict(outcomes.subjects))
    return {m.id: plain.summary(m.id) for m in outcomes.measures}


@pytest.mark.parametrize("period", [None, ("2025-01-01", "2026-12-31")])
def test_engine_summaries_equal_the_python_sums(synth: Path, engine: Any, period: Any) -> None:
    with Source.from_path(synth) as source:
        outcomes = compute(source, engine, period=period)
    assert set(outcomes.summaries) == {m.id for m in outcomes.measures}
    python = _python_summaries(outcomes)
    strata = 0
    for m in outcomes.measures:
        got = outcomes.summary(m.id)
        assert got == python[m.id], m.id
        strata += sum(len(values) for values in got.strata.values())
    assert strata > 50  # the cohort has strata to compare
    assert any(s.overall.score is not None for s in python.values())


def test_hand_cohort_summaries(engine: Any) -> None:
    with Source.from_resources(cohort()) as source:
        outcomes = compute(source, engine)
    assert {m.id: outcomes.summary(m.id) for m in outcomes.measures} == _python_summaries(outcomes)


def test_subjects_are_built_when_read(
    synth: Path, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    real = compute_module._SubjectTable.build

    def build(self: Any, measure_id: str) -> Any:
        built.append(measure_id)
        return real(self, measure_id)

    monkeypatch.setattr(compute_module._SubjectTable, "build", build)
    with Source.from_path(synth) as source:
        outcomes = compute(source, engine)
        {m.id: outcomes.summary(m.id) for m in outcomes.measures}  # summaries need none
        assert built == []
    rows = outcomes.subjects["iop-attendance"]  # read after the source is closed
    assert rows and built == ["iop-attendance"]
    assert outcomes.subjects["iop-attendance"] is rows and built == ["iop-attendance"]
    assert set(outcomes.subjects) == {m.id for m in outcomes.measures}
    assert len(outcomes.subjects) == len(outcomes.measures)
    with pytest.raises(KeyError):
        outcomes.subjects["no-such-measure"]


def test_summary_sql_flags_each_stratifier() -> None:
    measures = [m for m in load_measures() if m.basis == "EpisodeOfCare"]
    names = summary_strata(measures)
    sql = summary_sql(measures, "subjects")
    assert names == sorted(names) and "program_type" in names
    for k, name in enumerate(names):
        assert f"GROUPING({name}) AS g{k}" in sql
    assert f"GROUPING SETS ((), ({names[0]})" in sql


def test_create_table_keeps_a_result(tmp_path: Path) -> None:
    own = get_engine("duckdb")
    con = duckdb.connect()
    shared = get_engine("duckdb", connection=con)
    try:
        with pytest.raises(ViewError, match="SQL identifier"):
            own.create_table("bad name", "SELECT 1")
        with pytest.raises(ViewError, match="could not run"):
            own.create_table("broken", "SELECT * FROM nowhere")
        shared.create_table("kept", "SELECT 41 + 1 AS answer")
        assert shared.query("SELECT answer FROM kept").rows == [(42,)]
        # the caller's database keeps its own settings (a private one is not checkpointed)
        setting = "SELECT current_setting('checkpoint_threshold')"
        assert con.sql(setting).fetchall() == duckdb.connect().sql(setting).fetchall()
        assert own.connection.sql(setting).fetchall() != con.sql(setting).fetchall()
        shared.close()  # drops what it made in the caller's database
        assert con.sql(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'kept'"
        ).fetchall() == [(0,)]
    finally:
        own.close()
        con.close()
