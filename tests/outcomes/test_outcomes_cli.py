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


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"http://example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r}
            for r in resources
        ],
    }


PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-02-03"}
OPEN_EPISODE = {
    "resourceType": "EpisodeOfCare",
    "id": "e1",
    "status": "active",
    "patient": {"reference": "Patient/p1"},
    "period": {"start": "2026-01-05"},
}


def test_an_episode_still_open_with_no_data_yet_is_reported_over_its_admission(
    tmp_path: Path,
) -> None:
    # no measure counts it (no session, no score, no discharge): the reports still have the
    # period of the episodes read, and count none
    source = tmp_path / "open.json"
    source.write_bytes(orjson.dumps(_bundle(PATIENT, OPEN_EPISODE)))
    out = tmp_path / "mr.json"
    assert _run("outcomes", str(source), "-o", str(out)) == 0
    bundle = orjson.loads(out.read_bytes())
    reports = [e["resource"] for e in bundle["entry"]]
    assert {tuple(r["period"].values()) for r in reports} == {("2026-01-05", "2026-01-05")}
    assert all(p["count"] == 0 for r in reports for g in r["group"] for p in g["population"])
    assert validate(bundle).errors == []
    assert _run("outcomes", str(source), "--format", "json", "-o", str(tmp_path / "o.json")) == 0
    assert orjson.loads((tmp_path / "o.json").read_bytes())["period"] == ["2026-01-05"] * 2


def test_a_source_with_nothing_to_measure_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "patient-only.json"
    source.write_bytes(orjson.dumps(_bundle(PATIENT)))
    assert _run("outcomes", str(source), "-o", str(tmp_path / "mr.json")) == 1
    err = capsys.readouterr().err
    assert "no IOP episode" in err and "no inpatient stay" in err
    assert not (tmp_path / "mr.json").exists()
    # with a period, the reports are written and count none
    assert _run("outcomes", str(source), "--period", "2026-01-01/2026-03-31", "--format", "json",
                "-o", str(tmp_path / "o.json")) == 0  # fmt: skip
    data = orjson.loads((tmp_path / "o.json").read_bytes())
    assert data["period"] == ["2026-01-01", "2026-03-31"]
    assert {r["initial_population"] for r in data["rows"]} == {0}


STAY = {
    "resourceType": "Encounter",
    "id": "s1",
    "status": "finished",
    "class": {"code": "IMP"},
    "subject": {"reference": "Patient/p1"},
    "period": {"start": "2026-01-02", "end": "2026-01-09"},
}


def test_stays_without_an_iop_episode_say_why_the_episode_measures_are_empty(
    ndjson: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an EHR export with inpatient stays and no IOP EpisodeOfCare (Synthea's shape): the
    # stay measures count, the episode measures count none, and a note says why
    source = tmp_path / "stays.json"
    source.write_bytes(orjson.dumps(_bundle(PATIENT, STAY)))
    out = tmp_path / "o.json"
    assert _run("outcomes", str(source), "--format", "json", "-o", str(out)) == 0
    assert "no IOP episode" in capsys.readouterr().err
    rows = {r["measure"]: r for r in orjson.loads(out.read_bytes())["rows"] if not r["stratifier"]}
    assert rows["iop-inpatient-readmission-30"]["initial_population"] == 1
    assert rows["iop-attendance"]["initial_population"] == 0
    # a source with IOP episodes has no such note
    assert _run("outcomes", str(ndjson), "--format", "json", "-o", str(out)) == 0
    assert "no IOP episode" not in capsys.readouterr().err
