"""Which columns of the IOP views the outcome SQL reads: the views the engines compute.

:func:`outcome_views` gives each shipped view of :data:`~iopfhir.outcomes.facts.VIEWS`
with only the columns the facts SQL (and any other SQL given, e.g. the report's) reads
(:func:`~iopfhir.views.model.project`: the same rows), so an engine extracts and stores no
column no measure uses. Which columns those are, DuckDB's planner says when it is installed:
the SQL is planned (``EXPLAIN``, nothing read) over empty tables of the views' columns, and
the columns its table scans keep are the ones read (those named in the scans' filters too).
Without DuckDB, or if planning fails, a column is kept wherever its name occurs in the SQL
text (never fewer than the SQL reads). The SQL is the same on every engine, so the DuckDB
plan holds for Spark as well. Planning the measures' SQL takes DuckDB's optimizer about as
long as reading a small file, so its answer ships as package data (``data/view-columns.json``,
written by ``tools/gen_outcome_columns.py``) with a fingerprint of the SQL and the views it
was planned from: when they change and the file is not written again, the SQL is planned
at run time as before (a test keeps the shipped file current). The large Observation views
are also kept to the rows the SQL reads (:func:`~iopfhir.outcomes.facts.view_rows`: the
instruments' totals and the screening answers, not every item answer).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from iopfhir.outcomes.facts import (
    VIEWS,
    episode_facts_sql,
    iop_episode,
    other_program,
    stay_facts_sql,
    view_rows,
)
from iopfhir.outcomes.lookups import repeats_sql
from iopfhir.outcomes.programs import episode_view
from iopfhir.terminology.programs import ProgramCodes, check_program_codes
from iopfhir.views import View, iop_view
from iopfhir.views.compile_view import output_kind
from iopfhir.views.dialect import DuckDBDialect
from iopfhir.views.model import project, restrict

__all__ = ["outcome_views"]

SHIPPED = "view-columns.json"

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def outcome_views(
    engine_name: str,
    *more_sql: str,
    rows: bool = True,
    program_codes: ProgramCodes | None = None,
) -> dict[str, View]:
    """The views the measures (and ``more_sql``) read on engine ``engine_name``: table name
    -> view with only the columns read (see the module docstring; the columns read do not
    depend on the engine's spelling, so the DuckDB text of the SQL is planned) and, with
    ``rows``, only the rows the outcome SQL reads of the large views
    (:func:`~iopfhir.outcomes.facts.view_rows`: ``more_sql`` must read within them, as the
    report's statements do; ``rows=False`` for any other). With ``program_codes``, the
    episode view reads those local program codes as program types
    (:func:`~iopfhir.outcomes.programs.episode_view`)."""
    del engine_name  # the same columns on every engine
    local = tuple(check_program_codes(program_codes or {}).items())
    return dict(_outcome_views(tuple(more_sql), rows, local))


@cache
def _outcome_views(
    more_sql: tuple[str, ...], rows: bool, local: tuple[tuple[tuple[str, str], str], ...]
) -> tuple[tuple[str, View], ...]:
    full, texts = _inputs(more_sql)
    used = None if more_sql else _shipped(fingerprint(full, texts))
    if local:  # the same columns, one computed otherwise
        full["episode"] = episode_view(dict(local))
    if used is None:
        used = _planned(full, texts)
    if used is None:
        words = {w for text in texts for w in _WORD.findall(text)}
        used = {table: words for table in full}
    read = view_rows() if rows else {}
    out = []
    for table, view in full.items():
        view = project(view, used[table])
        out.append((table, restrict(view, [read[table]]) if table in read else view))
    return tuple(out)


def _inputs(more_sql: tuple[str, ...] = ()) -> tuple[dict[str, View], tuple[str, ...]]:
    """The whole shipped views by table name, and the statements that read them."""
    texts = (
        episode_facts_sql("duckdb"),
        stay_facts_sql("duckdb"),
        repeats_sql(iop_episode=iop_episode(), other_program=other_program()),
        *more_sql,
    )
    return {table: iop_view(name) for table, name in VIEWS.items()}, texts


def fingerprint(views: dict[str, View], texts: tuple[str, ...]) -> str:
    """What the columns read depend on: the statements and the views' columns."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    for table, view in sorted(views.items()):
        names = [(c.name, c.type, c.collection) for c in view.root.all_columns()]
        digest.update(json.dumps([table, view.resource, names]).encode())
    return digest.hexdigest()


def measure_columns() -> dict[str, Any]:
    """The columns the measures' SQL reads of each view, planned now, with the fingerprint
    they hold for (what ``tools/gen_outcome_columns.py`` ships)."""
    full, texts = _inputs()
    used = _planned(full, texts)
    if used is None:
        raise RuntimeError("planning the measures' SQL needs DuckDB")
    return {
        "fingerprint": fingerprint(full, texts),
        "columns": {
            table: sorted(names & {c.name for c in full[table].root.all_columns()})
            for table, names in sorted(used.items())
        },
    }


def _shipped(current: str) -> dict[str, set[str]] | None:
    """The shipped columns, if they were planned from the same SQL and views."""
    try:
        data = json.loads((resources.files("iopfhir.outcomes") / "data" / SHIPPED).read_bytes())
    except (OSError, ValueError):
        return None
    if data.get("fingerprint") != current:
        return None
    return {table: set(names) for table, names in data["columns"].items()}


def _planned(views: dict[str, View], texts: tuple[str, ...]) -> dict[str, set[str]] | None:
    """The columns of each view the statements' table scans read, per DuckDB's plan."""
    try:
        import duckdb
    except ImportError:  # pragma: no cover - depends on the installation
        return None
    d = DuckDBDialect()
    con = duckdb.connect()
    try:
        # an empty table is not planned away (its statistics are not looked at)
        con.execute("SET disabled_optimizers = 'statistics_propagation,empty_result_pullup'")
        for table, view in views.items():
            cols = []
            for c in view.root.all_columns():
                kind = output_kind(c.type) or "string"
                sql_type = d.scalar_types[kind] + ("[]" if c.collection else "")
                cols.append(f"{d.quote(c.name)} {sql_type}")
            con.execute(f"CREATE TEMP TABLE {d.quote(table)} ({', '.join(cols)})")
        used: dict[str, set[str]] = {table: set() for table in views}
        for text in texts:
            plan = con.execute(f"EXPLAIN (FORMAT JSON) {text}").fetchall()[0][1]
            for name, words in _scans(json.loads(plan)):
                if name in used:
                    used[name] |= words
    except Exception:  # DuckDB's own error classes: fall back to the SQL text
        return None
    finally:
        con.close()
    return used


def _scans(nodes: Any) -> Iterator[tuple[str, set[str]]]:
    """(table, names in its projections and filters) of every table scan of a plan."""
    for node in nodes if isinstance(nodes, list) else [nodes]:
        info = node.get("extra_info") or {}
        if node.get("name") == "SEQ_SCAN" and "Table" in info:
            table = str(info["Table"]).rsplit(".", 1)[-1].strip('"')
            text = json.dumps([info.get("Projections", ""), info.get("Filters", "")])
            yield table, set(_WORD.findall(text))
        yield from _scans(node.get("children") or [])
