"""Episodes, sessions and scores dated with a year or a month only (R4 allows ``2024`` and
``2024-05`` for a dateTime) cannot be placed on a day: they count in no measure, and the
outcomes say how many were left out (``Outcomes.undated``, the CLI's note, the report's
header), on DuckDB and on Spark alike. An episode without a start (R4 allows a period with
an end only) counts only in the measures of its discharge, and is said too
(``Outcomes.unstarted``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.engines import synth_ndjson
from tests.outcomes.figures import subject_figures

from iopfhir.cli import main
from iopfhir.outcomes import compute
from iopfhir.views import Source

PHQ9_TOTAL = "44261-6"


def _rewrite(folder: Path, rtype: str, change: Any, count: int) -> int:
    """Apply ``change`` (resource → bool: changed) to the first ``count`` resources of
    ``rtype`` it accepts; how many were changed."""
    path = folder / f"{rtype}.ndjson"
    done, lines = 0, []
    for line in path.read_bytes().splitlines():
        res = orjson.loads(line)
        if done < count and change(res):
            done += 1
        lines.append(orjson.dumps(res))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return done


def _month_only_start(res: dict[str, Any]) -> bool:
    period = res.get("period")
    if not isinstance(period, dict) or "start" not in period:
        return False
    period["start"] = period["start"][:7]
    period.pop("end", None)
    return True


def _year_only_total(res: dict[str, Any]) -> bool:
    codes = [c.get("code") for c in res.get("code", {}).get("coding", [])]
    if PHQ9_TOTAL not in codes or "effectiveDateTime" not in res:
        return False
    res["effectiveDateTime"] = res["effectiveDateTime"][:4]
    return True


ENDS_ONLY: list[str] = []  # the key of the episode given an end only
#: the measures of an episode's discharge (no session or score placed from its start)
DISCHARGE_MEASURES = {
    "iop-completion",
    "iop-continuity-aftercare",
    "iop-followup-7",
    "iop-followup-30",
    "iop-readmission-30",
    "iop-readmission-90",
    "iop-checkins-kept",
}


def _end_only(res: dict[str, Any]) -> bool:
    """An episode whose period has an end only (R4 allows it): no start to place its
    sessions and scores by."""
    period = res.get("period")
    if not isinstance(period, dict) or len(period.get("start", "")) < 10 or "end" not in period:
        return False
    res["period"] = {"end": period["end"]}
    ENDS_ONLY.append(f"EpisodeOfCare/{res['id']}")
    return True


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    root = tmp_path_factory.mktemp("undated")
    whole = synth_ndjson(root, patients=12, seed=3)
    partial = root / "partial"
    partial.mkdir()
    for path in whole.glob("*.ndjson"):
        (partial / path.name).write_bytes(path.read_bytes())
    changed = _rewrite(partial, "EpisodeOfCare", _month_only_start, 1)
    changed += _rewrite(partial, "Encounter", _month_only_start, 2)
    changed += _rewrite(partial, "Observation", _year_only_total, 2)
    assert changed == 5
    assert _rewrite(partial, "EpisodeOfCare", _end_only, 1) == 1
    return whole, partial, changed


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_records_without_a_day_are_counted_as_left_out(
    cohorts: tuple[Path, Path, int], engine_name: str, request: pytest.FixtureRequest
) -> None:
    whole, partial, changed = cohorts
    engine = request.getfixturevalue(f"{engine_name}_engine")
    with Source.from_path(whole) as source:
        plain = compute(source, engine)
    assert (plain.undated, plain.unstarted) == (0, 0)
    with Source.from_path(partial) as source:
        outcomes = compute(source, engine)
    assert outcomes.undated == changed
    # the episode without a start counts where its discharge is enough, and only there
    assert outcomes.unstarted == 1
    counted = {
        m for m, rows in outcomes.subjects.items() for r in rows if r.subject_key in ENDS_ONLY
    }
    assert {"iop-readmission-30", "iop-completion"} <= counted <= DISCHARGE_MEASURES


def test_the_cli_and_the_report_say_so(
    cohorts: tuple[Path, Path, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _whole, partial, changed = cohorts
    out = tmp_path / "out.json"
    assert main(["outcomes", str(partial), "--format", "json", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"note: {changed} episode(s), session(s) or score(s) dated with a year or a month" in err
    assert "note: 1 episode(s) without a start are counted only where their discharge" in err
    assert json.loads(out.read_text())["rows"]
    page = tmp_path / "report.html"
    assert main(["report", str(partial), "-o", str(page)]) == 0
    text = page.read_text()
    assert f"{changed} records dated by year or month only left out" in text
    assert "1 episode without a start: discharge measures only" in text


def test_duckdb_and_spark_leave_out_the_same(
    cohorts: tuple[Path, Path, int], duckdb_engine: Any, spark_engine: Any
) -> None:
    """Spark's cast reads ``2024-05`` as a day (its first) where DuckDB's does not: the
    dates are read alike on both, so the figures are the same."""
    _whole, partial, _ = cohorts
    assert subject_figures(partial, duckdb_engine) == subject_figures(partial, spark_engine)
