"""Engines shared by the view tests: one DuckDB and one Spark engine for the whole session.

Spark takes 20-30 s to start, so every module shares the session's engine. Spark tests run
whenever pyspark is installed; under ``CI=true`` a missing pyspark FAILS (it is in the
``test`` extra) instead of skipping.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.engines import spark_engine_or_skip

from iopfhir.views import get_engine


@pytest.fixture(scope="session")
def duckdb_engine() -> Iterator[Any]:
    engine = get_engine("duckdb")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[Any]:
    engine = spark_engine_or_skip()
    yield engine
    engine.close()


@pytest.fixture(params=["duckdb", "spark"])
def engine(request: pytest.FixtureRequest) -> Any:
    """Each engine in turn."""
    return request.getfixturevalue(f"{request.param}_engine")
