"""The views engines and synthetic NDJSON cohorts for the tests (``tests/views``,
``tests/outcomes``).

Spark runs whenever pyspark is installed; it is in the test extra, so under ``CI=true``
a missing pyspark FAILS instead of skipping.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from iopfhir.cli import main
from iopfhir.views import get_engine

__all__ = ["spark_engine_or_skip", "synth_ndjson"]


def synth_ndjson(root: Path, patients: int, seed: int) -> Path:
    """``iopfhir synth --patients N --seed S`` converted with ``--format ndjson``: the folder
    of NDJSON files (under ``root``)."""
    episodes, ndjson = root / "eps", root / "nd"
    argv = ["synth", "--patients", str(patients), "--seed", str(seed), "-o", str(episodes)]
    assert main(argv) == 0
    assert main(["convert", str(episodes), "--format", "ndjson", "-o", str(ndjson)]) == 0
    return ndjson


def spark_engine_or_skip() -> Any:
    """A local Spark engine (two cores), or the test skipped (failed under CI)."""
    if importlib.util.find_spec("pyspark") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pyspark is not installed (it is in the test extra); CI runs Spark")
        pytest.skip("pyspark is not installed (pip install 'iopfhir[spark]')")
    return get_engine("spark", master="local[2]")
