"""The views engines for the tests (``tests/views``, ``tests/outcomes``).

Spark runs whenever pyspark is installed; it is in the test extra, so under ``CI=true``
a missing pyspark FAILS instead of skipping.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import pytest

from iopfhir.views import get_engine

__all__ = ["spark_engine_or_skip"]


def spark_engine_or_skip() -> Any:
    """A local Spark engine (two cores), or the test skipped (failed under CI)."""
    if importlib.util.find_spec("pyspark") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pyspark is not installed (it is in the test extra); CI runs Spark")
        pytest.skip("pyspark is not installed (pip install 'iopfhir[spark]')")
    return get_engine("spark", master="local[2]")
