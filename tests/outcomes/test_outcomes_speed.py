"""The speed work on the measures (issue 13) changes no result: the views projected to the
columns the outcome SQL reads give the same rows and the same measure rows as the whole
views; the subject results built column by column equal those built row by row; the DuckDB
engine writes its tables unordered and gives the setting back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from tests.engines import ehr_panels, example_resources
from tests.outcomes.cohort import cohort

from iopfhir.fhir.build.questionnaires import questionnaires
from iopfhir.outcomes import columns, compute, facts, load_measures
from iopfhir.outcomes.columns import outcome_views
from iopfhir.outcomes.compute import SubjectResult, _stratum_value, _subject_rows, _text
from iopfhir.outcomes.facts import VIEWS, view_rows
from iopfhir.outcomes.measures import measure_sql, population_column
from iopfhir.terminology.instruments import instrument
from iopfhir.views import Source, get_engine, iop_view
from iopfhir.views.errors import ViewError
from iopfhir.views.model import project, restrict


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    """The hand-made cohort and both examples: rows for every view the measures read."""
    resources = list(cohort())
    for name in ("mental-health-iop", "co-occurring-sud-iop"):
        resources += example_resources(tmp_path_factory.mktemp("ex"), name)
    resources += questionnaires()  # the forms the responses answer
    resources += ehr_panels("Patient/A")  # scores and answers as a panel's components
    with Source.from_resources(resources) as src:
        yield src


def _same_rows(full: Any, part: Any) -> bool:
    at = [full.columns.index(c) for c in part.columns]
    return Counter(tuple(r[i] for i in at) for r in full.rows) == Counter(part.rows)


def test_projected_views_keep_the_rows(duckdb_engine: Any, source: Source) -> None:
    views = outcome_views("duckdb", rows=False)
    assert set(views) == set(VIEWS)
    dropped = 0
    for table, view in views.items():
        whole = iop_view(VIEWS[table])
        assert set(view.columns) <= set(whole.columns), table
        dropped += len(whole.columns) - len(view.columns)
        full = duckdb_engine.run(whole, source)
        part = duckdb_engine.run(view, source)
        assert full.rows, table  # the cohort has rows for every view
        assert _same_rows(full, part), table
    assert dropped > 0  # some columns are not read by any measure


def test_restricted_views_keep_the_rows_the_sql_reads(duckdb_engine: Any, source: Source) -> None:
    """Only the large views of view_rows() are restricted, to rows within those the SQL
    filters on (test_measure_rows_equal_over_whole_views: the same measure rows)."""
    projected, restricted = outcome_views("duckdb", rows=False), outcome_views("duckdb")
    assert set(view_rows()) == {"score", "answer", "component", "appointment_participant"}
    for table, view in restricted.items():
        if table not in view_rows():
            assert view == projected[table], table
            continue
        assert view.columns == projected[table].columns
        full = duckdb_engine.run(projected[table], source)
        part = duckdb_engine.run(view, source)
        assert 0 < len(part.rows) < len(full.rows), table  # rows left out, rows kept
        assert not Counter(part.rows) - Counter(full.rows), table  # a subset
        if table == "appointment_participant":
            continue
        # every row the SQL reads (the screening answers, the instruments' totals) is kept
        loinc = full.columns.index("loinc")
        wanted = {c for _s, c in _wanted_codes(table)}
        kept = [r for r in full.rows if r[loinc] in wanted]
        assert kept and not Counter(kept) - Counter(part.rows), table


def _wanted_codes(table: str) -> list[tuple[str, str]]:
    items, totals = facts._screen_codes()
    if table in ("answer", "component"):  # a component: a score or an answer
        answers = [("http://loinc.org", c) for c in items + totals]
        if table == "answer":
            return answers
        return answers + _wanted_codes("score")
    totals_ = [instrument(i).total_code for i in facts.INSTRUMENTS.values()]
    return [("", c) for c in totals_ + items]


def test_restrict_adds_where_paths() -> None:
    view = iop_view("iop-observation-score")
    more = restrict(view, ["status = 'final'", "subject.exists()"])
    assert len(more.where) == len(view.where) + 2
    assert more.where[: len(view.where)] == view.where and more.columns == view.columns
    with pytest.raises(ViewError, match="undefined constant"):
        restrict(view, ["code = %nope"])
    with pytest.raises(ViewError, match=r"where\[\d+\]\.path"):
        restrict(view, ["code.where("])


def test_report_rows_equal_over_unrestricted_views(source: Source) -> None:
    """The report's statements read within the restricted rows: the same report data."""
    from iopfhir.outcomes.report.data import report_data

    got = {}
    for rows in (True, False):
        engine = get_engine("duckdb")
        real = columns.view_rows
        try:
            if not rows:
                columns.view_rows = lambda: {}  # type: ignore[assignment]
                columns._outcome_views.cache_clear()
            outcomes = compute(source, engine)
            got[rows] = (report_data(source, engine, outcomes), outcomes.subjects, {
                m.id: outcomes.summary(m.id) for m in outcomes.measures
            })  # fmt: skip
        finally:
            columns.view_rows = real
            columns._outcome_views.cache_clear()
            engine.close()
    assert got[True][0].scores and got[True] == got[False]


