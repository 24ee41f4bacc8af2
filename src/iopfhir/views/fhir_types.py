"""The schema a view reads, from the FHIR R4 4.0.1 definitions: no engine infers one.

:func:`iopfhir.terminology.r4.r4_definitions` holds, for every R4 resource, complex data
type and backbone element, its child elements: whether each repeats and its type(s) (a
backbone element's type is its own path, ``Observation.component``; a ``contentReference``
points at the element it repeats, ``QuestionnaireResponse.item``). It is derived from the
base StructureDefinitions the validation package ships (rebuild:
``python -m iopfhir.views.fhir_types``).

:func:`view_schema` gives the schema for one view: only the element paths the view's
FHIRPath reaches (walked from the resource through ``forEach``, ``where()``,
``extension()``, ``getReferenceKey()``...; plus ``resourceType`` and ``id``), a choice element
(``value[x]``) as the ``valueX`` fields of the types the view names in ``ofType()`` (else its
primitive types), a complex element the view only tests for presence as its primitive
children, and what ``repeat`` walks (``item.item``...) down to :data:`MAX_NESTING` levels
(deeper nesting is not read; ``types="infer"`` reads it). A ``repeat`` path through another
element to the element a one-step path of it names (``answer.item`` beside ``item``) is read
as raw JSON text, parsed by the walk where present (:func:`_split_repeat`). Engines read
the files with exactly these types (DuckDB ``read_json(columns=...)``, Spark
``read.schema``), so one pass over the data is all a query costs. Fields outside R4 are not
read; data that is not valid R4 (a string where R4 has a number) makes the read fail, as a
ViewError.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

from iopfhir.terminology.r4 import ELEMENTS_FILE, Elements, r4_definitions
from iopfhir.views import fhirpath as fp
from iopfhir.views.model import Select, View
from iopfhir.views.types import ListT, Prim, PrimKind, SqlType, StructT

__all__ = ["MAX_NESTING", "build_elements", "is_r4_type", "r4_elements", "view_schema"]

MAX_NESTING = 6  # levels of ``repeat`` (item.item...) read
#: the trie mark of an element read as raw JSON text (no R4 name has a NUL)
_RAW = "\0json"
_SYSTEM = "http://hl7.org/fhirpath/System."
_KINDS: dict[str, PrimKind] = {
    "boolean": "boolean",
    "integer": "integer",
    "positiveInt": "integer",
    "unsignedInt": "integer",
    "decimal": "decimal",
}
_SYSTEM_KINDS = {"Boolean": "boolean", "Integer": "integer", "Decimal": "decimal"}

# child name -> (repeats, type codes or element paths)
_Elements = Elements


def _data() -> tuple[_Elements, frozenset[str], frozenset[str]]:
    return r4_definitions()


def _prim(code: str, primitives: frozenset[str]) -> Prim | None:
    if code.startswith(_SYSTEM):
        return Prim(_SYSTEM_KINDS.get(code[len(_SYSTEM) :], "string"))  # type: ignore[arg-type]
    if code in primitives:
        return Prim(_KINDS.get(code, "string"))
    return None


_Path = tuple[str, ...]
_ROOT: frozenset[_Path] = frozenset({()})


class _Walker:
    """The element paths (name sequences from the resource) a view's FHIRPath can reach."""

    def __init__(self, repeat_depth: int) -> None:
        self.seen: set[_Path] = set()
        self.of_types: set[str] = set()
        self.repeat_depth = repeat_depth
        #: paths read as raw JSON text (:func:`_split_repeat`)
        self.raw: set[_Path] = set()

    def add(self, paths: frozenset[_Path], name: str) -> frozenset[_Path]:
        out = frozenset((*p, name) for p in paths)
        self.seen.update(out)
        return out

    def walk(self, node: fp.Node, ctx: frozenset[_Path]) -> frozenset[_Path]:
        """The paths ``node`` evaluates to in context ``ctx`` (recording every one reached)."""
        if isinstance(node, fp.This):
            return ctx
        if isinstance(node, fp.Const):
            return _ROOT if node.name in ("resource", "rootResource") else frozenset()
        if isinstance(node, fp.Member):
            base = ctx if node.base is None else self.walk(node.base, ctx)
            return self.add(base, node.name)
        if isinstance(node, fp.Index):
            self.walk(node.index, ctx)
            return self.walk(node.base, ctx)
        if isinstance(node, fp.Binary):
            left, right = self.walk(node.left, ctx), self.walk(node.right, ctx)
            # a union is a collection of both sides' elements (``forEach: item | item.item``)
            return left | right if node.op == "|" else frozenset()
        if isinstance(node, fp.Unary):
            return self.walk(node.operand, ctx)
        if isinstance(node, fp.Call):
            return self.call(node, ctx)
        return frozenset()

    def call(self, node: fp.Call, ctx: frozenset[_Path]) -> frozenset[_Path]:
        base = ctx if node.base is None else self.walk(node.base, ctx)
        name = node.name
        if name == "ofType" and node.args:
            arg = node.args[0]
            if isinstance(arg, fp.Member | fp.Call):
                self.of_types.add(arg.name.split(".")[-1])
            return base
        if name in ("where", "exists", "empty", "all"):
            for arg in node.args:
                self.walk(arg, base)
            return base if name == "where" else frozenset()
        if name == "iif" and node.args:  # in its input's context; yields either result
            self.walk(node.args[0], base)
            return frozenset(p for arg in node.args[1:] for p in self.walk(arg, base))
        for arg in node.args:  # extension(url), join(sep), startsWith(text)...: outer context
            self.walk(arg, ctx)
        if name == "extension":
            self.add(self.add(base, "extension"), "url")
            return frozenset((*p, "extension") for p in base)
        if name == "getReferenceKey":
            self.add(base, "reference")
            return frozenset()
        if name == "getResourceKey":
            return frozenset()
        if name in ("first", "last"):
            return base
        return frozenset()

    def select(self, sel: Select, ctx: frozenset[_Path]) -> None:
        if sel.for_each is not None:
            ctx = self.walk(sel.for_each, ctx)
        if sel.repeat:
            typed, raw = _split_repeat(sel.repeat)
            if raw and _mentions(sel, {r.name for r in raw if isinstance(r, fp.Member)}):
                typed, raw = list(sel.repeat), []  # a column reads into it: typed
            reached, level = set(ctx), ctx
            for _ in range(self.repeat_depth):
                for r in raw:  # read as JSON text: the walk does not go on from them
                    self.raw.update(self.walk(r, level))
                level = frozenset(q for r in typed for q in self.walk(r, level))
                reached |= level
            ctx = frozenset(reached)
        for col in sel.columns:
            self.walk(col.expr, ctx)
        for sub in (*sel.selects, *sel.union_all):
            self.select(sub, ctx)


