"""Engines for the outcome tests: one DuckDB engine and one Spark engine per module.

Spark takes 20-30 s to start; the modules that use it share one session (``getOrCreate``
hands the same one to every engine). Spark tests run whenever pyspark is installed; under
``CI=true`` a missing pyspark FAILS instead of skipping.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.engines import spark_engine_or_skip

from iopfhir.views import get_engine


@pytest.fixture(scope="module")
def duckdb_engine() -> Iterator[Any]:
    engine = get_engine("duckdb")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def spark_engine() -> Iterator[Any]:
    engine = spark_engine_or_skip()
    yield engine
    engine.close()
