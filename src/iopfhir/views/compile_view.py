"""A whole ViewDefinition compiled to one SELECT statement for an engine.

Each ``select`` becomes either a single row (its columns as plain SQL expressions) or a
list of row structs: ``forEach`` maps its collection through the nested select (with the
element's 0-based position as ``%rowIndex``), ``forEachOrNull`` adds one all-NULL row when
the collection is empty, ``unionAll`` concatenates the branches' lists, sibling selects are
crossed, and ``repeat`` walks the nested elements depth-first (pre-order: ``%rowIndex``
counts in that order), unrolled to the depth the data's schema actually has (children read
as raw JSON text, ``answer.item`` beside ``item``, are parsed to their typed siblings' type;
an element none of whose paths holds anything is a leaf, not descended). The query reads
the source once: a view without any iteration is a plain projection; otherwise one
``unnest``/``explode`` of the row list.

Column values are cast to the column's declared ``type``: booleans, 64-bit integers
(``integer``, ``positiveInt``, ``unsignedInt``, ``integer64``), doubles (``decimal``) and
strings (every other type, dates included: FHIR dates may be partial). A non-collection
column whose path gives more than one value fails the query, as the specification asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from iopfhir.views import fhirpath as fp
from iopfhir.views.compile_path import Context, Expr, PathCompiler
from iopfhir.views.dialect import Dialect
from iopfhir.views.errors import ViewError
from iopfhir.views.model import Column, Select, View
from iopfhir.views.types import ListT, Prim, PrimKind, SqlType, StructT, merge

__all__ = ["CompiledView", "compile_view", "output_kind"]

_MAX_REPEAT_DEPTH = 24
#: a stand-in for ``%rowIndex`` (a select whose columns use it is walked the general way)
_NO_INDEX = "__iopfhir_no_row_index__"


def output_kind(fhir_type: str | None) -> PrimKind | None:
    """The primitive kind a column of FHIR type ``fhir_type`` is returned as."""
    if fhir_type is None:
        return None
    if fhir_type == "boolean":
        return "boolean"
    if fhir_type in ("integer", "positiveInt", "unsignedInt", "integer64"):
        return "integer"
    if fhir_type == "decimal":
        return "decimal"
    return "string"


@dataclass(frozen=True, slots=True)
class CompiledView:
    """The SQL of a view and what it needs from the source.

    Its parts over one resource (table alias ``t``), for an engine that computes several
    views in one read: ``where`` (the resource is in the view), and either ``single`` (the
    column expressions of its one row) or ``many`` (the list of its row structs, with the
    columns of ``lead`` left out: those have one value per resource, given by ``lead``'s
    expressions, the same in each of its rows).
    """

    sql: str
    columns: list[str]
    root_fields: frozenset[str]
    where: str = "TRUE"
    single: tuple[str, ...] | None = None
    many: str | None = None
    lead: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class _Rows:
    """Rows over one context: ``single`` (one row: its column expressions) or ``many``
    (a list of row structs). A list's columns that have one value per context (a
    ``select``'s own columns beside a nested ``forEach``) are kept out of its structs, in
    ``lead``: evaluated once per context rather than once per row (a reference parsed
    once per resource, not once per participant)."""

    names: list[str]
    types: list[str | None]
    single: list[str] | None = None
    many: str | None = None
    lead: dict[str, str] = field(default_factory=dict)

    def many_names(self) -> list[str]:
        """The columns the structs of ``many`` hold."""
        return [n for n in self.names if n not in self.lead]

    def lead_of(self) -> dict[str, str]:
        """The columns with one value per context."""
        if self.single is not None:
            return dict(zip(self.names, self.single, strict=True))
        return self.lead


class _ViewCompiler:
    def __init__(self, view: View, dialect: Dialect) -> None:
        self.view = view
        self.d = dialect
        self.paths = PathCompiler(dialect, view.constants)

    # -- rows -----------------------------------------------------------------------
    def to_list(self, rows: _Rows) -> str:
        """The rows as one list of structs of every column."""
        d = self.d
        if rows.many is None:
            assert rows.single is not None
            return d.list_of([d.struct(list(zip(rows.names, rows.single, strict=True)))])
        if not rows.lead:
            return rows.many
        r = self.paths.var()
        pairs = [(n, rows.lead[n] if n in rows.lead else d.field(r, n)) for n in rows.names]
        return d.transform(rows.many, r, d.struct(pairs))

    def cross(self, a: _Rows, b: _Rows) -> _Rows:
        d = self.d
        names, types = a.names + b.names, a.types + b.types
        if a.single is not None and b.single is not None:
            return _Rows(names, types, single=a.single + b.single)
        lead = {**a.lead_of(), **b.lead_of()}
        if b.many is None:
            return _Rows(names, types, many=a.many, lead=lead)
        if a.many is None:
            return _Rows(names, types, many=b.many, lead=lead)
        r, s = self.paths.var(), self.paths.var()
        pairs = [(n, d.field(r, n)) for n in a.many_names()]
        pairs += [(n, d.field(s, n)) for n in b.many_names()]
        inner = d.transform(b.many, s, d.struct(pairs))
        return _Rows(names, types, many=d.flatten(d.transform(a.many, r, inner)), lead=lead)

    def column(self, col: Column, ctx: Context) -> tuple[str, str | None]:
        d = self.d
        try:
            e = self.paths.compile(col.expr, ctx)
        except ViewError as exc:
            if exc.path is not None:
                raise
            raise ViewError(str(exc), path=col.where) from None  # named by its column
        kind = output_kind(col.type)
        if kind is None and isinstance(e.type, Prim):
            kind = e.type.kind
        target = d.scalar_types[kind] if kind is not None else None
        if col.collection:
            lst = self.paths.as_list(e)
            if target is None:
                return lst, None
            if e.type != Prim(kind):  # type: ignore[arg-type]
                v = self.paths.var()
                lst = d.transform(lst, v, d.try_cast(v, target))
            return lst, d.list_type_sql(target)
        if e.many:
            message = f"{col.where}: the path gave more than one value (collection is not true)"
            val = (
                f"CASE WHEN {d.length(e.sql)} > 1 THEN {d.error(message)} "
                f"ELSE {d.element(e.sql, '1')} END"
            )
        else:
            val = e.sql
        if target is None:
            return val, None
        if e.type is None:
            return f"CAST(NULL AS {target})", target
        if e.type != Prim(kind):  # type: ignore[arg-type]
            val = d.try_cast(val, target)
        return val, target

    def body(self, sel: Select, ctx: Context) -> _Rows:
        own = [self.column(c, ctx) for c in sel.columns]
        rows = _Rows([c.name for c in sel.columns], [t for _, t in own], single=[s for s, _ in own])
        for sub in sel.selects:
            rows = self.cross(rows, self.select(sub, ctx))
        if sel.union_all:
            branches = [self.select(b, ctx) for b in sel.union_all]
            lists = [self.to_list(b) for b in branches]
            first = branches[0]
            union = _Rows(first.names, first.types, many=self.d.concat(lists))
            rows = self.cross(rows, union)
        return rows

    def select(self, sel: Select, ctx: Context) -> _Rows:
        d = self.d
        if sel.for_each is None and not sel.repeat:
            return self.body(sel, ctx)
        if sel.for_each is not None:
            coll = self.paths.compile(sel.for_each, ctx)
        else:
            direct = self.repeat_rows(sel, ctx)
            if direct is not None:
                return direct
            coll = self.repeat(sel, ctx)
        lst = d.empty() if coll.type is None else self.paths.as_list(coll)
        v, i = self.paths.var(), self.paths.var()
        inner_ctx = Context(Expr(v, coll.type, False), ctx.root, d.index0(i), ctx.alias,
                            ctx.used_root_fields)  # fmt: skip
        inner = self.body(sel, inner_ctx)
        if inner.single is not None:
            pairs = list(zip(inner.names, inner.single, strict=True))
            many = d.transform(lst, v, d.struct(pairs), index=i)
        else:  # each element's rows, its lead columns inside them (they depend on it)
            many = d.flatten(d.transform(lst, v, self.to_list(inner), index=i))
        nulls = ["NULL" if t is None else f"CAST(NULL AS {t})" for t in inner.types]
        null_row = d.list_of([d.struct(list(zip(inner.names, nulls, strict=True)))])
        if coll.type is None:
            # an empty list of the row type (a bare empty array has no field names)
            many = d.filter(null_row, v, "FALSE")
        if sel.or_null:
            null_row = self._null_row_with_index(sel, inner, ctx, null_row)
            many = f"CASE WHEN {d.length(lst)} = 0 THEN {null_row} ELSE {many} END"
        return _Rows(inner.names, inner.types, many=many)

    def _null_row_with_index(self, sel: Select, inner: _Rows, ctx: Context, default: str) -> str:
        """The forEachOrNull row: every column NULL except ``%rowIndex`` columns (0)."""
        d = self.d
        values: list[str] = []
        index_cols = {c.name for c in sel.columns if c.path.strip() == "%rowIndex"}
        if not index_cols:
            return default
        for name, t in zip(inner.names, inner.types, strict=True):
            if name in index_cols:
                values.append(f"CAST(0 AS {t})" if t else "0")
            else:
                values.append("NULL" if t is None else f"CAST(NULL AS {t})")
        return d.list_of([d.struct(list(zip(inner.names, values, strict=True)))])

    # -- repeat ---------------------------------------------------------------------
    def _walk(
        self, sel: Select, ctx: Context, own_of: Callable[[str, SqlType], str | None]
    ) -> str | None:
        """The elements ``own_of(element, its type)`` (one per element ``sel.repeat``
        reaches from ``ctx``), depth-first (pre-order), as one list; ``None`` as soon as
        ``own_of`` gives ``None`` for one, or when no path reaches any element."""
        d, paths = self.d, self.paths

        def walk(sql: str, t: SqlType, depth: int) -> str | None:
            if depth > _MAX_REPEAT_DEPTH:
                raise ViewError("repeat: nesting deeper than supported", path=sel.where)
            own = own_of(sql, t)
            if own is None:
                return None
            parts = [d.list_of([own])]
            children, leaf = self._children(sel, ctx, sql, t)
            # children of one type through several paths (a QuestionnaireResponse's
            # ``item`` and ``answer.item``) are walked as one list, in path order: the
            # same rows in the same order as a walk per path, which would write the whole
            # walk below again for each path (2^depth copies of it)
            groups = (
                [children]
                if len(children) > 1 and all(ct == children[0][1] for _, ct in children)
                else [[c] for c in children]
            )
            for group in groups:
                v = paths.var()
                below = walk(v, group[0][1], depth + 1)
                if below is None:
                    return None
                listed = d.concat([paths.as_list(c) for c, _ in group])
                parts.append(d.flatten(d.transform(listed, v, below)))
            if len(parts) == 1:
                return parts[0]
            if "FALSE" in leaf:
                return d.concat(parts)
            # most elements are leaves: their list is made without descending
            return f"CASE WHEN {' AND '.join(leaf)} THEN {parts[0]} ELSE {d.concat(parts)} END"

        lists = []
        for start in (paths.compile(p, ctx) for p in sel.repeat):
            if start.type is None:
                continue
            v = paths.var()
            rows = walk(v, start.type, 1)
            if rows is None:
                return None
            listed = paths.as_list(start)
            walked = d.flatten(d.transform(listed, v, rows))
            w = paths.var()
            _, leaf = self._children(sel, ctx, w, start.type)
            if leaf and "FALSE" not in leaf:
                # A list of leaves (the usual QuestionnaireResponse: no item holds items)
                # is its elements' own rows, one each, in order: the walk, whose unused
                # branches DuckDB still sets up for every batch of rows, is not run.
                own = own_of(w, start.type)
                assert own is not None  # it was made for the walk above
                walked = (
                    f"CASE WHEN {d.all_of(listed, w, ' AND '.join(leaf))} "
                    f"THEN {d.transform(listed, w, own)} ELSE {walked} END"
                )
            lists.append(walked)
        return d.concat(lists) if lists else None

    def _children(
        self, sel: Select, ctx: Context, sql: str, t: SqlType
    ) -> tuple[list[tuple[Expr, SqlType]], list[str]]:
        """The lists of children ``sel.repeat`` reaches from element ``sql`` (of type
        ``t``), each with its type, and the tests that all are absent (the element is a
        leaf when every one holds; ``FALSE`` among them: it cannot be told so)."""
        leaf: list[str] = []
        children: list[tuple[Expr, SqlType]] = []
        for p in sel.repeat:
            child = self.paths.compile(p, Context(Expr(sql, t, False), ctx.root, "0", ctx.alias))
            if child.type is not None:
                children.append((child, child.type))
                absent = self._absent(_member_chain(p), sql, t)
                leaf.append(f"{child.nullable} IS NULL" if child.nullable else absent)
        return self._parsed(children), leaf

    def _parsed(self, children: list[tuple[Expr, SqlType]]) -> list[tuple[Expr, SqlType]]:
        """Children read as raw JSON text (:func:`~iopfhir.views.fhir_types.view_schema`
        reads ``answer.item`` beside ``item`` so) parsed as their typed siblings are."""
        typed = [ct for _, ct in children if isinstance(ct, StructT)]
        if not typed or all(ct != Prim("other") for _, ct in children):
            return children
        out: list[tuple[Expr, SqlType]] = []
        for c, ct in children:
            if ct == Prim("other"):
                v = self.paths.var()
                lst = self.d.transform(self.paths.as_list(c), v, self.d.from_json(v, typed[0]))
                c, ct = Expr(lst, typed[0], True), typed[0]
            out.append((c, ct))
        return out

    def _absent(self, chain: list[str] | None, sql: str, t: SqlType) -> str:
        """A test that element ``sql`` (of type ``t``) has nothing at the repeat path
        ``chain`` (``FALSE``: none). Through a list it holds when no element of the list
        has any (``answer.item``: no answer holds items): a leaf, most elements, is then
        not descended through every path."""
        d = self.d
        if not chain or not isinstance(t, StructT):
            return "FALSE"
        ft = t.get(chain[0])
        if ft is None:
            return "TRUE"
        here = d.field(sql, chain[0])
        if len(chain) == 1:
            return f"{here} IS NULL" if isinstance(ft, ListT | StructT) else "FALSE"
        v = self.paths.var() if isinstance(ft, ListT) else here
        inner = self._absent(chain[1:], v, ft.elem if isinstance(ft, ListT) else ft)
        if inner == "FALSE":
            return inner
        each = d.all_of(here, v, inner) if isinstance(ft, ListT) else inner
        return f"({here} IS NULL OR {each})"

    def repeat_rows(self, sel: Select, ctx: Context) -> _Rows | None:
        """The rows of a ``repeat`` select made on each element where the walk reaches it
        (no list of the elements is built, none is copied): for plain columns of declared
        types without ``%rowIndex``; ``None`` for any other select (see :meth:`repeat`)."""
        if sel.selects or sel.union_all or sel.or_null:
            return None
        d = self.d
        shape: list[tuple[list[str], list[str | None]]] = []

        def rows_of(sql: str, t: SqlType) -> str | None:
            inner = self.body(sel, Context(Expr(sql, t, False), ctx.root, _NO_INDEX, ctx.alias,
                                           ctx.used_root_fields))  # fmt: skip
            if inner.single is None or any(_NO_INDEX in v for v in inner.single):
                return None
            if None in inner.types or (shape and shape[0] != (inner.names, inner.types)):
                return None  # a column's type varies with the depth: the general walk
            shape.append((inner.names, inner.types))
            return d.struct(list(zip(inner.names, inner.single, strict=True)))

        many = self._walk(sel, ctx, rows_of)
        if many is None or not shape:
            return None
        names, types = shape[0]
        return _Rows(names, types, many=many)

    def repeat(self, sel: Select, ctx: Context) -> Expr:
        """The elements reached by ``sel.repeat`` from ``ctx``, depth-first, as one list."""
        paths = self.paths
        starts = [paths.compile(p, ctx) for p in sel.repeat]
        types: list[SqlType] = []
        todo = [e.type for e in starts if e.type is not None]
        while todo:
            t = todo.pop()
            if t in types:
                continue
            types.append(t)
            if len(types) > 64:
                raise ViewError("repeat: the data nests too many different shapes", path=sel.where)
            for p in sel.repeat:
                child = paths.compile(p, Context(Expr("x", t, False), ctx.root, "0", ctx.alias))
                if child.type is not None:
                    todo.append(child.type)
        if not types:
            return Expr("NULL", None, False)
        target = types[0]
        for t in types[1:]:
            target = merge(target, t)
        # the elements are rows for the columns: the nested lists the walk descends are
        # left out of them unless a column reads them (else each element would carry, and
        # rebuild, its whole subtree)
        used = _names_used(sel)
        for p in sel.repeat:
            chain = _member_chain(p)
            if chain and chain[-1] not in used:
                target = _without(target, chain)

        many = self._walk(sel, ctx, lambda sql, t: self.project(sql, t, target))
        assert many is not None  # a start has a type, and an element's own list is made
        return Expr(many, target, True)

    def project(self, sql: str, t: SqlType, target: SqlType) -> str:
        """``sql`` of type ``t`` rebuilt as ``target`` (missing fields NULL)."""
        d = self.d
        if t == target:
            return sql
        if isinstance(t, StructT) and isinstance(target, StructT):
            pairs = []
            for name, ft in target.fields:
                have = t.get(name)
                if have is None:
                    pairs.append((name, f"CAST(NULL AS {d.type_sql(ft)})"))
                else:
                    pairs.append((name, self.project(d.field(sql, name), have, ft)))
            return f"CASE WHEN {sql} IS NULL THEN NULL ELSE {d.struct(pairs)} END"
        if isinstance(t, ListT) and isinstance(target, ListT):
            v = self.paths.var()
            return d.transform(sql, v, self.project(v, t.elem, target.elem))
        return d.try_cast(sql, d.type_sql(target))

    # -- the statement --------------------------------------------------------------
    def statement(self, schema: StructT, source_sql: str) -> CompiledView:
        d = self.d
        root = Expr(d.row(), schema, False, root=True)
        ctx = Context(root, root, "0", "t")
        rows = self.select(self.view.root, ctx)
        conds = [f"{d.column('t', 'resourceType')} = {d.string(self.view.resource)}"]
        for where, node in self.view.where:
            e = self.paths.compile(node, ctx)
            if isinstance(e.type, StructT | ListT) or (
                isinstance(e.type, Prim) and e.type.kind not in ("boolean", "other")
            ):
                raise ViewError("a where path must give a boolean", path=where)
            conds.append(f"({self.paths.single(e)})" if e.type is not None else "FALSE")
        ctx.used_root_fields.add("resourceType")
        names = rows.names
        where_sql = " AND ".join(conds)
        # Every identifier in the statement goes through Dialect.quote and every value of
        # the view through Dialect.string, so the f-strings below build no injection.
        if rows.single is not None:
            cols = ", ".join(
                f"{s} AS {d.quote(n)}" for n, s in zip(names, rows.single, strict=True)
            )
            sql = f"SELECT {cols} FROM {source_sql} AS t WHERE {where_sql}"  # noqa: S608
        else:
            assert rows.many is not None
            # the lead columns once per resource, beside the unnested rows
            lead = list(rows.lead.items())
            inner = [f"{e} AS {d.quote(f'_l{k}')}" for k, (_, e) in enumerate(lead)]
            slot = {n: d.quote(f"_l{k}") for k, (n, _) in enumerate(lead)}
            cols = ", ".join(
                f"{slot[n] if n in slot else d.field('_r', n)} AS {d.quote(n)}" for n in names
            )
            heads = "".join(f"{x}, " for x in inner)
            sql = (
                f"SELECT {cols} FROM (SELECT {heads}{d.explode(rows.many)} AS _r "  # noqa: S608
                f"FROM {source_sql} AS t WHERE {where_sql}) AS _u"
            )
        return CompiledView(
            sql,
            names,
            frozenset(ctx.used_root_fields | self.paths.used_root),
            where_sql,
            tuple(rows.single) if rows.single is not None else None,
            rows.many,
            tuple(rows.lead.items()),
        )


def compile_view(view: View, dialect: Dialect, schema: StructT, source_sql: str) -> CompiledView:
    """Compile ``view`` for ``dialect`` against the source's inferred ``schema``.

    ``source_sql`` is the table expression the engine reads the resources from (aliased
    ``t`` in the statement); the result also says which top-level fields the statement
    reads, so an engine can read only those.
    """
    return _ViewCompiler(view, dialect).statement(schema, source_sql)


def _names_used(sel: Select) -> set[str]:
    """Every element name the columns (and nested selects) of ``sel`` mention."""
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, fp.Member):
            names.add(node.name)
        if isinstance(node, tuple):
            for item in node:
                visit(item)
        elif hasattr(node, "__dataclass_fields__"):
            for attr in node.__dataclass_fields__:
                visit(getattr(node, attr))

    for col in sel.columns:
        visit(col.expr)
    for sub in (*sel.selects, *sel.union_all):
        visit(sub.for_each)
        visit(sub.repeat)
        names |= _names_used(sub)
    return names


def _member_chain(node: fp.Node) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; None for any other expression."""
    out: list[str] = []
    current: fp.Node | None = node
    while isinstance(current, fp.Member):
        out.append(current.name)
        current = current.base
    return out[::-1] if current is None and out else None


def _without(t: SqlType, chain: list[str]) -> SqlType:
    """``t`` without the element at ``chain`` (through lists)."""
    if isinstance(t, ListT):
        return ListT(_without(t.elem, chain))
    if not isinstance(t, StructT):
        return t
    name, rest = chain[0], chain[1:]
    fields = []
    for n, ft in t.fields:
        if n != name:
            fields.append((n, ft))
        elif rest:
            kept = _without(ft, rest)
            if not _empty(kept):  # a struct left without fields is no element at all
                fields.append((n, kept))
    return StructT(tuple(fields))


def _empty(t: SqlType) -> bool:
    while isinstance(t, ListT):
        t = t.elem
    return isinstance(t, StructT) and not t.fields