def test_a_select_left_without_columns_keeps_its_rows(duckdb_engine: Any, source: Source) -> None:
    for name in ("iop-encounter-participant", "iop-appointment-participant"):
        whole = iop_view(name)
        bare = project(whole, set())
        assert bare.columns and set(bare.columns) < set(whole.columns)
        full = duckdb_engine.run(whole, source)
        assert len(duckdb_engine.run(bare, source).rows) == len(full.rows), name


def test_planned_columns_are_within_the_words_of_the_sql() -> None:
    planned = outcome_views("duckdb")
    columns._outcome_views.cache_clear()
    real, shipped = columns._planned, columns._shipped
    try:  # neither planned now nor shipped: the words of the SQL
        columns._planned = lambda views, texts: None  # type: ignore[assignment]
        columns._shipped = lambda current: None  # type: ignore[assignment]
        by_words = outcome_views("duckdb")
    finally:
        columns._planned, columns._shipped = real, shipped
        columns._outcome_views.cache_clear()
    assert any(set(planned[t].columns) < set(by_words[t].columns) for t in planned)
    for table, view in planned.items():
        assert set(view.columns) <= set(by_words[table].columns), table


def test_measure_rows_equal_over_whole_views(source: Source) -> None:
    whole, part = get_engine("duckdb"), get_engine("duckdb")
    try:
        for table, name in VIEWS.items():
            whole.register(table, iop_view(name), source)
        for table, view in outcome_views("duckdb").items():
            part.register(table, view, source)
        measures = load_measures()
        for basis in ("EpisodeOfCare", "Encounter"):
            sql = measure_sql([m for m in measures if m.basis == basis], "duckdb", None)
            a, b = whole.query(sql), part.query(sql)
            assert a.columns == b.columns
            assert a.rows and a.rows == b.rows, basis
    finally:
        whole.close()
        part.close()


def _row_by_row(measures: list[Any], cols: list[str], rows: list[tuple[Any, ...]]) -> Any:
    at = {n: i for i, n in enumerate(cols)}
    out = {}
    for i, m in enumerate(measures):
        subjects = []
        for row in rows:
            counts = {c: int(row[at[population_column(i, c)]] or 0) for c, _ in m.populations}
            if not any(counts.values()):
                continue
            obs = row[at[f"m{i}_observation"]] if f"m{i}_observation" in at else None
            subjects.append(
                SubjectResult(
                    str(row[at[m.subject_key]]),
                    _text(row[at["patient_key"]]),
                    _text(row[at["index_date"]]),
                    counts,
                    None if obs is None else float(obs),
                    {n: _stratum_value(n, row[at[n]]) for n in m.strata},
                    tuple(str(row[at[c]]) for c in m.supplemental if row[at[c]] is not None),
                )
            )
        out[m.id] = subjects
    return out


def test_subject_rows_equal_a_row_by_row_build(duckdb_engine: Any, source: Source) -> None:
    for table, view in outcome_views("duckdb").items():
        duckdb_engine.register(table, view, source)
    measures = load_measures()
    for basis in ("EpisodeOfCare", "Encounter"):
        group = [m for m in measures if m.basis == basis]
        result = duckdb_engine.query(measure_sql(group, "duckdb", None))
        got = _subject_rows(group, result.columns, result.rows)
        assert got == _row_by_row(group, result.columns, result.rows)
        assert any(got.values()), basis
    assert _subject_rows(group, result.columns, []) == {m.id: [] for m in group}


def _ordered(engine: Any) -> Any:
    sql = "SELECT current_setting('preserve_insertion_order')"
    return engine.connection.sql(sql).fetchall()[0][0]


@pytest.mark.parametrize("setting", [True, False])
def test_insertion_order_setting_given_back(source: Source, setting: bool) -> None:
    engine = get_engine("duckdb")
    try:
        engine.connection.execute(f"SET preserve_insertion_order = {setting}")
        engine.register("p", iop_view("iop-patient"), source)
        engine.register("e", iop_view("iop-encounter"), source)
        assert engine.query("SELECT count(*) FROM e").rows[0][0] > 0
        assert _ordered(engine) is setting
    finally:
        engine.close()


def test_the_report_reads_the_views_compute_made() -> None:
    # the report's statements read no column the measures do not: it reuses their tables
    from iopfhir.outcomes.report import data

    texts = (
        data._episodes_sql("duckdb", None),
        data._scores_sql("duckdb"),
        data._sessions_sql("duckdb"),
        data._hours_sql("duckdb"),
    )
    assert outcome_views("spark", *texts) == outcome_views("duckdb")