def _reached(view: View) -> tuple[dict[str, Any], set[str]]:
    """(the trie of element names the view reaches, type names given to ``ofType()``)."""
    walker = _Walker(MAX_NESTING)
    for _where, node in view.where:
        walker.walk(node, _ROOT)
    walker.select(view.root, _ROOT)
    trie: dict[str, Any] = {"resourceType": {}, "id": {}}
    for path in walker.seen:
        level = trie
        for name in path:
            level = level.setdefault(name, {})
        if path in walker.raw:
            level[_RAW] = {}
    return trie, walker.of_types


def _mentions(sel: Select, names: set[str]) -> bool:
    """Whether the columns of ``sel`` (or of its nested selects) name one of ``names``."""

    def visit(node: object) -> bool:
        if isinstance(node, fp.Member) and node.name in names:
            return True
        if isinstance(node, tuple):
            return any(visit(item) for item in node)
        fields = getattr(node, "__dataclass_fields__", None)
        return fields is not None and any(visit(getattr(node, a)) for a in fields)

    subs = (*sel.selects, *sel.union_all)
    return any(visit(c.expr) for c in sel.columns) or any(
        visit(s.for_each) or visit(s.repeat) or _mentions(s, names) for s in subs
    )


def _split_repeat(repeat: tuple[fp.Node, ...]) -> tuple[list[fp.Node], list[fp.Node]]:
    """A ``repeat``'s paths read as typed structs, and those read as raw JSON text.

    A path through another element that ends at the element a one-step path of the same
    ``repeat`` names (``answer.item`` beside ``item``: R4 gives both the same type) is read
    as JSON text, each element parsed, where the walk meets one, as the one-step path's
    elements of that level are typed. Typed, every level would hold the other path's
    subtree as well (2^levels structs, built for every resource although such nesting is
    rare); as text, both paths share the :data:`MAX_NESTING` levels, counted along any
    mix of them. (A select whose columns name that element reads it typed, as before.)"""
    names = {r.name for r in repeat if isinstance(r, fp.Member) and r.base is None}
    raw: list[fp.Node] = [
        r for r in repeat
        if isinstance(r, fp.Member) and isinstance(r.base, fp.Member) and r.name in names
    ]  # fmt: skip
    return [r for r in repeat if r not in raw], raw


