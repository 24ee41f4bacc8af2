"""The DuckDB engine's fast paths give the same rows as the plain ones.

- Registered views are computed into tables (each once, at the next ``query``): on every
  SQL-on-FHIR v2 conformance test and on a synthetic cohort's measures they give what the
  plain, file-backed statement gives (``run``, or a view re-reading the files per query).
- ``getReferenceKey()`` takes a cheap path for a relative ``Type/id`` and the general regular
  expression otherwise: on both engines, for references of every shape, the keys equal those
  of the FHIRPath definition (Python's ``re``, the same pattern).
- A line bigger than the default JSON object limit is read all the same (the engine retries
  with the larger limit).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.engines import synth_ndjson

from iopfhir.outcomes import compute
from iopfhir.views import Source, ViewError, get_engine, iop_view
from iopfhir.views.engine import SqlEngine
from iopfhir.views.engines.duckdb_engine import DuckDBEngine
from iopfhir.views.model import View

_REF = re.compile(r"(.*/)?([A-Za-z]+)/([A-Za-z0-9.-]+)(/_history/[A-Za-z0-9.-]+)?")


class PlainDuckDB(DuckDBEngine):
    """Registered views as plain SQL views over the files (the engine's former behaviour)."""

    def register(self, name: str, view: View | Any, source: Source) -> None:
        SqlEngine.register(self, name, view, source)

    def query(self, sql: str) -> Any:
        return SqlEngine.query(self, sql)


@pytest.fixture(scope="module")
def duck() -> Iterator[Any]:
    engine = get_engine("duckdb")
    yield engine
    engine.close()


# -- conformance tests through register + query ---------------------------------------------
def _suites() -> list[Path]:
    value = os.environ.get("IOPFHIR_CORPUS")
    root = Path(value) / "sql-on-fhir-v2" / "tests" if value else None
    return sorted(root.glob("*.json")) if root is not None and root.is_dir() else []


def _normal(rows: list[dict[str, Any]]) -> list[str]:
    def value(v: Any) -> Any:
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v

    return sorted(json.dumps({k: value(v) for k, v in r.items()}, sort_keys=True) for r in rows)


def _through_a_table(engine: Any, view: Any, source: Source) -> Any:
    engine.register("conf_view", view, source)
    return engine.query("SELECT * FROM conf_view")


@pytest.mark.corpus
def test_registered_tables_pass_every_conformance_test(duck: Any) -> None:
    suites = _suites()
    if not suites:
        pytest.fail("IOPFHIR_CORPUS must name the shared corpus folder (sql-on-fhir-v2/tests)")
    checked = 0
    for path in suites:
        suite = json.loads(path.read_text(encoding="utf-8"))
        with Source.from_resources(suite["resources"]) as source:
            for index, test in enumerate(suite["tests"]):
                where = f"{path.stem}[{index}] {test['title']}"
                if test.get("expectError"):
                    with pytest.raises(ViewError):
                        _through_a_table(duck, test["view"], source)
                    continue
                got = _through_a_table(duck, test["view"], source)
                if "expectColumns" in test:
                    assert got.columns == test["expectColumns"], where
                assert _normal(got.to_dicts()) == _normal(test["expect"]), where
                assert _normal(got.to_dicts()) == _normal(duck.run(test["view"], source).to_dicts())
                checked += 1
    assert checked > 100


# -- a synthetic cohort: every measure, tables against views over the files ----------------
@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_ndjson(tmp_path_factory.mktemp("speedpath"), 60, 11)


def test_measures_from_tables_equal_measures_from_views(cohort: Path) -> None:
    fast, plain = get_engine("duckdb"), PlainDuckDB()
    try:
        with Source.from_path(cohort) as source:
            a, b = compute(source, fast), compute(source, plain)
            again = compute(source, fast)  # registered again: the tables are reused
    finally:
        fast.close()
        plain.close()
    assert [m.id for m in a.measures] == [m.id for m in b.measures]
    assert sum(len(rows) for rows in a.subjects.values()) > 100
    assert a.subjects == b.subjects
    assert again.subjects == a.subjects
    for m in a.measures:
        assert a.summary(m.id) == b.summary(m.id), m.id


def test_views_of_every_shipped_kind_equal_run(cohort: Path, duck: Any) -> None:
    from iopfhir.outcomes.facts import VIEWS

    with Source.from_path(cohort) as source:
        for table, name in VIEWS.items():
            duck.register(f"sp_{table}", iop_view(name), source)
        for table, name in VIEWS.items():
            got = duck.query(f"SELECT * FROM sp_{table}")
            want = duck.run(iop_view(name), source)
            assert got.columns == want.columns, name
            assert sorted(map(repr, got.rows)) == sorted(map(repr, want.rows)), name


def test_register_again_follows_the_source(tmp_path: Path, duck: Any) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for folder, n in ((one, 2), (two, 5)):
        folder.mkdir()
        lines = [json.dumps({"resourceType": "Patient", "id": f"p{i}"}) for i in range(n)]
        (folder / "Patient.ndjson").write_text("\n".join(lines) + "\n")
    view = iop_view("iop-patient")
    with Source.from_path(one) as a, Source.from_path(two) as b:
        duck.register("sp_again", view, a)
        assert len(duck.query("SELECT * FROM sp_again")) == 2
        duck.register("sp_again", view, b)
        assert len(duck.query("SELECT * FROM sp_again")) == 5
        duck.register("sp_again", view, a)
        assert len(duck.query("SELECT * FROM sp_again")) == 2


def test_a_line_over_the_default_object_limit_is_read(tmp_path: Path, duck: Any) -> None:
    big = {
        "resourceType": "Patient",
        "id": "big",
        "gender": "female",
        "text": {"div": "x" * (40 << 20)},
    }
    lines = [json.dumps(big), json.dumps({"resourceType": "Patient", "id": "small"})]
    (tmp_path / "Patient.ndjson").write_text("\n".join(lines) + "\n")
    view = {
        "resource": "Patient",
        "select": [{"column": [{"name": "id", "path": "id"}, {"name": "n", "path": "text.div"}]}],
    }
    with Source.from_path(tmp_path) as source:
        rows = duck.run(view, source).rows
        duck.register("sp_big", iop_view("iop-patient"), source)
        keys = [r[0] for r in duck.query("SELECT patient_key FROM sp_big ORDER BY 1").rows]
    assert sorted(r[0] for r in rows) == ["big", "small"]
    assert [len(r[1] or "") for r in sorted(rows)] == [40 << 20, 0]
    assert keys == ["Patient/big", "Patient/small"]


# -- getReferenceKey: the fast path against the definition ----------------------------------
def _expected(ref: str, want: str | None) -> str | None:
    m = _REF.fullmatch(ref)
    if m is None or (want is not None and m.group(2) != want):
        return None
    return f"{m.group(2)}/{m.group(3)}"


REFERENCES = [
    "Patient/p1", "Patient/a.b-c", "Organization/o1", "Patient/", "/Patient/1", "Patient//1",
    "Patient/1/", "Patient/a_b", "Pat ient/1", "Patient/1/_history/2", "Patient/1/_history/",
    "http://x.org/fhir/Patient/9", "http://x.org/fhir/Patient/9/_history/3", "urn:uuid:1234",
    "#contained", "Patient/1/_history/abc/def", "a/Patient/1", "Patient", "", "PatientX/1",
    "patient/1", "Patient1/2", "Patient/é", "Patient/1?x=1", "x/Observation/o.1/_history/a-b",
]  # fmt: skip


def _key_rows(engine: Any, refs: list[str]) -> dict[str, tuple[Any, Any]]:
    resources = [
        {"resourceType": "Patient", "id": f"p{i}", "managingOrganization": {"reference": ref}}
        for i, ref in enumerate(refs)
    ]
    view = {
        "resource": "Patient",
        "select": [{"column": [
            {"name": "id", "path": "id"},
            {"name": "any_key", "path": "managingOrganization.getReferenceKey()"},
            {"name": "patient_key", "path": "managingOrganization.getReferenceKey(Patient)"},
        ]}],
    }  # fmt: skip
    with Source.from_resources(resources) as source:
        rows = engine.run(view, source).rows
    return {str(r[0]): (r[1], r[2]) for r in rows}


def _check_keys(engine: Any, refs: list[str]) -> None:
    got = _key_rows(engine, refs)
    for i, ref in enumerate(refs):
        assert got[f"p{i}"] == (_expected(ref, None), _expected(ref, "Patient")), ref


def test_reference_keys_duckdb(duck: Any) -> None:
    _check_keys(duck, REFERENCES)


def test_reference_keys_spark(spark_engine: Any) -> None:
    _check_keys(spark_engine, REFERENCES)


_PIECES = st.sampled_from(
    ["Patient", "Organization", "/", "p1", "_history", "a.b", "-", "x", "_", "http:", "9"]
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(_PIECES, min_size=1, max_size=8).map("".join), min_size=1, max_size=30))
def test_reference_keys_of_any_shape_duckdb(duck: Any, refs: list[str]) -> None:
    _check_keys(duck, refs)


def test_a_memory_limit_spills_to_a_private_directory(cohort: Path) -> None:
    engine = DuckDBEngine(memory_limit="256MB")
    spill = Path(engine.connection.sql("SELECT current_setting('temp_directory')").fetchall()[0][0])
    plain = PlainDuckDB()
    try:
        assert spill.name.startswith("iopfhir-duckdb-") and spill.is_dir()
        with Source.from_path(cohort) as source:
            assert compute(source, engine).subjects == compute(source, plain).subjects
    finally:
        engine.close()
        plain.close()
    assert not spill.exists()
