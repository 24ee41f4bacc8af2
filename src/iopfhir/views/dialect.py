"""How each engine spells the SQL the view compiler needs: one small class per engine.

The compiler (:mod:`iopfhir.views.compile_path`, :mod:`iopfhir.views.compile_view`) builds
every expression through a :class:`Dialect`: list functions with lambdas (``transform``,
``filter``, ``flatten``), struct construction, typed casts, literals. :class:`DuckDBDialect`
targets DuckDB 2.x (``lambda x: ...`` lambdas, 1-based list indexes), :class:`SparkDialect`
Spark SQL 4.x (``x -> ...`` lambdas, ``try_element_at``, safe under ANSI mode).

Collections are always non-NULL arrays (an empty one for "nothing"), so ``flatten`` and
``size`` never meet a NULL.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from typing import Any

from iopfhir.views.types import ListT, Prim, SqlType, StructT

__all__ = ["DUCKDB_PRIMITIVES", "Dialect", "DuckDBDialect", "SparkDialect", "json_structure"]


class Dialect(ABC):
    """The SQL spelling shared by both engines; subclasses override what differs."""

    name = "sql"
    scalar_types = {
        "string": "VARCHAR",
        "integer": "BIGINT",
        "decimal": "DOUBLE",
        "boolean": "BOOLEAN",
        "other": "VARCHAR",
    }

    def quote(self, name: str) -> str:
        """A quoted identifier."""
        return '"' + name.replace('"', '""') + '"'

    def field(self, sql: str, name: str) -> str:
        """Field ``name`` of struct ``sql``."""
        return f"({sql}).{self.quote(name)}"

    def column(self, alias: str, name: str) -> str:
        """Column ``name`` of table ``alias``."""
        return f"{alias}.{self.quote(name)}"

    def string(self, value: str) -> str:
        """A string literal."""
        return "'" + value.replace("'", "''") + "'"

    @abstractmethod
    def lam(self, params: list[str], body: str) -> str:
        """A lambda (each engine spells it its own way)."""

    def transform(self, lst: str, var: str, body: str, index: str | None = None) -> str:
        """``lst`` mapped through ``var -> body`` (``index``: the element's position)."""
        params = [var] if index is None else [var, index]
        return f"list_transform({lst}, {self.lam(params, body)})"

    def filter(self, lst: str, var: str, cond: str) -> str:
        """The elements of ``lst`` for which ``cond`` is true."""
        return f"list_filter({lst}, {self.lam([var], cond)})"

    def all_of(self, lst: str, var: str, cond: str) -> str:
        """Whether ``cond`` holds for every element of the non-NULL list ``lst`` (true
        when it is empty)."""
        return f"coalesce(list_bool_and({self.transform(lst, var, cond)}), TRUE)"

    @abstractmethod
    def from_json(self, sql: str, t: SqlType) -> str:
        """JSON text ``sql`` parsed as type ``t`` (NULL stays NULL; a primitive of kind
        ``other`` stays JSON text)."""

    def flatten(self, lst: str) -> str:
        """A list of lists made one list."""
        return f"flatten({lst})"

    def flat_map(self, lst: str, var: str, inner: str) -> str:
        """The lists ``var -> inner`` of the elements of ``lst``, one after the other (an
        element whose list is NULL adds nothing)."""
        return self.flatten(self.transform(lst, var, f"coalesce({inner}, {self.empty()})"))

    def concat(self, lists: list[str]) -> str:
        """The lists one after the other."""
        out = lists[0]
        for other in lists[1:]:
            out = f"list_concat({out}, {other})"
        return out

    def length(self, lst: str) -> str:
        """The number of elements."""
        return f"len({lst})"

    def empty(self) -> str:
        """An empty list (of any element type)."""
        return "[]"

    def list_of(self, items: list[str]) -> str:
        """A list literal."""
        return "[" + ", ".join(items) + "]"

    def element(self, lst: str, pos: str) -> str:
        """Element ``pos`` (1-based; NULL when out of range)."""
        return f"({lst})[{pos}]"

    def index0(self, var: str) -> str:
        """The 0-based position from a lambda's index parameter."""
        return f"({var} - 1)"

    def struct(self, pairs: list[tuple[str, str]]) -> str:
        """A struct with the given fields."""
        inner = ", ".join(f"{self.quote(k)} := {v}" for k, v in pairs)
        return f"struct_pack({inner})"

    def join(self, lst: str, sep: str) -> str:
        """The string elements joined with ``sep``."""
        return f"array_to_string({lst}, {sep})"

    def error(self, message: str) -> str:
        """An expression that fails the query with ``message``."""
        return f"error({self.string(message)})"

    def full_match(self, sql: str, pattern: str) -> str:
        """Whether the whole string ``sql`` matches regular expression ``pattern``."""
        return f"regexp_full_match({sql}, {self.string(pattern)})"

    def relative_reference(self, sql: str, rtype: str) -> str:
        """Whether string ``sql`` is exactly ``rtype/id``, ``id`` of ``[A-Za-z0-9.-]+``."""
        return self.full_match(sql, re.escape(rtype) + "/[A-Za-z0-9.-]+")

    def try_cast(self, sql: str, type_sql: str) -> str:
        """``sql`` as ``type_sql``, NULL when it does not convert."""
        return f"TRY_CAST({sql} AS {type_sql})"

    def int_div(self, left: str, right: str) -> str:
        """Integer division."""
        return f"({left} // {right})"

    def explode(self, lst: str) -> str:
        """One row per element (in a SELECT list)."""
        return f"unnest({lst})"

    def type_sql(self, t: SqlType) -> str:
        """The engine's name for type ``t``."""
        if isinstance(t, Prim):
            return self.scalar_types[t.kind]
        if isinstance(t, ListT):
            return f"{self.type_sql(t.elem)}[]"
        inner = ", ".join(f"{self.quote(k)} {self.type_sql(v)}" for k, v in t.fields)
        return f"STRUCT({inner})"

    def list_type_sql(self, elem_sql: str) -> str:
        """A list of ``elem_sql``."""
        return f"{elem_sql}[]"

    def row(self) -> str:
        """The whole resource row (table alias ``t``) as one struct."""
        return "t"


#: DuckDB's type of each primitive kind of a schema type
DUCKDB_PRIMITIVES = {"string": "VARCHAR", "integer": "BIGINT", "decimal": "DOUBLE",
                     "boolean": "BOOLEAN", "other": "JSON"}  # fmt: skip


def json_structure(t: SqlType) -> Any:
    """The structure DuckDB's ``from_json`` / ``json_transform`` take for type ``t``."""
    if isinstance(t, StructT):
        return {n: json_structure(ft) for n, ft in t.fields}
    if isinstance(t, ListT):
        return [json_structure(t.elem)]
    return DUCKDB_PRIMITIVES[t.kind]


class DuckDBDialect(Dialect):
    """DuckDB 2.x."""

    name = "duckdb"

    def lam(self, params: list[str], body: str) -> str:
        return f"lambda {', '.join(params)}: {body}"

    def from_json(self, sql: str, t: SqlType) -> str:
        return f"from_json({sql}, {self.string(json.dumps(json_structure(t)))})"

    def flat_map(self, lst: str, var: str, inner: str) -> str:
        # DuckDB's flatten skips NULL lists itself: no coalesce per element (it copies)
        return self.flatten(self.transform(lst, var, inner))


class SparkDialect(Dialect):
    """Spark SQL 4.x (ANSI mode on or off)."""

    name = "spark"
    scalar_types = {
        "string": "STRING",
        "integer": "BIGINT",
        "decimal": "DOUBLE",
        "boolean": "BOOLEAN",
        "other": "STRING",
    }

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def string(self, value: str) -> str:
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        return f"'{escaped}'"

    def lam(self, params: list[str], body: str) -> str:
        # one parameter without parentheses: `(x) -> f(...)` does not parse in Spark 4
        head = params[0] if len(params) == 1 else f"({', '.join(params)})"
        return f"{head} -> {body}"

    def transform(self, lst: str, var: str, body: str, index: str | None = None) -> str:
        params = [var] if index is None else [var, index]
        return f"transform({lst}, {self.lam(params, body)})"

    def filter(self, lst: str, var: str, cond: str) -> str:
        return f"filter({lst}, {self.lam([var], cond)})"

    def from_json(self, sql: str, t: SqlType) -> str:
        return f"from_json({sql}, {self.string(self.type_sql(t))})"

    def all_of(self, lst: str, var: str, cond: str) -> str:
        return f"forall({lst}, {self.lam([var], cond)})"

    def concat(self, lists: list[str]) -> str:
        return lists[0] if len(lists) == 1 else f"concat({', '.join(lists)})"

    def length(self, lst: str) -> str:
        return f"size({lst})"

    def empty(self) -> str:
        return "array()"

    def list_of(self, items: list[str]) -> str:
        return "array(" + ", ".join(items) + ")"

    def element(self, lst: str, pos: str) -> str:
        return f"try_element_at({lst}, {pos})"

    def index0(self, var: str) -> str:
        return var

    def struct(self, pairs: list[tuple[str, str]]) -> str:
        inner = ", ".join(f"{self.string(k)}, {v}" for k, v in pairs)
        return f"named_struct({inner})"

    def join(self, lst: str, sep: str) -> str:
        return f"array_join({lst}, {sep})"

    def error(self, message: str) -> str:
        return f"raise_error({self.string(message)})"

    def full_match(self, sql: str, pattern: str) -> str:
        # \z: the very end (Java's $ also matches before a final line break)
        anchored = "^(?:" + pattern + ")\\z"
        return f"regexp_like({sql}, {self.string(anchored)})"

    def try_cast(self, sql: str, type_sql: str) -> str:
        return f"try_cast({sql} AS {type_sql})"

    def int_div(self, left: str, right: str) -> str:
        return f"({left} div {right})"

    def explode(self, lst: str) -> str:
        return f"explode({lst})"

    def type_sql(self, t: SqlType) -> str:
        if isinstance(t, Prim):
            return self.scalar_types[t.kind]
        if isinstance(t, ListT):
            return f"ARRAY<{self.type_sql(t.elem)}>"
        assert isinstance(t, StructT)
        inner = ", ".join(f"{self.quote(k)}: {self.type_sql(v)}" for k, v in t.fields)
        return f"STRUCT<{inner}>"

    def list_type_sql(self, elem_sql: str) -> str:
        return f"ARRAY<{elem_sql}>"

    def row(self) -> str:
        return "struct(t.*)"
