"""Every shipped Measure has the generated narrative iopfhir gives the resources it writes
(R4 dom-6), and it is current: made from the Measure as it is now (a definition edited
without its narrative fails here; `tools/narrate_measures.py` writes them again)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iopfhir.fhir.build.narrative import narrative_div

DATA = Path(__file__).resolve().parents[2] / "src" / "iopfhir" / "outcomes" / "data"
MEASURES = sorted(DATA.glob("Measure-*.json"))


def test_there_are_measures() -> None:
    assert len(MEASURES) > 30


@pytest.mark.parametrize("path", MEASURES, ids=lambda p: p.stem)
def test_the_narrative_is_made_from_the_measure_as_it_is(path: Path) -> None:
    measure = json.loads(path.read_text("utf-8"))
    text = measure["text"]
    assert text["status"] == "generated"
    without = {k: v for k, v in measure.items() if k != "text"}
    assert text["div"] == narrative_div(without)
    assert f"<p><b>Title</b>: {measure['title']}</p>" in text["div"]
