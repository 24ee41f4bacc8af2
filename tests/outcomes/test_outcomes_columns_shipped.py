"""The columns the measures read, shipped as package data: current, used, and not trusted
once the SQL or the views change."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from iopfhir.outcomes import columns
from iopfhir.outcomes.columns import SHIPPED, measure_columns, outcome_views


@pytest.fixture(autouse=True)
def _fresh() -> Any:
    columns._outcome_views.cache_clear()
    yield
    columns._outcome_views.cache_clear()


def _shipped_file() -> dict[str, Any]:
    path = resources.files("iopfhir.outcomes") / "data" / SHIPPED
    return json.loads(path.read_bytes())  # type: ignore[no-any-return]


def test_the_shipped_columns_are_what_duckdb_plans_today() -> None:
    # fails when the facts SQL or a view changed without tools/gen_outcome_columns.py
    assert _shipped_file() == measure_columns()


def test_the_shipped_columns_spare_the_planning(monkeypatch: pytest.MonkeyPatch) -> None:
    planned = outcome_views("duckdb")
    columns._outcome_views.cache_clear()

    def no_planning(views: Any, texts: Any) -> None:
        raise AssertionError("planned although the shipped columns hold")

    monkeypatch.setattr(columns, "_planned", no_planning)
    assert outcome_views("duckdb") == planned


@pytest.fixture
def planned_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many statements each planning at run time was given."""
    calls: list[int] = []
    real = columns._planned

    def planning(views: Any, texts: Any) -> Any:
        calls.append(len(texts))
        return real(views, texts)

    monkeypatch.setattr(columns, "_planned", planning)
    return calls


def test_changed_sql_is_planned_again(
    monkeypatch: pytest.MonkeyPatch, planned_calls: list[int]
) -> None:
    from_shipped = outcome_views("duckdb")
    columns._outcome_views.cache_clear()
    assert planned_calls == []
    monkeypatch.setattr(columns, "fingerprint", lambda views, texts: "another statement")
    assert outcome_views("duckdb") == from_shipped  # planned now: the same views
    assert planned_calls == [3]  # the episodes', the stays' and the repeats' statements


def test_more_sql_is_always_planned(planned_calls: list[int]) -> None:
    outcome_views("duckdb", "SELECT birth_date FROM patient")
    assert planned_calls == [4]


def test_the_fingerprint_follows_the_sql_and_the_views() -> None:
    from iopfhir.outcomes.facts import VIEWS
    from iopfhir.views import iop_view

    views = {table: iop_view(name) for table, name in VIEWS.items()}
    base = columns.fingerprint(views, ("SELECT 1",))
    assert columns.fingerprint(views, ("SELECT 1",)) == base
    assert columns.fingerprint(views, ("SELECT 2",)) != base
    fewer = dict(views)
    fewer.pop("patient")
    assert columns.fingerprint(fewer, ("SELECT 1",)) != base
