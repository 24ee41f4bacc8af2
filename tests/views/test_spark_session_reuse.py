"""A Spark session already active in the process is the caller's: an engine made without a
session uses it (no second start) and leaves it running when it closes."""

from __future__ import annotations

from typing import Any

from iopfhir.views import get_engine


def test_an_active_session_is_used_and_left_running(spark_engine: Any) -> None:
    other = get_engine("spark")
    assert other.session is spark_engine.session
    other.close()
    assert spark_engine.session.sql("SELECT 1 AS one").collect()[0][0] == 1
    assert spark_engine.session.conf.get("spark.sql.json.filterPushdown.enabled") == "false"
