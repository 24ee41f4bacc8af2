"""FHIR R4 XML read as the JSON the rest of the package reads.

R4 defines XML and JSON as two forms of one content (R4 ``xml.html`` and ``json.html``);
EHR interfaces and older servers still send XML. :func:`load_fhir_xml` turns one XML
document (a resource, a Bundle...) into exactly the JSON object R4 gives for it, so every
reader, the validator, ``push`` and the outcomes take it as they take JSON:

- an element that repeats (by R4's definitions, :func:`iopfhir.terminology.r4.r4_definitions`)
  becomes an array, whatever number of times it appears; one that does not, appearing
  twice, is an error naming its path;
- a primitive's ``value`` attribute becomes its JSON value, typed (``boolean``, the integer
  types and ``decimal`` as numbers); its ``id`` and extensions go to ``_name`` (in an
  array, a parallel array with ``null`` where an item has none);
- a choice element is named by its type, as in JSON (``valueQuantity``); ``contained``, a
  Bundle entry's ``resource`` and other elements of type ``Resource`` hold the resource
  element; ``url`` of an extension and ``id`` of any element are attributes;
- the narrative ``div`` is kept as its XHTML text.

An element R4 does not define is kept under its name, as a JSON reader meets an unknown
key (the readers count it, the validator reports it). The XML itself is parsed by expat
with no document type allowed: a ``DOCTYPE`` (and so any entity declaration) is refused,
as FHIR XML has none.

Every failure names the file and where, never a value: XML that is not well-formed (or has
a DOCTYPE) is a :class:`~iopfhir.errors.LoadError` with its line and column, XML that is no
R4 (a repeated single element, a boolean that is not ``true``/``false``...) a
:class:`~iopfhir.errors.FhirInputError` with the FHIR path and line.

Imports :mod:`iopfhir.errors`, :mod:`iopfhir.loading`, :mod:`iopfhir.terminology` and
:mod:`iopfhir.fhir.ndjson` (the JSON rule's keys).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, Final
from xml.parsers import expat

from iopfhir.errors import FhirInputError, LoadError
from iopfhir.fhir.ndjson import FHIR_PATH_KEYS
from iopfhir.loading import DEFAULT_LIMITS, load_json
from iopfhir.terminology.r4 import member_element, r4_definitions

__all__ = ["FHIR_NS", "MAX_DEPTH", "XHTML_NS", "is_fhir_xml", "load_fhir_data", "load_fhir_xml"]

#: the namespace of every FHIR element
FHIR_NS: Final = "http://hl7.org/fhir"
#: the namespace of the narrative's XHTML
XHTML_NS: Final = "http://www.w3.org/1999/xhtml"

_INTEGERS: Final = frozenset({"integer", "positiveInt", "unsignedInt"})

#: the deepest element nesting read: twice JSON's bound (:data:`iopfhir.loading.DEFAULT_LIMITS`),
#: as XML nests a level more for each value (``<given value=...>`` in ``<name>``); deeper
#: input is refused before the reader (which recurses) sees it
MAX_DEPTH: Final = 2 * DEFAULT_LIMITS.max_depth


class _Node:
    """One XML element: its namespace, local name, attributes, and children (elements, and
    text where it is XHTML)."""

    __slots__ = ("attrs", "children", "line", "local", "ns")

    def __init__(self, ns: str, local: str, attrs: dict[str, str], line: int) -> None:
        self.ns = ns
        self.local = local
        self.attrs = attrs
        self.children: list[_Node | str] = []
        self.line = line


def _parse(data: bytes, origin: str) -> _Node:
    """The element tree of ``data`` (expat; no DOCTYPE, so no entity, is accepted)."""
    parser = expat.ParserCreate(namespace_separator=" ")
    stack: list[_Node] = []
    root: list[_Node] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        if len(stack) >= MAX_DEPTH:
            raise LoadError(
                f"nested deeper than {MAX_DEPTH} elements",
                origin=origin,
                line=parser.CurrentLineNumber,
            )
        ns, _sep, local = name.rpartition(" ")
        node = _Node(ns, local, attrs, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(_name: str) -> None:
        stack.pop()

    def chars(text: str) -> None:
        if stack:
            stack[-1].children.append(text)

    def doctype(*_args: Any) -> None:
        raise LoadError(
            "a DOCTYPE declaration: FHIR XML has none (refused)",
            origin=origin,
            line=parser.CurrentLineNumber,
        )

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = doctype
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        reason = expat.errors.messages.get(exc.code, "not well-formed")
        raise LoadError(
            f"not well-formed XML ({reason})", origin=origin, line=exc.lineno, column=exc.offset
        ) from None
    return root[0]


class _Found(Exception):
    """Stops the parser at the root element (:func:`is_fhir_xml`)."""


def is_fhir_xml(data: bytes) -> bool:
    """Whether ``data`` is XML whose root element is in the FHIR namespace (a folder may hold
    other XML: a C-CDA document, a build file; it is passed over like other JSON)."""
    parser = expat.ParserCreate(namespace_separator=" ")
    found: list[str] = []

    def start(name: str, _attrs: dict[str, str]) -> None:
        found.append(name.rpartition(" ")[0])
        raise _Found

    def doctype(*_args: Any) -> None:
        raise _Found

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = doctype
    with suppress(_Found, expat.ExpatError):
        parser.Parse(data, True)
    return found == [FHIR_NS]


def load_fhir_data(data: bytes, origin: str, *, xml: bool) -> Any:
    """One FHIR document's content: its JSON (the loading rule of every reader), or, with
    ``xml``, that of its XML (:func:`load_fhir_xml`)."""
    if xml:
        return load_fhir_xml(data, origin)
    return load_json(data, origin, path_keys=FHIR_PATH_KEYS)


def load_fhir_xml(data: bytes, origin: str) -> dict[str, Any]:
    """The JSON object of the FHIR XML document ``data`` (read from ``origin``)."""
    with _collector_paused():
        root = _parse(data, origin)
        if root.ns != FHIR_NS:
            raise FhirInputError(
                "not FHIR XML: the root element is not in the FHIR namespace", path=origin
            )
        return _Converter(origin).resource(root, "")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a document's tree is built and read: the
    tree (no cycles) grows by one object per element, and the collections that growth sets
    off took most of the time (ten Bundles of 400 KB: 0.41 s parsed with them, 0.13 s
    without)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Converter:
    """Turns FHIR elements into JSON by the R4 definitions."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.elements, self.primitives, self.resources = r4_definitions()

    def fail(self, path: str, reason: str, node: _Node) -> FhirInputError:
        return FhirInputError(f"{path}: {reason} (line {node.line})", path=self.origin)

    def resource(self, node: _Node, path: str) -> dict[str, Any]:
        if node.local not in self.resources:
            raise self.fail(path, "not an R4 resource type", node)
        out: dict[str, Any] = {"resourceType": node.local}
        self.fill(out, node, node.local, f"{path}.ofType({node.local})" if path else node.local)
        return out

    def fill(self, out: dict[str, Any], node: _Node, owner: str, path: str) -> None:
        """Put the children of ``node`` (an element of type ``owner``) into ``out``."""
        kids = self.elements.get(owner, {})
        for attr, value in node.attrs.items():
            if attr in ("id", "url") and attr in kids:
                out[attr] = value
            elif " " not in attr:  # a namespaced attribute (xml:lang...) is no FHIR content
                raise self.fail(f"{path}@{attr}", "not an attribute FHIR XML has", node)
        seen: set[str] = set()
        for child in node.children:
            if isinstance(child, str):
                if child.strip():
                    raise self.fail(path, "text where FHIR XML has elements", node)
                continue
            name = child.local
            at = f"{path}.{name}"
            repeats, kind = member_element(kids, name) or (False, None)
            if child.ns != FHIR_NS and not (kind == "xhtml" and child.ns == XHTML_NS):
                raise self.fail(at, "an element outside the FHIR namespace", child)
            if kind is None and name not in kids:  # no R4 element: kept as found
                known = out.get(name)
                item = _unknown(child)
                out[name] = item if known is None else [*_as_items(known), item]
                continue
            if not repeats and name in seen:
                raise self.fail(at, "repeated, and R4 allows one", child)
            seen.add(name)
            if kind is not None and kind in self.primitives:
                self.primitive(out, name, child, kind, repeats, at)
                continue
            value = self.complex(child, kind, at)
            if repeats:
                out.setdefault(name, []).append(value)
            else:
                out[name] = value
        for name in [k for k in out if k[:1] == "_" and type(out[k]) is list]:
            # a repeating primitive whose items have extensions only: no value array
            if not any(v is not None for v in out.get(name[1:], ())):
                out.pop(name[1:], None)

    def primitive(
        self, out: dict[str, Any], name: str, node: _Node, kind: str, repeats: bool, at: str
    ) -> None:
        """A primitive element: its value at ``name``, its id and extensions at ``_name``."""
        if kind == "xhtml":
            out[name] = _xhtml(node)
            return
        raw = node.attrs.get("value")
        value = None if raw is None else self.typed(raw, kind, at, node)
        extra: dict[str, Any] = {}
        if "id" in node.attrs:
            extra["id"] = node.attrs["id"]
        for attr in node.attrs:
            if attr not in ("value", "id") and " " not in attr:
                raise self.fail(f"{at}@{attr}", "not an attribute FHIR XML has", node)
        for child in node.children:
            if isinstance(child, str):
                if child.strip():
                    raise self.fail(at, "text where FHIR XML has a value attribute", node)
                continue
            if child.ns != FHIR_NS or child.local != "extension":
                raise self.fail(f"{at}.{child.local}", "not an element of a primitive", child)
            extra.setdefault("extension", []).append(
                self.complex(child, "Extension", f"{at}.extension")
            )
        if not repeats:
            if value is not None:
                out[name] = value
            if extra:
                out[f"_{name}"] = extra
            return
        values = out.setdefault(name, [])
        extras = out.get(f"_{name}")
        if extra and extras is None:
            extras = out[f"_{name}"] = [None] * len(values)
        values.append(value)
        if extras is not None:
            extras.append(extra or None)

    def typed(self, raw: str, kind: str, at: str, node: _Node) -> Any:
        """A primitive's ``value`` attribute as its JSON value."""
        if kind == "boolean":
            if raw in ("true", "false"):
                return raw == "true"
            raise self.fail(at, "not a boolean (true or false)", node)
        if kind in _INTEGERS:
            try:
                return int(raw)
            except ValueError:
                raise self.fail(at, f"not an {kind}", node) from None
        if kind == "decimal":
            try:
                number = float(raw)
            except ValueError:
                raise self.fail(at, "not a decimal", node) from None
            stripped = raw.strip()
            if "." not in stripped and "e" not in stripped.lower():
                return int(stripped)
            return number
        return raw

    def complex(self, node: _Node, kind: str | None, at: str) -> Any:
        """A complex element (``kind``: its type or backbone path; ``None``: unknown)."""
        if kind is None:
            return _unknown(node)
        if kind == "Resource":
            inner = [c for c in node.children if isinstance(c, _Node)]
            if len(inner) != 1:
                raise self.fail(at, "holds not exactly one resource", node)
            return self.resource(inner[0], at)
        out: dict[str, Any] = {}
        self.fill(out, node, kind, at)
        return out


