"""The SQL-on-FHIR v2 specification's own conformance tests, on DuckDB and on Spark.

Every test of ``$IOPFHIR_CORPUS/sql-on-fhir-v2/tests/*.json`` tagged ``shareable`` must
pass on both engines, and so must the ``experimental`` ones except those listed in
:data:`SKIPPED_EXPERIMENTAL` (with the reason). A test passes when the view's rows equal
``expect`` as a multiset (the specification does not order rows; numbers compare by value,
as a ``decimal`` column is a double), its columns equal ``expectColumns`` in order when
given, and it fails with :class:`ViewError` exactly when ``expectError`` is set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from iopfhir.views import Source, ViewError

pytestmark = pytest.mark.corpus

#: experimental tests not run, by file: reason. Empty: the experimental fn_boundary and
#: fn_join tests run (and pass) on both engines like the shareable ones.
SKIPPED_EXPERIMENTAL: dict[str, str] = {}


def _tests_dir() -> Path | None:
    value = os.environ.get("IOPFHIR_CORPUS")
    return Path(value) / "sql-on-fhir-v2" / "tests" if value else None


def _cases() -> list[Any]:
    root = _tests_dir()
    if root is None or not root.is_dir():
        return [pytest.param(None, None, id="corpus-missing")]
    cases = []
    for path in sorted(root.glob("*.json")):
        suite = json.loads(path.read_text(encoding="utf-8"))
        for index, test in enumerate(suite["tests"]):
            tags = test.get("tags", [])
            if "shareable" not in tags and path.name in SKIPPED_EXPERIMENTAL:
                continue
            cases.append(pytest.param(path, index, id=f"{path.stem}:{test['title']}"))
    return cases


def _normal(rows: list[dict[str, Any]]) -> list[str]:
    def value(v: Any) -> Any:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
        return v

    return sorted(json.dumps({k: value(v) for k, v in r.items()}, sort_keys=True) for r in rows)


_SOURCES: dict[Path, Source] = {}


def _source(path: Path) -> Source:
    if path not in _SOURCES:
        suite = json.loads(path.read_text(encoding="utf-8"))
        _SOURCES[path] = Source.from_resources(suite["resources"])
    return _SOURCES[path]


@pytest.fixture(scope="module", autouse=True)
def _close_sources() -> Any:
    yield
    for source in _SOURCES.values():
        source.close()
    _SOURCES.clear()


def _check(engine: Any, path: Path | None, index: int | None) -> None:
    if path is None or index is None:
        pytest.fail("IOPFHIR_CORPUS must name the shared corpus folder (sql-on-fhir-v2/tests)")
    test = json.loads(path.read_text(encoding="utf-8"))["tests"][index]
    source = _source(path)
    if test.get("expectError"):
        with pytest.raises(ViewError):
            engine.run(test["view"], source)
        return
    result = engine.run(test["view"], source)
    if "expectColumns" in test:
        assert result.columns == test["expectColumns"]
    assert _normal(result.to_dicts()) == _normal(test["expect"])


@pytest.mark.parametrize(("path", "index"), _cases())
def test_duckdb(duckdb_engine: Any, path: Path | None, index: int | None) -> None:
    _check(duckdb_engine, path, index)


@pytest.mark.parametrize(("path", "index"), _cases())
def test_spark(spark_engine: Any, path: Path | None, index: int | None) -> None:
    _check(spark_engine, path, index)


def test_every_shareable_test_is_collected() -> None:
    """The corpus has shareable tests and none of them is in the skip list."""
    root = _tests_dir()
    assert root is not None and root.is_dir()
    shareable = [
        (p.name, t["title"])
        for p in sorted(root.glob("*.json"))
        for t in json.loads(p.read_text(encoding="utf-8"))["tests"]
        if "shareable" in t.get("tags", [])
    ]
    assert len(shareable) > 100
    collected = {c.id for c in _cases()}
    for name, title in shareable:
        assert f"{name[:-5]}:{title}" in collected
