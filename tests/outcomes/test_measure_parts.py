"""The episode measures in two statements (``measure_sql_parts``): joined by episode they
give the rows of the one statement (``measure_sql``), column for column; measures that read
both symptom and other columns, or none or all of them symptoms, are not parted."""

from __future__ import annotations

import dataclasses
from typing import Any

import duckdb
from tests.outcomes.cohort import cohort

from iopfhir.outcomes import load_measures, measure_sql
from iopfhir.outcomes.columns import outcome_views
from iopfhir.outcomes.facts import INSTRUMENTS
from iopfhir.outcomes.measures import measure_sql_parts
from iopfhir.views import Source, get_engine


def _episode_measures() -> list[Any]:
    return [m for m in load_measures() if m.basis == "EpisodeOfCare"]


def _rows(con: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description]
    return columns, cursor.fetchall()


def test_the_parts_joined_give_the_one_statement() -> None:
    measures = _episode_measures()
    parts = measure_sql_parts(measures, "duckdb")
    assert parts is not None
    engine = get_engine("duckdb", connection=duckdb.connect())
    with Source.from_resources(cohort()) as source:
        for table, view in outcome_views("duckdb").items():
            engine.register(table, view, source)
        engine.query("SELECT 1")  # the views computed
        con = engine.connection
        whole_columns, whole = _rows(con, measure_sql(measures, "duckdb"))
        main, scores = parts
        joined = f"SELECT * FROM ({main}) a JOIN ({scores}) b USING (episode_key)"
        columns, rows = _rows(con, joined)
    assert sorted(columns) == sorted(whole_columns)
    at = [columns.index(c) for c in whole_columns]
    assert sorted(tuple(r[i] for i in at) for r in rows) == sorted(whole)
    assert len(whole) > 1
    # the symptom part holds the symptom measures, the other the rest
    assert "phq9_base_key" in scores and "phq9_base_key" not in main
    assert "sessions_attended" in main and "sessions_attended" not in scores


def test_not_parted_when_a_measure_reads_both_kinds() -> None:
    measures = _episode_measures()
    first = measures[0]
    mixed = dataclasses.replace(
        first,
        populations=(
            *first.populations[:-1],
            (first.populations[-1][0], "CASE WHEN phq9_n >= 2 AND weeks_full > 0 THEN 1 END"),
        ),
    )
    assert measure_sql_parts([mixed, *measures[1:]], "duckdb") is None
    # a name the parting does not know is read as a column of the other facts
    unknown = dataclasses.replace(first, observation="my_function(phq9_last)")
    assert measure_sql_parts([unknown, *measures[1:]], "duckdb") is None


def test_not_parted_without_symptom_measures_or_for_stays() -> None:
    episodes = _episode_measures()
    # a measure of scores names an instrument's columns (phq9_n, gad7_last, ...)
    symptoms = [
        m for m in episodes if any(f"{p}_" in e for _, e in m.populations for p in INSTRUMENTS)
    ]
    others = [m for m in episodes if m not in symptoms]
    assert symptoms and others
    assert measure_sql_parts(others, "duckdb") is None
    assert measure_sql_parts(symptoms, "duckdb") is None
    assert measure_sql_parts(episodes, "duckdb") is not None
    stays = [m for m in load_measures() if m.basis == "Encounter"]
    assert measure_sql_parts(stays, "duckdb") is None
