"""A SQL-on-FHIR v2 ViewDefinition read from JSON and checked, ready to compile.

:func:`parse_view` turns the JSON object into frozen dataclasses (:class:`View`,
:class:`Select`, :class:`Column`, :class:`Constant`) and checks what the specification
requires before anything runs: a known resource type, at least one ``select``, column names
that are unique and SQL-safe (``^[A-Za-z][A-Za-z0-9_]*$``), at most one of ``forEach`` /
``forEachOrNull`` / ``repeat`` per select, ``unionAll`` branches with the same columns in the
same order, constants with exactly one ``value[x]``, every ``%constant`` defined, and every
FHIRPath expression parsable. Each failure is a :class:`ViewError` naming the JSON path.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from iopfhir.errors import R4_RESOURCE_TYPES
from iopfhir.views import fhirpath
from iopfhir.views.errors import ViewError

__all__ = ["Column", "Constant", "Select", "View", "parse_view", "project", "restrict"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

# constant value[x] suffix -> the FHIRPath kind of its literal
CONSTANT_KINDS: dict[str, str] = {
    "Base64Binary": "string",
    "Boolean": "boolean",
    "Canonical": "string",
    "Code": "string",
    "Date": "string",
    "DateTime": "string",
    "Decimal": "decimal",
    "Id": "string",
    "Instant": "string",
    "Integer": "integer",
    "Integer64": "integer",
    "Oid": "string",
    "PositiveInt": "integer",
    "String": "string",
    "Time": "string",
    "UnsignedInt": "integer",
    "Uri": "string",
    "Url": "string",
    "Uuid": "string",
}


@dataclass(frozen=True, slots=True)
class Column:
    """One output column: ``path`` evaluated in the select's context."""

    name: str
    path: str
    expr: fhirpath.Node
    type: str | None
    collection: bool
    where: str


@dataclass(frozen=True, slots=True)
class Select:
    """One ``select`` element (the view itself is the root select, without iteration)."""

    columns: tuple[Column, ...]
    selects: tuple[Select, ...]
    union_all: tuple[Select, ...]
    for_each: fhirpath.Node | None
    or_null: bool
    repeat: tuple[fhirpath.Node, ...]
    where: str

    def column_names(self) -> list[str]:
        """The names of the columns this select yields, in output order."""
        names = [c.name for c in self.columns]
        for sub in self.selects:
            names += sub.column_names()
        if self.union_all:
            names += self.union_all[0].column_names()
        return names

    def all_columns(self) -> Iterator[Column]:
        """Every column of this select and below, in output order (first unionAll branch)."""
        yield from self.columns
        for sub in self.selects:
            yield from sub.all_columns()
        if self.union_all:
            yield from self.union_all[0].all_columns()


@dataclass(frozen=True, slots=True)
class Constant:
    """A named value usable as ``%name``."""

    name: str
    value: object
    kind: str


@dataclass(frozen=True, slots=True)
class View:
    """A checked ViewDefinition."""

    resource: str
    root: Select
    where: tuple[tuple[str, fhirpath.Node], ...]
    constants: Mapping[str, Constant]
    name: str | None

    @property
    def columns(self) -> list[str]:
        """The output column names, in order."""
        return self.root.column_names()


def _path(text: object, where: str) -> fhirpath.Node:
    if not isinstance(text, str):
        raise ViewError("must be a FHIRPath string", path=where)
    try:
        return fhirpath.parse(text)
    except ViewError as exc:
        raise ViewError(str(exc), path=where) from None


def _list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ViewError("must be an array", path=where)
    return value


def _column(raw: object, where: str) -> Column:
    if not isinstance(raw, dict):
        raise ViewError("must be an object", path=where)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ViewError("name must match ^[A-Za-z][A-Za-z0-9_]*$", path=f"{where}.name")
    type_ = raw.get("type")
    if type_ is not None and not isinstance(type_, str):
        raise ViewError("must be a string", path=f"{where}.type")
    collection = raw.get("collection")
    if collection is not None and not isinstance(collection, bool):
        raise ViewError("must be a boolean", path=f"{where}.collection")
    path = raw.get("path")
    expr = _path(path, f"{where}.path")
    assert isinstance(path, str)
    return Column(name, path, expr, type_, bool(collection), where)


def _select(raw: object, where: str) -> Select:
    if not isinstance(raw, dict):
        raise ViewError("must be an object", path=where)
    iterators = [k for k in ("forEach", "forEachOrNull", "repeat") if raw.get(k) is not None]
    if len(iterators) > 1:
        raise ViewError("at most one of forEach, forEachOrNull, repeat", path=where)
    for_each: fhirpath.Node | None = None
    repeat: tuple[fhirpath.Node, ...] = ()
    key = iterators[0] if iterators else None
    if key in ("forEach", "forEachOrNull"):
        for_each = _path(raw[key], f"{where}.{key}")
    elif key == "repeat":
        paths = _list(raw["repeat"], f"{where}.repeat")
        if not paths:
            raise ViewError("must not be empty", path=f"{where}.repeat")
        repeat = tuple(_path(p, f"{where}.repeat[{i}]") for i, p in enumerate(paths))
    columns = tuple(
        _column(c, f"{where}.column[{i}]") for i, c in enumerate(_list(raw.get("column"), where))
    )
    selects = tuple(
        _select(s, f"{where}.select[{i}]")
        for i, s in enumerate(_list(raw.get("select"), f"{where}.select"))
    )
    union_all = tuple(
        _select(s, f"{where}.unionAll[{i}]")
        for i, s in enumerate(_list(raw.get("unionAll"), f"{where}.unionAll"))
    )
    if union_all:
        first = union_all[0].column_names()
        for i, branch in enumerate(union_all[1:], start=1):
            if branch.column_names() != first:
                raise ViewError(
                    "unionAll branches must have the same columns in the same order",
                    path=f"{where}.unionAll[{i}]",
                )
    if not (columns or selects or union_all):
        raise ViewError("a select needs column, select or unionAll", path=where)
    return Select(columns, selects, union_all, for_each, key == "forEachOrNull", repeat, where)