class _Builder:
    def __init__(self, of_types: set[str]) -> None:
        self.elements, self.primitives, _ = _data()
        self.of_types = of_types

    def type_of(self, code: str, trie: dict[str, Any]) -> SqlType | None:
        prim = _prim(code, self.primitives)
        if prim is not None:
            return prim
        if code not in self.elements:
            return None
        return self.struct(code, trie)

    def struct(self, owner: str, trie: dict[str, Any]) -> StructT | None:
        kids = self.elements[owner]
        fields: list[tuple[str, SqlType]] = []
        for name, (many, codes) in kids.items():
            if name.endswith("[x]"):
                base = name[:-3]
                if base not in trie:
                    continue
                chosen = [c for c in codes if c in self.of_types]
                chosen = chosen or [c for c in codes if _prim(c, self.primitives) is not None]
                triples = [(base + c[:1].upper() + c[1:], c, trie[base]) for c in chosen]
            elif name in trie:
                triples = [(name, codes[0], trie[name])]
            else:
                continue
            for field, code, sub in triples:
                t = Prim("other") if _RAW in sub else self.type_of(code, sub)
                if t is not None:
                    fields.append((field, ListT(t) if many else t))
        if not fields and not trie:  # reached but none of its parts: its primitive children
            for name, (many, codes) in kids.items():
                prim = _prim(codes[0], self.primitives) if not name.endswith("[x]") else None
                if prim is not None:
                    fields.append((name, ListT(prim) if many else prim))
        return StructT(tuple(fields)) if fields else None


def r4_elements() -> tuple[_Elements, frozenset[str]]:
    """The R4 element definitions (owner -> child name -> (repeats, type codes)) and the
    names of the primitive types."""
    elements, primitives, _ = _data()
    return elements, primitives


def is_r4_type(resource_type: str) -> bool:
    """Whether R4 defines ``resource_type`` (its schema then comes from here)."""
    return resource_type in _data()[2]


def view_schema(view: View) -> StructT | None:
    """The schema of the elements ``view`` reads (None: not an R4 resource type)."""
    if not is_r4_type(view.resource):
        return None
    trie, of_types = _reached(view)
    schema = _Builder(of_types).struct(view.resource, trie)
    fields = [f for f in (schema.fields if schema is not None else ()) if f[0] != "resourceType"]
    return StructT((("resourceType", Prim("string")), *fields))


def build_elements(structure_definitions: list[dict[str, Any]]) -> dict[str, Any]:
    """The data file's content from the base R4 StructureDefinitions (specializations)."""
    primitives = sorted(
        sd["type"] for sd in structure_definitions
        if sd.get("kind") == "primitive-type" and sd.get("derivation") == "specialization"
    )  # fmt: skip
    resources = sorted(
        sd["type"] for sd in structure_definitions
        if sd.get("kind") == "resource" and sd.get("derivation") == "specialization"
        and not sd.get("abstract")
    )  # fmt: skip
    elements: dict[str, dict[str, list[Any]]] = {}
    for sd in structure_definitions:
        if sd.get("derivation") != "specialization" or sd.get("kind") not in (
            "resource",
            "complex-type",
        ):
            continue
        snapshot = (sd.get("snapshot") or {}).get("element") or []
        parents = {str(e["path"]).rsplit(".", 1)[0] for e in snapshot if "." in str(e["path"])}
        for e in snapshot:
            path = str(e["path"])
            if "." not in path:
                continue
            owner, name = path.rsplit(".", 1)
            many = e.get("max") not in ("0", "1")
            if e.get("max") == "0":
                continue
            if "contentReference" in e:
                codes = [str(e["contentReference"]).lstrip("#")]
            elif path in parents:  # a backbone element: its children are listed under it
                codes = [path]
            else:
                codes = [str(t["code"]) for t in e.get("type") or []]
            if codes:
                elements.setdefault(owner, {})[name] = [many, codes]
    return {
        "fhirVersion": "4.0.1",
        "primitives": primitives,
        "resources": resources,
        "elements": elements,
    }


def main(argv: list[str] | None = None) -> int:
    """Rebuild the data file from the validation package's StructureDefinitions."""
    args = sys.argv[1:] if argv is None else argv
    here = Path(__file__).resolve().parent
    src = Path(args[0]) if args else here.parent / "validation/data/structuredefinitions.json.gz"
    sds = json.loads(gzip.decompress(src.read_bytes()))["structureDefinitions"]
    # not sorted: each type's children stay in R4's order, which FHIR XML is written in
    text = json.dumps(build_elements(sds), separators=(",", ":"))
    target = here.parent / "terminology" / "data" / ELEMENTS_FILE
    target.write_bytes(gzip.compress(text.encode(), mtime=0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