def _as_items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _unknown(node: _Node) -> Any:
    """An element R4 does not define, kept as found (a value, or its children by name)."""
    kids = [c for c in node.children if isinstance(c, _Node)]
    if not kids:
        return node.attrs.get("value", "")
    out: dict[str, Any] = {}
    for kid in kids:
        out.setdefault(kid.local, []).append(_unknown(kid))
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def _xhtml(node: _Node) -> str:
    """The narrative ``div`` as the XHTML text R4 JSON holds."""
    parts: list[str] = []
    _write(node, parts, top=True)
    return "".join(parts)


def _write(node: _Node, parts: list[str], *, top: bool = False) -> None:
    parts.append(f"<{node.local}")
    if top or node.ns != XHTML_NS:
        parts.append(f' xmlns="{_escape(node.ns, attr=True)}"')
    for attr, value in node.attrs.items():
        ns, _sep, local = attr.rpartition(" ")
        name = f"xml:{local}" if ns == "http://www.w3.org/XML/1998/namespace" else local
        parts.append(f' {name}="{_escape(value, attr=True)}"')
    if not node.children:
        parts.append("/>")
        return
    parts.append(">")
    for child in node.children:
        if isinstance(child, str):
            parts.append(_escape(child))
        else:
            _write(child, parts)
    parts.append(f"</{node.local}>")


def _escape(text: str, *, attr: bool = False) -> str:
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return out.replace('"', "&quot;") if attr else out
