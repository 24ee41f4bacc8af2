"""MeasureReports carry a generated narrative (R4 dom-6): the measure's title, the period,
the populations and the score, as a person reads them, and nothing the report does not hold."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from tests.outcomes.test_measures_more import cohort

from iopfhir.outcomes import compute, report_bundle
from iopfhir.validation import validate
from iopfhir.views import Source

XHTML = "{http://www.w3.org/1999/xhtml}"


@pytest.fixture(scope="module")
def reports(duckdb_engine: Any) -> list[dict[str, Any]]:
    with Source.from_resources(cohort()) as source:
        outcomes = compute(source, duckdb_engine)
    return [e["resource"] for e in report_bundle(outcomes, individual=True)["entry"]]


def lines(report: dict[str, Any]) -> list[str]:
    root = ET.fromstring(report["text"]["div"])
    return ["".join(p.itertext()) for p in root.iter(f"{XHTML}p")]


def test_every_report_has_a_narrative_of_its_own_figures(reports: list[dict[str, Any]]) -> None:
    assert {r["type"] for r in reports} == {"summary", "individual"}
    for report in reports:
        assert report["text"]["status"] == "generated"
        shown = lines(report)
        assert shown[:3] == ["MeasureReport", "Status: complete", f"Type: {report['type']}"]
        group = report["group"][0]
        for population in group["population"]:
            code = population["code"]["coding"][0]["code"]
            label = code.replace("-", " ").capitalize()
            assert f"{label}: {population['count']}" in shown
        score = [line for line in shown if line.startswith("Score: ")]
        assert score == (
            [f"Score: {group['measureScore']['value']}"] if "measureScore" in group else []
        )
        assert not [i for i in validate(report).warnings if "dom-6" in i.message], report["id"]


def test_the_measure_is_named_by_its_title(reports: list[dict[str, Any]]) -> None:
    phq9 = next(r for r in reports if r["measure"].endswith("/iop-phq9-response"))
    assert "Measure: PHQ-9 response" in " | ".join(lines(phq9))
