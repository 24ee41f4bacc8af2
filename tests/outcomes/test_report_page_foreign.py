"""The report of a source with no IOP episode (another system's export: a patient's hospital
stays and PHQ-9 scores, in R4 shapes iopfhir does not write), in headless Chromium: the
page says there is no episode instead of showing an empty period or an empty chart, the
measures over inpatient stays are there (and the readmission section gives the stays'
figure), and the browser reports no error."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.browser import chromium

from iopfhir.cli import main
from iopfhir.outcomes import compute, open_source
from iopfhir.views import get_engine

SHOTS = Path("/tmp/report-shots")


def _stay(sid: str, code: str, start: str, end: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter", "id": sid, "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": code},
        "subject": {"reference": "Patient/p1"},
        "period": {"start": start, "end": end},
    }  # fmt: skip


def _phq9(oid: str, day: str, score: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "subject": {"reference": "Patient/p1"},
        "effectivePeriod": {"start": day, "end": day}, "valueInteger": score,
    }  # fmt: skip


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("foreign-report")
    export = root / "export"
    export.mkdir()
    rows = {
        "Patient": [{"resourceType": "Patient", "id": "p1", "gender": "female",
                     "birthDate": "1980-04-02"}],
        "Encounter": [
            _stay("s1", "NONAC", "2025-01-02T10:00:00Z", "2025-01-06T10:00:00Z"),
            _stay("s2", "IMP", "2025-01-20T10:00:00Z", "2025-01-25T10:00:00Z"),
        ],
        "Observation": [_phq9("o1", "2025-01-03T09:00:00Z", 19),
                        _phq9("o2", "2025-01-24T09:00:00Z", 8)],
    }  # fmt: skip
    for rtype, resources in rows.items():
        lines = b"".join(orjson.dumps(r) + b"\n" for r in resources)
        (export / f"{rtype}.ndjson").write_bytes(lines)
    out = root / "report.html"
    assert main(["report", str(export), "-o", str(out)]) == 0
    return export, out


def test_the_page_says_there_is_no_episode(page: tuple[Path, Path]) -> None:
    export, out = page
    engine = get_engine("duckdb")
    try:
        with open_source(export) as source:
            outcomes = compute(source, engine)
            stays = outcomes.summary("iop-inpatient-readmission-30").overall.populations
    finally:
        engine.close()
    assert stays.get("denominator") == 2 and stays.get("numerator") == 1  # s1, then s2

    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1100, "height": 1300})
        problems: list[str] = []
        tab.on(
            "console",
            lambda m: problems.append(m.text) if m.type in ("error", "warning") else None,
        )
        tab.on("pageerror", lambda exc: problems.append(str(exc)))
        tab.goto(out.as_uri(), wait_until="load")
        tab.wait_for_selector("body[data-charts=drawn]", timeout=60_000)
        meta = tab.locator("header .meta").inner_text()
        assert meta.startswith("No IOP episode (EpisodeOfCare) in this source · 0 episodes")
        assert "Period" not in meta
        symptoms = tab.locator("section#symptoms").inner_text()
        assert "No episode with a baseline and a last score." in symptoms
        assert tab.locator("#chart-response-remission").count() == 0
        readmission = tab.locator("section#readmission").inner_text()
        assert "No discharged episode." in readmission
        assert "Inpatient readmission within 30 days: 50.0 % (1 of 2 stays)." in readmission
        row = tab.locator(
            "section#measures tr", has=tab.locator("td:text-is('iop-inpatient-readmission-30')")
        )
        assert re.search(r"\b1 of 2\b", row.inner_text())
        SHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SHOTS / "no-episode-top.png"))
        assert problems == []
