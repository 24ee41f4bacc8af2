"""The views engines, synthetic NDJSON cohorts and the examples' resources for the tests
(``tests/views``, ``tests/outcomes``).

Spark runs whenever pyspark is installed; it is in the test extra, so under ``CI=true``
a missing pyspark FAILS instead of skipping.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from iopfhir.cli import main
from iopfhir.outcomes import bundle_resources
from iopfhir.views import get_engine

__all__ = [
    "ehr_panels",
    "example_resources",
    "require_pyspark",
    "spark_engine_or_skip",
    "synth_ndjson",
    "with_ehr_panels",
]

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "iopfhir" / "examples"


def synth_ndjson(root: Path, patients: int, seed: int) -> Path:
    """``iopfhir synth --patients N --seed S`` converted with ``--format ndjson``: the folder
    of NDJSON files (under ``root``)."""
    episodes, ndjson = root / "eps", root / "nd"
    argv = ["synth", "--patients", str(patients), "--seed", str(seed), "-o", str(episodes)]
    assert main(argv) == 0
    assert main(["convert", str(episodes), "--format", "ndjson", "-o", str(ndjson)]) == 0
    return ndjson


def ehr_panels(patient: str = "Patient/ehr-1") -> list[dict[str, Any]]:
    """Observations of ``patient`` an EHR sends as panels, scores and answers as components
    (R4 allows it; the import reads them): a PHQ-9 panel (LOINC 44249-1) with its total and
    item 9, and a blood-pressure panel (no score of any instrument)."""

    def code(c: str) -> dict[str, Any]:
        return {"coding": [{"system": "http://loinc.org", "code": c}]}

    def panel(oid: str, panel_code: str, *parts: dict[str, Any]) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": oid, "status": "final",
                "code": code(panel_code), "subject": {"reference": patient},
                "effectiveDateTime": "2025-03-03T10:00:00Z", "component": list(parts)}  # fmt: skip

    return [
        panel("ehr-phq9-panel", "44249-1", {"code": code("44261-6"), "valueInteger": 14},
              {"code": code("44260-8"), "valueCodeableConcept": code("LA6569-3")}),
        panel("ehr-bp-panel", "85354-9",
              {"code": code("8480-6"), "valueQuantity": {"value": 128, "code": "mm[Hg]"}}),
    ]  # fmt: skip


def with_ehr_panels(folder: Path) -> Path:
    """``folder`` (NDJSON, with Patients) with :func:`ehr_panels` of its first Patient in
    a file of their own (so that the scores join an episode)."""
    with (folder / "Patient.ndjson").open("rb") as fh:
        patient = f"Patient/{orjson.loads(fh.readline())['id']}"
    lines = b"\n".join(orjson.dumps(r) for r in ehr_panels(patient))
    (folder / "Observation-ehr-panels.ndjson").write_bytes(lines + b"\n")
    return folder


def example_resources(root: Path, name: str) -> list[dict[str, Any]]:
    """The shipped example ``name`` (``mental-health-iop``, ...) converted to a collection
    Bundle under ``root``: its resources as a server stores them (``bundle_resources``)."""
    out = root / f"{name}.json"
    argv = ["convert", str(EXAMPLES / f"{name}.yaml"), "--format", "collection", "-o", str(out)]
    assert main(argv) == 0
    return bundle_resources(orjson.loads(out.read_bytes()))


def require_pyspark() -> None:
    """Skip the test when pyspark is not installed (fail it under CI, which runs Spark)."""
    if importlib.util.find_spec("pyspark") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pyspark is not installed (it is in the test extra); CI runs Spark")
        pytest.skip("pyspark is not installed (pip install 'iopfhir[spark]')")


def spark_engine_or_skip() -> Any:
    """A local Spark engine (two cores), or the test skipped (failed under CI)."""
    require_pyspark()
    return get_engine("spark", master="local[2]")
