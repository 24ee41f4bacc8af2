"""The engine-neutral shape of the data a view reads: primitives, structs and lists.

Each engine reports the schema it inferred for a resource type (DuckDB's ``read_json``,
Spark's ``read.json``); the engine converts it to these three types so that one compiler
serves every engine. A field missing from the data has no type at all (the compiler treats
it as an empty collection). Primitive kinds are ``string``, ``integer``, ``decimal``,
``boolean`` and ``other`` (anything an engine could not name more precisely, e.g. a JSON
blob it gave up typing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["ListT", "Prim", "PrimKind", "SqlType", "StructT", "merge"]

PrimKind = Literal["string", "integer", "decimal", "boolean", "other"]


@dataclass(frozen=True, slots=True)
class Prim:
    """A primitive value."""

    kind: PrimKind


@dataclass(frozen=True, slots=True)
class StructT:
    """An object with named fields (in the engine's order)."""

    fields: tuple[tuple[str, SqlType], ...]

    def get(self, name: str) -> SqlType | None:
        """The type of field ``name``, or None when the data never has it."""
        for key, value in self.fields:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class ListT:
    """An array of ``elem``."""

    elem: SqlType


SqlType: TypeAlias = Prim | StructT | ListT


def merge(a: SqlType, b: SqlType) -> SqlType:
    """The smallest type both ``a`` and ``b`` fit in (fields united, numbers widened)."""
    if a == b:
        return a
    if isinstance(a, StructT) and isinstance(b, StructT):
        names = [k for k, _ in a.fields] + [k for k, _ in b.fields if a.get(k) is None]
        out: list[tuple[str, SqlType]] = []
        for name in names:
            ta, tb = a.get(name), b.get(name)
            if ta is None or tb is None:
                got = ta if tb is None else tb
                assert got is not None
                out.append((name, got))
            else:
                out.append((name, merge(ta, tb)))
        return StructT(tuple(out))
    if isinstance(a, ListT) and isinstance(b, ListT):
        return ListT(merge(a.elem, b.elem))
    if isinstance(a, Prim) and isinstance(b, Prim):
        if {a.kind, b.kind} == {"integer", "decimal"}:
            return Prim("decimal")
        return Prim("string")
    return Prim("other")
