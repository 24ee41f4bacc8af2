"""A mixed NDJSON file (several resource types in one, as another tool may write it) gives
the same figures as one file per type, on DuckDB and on Spark.

The engines read each resource type with its R4 types; an element of one name has another
shape in another type (``Appointment.participant`` is not ``Encounter.participant``), so a
mixed file cannot be read with one type's columns: each line is cast on its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.engines import synth_ndjson
from tests.outcomes.figures import subject_figures


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mixed")
    typed = synth_ndjson(root, patients=12, seed=5)
    files = sorted(typed.glob("*.ndjson"))
    lines = [line for f in files for line in f.read_bytes().splitlines()]
    # one mixed file, types interleaved (every 7th line of each round, so no type is a run)
    mixed = root / "all"
    mixed.mkdir()
    (mixed / "export.ndjson").write_bytes(
        b"".join(line + b"\n" for i in range(7) for line in lines[i::7])
    )
    # half of the types in their own files, the rest in a mixed one
    half = root / "half"
    half.mkdir()
    rest = []
    for n, f in enumerate(files):
        if n % 2:
            (half / f.name).write_bytes(f.read_bytes())
        else:
            rest.append(f.read_bytes())
    (half / "rest.ndjson").write_bytes(b"".join(rest))
    return {"typed": typed, "mixed": mixed, "half": half}


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_a_mixed_file_gives_the_figures_of_typed_files(
    layouts: dict[str, Path], engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine = request.getfixturevalue(f"{engine_name}_engine")
    want = subject_figures(layouts["typed"], engine)
    assert sum(len(v) for v in want.values()) > 100  # the cohort has subjects to compare
    assert any(len(v) == 12 for v in want.values())
    assert subject_figures(layouts["mixed"], engine) == want
    assert subject_figures(layouts["half"], engine) == want
