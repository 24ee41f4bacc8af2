"""``iopfhir outcomes``: every format, the same bytes twice, bad input exits 2, and the
summary MeasureReports validate against R4."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.outcomes.cohort import EXPECTED, cohort

from iopfhir.cli import main
from iopfhir.validation import validate


@pytest.fixture(scope="module")
def ndjson(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nd")
    by_type: dict[str, list[bytes]] = {}
    for r in cohort():
        by_type.setdefault(r["resourceType"], []).append(orjson.dumps(r))
    for rtype, lines in by_type.items():
        (root / f"{rtype}.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    return root


def _run(*argv: str) -> int:
    return main(list(argv))


def test_measurereport(ndjson: Path, tmp_path: Path) -> None:
    out = tmp_path / "mr.json"
    assert _run("outcomes", str(ndjson), "-o", str(out)) == 0
    bundle = orjson.loads(out.read_bytes())
    reports = [e["resource"] for e in bundle["entry"]]
    assert {r["type"] for r in reports} == {"summary"}
    assert len(reports) == len(EXPECTED)
    assert validate(bundle).errors == []
    again = tmp_path / "again.json"
    assert _run("outcomes", str(ndjson), "-o", str(again)) == 0
    assert again.read_bytes() == out.read_bytes()
    with_individual = tmp_path / "ind.json"
    assert _run("outcomes", str(ndjson), "--individual", "-o", str(with_individual)) == 0
    kinds = [e["resource"]["type"] for e in orjson.loads(with_individual.read_bytes())["entry"]]
    assert kinds.count("individual") > 0


def _overall(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {r["measure"]: r["score"] for r in rows if r["stratifier"] == ""}


def test_csv_and_json(ndjson: Path, tmp_path: Path) -> None:
    assert _run("outcomes", str(ndjson), "--format", "csv", "-o", str(tmp_path / "o.csv")) == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "o.csv").read_text())))
    scores = _overall(rows)
    assert scores["iop-phq9-response"] == "0.5"
    assert scores["iop-attendance"] == "0.8125"
    assert _run("outcomes", str(ndjson), "--format", "json", "-o", str(tmp_path / "o.json")) == 0
    data = orjson.loads((tmp_path / "o.json").read_bytes())
    assert data["period"] == ["2025-01-03", "2025-07-22"]  # first and last index dates
    assert _overall(data["rows"]) == {k: v[1] for k, v in EXPECTED.items()}


def test_parquet(ndjson: Path, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    out = tmp_path / "o.parquet"
    args = ("outcomes", str(ndjson), "--format", "parquet", "--period", "2025-01-01/2025-12-31")
    assert _run(*args, "-o", str(out)) == 0
    got = duckdb.sql(
        f"SELECT score FROM read_parquet('{out}') "
        "WHERE measure = 'iop-readmission-90' AND stratifier = ''"
    ).fetchall()
    assert got == [(0.6667,)]


def test_bundle_source(tmp_path: Path) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:uuid:{r['resourceType']}-{r['id']}", "resource": r} for r in cohort()
        ],
    }
    src = tmp_path / "b.json"
    src.write_bytes(orjson.dumps(bundle))
    assert _run("outcomes", str(src), "--format", "json", "-o", str(tmp_path / "o.json")) == 0
    rows = orjson.loads((tmp_path / "o.json").read_bytes())["rows"]
    assert _overall(rows)["iop-completion"] == 0.5


@pytest.mark.parametrize(
    "argv",
    [
        ("--period", "2025"),
        ("--format", "parquet"),
    ],
)
def test_bad_input_exits_2(ndjson: Path, argv: tuple[str, ...]) -> None:
    assert _run("outcomes", str(ndjson), *argv) == 2


def test_missing_source_exits_2(tmp_path: Path) -> None:
    assert _run("outcomes", str(tmp_path / "nothing"), "-o", str(tmp_path / "x.json")) == 2
