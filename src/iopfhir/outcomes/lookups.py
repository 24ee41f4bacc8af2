"""Lookup tables read as one row per key, so that a resource given twice counts once.

A source may hold the same resource (the same ``Type/id``) more than once: NDJSON exports
that overlap (an incremental export beside a full one, both holding the Patient), or
resources given to :meth:`~iopfhir.views.Source.from_resources` twice. Joined as it is,
each copy would repeat the rows it is joined to (an episode counted once per copy of its
Patient). :func:`one_per_key` reads such a table with one row per key. Where the copies
differ (a Patient updated between two exports), the least row by the columns given is
kept: a fixed choice, alike on every engine, as no version order is known here.

:func:`repeats_sql` finds whether any resource the measures read is there more than once
(:func:`~iopfhir.outcomes.compute`, beside the measures: a copy repeats the rows of the
sessions, scores and stays it holds); if so the measures are computed again over the source
read with each resource once (:meth:`~iopfhir.views.Source.without_repeats`). It also counts
the episodes, sessions and scores dated with a year or a month only, which no measure can
place on a day (:attr:`~iopfhir.outcomes.compute.Outcomes.undated`), the episodes
without a start (:attr:`~iopfhir.outcomes.compute.Outcomes.unstarted`) and those of other
programs, left out (:attr:`~iopfhir.outcomes.compute.Outcomes.other_programs`).
"""

from __future__ import annotations

from collections.abc import Sequence

from iopfhir.outcomes.spelling import spelling, sql_date

__all__ = ["REPEAT_KEYS", "UNDATED", "one_per_key", "repeats_sql"]

#: the tables the measures read with one row per resource, by that resource's key column
REPEAT_KEYS = {
    "patient": "patient_key",
    "episode": "episode_key",
    "referral": "servicerequest_key",
    "encounter": "encounter_key",
    "appointment": "appointment_key",
    "score": "observation_key",
    "answer": "observation_key",
    "practitioner_role": "practitionerrole_key",
    "careplan": "careplan_key",
    "flag": "flag_key",
    "risk": "riskassessment_key",
}


#: the tables whose rows the measures place by day, by the column of that day: a row
#: whose date is a year or a month only (R4 allows them) cannot be placed
UNDATED = {"episode": "start", "encounter": "start", "appointment": "start", "score": "effective"}


def one_per_key(table: str, key: str, columns: Sequence[str]) -> str:
    """SQL of a subquery (to alias): ``key`` and ``columns`` of ``table``, one row per key
    (NULL keys kept as they are: they join nothing). The names are iopfhir's own tables and
    columns, never input."""
    cols = ", ".join(columns)
    # NULLS LAST spelled out: DuckDB and Spark put NULLs at opposite ends by default
    order = ", ".join(f"{c} ASC NULLS LAST" for c in columns)
    return (
        f"(SELECT {key}, {cols} FROM (SELECT {key}, {cols}, "  # noqa: S608 (our own names)
        f"ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {order}) AS nth "
        f"FROM {table}) one_{table} WHERE nth = 1)"
    )


def repeats_sql(
    engine_name: str = "duckdb", iop_episode: str = "TRUE", other_program: str = "FALSE"
) -> str:
    """SQL of one row: ``repeated``, how many keys of :data:`REPEAT_KEYS` have more than
    one row, answers of a QuestionnaireResponse given twice (one ``linkId`` twice
    under one response key: a repeated response, or a repeating item) and components of an
    Observation given twice (one index twice under one key: a panel given twice); ``undated``, how
    many rows of :data:`UNDATED` have a date without a day (left out of every measure);
    ``unstarted``, how many episodes (those the SQL condition ``iop_episode`` keeps) have
    no start (R4 allows a Period with an end only): in the measures their discharge is
    enough for, their sessions and scores in none; ``other_programs``, how many episodes
    the SQL condition ``other_program`` says are of another program (left out).
    The keys are grouped by a 64-bit hash of them (half the CPU of grouping the text at
    10,000 patients): two keys of one hash count as a repeat, which only costs the
    reading with each resource once (the same figures), never a figure."""
    hash64 = spelling(engine_name).hash64
    parts = [
        *((t, (k,)) for t, k in REPEAT_KEYS.items()),
        ("qanswer", ("response_key", "link_id")),
        ("component", ("observation_key", "component_index")),
    ]
    counts = [
        f"(SELECT count(*) FROM (SELECT {hash64}({', '.join(cols)}) AS h FROM {table} "  # noqa: S608
        f"WHERE {cols[0]} IS NOT NULL GROUP BY {hash64}({', '.join(cols)}) "
        f"HAVING count(*) > 1) r_{table})"
        for table, cols in parts
    ]
    # rows with a date but no day (``2024``, ``2024-05``): counted, as they count nowhere
    undated = [
        f"(SELECT count(*) FROM {table} WHERE {col} IS NOT NULL AND {sql_date(col)} IS NULL)"  # noqa: S608
        for table, col in UNDATED.items()
    ]
    # an episode without a start: its sessions and scores have no week to be placed in
    unstarted = f"(SELECT count(*) FROM episode WHERE start IS NULL AND {iop_episode})"  # noqa: S608
    # an EpisodeOfCare typed only as another program (an EHR's other services): left out
    others = f"(SELECT count(*) FROM episode WHERE {other_program})"  # noqa: S608
    return (
        f"SELECT {' + '.join(counts)} AS repeated, {' + '.join(undated)} AS undated, "
        f"{unstarted} AS unstarted, {others} AS other_programs"
    )
