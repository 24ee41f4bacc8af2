"""Several statements at once (``query_many``): the same results as one by one, on a
private database (cursors) and on a connection passed in (one after the other, with
temporary objects only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests.engines import synth_ndjson

from iopfhir.views import Source, ViewError, get_engine, iop_view

STATEMENTS = [
    "SELECT status, count(*) AS n FROM encounter GROUP BY status ORDER BY status",
    "SELECT encounter_key, individual_key FROM encounter_participant "
    "ORDER BY encounter_key, individual_key",
    "SELECT e.status, count(*) AS n FROM encounter e JOIN encounter_participant p "
    "ON p.encounter_key = e.encounter_key GROUP BY e.status ORDER BY e.status",
    "SELECT count(*) FROM patient",
]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    nd = synth_ndjson(tmp_path_factory.mktemp("many"), patients=12, seed=5)
    with Source.from_path(nd) as src:
        yield src


def _register(engine: Any, source: Source) -> None:
    for table, name in [
        ("encounter", "iop-encounter"),
        ("encounter_participant", "iop-encounter-participant"),
        ("patient", "iop-patient"),
    ]:
        engine.register(table, iop_view(name), source)


@pytest.mark.parametrize("threads", [1, 2])
def test_query_many_equals_one_by_one(source: Source, threads: int) -> None:
    engine = get_engine("duckdb", threads=threads)
    try:
        _register(engine, source)
        many = engine.query_many(STATEMENTS)
        one_by_one = [engine.query(sql) for sql in STATEMENTS]
        assert many == one_by_one
        assert all(len(result.rows) > 0 for result in many)
        assert many[0].columns == ["status", "n"]
    finally:
        engine.close()


def test_query_many_on_a_callers_connection_leaves_its_catalog(source: Source) -> None:
    con = duckdb.connect()
    engine = get_engine("duckdb", connection=con)
    try:
        _register(engine, source)
        assert engine.query_many(STATEMENTS) == [engine.query(sql) for sql in STATEMENTS]
        engine.create_table("kept", "SELECT count(*) AS n FROM encounter")
        # everything the engine made in the caller's database is temporary
        assert con.sql("SELECT count(*) FROM duckdb_tables() WHERE NOT temporary").fetchall() == [
            (0,)
        ]
        assert con.sql(
            "SELECT count(*) FROM duckdb_views() WHERE NOT temporary AND NOT internal"
        ).fetchall() == [(0,)]
        assert con.sql("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall()[0][0]
    finally:
        engine.close()
        con.close()


def test_query_many_failure_names_no_data(source: Source) -> None:
    engine = get_engine("duckdb", threads=2)
    try:
        _register(engine, source)
        with pytest.raises(ViewError, match="could not run") as caught:
            engine.query_many([STATEMENTS[0], "SELECT * FROM encounter WHERE no_such = 'x-secret'"])
        assert "x-secret" not in str(caught.value)
    finally:
        engine.close()


def test_created_tables_are_seen_by_the_cursors(tmp_path: Path) -> None:
    engine = get_engine("duckdb", threads=2)
    try:
        engine.create_table("answer", "SELECT 42 AS n")
        assert engine.query_many(["SELECT n FROM answer", "SELECT n + 1 AS m FROM answer"]) == [
            engine.query("SELECT n FROM answer"),
            engine.query("SELECT n + 1 AS m FROM answer"),
        ]
    finally:
        engine.close()