def _constant(raw: object, where: str) -> Constant:
    if not isinstance(raw, dict):
        raise ViewError("must be an object", path=where)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ViewError("name must match ^[A-Za-z][A-Za-z0-9_]*$", path=f"{where}.name")
    values = [k for k in raw if k.startswith("value")]
    if len(values) != 1 or values[0][5:] not in CONSTANT_KINDS:
        raise ViewError("needs exactly one supported value[x]", path=where)
    kind = CONSTANT_KINDS[values[0][5:]]
    value = raw[values[0]]
    expected: tuple[type, ...] = {
        "string": (str,),
        "integer": (int,),
        "decimal": (int, float),
        "boolean": (bool,),
    }[kind]
    if not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool)):
        raise ViewError(f"{values[0]} has the wrong JSON type", path=where)
    return Constant(name, value, kind)


def _consts_used(node: fhirpath.Node) -> Iterator[str]:
    if isinstance(node, fhirpath.Const):
        yield node.name
    for child in _children(node):
        yield from _consts_used(child)


def _children(node: fhirpath.Node) -> tuple[fhirpath.Node, ...]:
    if isinstance(node, fhirpath.Member):
        return (node.base,) if node.base is not None else ()
    if isinstance(node, fhirpath.Call):
        return ((node.base,) if node.base is not None else ()) + node.args
    if isinstance(node, fhirpath.Index):
        return (node.base, node.index)
    if isinstance(node, fhirpath.Binary):
        return (node.left, node.right)
    if isinstance(node, fhirpath.Unary):
        return (node.operand,)
    return ()


def _exprs(select: Select) -> Iterator[tuple[str, fhirpath.Node]]:
    if select.for_each is not None:
        yield select.where, select.for_each
    for node in select.repeat:
        yield select.where, node
    for col in select.columns:
        yield col.where, col.expr
    for sub in (*select.selects, *select.union_all):
        yield from _exprs(sub)


def parse_view(raw: object) -> View:
    """Check a ViewDefinition JSON object and return it parsed; :class:`ViewError` if bad."""
    if not isinstance(raw, dict):
        raise ViewError("a ViewDefinition must be a JSON object")
    if raw.get("resourceType", "ViewDefinition") != "ViewDefinition":
        raise ViewError("resourceType must be ViewDefinition", path="resourceType")
    resource = raw.get("resource")
    if not isinstance(resource, str) or resource not in R4_RESOURCE_TYPES:
        raise ViewError("must name a FHIR R4 resource type", path="resource")
    selects = _list(raw.get("select"), "select")
    if not selects:
        raise ViewError("at least one select is required", path="select")
    root = Select(
        (),
        tuple(_select(s, f"select[{i}]") for i, s in enumerate(selects)),
        (),
        None,
        False,
        (),
        "select",
    )
    names = root.column_names()
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ViewError(f"duplicate column names: {', '.join(dupes)}", path="select")
    constants: dict[str, Constant] = {}
    for i, c in enumerate(_list(raw.get("constant"), "constant")):
        const = _constant(c, f"constant[{i}]")
        if const.name in constants:
            raise ViewError("duplicate constant name", path=f"constant[{i}]")
        constants[const.name] = const
    where: list[tuple[str, fhirpath.Node]] = []
    for i, w in enumerate(_list(raw.get("where"), "where")):
        if not isinstance(w, dict):
            raise ViewError("must be an object", path=f"where[{i}]")
        where.append((f"where[{i}].path", _path(w.get("path"), f"where[{i}].path")))
    known = set(constants) | {"rowIndex", "resource", "rootResource"}
    for place, node in [*_exprs(root), *where]:
        for name in _consts_used(node):
            if name not in known:
                raise ViewError(f"undefined constant %{name}", path=place)
    label = raw.get("name")
    return View(resource, root, tuple(where), constants, label if isinstance(label, str) else None)


def restrict(view: View, paths: Collection[str]) -> View:
    """``view`` with these FHIRPath ``where`` paths besides its own (fewer rows: those of
    the resources that meet every path)."""
    start = len(view.where)
    more = [
        (f"where[{start + i}].path", _path(text, f"where[{start + i}].path"))
        for i, text in enumerate(paths)
    ]
    known = set(view.constants) | {"rowIndex", "resource", "rootResource"}
    for place, node in more:
        for name in _consts_used(node):
            if name not in known:
                raise ViewError(f"undefined constant %{name}", path=place)
    return replace(view, where=(*view.where, *more))


def _project(select: Select, keep: Collection[str]) -> Select:
    columns = tuple(c for c in select.columns if c.name in keep)
    selects = tuple(_project(s, keep) for s in select.selects)
    branches = tuple(_project(b, keep) for b in select.union_all)
    if len({tuple(b.column_names()) for b in branches}) > 1:
        branches = select.union_all  # the branches must keep the same columns: keep them all
    out = replace(select, columns=columns, selects=selects, union_all=branches)
    if select.columns and not out.column_names():
        # a select keeps a column: the rows (forEach, repeat) stay the view's rows
        out = replace(out, columns=select.columns[:1])
    return out


def project(view: View, keep: Collection[str]) -> View:
    """``view`` with only the columns named in ``keep`` (the same rows; every select, its
    ``forEach`` / ``repeat`` and ``where`` kept; a select left without columns keeps its
    first). An engine then reads and computes only what those columns need."""
    return replace(view, root=_project(view.root, keep))
