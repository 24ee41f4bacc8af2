"""Lookup tables read as one row per key, so that a resource given twice counts once.

A source may hold the same resource (the same ``Type/id``) more than once: NDJSON exports
that overlap (an incremental export beside a full one, both holding the Patient), or
resources given to :meth:`~iopfhir.views.Source.from_resources` twice. Joined as it is,
each copy would repeat the rows it is joined to (an episode counted once per copy of its
Patient). :func:`one_per_key` reads such a table with one row per key. Where the copies
differ (a Patient updated between two exports), the least row by the columns given is
kept: a fixed choice, alike on every engine, as no version order is known here.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["one_per_key"]


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
