"""Registered views computed several at once (a private database: each table on its own
cursor) give the same tables as one after the other (one thread, or a connection passed in),
and a read that fails among them is named as when alone. While they run, DuckDB's own
threads are cut to those the cursors leave (two threads: one each); they come back after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from tests.engines import synth_ndjson, with_ehr_panels

from iopfhir.outcomes.facts import VIEWS
from iopfhir.views import Source, ViewError, get_engine, iop_view

SECRET = "x-secret-value"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    nd = with_ehr_panels(synth_ndjson(tmp_path_factory.mktemp("concurrent"), patients=12, seed=11))
    with Source.from_path(nd) as src:
        yield src


def _tables(engine: Any, source: Source) -> dict[str, list[str]]:
    """Every outcome view registered at once, then each one's rows (in a stable order)."""
    for table, name in VIEWS.items():
        engine.register(table, iop_view(name), source)
    out: dict[str, list[str]] = {}
    for table in VIEWS:
        result = engine.query(f"SELECT * FROM {table}")
        out[table] = sorted(repr(row) for row in [tuple(result.columns), *result.rows])
    return out


def test_concurrent_reads_give_the_same_tables(source: Source) -> None:
    concurrent = get_engine("duckdb", threads=2)
    sequential = get_engine("duckdb", threads=1)
    con = duckdb.connect()
    passed_in = get_engine("duckdb", connection=con, threads=2)
    used: list[Any] = []
    threads: list[int] = []
    real = concurrent._create

    def spy(cursor: Any, quoted: str, sql: str) -> None:
        used.append(cursor)
        threads.append(int(cursor.execute("SELECT current_setting('threads')").fetchall()[0][0]))
        real(cursor, quoted, sql)

    concurrent._create = spy
    try:
        got = _tables(concurrent, source)
        assert got == _tables(sequential, source)
        assert got == _tables(passed_in, source)
        assert all(len(rows) > 1 for table, rows in got.items() if table != "qitem")
        # each table on a cursor of its own, not on the engine's connection
        assert len(used) >= 5
        assert all(cursor is not concurrent.connection for cursor in used)
        # DuckDB ran no thread of its own beside the two cursors, and has its two back
        assert set(threads) == {1}
        assert concurrent._threads() == 2
        # registered again over the same files: the tables are kept, nothing is read
        used.clear()
        assert _tables(concurrent, source) == got
        assert used == []
    finally:
        for engine in (concurrent, sequential, passed_in):
            engine.close()
        con.close()


def _obs(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-01-02",
        "valueInteger": 7,
        **extra,
    }


@pytest.mark.parametrize("threads", [1, 2])
def test_a_failing_read_among_others_is_named(tmp_path: Path, threads: int) -> None:
    lines = [_obs(), _obs(id="o2", valueQuantity={"value": SECRET})]
    (tmp_path / "Observation.ndjson").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in lines))
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female"}
    (tmp_path / "Patient.ndjson").write_bytes(orjson.dumps(patient) + b"\n")
    engine = get_engine("duckdb", threads=threads)
    try:
        with Source.from_path(tmp_path) as src:
            for table in ("patient", "score", "answer", "encounter"):
                engine.register(table, iop_view(VIEWS[table]), src)
            with pytest.raises(ViewError) as caught:
                engine.query("SELECT count(*) FROM patient")
        message = str(caught.value)
        assert message == (
            "Observation.ndjson line 2: Observation.valueQuantity.value: "
            "a string where R4 has a decimal"
        )
        assert SECRET not in message
        assert engine._threads() == threads  # given back after the failure too
    finally:
        engine.close()


@pytest.mark.parametrize("threads", [1, 2])
def test_tables_created_at_once_are_those_created_one_by_one(source: Source, threads: int) -> None:
    """``create_tables`` (the outcome measures' two subject tables at once) makes the tables
    ``create_table`` makes, on a private database and on a connection passed in, and fails as
    it does when one statement fails."""
    con = duckdb.connect()
    engines = [get_engine("duckdb", threads=threads), get_engine("duckdb", connection=con)]
    statements = [
        ("per_patient", "SELECT patient_key, count(*) AS n FROM encounter GROUP BY patient_key"),
        ("per_status", "SELECT status, count(*) AS n FROM appointment GROUP BY status"),
    ]
    try:
        got = []
        for engine in engines:
            for table in ("encounter", "appointment"):
                engine.register(table, iop_view(VIEWS[table]), source)
            engine.create_tables(statements)
            engine.create_tables(statements)  # again: the tables replaced
            got.append([sorted(engine.query(f"SELECT * FROM {t}").rows) for t, _ in statements])
            for table, sql in statements:
                engine.create_table(table, sql)
            assert got[-1] == [
                sorted(engine.query(f"SELECT * FROM {t}").rows) for t, _ in statements
            ]
            with pytest.raises(ViewError, match="could not run"):
                engine.create_tables([*statements, ("bad", "SELECT * FROM no_such_table")])
        assert got[0] == got[1] and all(got[0])
    finally:
        for engine in engines:
            engine.close()
        con.close()
