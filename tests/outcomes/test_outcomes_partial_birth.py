"""A birth date known to the year or the month (R4 allows ``1957`` and ``1957-06``;
de-identified data keep only the year) stratifies by age as its first day does.

A synthetic cohort's birth dates are moved to the first day of their year (or month) in one
copy and written partially (``1957``, ``1957-06``) in another: every measure's figures,
age bands included, must be the same, on DuckDB, on Spark and in the plain-Python
reference; and no subject is left without an age band.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests.engines import synth_ndjson
from tests.outcomes.figures import reference_figures, subject_figures


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("births")
    source = synth_ndjson(root, patients=30, seed=5)
    first_day, partial = root / "first-day", root / "partial"
    for folder in (first_day, partial):
        folder.mkdir()
        for path in source.glob("*.ndjson"):
            if path.stem != "Patient":
                (folder / path.name).write_bytes(path.read_bytes())
    days, texts = [], []
    for n, line in enumerate((source / "Patient.ndjson").read_bytes().splitlines()):
        patient = orjson.loads(line)
        year, month = patient["birthDate"][:4], patient["birthDate"][5:7]
        by_year = n % 2 == 0
        days.append({**patient, "birthDate": f"{year}-01-01" if by_year else f"{year}-{month}-01"})
        texts.append({**patient, "birthDate": year if by_year else f"{year}-{month}"})
    (first_day / "Patient.ndjson").write_bytes(b"\n".join(orjson.dumps(p) for p in days))
    (partial / "Patient.ndjson").write_bytes(b"\n".join(orjson.dumps(p) for p in texts))
    return first_day, partial


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_a_partial_birth_date_stratifies_as_its_first_day(
    layouts: tuple[Path, Path], engine_name: str, request: pytest.FixtureRequest
) -> None:
    first_day, partial = layouts
    engine = request.getfixturevalue(f"{engine_name}_engine")
    want = subject_figures(first_day, engine)
    assert want["iop-phq9-change"]
    got = subject_figures(partial, engine)
    assert got == want
    rows = [row for rows in got.values() for row in rows]
    assert rows and not [row for row in rows if "age_band': None" in row]


def test_the_reference_reads_them_alike(layouts: tuple[Path, Path]) -> None:
    first_day, partial = layouts
    want = reference_figures(first_day)
    assert want["iop-phq9-change"]["populations"]
    assert reference_figures(partial) == want
