"""The SQL of a shared read on DuckDB: several views of one resource type computed from one
read of its files (:class:`~iopfhir.views.engines.duckdb_engine.DuckDBEngine`), and each
view as a view of that read."""

from __future__ import annotations

from collections.abc import Callable

from iopfhir.views.compile_view import CompiledView, compile_view
from iopfhir.views.dialect import Dialect
from iopfhir.views.fhir_types import view_schema
from iopfhir.views.model import Select, View
from iopfhir.views.types import SqlType, StructT, merge

__all__ = ["rows_per_resource", "shared_read", "stage_views"]


def rows_per_resource(view: View) -> bool:
    """Whether ``view`` makes a list of rows of each resource (``forEach``, ``repeat``,
    ``unionAll`` anywhere in its selects: what its compiled SQL gives as ``many``): kept as
    a read of one row per resource (its lead columns once, beside the list) that a view
    unnests where it is queried, not as a table of the rows, whose every row would copy
    the lead columns (the answered items of 110,000 responses: 830,000 rows). Read from the
    view's selects, not by compiling it (a compile costs as much as the read's own)."""

    def iterates(sel: Select) -> bool:
        return (
            sel.for_each is not None
            or bool(sel.repeat)
            or bool(sel.union_all)
            or any(iterates(sub) for sub in sel.selects)
        )

    return iterates(view.root)


def stage_views(
    d: Dialect, names: list[str], compiled: list[CompiledView], known: dict[str, str], stage: str
) -> list[tuple[str, str, str]]:
    """Each view of a shared read: its name, its SQL over the read's table ``stage`` (a
    projection of its struct, or the ``unnest`` of its rows, the lead columns another
    view's struct holds read from it: ``known``) and the read."""
    made: list[tuple[str, str, str]] = []
    for i, (name, c) in enumerate(zip(names, compiled, strict=True)):
        v = d.quote(f"_v{i}")
        if c.single is not None:
            cols = ", ".join(f"{d.field(v, n)} AS {d.quote(n)}" for n in c.columns)
            sql = f"SELECT {cols} FROM {stage} WHERE {v} IS NOT NULL"  # noqa: S608
        else:
            slot = {
                n: d.column("_u", f"_l{k}") if e in known else d.field("_s", f"_l{k}")
                for k, (n, e) in enumerate(c.lead)
            }
            cols = ", ".join(
                f"{slot[n] if n in slot else d.field('_r', n)} AS {d.quote(n)}" for n in c.columns
            )
            rows = d.explode(d.field(v, "_rows"))
            # the lead columns another view's struct holds, read from it
            shared = "".join(
                f", {known[e]} AS {d.quote(f'_l{k}')}"
                for k, (_, e) in enumerate(c.lead)
                if e in known
            )
            sql = (
                f"SELECT {cols} FROM (SELECT {v} AS _s{shared}, {rows} AS _r "  # noqa: S608
                f"FROM {stage}) AS _u"
            )
        made.append((name, sql, stage))
    return made


def shared_read(
    d: Dialect,
    rtype: str,
    views: list[tuple[str, View]],
    source_sql: Callable[[StructT, set[str] | None], str],
    stage: str,
) -> tuple[str, list[tuple[str, str, str]]]:
    """Several views of one resource type from one read of its files: one statement
    computes every view's rows of each resource (its row, or its list of rows, NULL when
    the view's ``where`` leaves the resource out) into a table ``stage``; each view is a
    view of it (a projection, or the ``unnest`` of its rows). ``source_sql(schema, keep)``
    is the read of the files with that schema (keeping those top-level fields, all for
    None). The statement, and each view's name, SQL and read."""
    schemas = [view_schema(v) for _, v in views]
    merged: SqlType = schemas[0] or StructT(())
    for other in schemas[1:]:
        merged = merge(merged, other or StructT(()))
    assert isinstance(merged, StructT)
    compiled = [compile_view(v, d, merged, "t") for _, v in views]
    parts: list[str] = []
    fields: set[str] = set()
    where = f"{d.column('t', 'resourceType')} = {d.string(rtype)}"
    # a lead column that a view with a row for every resource computes too is read
    # from that view's struct, not computed twice (each encounter's episode key for
    # its participant rows and for its own row)
    known: dict[str, str] = {}
    # the conditions of the views that leave resources out (a column each)
    flags: dict[str, str] = {}
    for c in compiled:
        if c.where != where:
            flags.setdefault(c.where, f"_w{len(flags)}")
    for i, c in enumerate(compiled):
        if c.single is not None and c.where == where:
            for n, e in zip(c.columns, c.single, strict=True):
                known.setdefault(e, d.field(d.quote(f"_v{i}"), n))
    one_condition = len(flags) == 1 and all(c.where != where for c in compiled)
    for i, c in enumerate(compiled):
        if c.single is not None:
            body = d.struct(list(zip(c.columns, c.single, strict=True)))
        else:  # the lead columns once per resource, beside its list of rows
            assert c.many is not None
            lead = [(f"_l{k}", e) for k, (_, e) in enumerate(c.lead) if e not in known]
            body = d.struct([*lead, ("_rows", c.many)])
        # NULL for a resource outside the view; not needed where the read keeps only the
        # resources of this one condition (the answered items: a CASE runs its lambdas
        # on a selection, ~5 % more instructions for that read)
        if c.where != where and not one_condition:
            body = f"CASE WHEN {d.column('t', flags[c.where])} THEN {body} END"
        parts.append(f"{body} AS {d.quote(f'_v{i}')}")
        fields |= c.root_fields
    keep = None if "*" in fields else fields
    source = f"{source_sql(merged, keep)} AS t"
    if flags:  # each view's condition evaluated once per resource, in a column
        conditions = ", ".join(f"{cond} AS {d.quote(flag)}" for cond, flag in flags.items())
        source = f"(SELECT t.*, {conditions} FROM {source}) AS t"  # noqa: S608
    read = f"SELECT {', '.join(parts)} FROM {source}"  # noqa: S608
    if all(c.where != where for c in compiled):  # only the resources of some view
        where = " OR ".join(d.column("t", flags[c.where]) for c in compiled)
    made = stage_views(d, [name for name, _ in views], compiled, known, stage)
    return f"{read} WHERE {where}", made
