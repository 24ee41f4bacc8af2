"""The Measure resources: valid R4, canonical URLs, every criterion runs, copied unchanged
into the profiles package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iopfhir.outcomes import OutcomesError, load_measures, measure, measure_resource, measure_sql
from iopfhir.validation import validate

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "iopfhir" / "outcomes" / "data"
IDS = sorted(m.id for m in load_measures())


@pytest.mark.parametrize("measure_id", IDS)
def test_measure_is_valid_r4(measure_id: str) -> None:
    res = measure_resource(measure_id)
    assert res["url"] == f"https://iopfhir.org/fhir/Measure/{measure_id}"
    assert validate(res).errors == []
    m = measure(measure_id)
    codes = {code for code, _ in m.populations}
    if m.scoring == "proportion":
        assert {"initial-population", "denominator", "numerator"} <= codes
    else:
        assert m.scoring == "continuous-variable"
        assert m.observation is not None and "measure-population" in codes


def test_in_the_profiles_package() -> None:
    package = ROOT / "profiles" / "package"
    for path in sorted(DATA.glob("Measure-*.json")):
        assert json.loads((package / path.name).read_text()) == json.loads(path.read_text())


def test_one_statement_text_per_engine() -> None:
    episode = [m for m in load_measures() if m.basis == "EpisodeOfCare"]
    duck, spark = measure_sql(episode, "duckdb"), measure_sql(episode, "spark")
    assert duck != spark  # identifier quotes and the day difference are spelled per engine
    assert duck.replace('"', "`").count("\n") == spark.count("\n")
    with pytest.raises(OutcomesError, match="one subject type"):
        measure_sql(load_measures(), "duckdb")
    with pytest.raises(OutcomesError, match="no measure"):
        measure_resource("iop-nothing")
