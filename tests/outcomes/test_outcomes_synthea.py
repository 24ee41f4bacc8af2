"""The measures on the Synthea files of the shared corpus (transaction Bundles, one patient
each), against figures computed here in plain Python from the same files.

Synthea writes inpatient stays as Encounters of class IMP: the inpatient readmission measure
is computed from them. It has no IOP EpisodeOfCare, so the episode measures have empty
populations. PHQ-9 / GAD-7 totals (LOINC 44261-6 / 70274-6) would come from its
Observations: the files here hold none (checked below), so the symptom figures are empty too.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest

from iopfhir.outcomes import bundle_resources, compute
from iopfhir.views import Source

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "synthea"
FILES = sorted(CORPUS.glob("*/*.json"))

pytestmark = pytest.mark.skipif(not FILES, reason="the shared Synthea corpus is not here")


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in FILES:
        out += bundle_resources(orjson.loads(path.read_bytes()))
    return out


def _readmissions(resources: list[dict[str, Any]]) -> tuple[int, int]:
    """(stays with a discharge date, those followed by an admission within 1-30 days)."""
    stays: dict[str, list[tuple[str, dt.date, dt.date | None]]] = {}
    for r in resources:
        if r["resourceType"] != "Encounter" or r.get("class", {}).get("code") != "IMP":
            continue
        if r.get("status") in ("planned", "cancelled", "entered-in-error"):
            continue
        period = r.get("period", {})
        end = dt.date.fromisoformat(period["end"][:10]) if "end" in period else None
        stays.setdefault(r["subject"]["reference"], []).append(
            (r["id"], dt.date.fromisoformat(period["start"][:10]), end)
        )
    den = num = 0
    for patient_stays in stays.values():
        for sid, _, end in patient_stays:
            if end is None:
                continue
            den += 1
            gaps = [(s[1] - end).days for s in patient_stays if s[0] != sid and s[1] > end]
            num += bool(gaps) and min(gaps) <= 30
    return den, num


def test_synthea(resources: list[dict[str, Any]], duckdb_engine: Any) -> None:
    with Source.from_resources(resources) as source:
        outcomes = compute(source, duckdb_engine)
    den, num = _readmissions(resources)
    assert den > 0
    readmission = outcomes.summary("iop-inpatient-readmission-30").overall
    assert readmission.populations["denominator"] == den
    assert readmission.populations["numerator"] == num
    assert readmission.score == round(num / den, 4)
    totals = [
        c["code"]
        for r in resources
        if r["resourceType"] == "Observation"
        for c in r.get("code", {}).get("coding", [])
        if c.get("system") == "http://loinc.org" and c.get("code") in ("44261-6", "70274-6")
    ]
    assert totals == []  # see the module docstring
    for measure_id in ("iop-phq9-baseline", "iop-gad7-change", "iop-readmission-30"):
        assert not any(outcomes.summary(measure_id).overall.populations.values())
