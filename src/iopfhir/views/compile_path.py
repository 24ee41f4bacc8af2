"""FHIRPath (the SQL-on-FHIR subset) compiled to one SQL expression, typed by the data's schema.

A compiled expression is an :class:`Expr`: SQL text, the type of its elements (from the
schema the engine inferred; None when the data never has the element, i.e. always empty),
and whether it is a list (``many``) or at most one value (NULL meaning empty). Navigation
on a list maps and flattens; a choice element (``value``) is resolved by ``ofType(X)`` to
the JSON field ``valueX``.

Functions: ``where``, ``exists``, ``empty``, ``first``, ``last``, ``count``, ``not``,
``join``, ``ofType``, ``extension(url)``, ``getResourceKey()``,
``getReferenceKey([type])``, ``lowBoundary``, ``highBoundary``, ``lower``, ``upper``,
``startsWith``, ``endsWith``, ``contains``. Anything
else is a :class:`ViewError` naming the function. Keys are ``Type/id`` strings:
``getResourceKey()`` of a Patient ``p1`` equals ``getReferenceKey()`` of a reference
``Patient/p1`` (absolute URLs and ``_history`` suffixes are stripped).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from iopfhir.views import fhirpath as fp
from iopfhir.views.boundary import decimal_boundary, temporal_boundary, temporal_kind
from iopfhir.views.dialect import Dialect
from iopfhir.views.errors import ViewError
from iopfhir.views.model import Constant
from iopfhir.views.types import ListT, Prim, SqlType, StructT

__all__ = ["Context", "Expr", "PathCompiler"]

_REF = "^(.*/)?([A-Za-z]+)/([A-Za-z0-9.-]+)(/_history/[A-Za-z0-9.-]+)?$"
_PLAIN_REF = "[A-Za-z]+/[A-Za-z0-9.-]+"  # matched whole: a relative reference, one slash
_STRINGISH = {
    "string", "code", "id", "uri", "url", "canonical", "oid", "uuid", "markdown",
    "base64Binary", "date", "dateTime", "instant", "time",
}  # fmt: skip
_INTEGER = {"integer", "positiveInt", "unsignedInt", "integer64"}


@dataclass(frozen=True, slots=True)
class Expr:
    """A compiled FHIRPath expression."""

    sql: str
    type: SqlType | None
    many: bool
    root: bool = False
    choice: tuple[Expr, str] | None = None
    element: str | None = None
    #: ``(list, var, body)`` when ``sql`` is the non-NULL values of ``body`` over ``list``:
    #: a further step on the elements (``.name``, ``getReferenceKey()``) joins ``body``
    #: instead of mapping and filtering the list again
    mapped: tuple[str, str, str] | None = None
    #: when ``sql`` is the union (``|``) of single values: those values, in order, so that
    #: ``first()`` / ``last()`` is a ``coalesce`` of them rather than a list built per row
    #: (``(value.ofType(Quantity).value | value.ofType(integer)).first()``)
    alternatives: tuple[str, ...] | None = None
    #: when ``sql`` is ``coalesce(list, [])``: that list, NULL when absent; ``first()`` /
    #: ``last()`` index it directly (an element of NULL is NULL: coalescing a list copies it)
    nullable: str | None = None


EMPTY = Expr("NULL", None, False)


@dataclass(slots=True)
class Context:
    """What an expression is evaluated against."""

    this: Expr
    root: Expr
    row_index: str
    alias: str
    used_root_fields: set[str] = field(default_factory=set)


class PathCompiler:
    """Compiles FHIRPath nodes for one dialect, with the view's constants."""

    def __init__(self, dialect: Dialect, constants: Mapping[str, Constant]) -> None:
        self.d = dialect
        self.constants = constants
        self._names = itertools.count(1)
        self.used_root: set[str] = set()

    def var(self) -> str:
        """A fresh lambda variable name."""
        return f"_v{next(self._names)}"

    # -- collection helpers ---------------------------------------------------------
    def as_list(self, e: Expr) -> str:
        """The expression as a non-NULL list."""
        if e.many:
            return e.sql
        if e.type is None:
            return self.d.empty()
        v = self.var()
        return self.d.filter(self.d.list_of([e.sql]), v, f"{v} IS NOT NULL")

    def single(self, e: Expr) -> str:
        """The expression as one value (NULL when empty or when there are several)."""
        if not e.many:
            return e.sql
        return f"CASE WHEN {self.d.length(e.sql)} = 1 THEN {self.d.element(e.sql, '1')} END"

    def _resolve(self, e: Expr) -> Expr:
        if e.choice is None:
            return e
        base, prefix = e.choice
        assert isinstance(base.type, StructT)
        names = [
            k
            for k, _ in base.type.fields
            if k.startswith(prefix) and k[len(prefix) :][:1].isupper()
        ]
        if len(names) == 1:
            return self.member(base, names[0])
        if not names:
            return EMPTY
        parts = [self.single(self.member(base, n)) for n in names]
        text = ", ".join(self.d.try_cast(p, self.d.scalar_types["string"]) for p in parts)
        return Expr(f"coalesce({text})", Prim("string"), False)

    def member(self, e: Expr, name: str) -> Expr:
        """``e.name``."""
        e = self._resolve(e)
        if not isinstance(e.type, StructT):
            return EMPTY
        ft = e.type.get(name)
        if ft is None:
            if any(k.startswith(name) and k[len(name) :][:1].isupper() for k, _ in e.type.fields):
                return Expr("NULL", None, False, choice=(e, name))
            return EMPTY
        d = self.d
        if e.root:
            self.used_root.add(name)
        if not e.many:
            sql = d.column("t", name) if e.root else d.field(e.sql, name)
            if isinstance(ft, ListT):
                return Expr(
                    f"coalesce({sql}, {d.empty()})", ft.elem, True, element=name, nullable=sql
                )
            return Expr(sql, ft, False, element=name)
        v = self.var()
        if isinstance(ft, ListT):
            return Expr(d.flat_map(e.sql, v, d.field(v, name)), ft.elem, True, element=name)
        return self._map(e, lambda x: d.field(x, name), ft, name)

    def _map(self, e: Expr, step: Callable[[str], str], t: SqlType, element: str | None) -> Expr:
        """``step`` of every element of the list ``e``, NULLs left out (a NULL element's
        step is NULL: one map and one filter for a whole chain of steps)."""
        d = self.d
        if e.mapped is not None:
            lst, v, body = e.mapped
            body = step(body)
        else:
            v = self.var()
            lst, body = e.sql, step(v)
        w = self.var()
        sql = d.filter(d.transform(lst, v, body), w, f"{w} IS NOT NULL")
        return Expr(sql, t, True, element=element, mapped=(lst, v, body))

    # -- compilation -----------------------------------------------------------------
    def compile(self, node: fp.Node, ctx: Context) -> Expr:
        """Compile ``node`` in ``ctx``."""
        return self._resolve(self._compile(node, ctx))

    def _compile(self, node: fp.Node, ctx: Context) -> Expr:
        d = self.d
        if isinstance(node, fp.Literal):
            return self.literal(node.value, node.kind)
        if isinstance(node, fp.This):
            return ctx.this
        if isinstance(node, fp.Const):
            if node.name == "rowIndex":
                return Expr(ctx.row_index, Prim("integer"), False)
            if node.name in ("resource", "rootResource"):
                ctx.used_root_fields.add("*")
                return ctx.root
            const = self.constants.get(node.name)
            if const is None:
                raise ViewError(f"undefined constant %{node.name}")
            return self.literal(const.value, const.kind)
        if isinstance(node, fp.Member):
            base = ctx.this if node.base is None else self._compile(node.base, ctx)
            if base.root:
                ctx.used_root_fields.add(node.name)
            return self.member(base, node.name)
        if isinstance(node, fp.Index):
            base = self.compile(node.base, ctx)
            idx = self.single(self.compile(node.index, ctx))
            if base.type is None:
                return EMPTY
            if not base.many:
                return Expr(f"CASE WHEN {idx} = 0 THEN {base.sql} END", base.type, False)
            return Expr(d.element(base.sql, f"({idx}) + 1"), base.type, False)
        if isinstance(node, fp.Unary):
            inner = self.compile(node.operand, ctx)
            sign = "-" if node.op == "-" else ""
            return Expr(f"({sign}{self.single(inner)})", inner.type, False)
        if isinstance(node, fp.Binary):
            return self.binary(node, ctx)
        return self.call(node, ctx)

    def literal(self, value: object, kind: str) -> Expr:
        """A literal of a FHIRPath kind."""
        if kind == "empty" or value is None:
            return EMPTY
        if kind == "boolean":
            return Expr("TRUE" if value else "FALSE", Prim("boolean"), False)
        if kind == "integer":
            return Expr(str(int(value)), Prim("integer"), False)  # type: ignore[call-overload]
        if kind == "decimal":
            return Expr(f"CAST({float(value)!r} AS DOUBLE)", Prim("decimal"), False)  # type: ignore[arg-type]
        return Expr(self.d.string(str(value)), Prim("string"), False)

    def to_decimal(self, base: Expr) -> Expr:
        """FHIRPath ``toDecimal()``: a number as it is, a boolean as 1 or 0, a string
        that is a decimal (``(+|-)?digits(.digits)?``) as its value; else empty."""
        decimal = Prim("decimal")
        kind = base.type.kind if isinstance(base.type, Prim) else None
        if kind not in ("integer", "decimal", "boolean", "string"):
            return EMPTY
        value = self.single(base)
        as_decimal = self.d.scalar_types["decimal"]
        if kind == "boolean":
            return Expr(f"CASE WHEN {value} THEN 1.0 WHEN NOT {value} THEN 0.0 END", decimal, False)
        if kind == "string":
            number = self.d.full_match(value, r"[+-]?[0-9]+(\.[0-9]+)?")
            cast = f"CAST({value} AS {as_decimal})"
            return Expr(f"CASE WHEN {number} THEN {cast} END", decimal, False)
        return Expr(f"CAST({value} AS {as_decimal})", decimal, False)

    def binary(self, node: fp.Binary, ctx: Context) -> Expr:
        """Operators."""
        left, right = self.compile(node.left, ctx), self.compile(node.right, ctx)
        op = node.op
        if op == "|":
            if left.type is None:
                return right
            if right.type is None:
                return left
            lists = [self.as_list(left), self.as_list(right)]
            sides = [e.alternatives or ((e.sql,) if not e.many else ()) for e in (left, right)]
            alternatives = (*sides[0], *sides[1]) if all(sides) else None
            return Expr(self.d.concat(lists), left.type, True, alternatives=alternatives)
        a, b = self.single(left), self.single(right)
        boolean = Prim("boolean")
        if op in ("=", "!=", "<", ">", "<=", ">=", "~", "!~"):
            if left.type is None or right.type is None:
                return Expr("CAST(NULL AS BOOLEAN)", boolean, False)
            sql_op = {"=": "=", "~": "=", "!=": "<>", "!~": "<>"}.get(op, op)
            return Expr(f"({a} {sql_op} {b})", boolean, False)
        if op in ("and", "or"):
            return Expr(f"({a} {op.upper()} {b})", boolean, False)
        if op == "xor":
            return Expr(f"({a} <> {b})", boolean, False)
        if op == "implies":
            return Expr(f"((NOT {a}) OR {b})", boolean, False)
        if op == "&":
            return Expr(f"(coalesce({a}, '') || coalesce({b}, ''))", Prim("string"), False)
        kinds = {t.kind for t in (left.type, right.type) if isinstance(t, Prim)}
        if op == "+" and "string" in kinds:
            return Expr(f"({a} || {b})", Prim("string"), False)
        if op == "div":
            return Expr(self.d.int_div(a, b), Prim("integer"), False)
        sql_op = "%" if op == "mod" else op
        kind = "decimal" if op == "/" or "decimal" in kinds else "integer"
        return Expr(f"({a} {sql_op} {b})", Prim(kind), False)  # type: ignore[arg-type]

    def call(self, node: fp.Call, ctx: Context) -> Expr:
        """Function calls."""
        d = self.d
        name = node.name
        raw = ctx.this if node.base is None else self._compile(node.base, ctx)
        if name == "ofType":
            return self.of_type(raw, node)
        base = self._resolve(raw)
        if name == "iif" and len(node.args) in (2, 3):
            return self.iif(node.args, replace(ctx, this=base) if node.base else ctx)
        boolean = Prim("boolean")
        if name == "where" and len(node.args) == 1:
            return self.where(base, node.args[0], ctx)
        if name in ("exists", "empty"):
            if node.args:
                base = self.where(base, node.args[0], ctx)
            if base.type is None:
                present = "FALSE"
            elif base.many:
                present = f"({d.length(base.sql)} > 0)"
            else:
                present = f"({base.sql} IS NOT NULL)"
            return Expr(present if name == "exists" else f"(NOT {present})", boolean, False)
        if name in ("first", "last") and not node.args:
            if not base.many:
                return base
            if base.alternatives:
                values = base.alternatives if name == "first" else base.alternatives[::-1]
                return Expr(f"coalesce({', '.join(values)})", base.type, False)
            listed = base.nullable or base.sql
            return Expr(d.element(listed, "1" if name == "first" else "-1"), base.type, False)
        if name == "count" and not node.args:
            return Expr(f"CAST({d.length(self.as_list(base))} AS BIGINT)", Prim("integer"), False)
        if name == "not" and not node.args:
            return Expr(f"(NOT {self.single(base)})", boolean, False)
        if name == "join" and len(node.args) <= 1:
            sep = self.single(self.compile(node.args[0], ctx)) if node.args else "''"
            lst = self.as_list(base)
            if base.type != Prim("string") and base.type is not None:
                v = self.var()
                lst = d.transform(lst, v, d.try_cast(v, d.scalar_types["string"]))
            return Expr(f"coalesce({d.join(lst, sep)}, '')", Prim("string"), False)
        if name == "extension" and len(node.args) == 1:
            url = self.single(self.compile(node.args[0], ctx))
            exts = self.member(base, "extension")
            if base.root:
                ctx.used_root_fields.add("extension")
            if exts.type is None:
                return EMPTY
            v = self.var()
            return Expr(
                d.filter(self.as_list(exts), v, f"{d.field(v, 'url')} = {url}"), exts.type, True
            )
        if name == "getResourceKey" and not node.args:
            if not base.root:
                raise ViewError("getResourceKey() works on the resource only")
            ctx.used_root_fields.update(("resourceType", "id"))
            rt, rid = d.column("t", "resourceType"), d.column("t", "id")
            return Expr(f"({rt} || '/' || {rid})", Prim("string"), False)
        if name == "getReferenceKey" and len(node.args) <= 1:
            return self.reference_key(base, node)
        if name in ("lowBoundary", "highBoundary") and not node.args:
            return self.boundary(base, name == "highBoundary")
        if name == "toDecimal" and not node.args:
            return self.to_decimal(base)
        if name in ("lower", "upper") and not node.args:
            return Expr(f"{name}({self.single(base)})", Prim("string"), False)
        if name in ("startsWith", "contains", "endsWith") and len(node.args) == 1:
            arg = self.single(self.compile(node.args[0], ctx))
            text = self.single(base)
            # left()/right() and contains() are spelled alike in DuckDB and Spark SQL
            # (DuckDB's starts_with/ends_with are not Spark functions)
            if name == "contains":
                return Expr(f"contains({text}, {arg})", boolean, False)
            side = "left" if name == "startsWith" else "right"
            return Expr(f"({side}({text}, length({arg})) = {arg})", boolean, False)
        raise ViewError(
            f"FHIRPath function {name}() with {len(node.args)} argument(s) is not supported"
        )

    def boundary(self, base: Expr, high: bool) -> Expr:
        """``lowBoundary()`` / ``highBoundary()`` (:mod:`iopfhir.views.boundary`)."""
        if not isinstance(base.type, Prim) or base.type.kind in ("boolean", "other"):
            return EMPTY
        value = self.single(base)
        if base.type.kind in ("decimal", "integer"):
            return Expr(decimal_boundary(self.d, value, high), Prim("decimal"), False)
        sql = temporal_boundary(self.d, value, temporal_kind(base.element), high)
        return Expr(sql, Prim("string"), False)

    def iif(self, args: tuple[fp.Node, ...], ctx: Context) -> Expr:
        """``iif(criterion, true-result[, otherwise-result])``: the true result where the
        criterion is true, else the other one (an empty criterion is false). Each result
        is taken as one value, and both must be of one type (a CASE has one type)."""
        crit = self.single(self.compile(args[0], ctx))
        results = [self.compile(a, ctx) for a in args[1:]]
        kinds = {r.type for r in results if r.type is not None}
        if not kinds:
            return EMPTY
        if len(kinds) > 1:
            raise ViewError("iif(): the true and otherwise results must be of one type")
        then, *other = (self.single(r) if r.type is not None else "NULL" for r in results)
        otherwise = f" ELSE {other[0]}" if other else ""
        return Expr(f"CASE WHEN {crit} THEN {then}{otherwise} END", kinds.pop(), False)

    def where(self, base: Expr, cond_node: fp.Node, ctx: Context) -> Expr:
        """``base.where(cond)``."""
        if base.type is None:
            return EMPTY
        if base.many:
            v = self.var()
            inner = replace(ctx, this=Expr(v, base.type, False))
            cond = self.single(self.compile(cond_node, inner))
            return Expr(self.d.filter(base.sql, v, f"coalesce({cond}, FALSE)"), base.type, True)
        cond = self.single(self.compile(cond_node, replace(ctx, this=base)))
        if base.root:
            ctx.used_root_fields.add("*")
        sql = self.d.row() if base.root else base.sql
        return Expr(f"CASE WHEN {cond} THEN {sql} END", base.type, False)

    def of_type(self, raw: Expr, node: fp.Call) -> Expr:
        """``ofType(T)``: a choice element's ``valueT`` field, or a type filter."""
        if len(node.args) != 1 or not isinstance(node.args[0], fp.Member | fp.Call):
            raise ViewError("ofType() takes one type name")
        arg = node.args[0]
        tname = arg.name.split(".")[-1]
        if isinstance(arg, fp.Member) and arg.base is not None and isinstance(arg.base, fp.Member):
            tname = arg.name
        if raw.choice is not None:
            base, prefix = raw.choice
            return self.member(base, prefix + tname[:1].upper() + tname[1:])
        t = raw.type
        if t is None:
            return EMPTY
        if isinstance(t, Prim):
            ok = (
                (tname in _STRINGISH and t.kind == "string")
                or (tname in _INTEGER and t.kind == "integer")
                or (tname == "decimal" and t.kind in ("decimal", "integer"))
                or (tname == "boolean" and t.kind == "boolean")
            )
            return raw if ok else EMPTY
        return raw if tname[:1].isupper() else EMPTY

    def reference_key(self, base: Expr, node: fp.Call) -> Expr:
        """``getReferenceKey([type])`` of Reference elements."""
        d = self.d
        want: str | None = None
        if node.args:
            arg = node.args[0]
            if not isinstance(arg, fp.Member) or arg.base is not None:
                raise ViewError("getReferenceKey() takes a resource type name")
            want = arg.name
        refs = self.member(base, "reference")
        if refs.type is None:
            return EMPTY
        pattern = d.string(_REF)

        def key(sql: str) -> str:
            rtype = f"regexp_extract({sql}, {pattern}, 2)"
            full = f"{rtype} || '/' || regexp_extract({sql}, {pattern}, 3)"
            test = f"{rtype} <> ''" if want is None else f"{rtype} = {d.string(want)}"
            general = f"CASE WHEN {test} THEN {full} END"
            # Fast path, same result: a relative ``Type/id`` (one slash) is its own key, and
            # its type is what comes before the slash; anything else takes the general regex.
            if want is None:
                return f"CASE WHEN {d.full_match(sql, _PLAIN_REF)} THEN {sql} ELSE {general} END"
            # and a reference without ``Want/`` anywhere is no key of that type (cheap test
            # before the regular expressions)
            return (
                f"CASE WHEN NOT contains({sql}, {d.string(want + '/')}) THEN NULL "
                f"WHEN {d.relative_reference(sql, want)} THEN {sql} ELSE {general} END"
            )

        if not refs.many:
            return Expr(key(refs.sql), Prim("string"), False)
        return self._map(refs, key, Prim("string"), None)
