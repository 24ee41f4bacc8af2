"""The compiled form of a StructureDefinition: a tree of :class:`ElementNode`.

Lives here: :class:`ElementNode`, :class:`TypeRef`, :class:`Constraint`, :class:`Slicing` - one
node per element definition, with its children, slices and choice-type constraints - and
:class:`ProfileError`. Trees are built by :mod:`.snapshot` (from a snapshot) and
:mod:`.differential` (from a differential and its base tree).

Trees are built once per StructureDefinition and then only read; a datatype's content is not
copied into each element but looked up by type when an element has no children of its own.

Imports nothing from iopfhir.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Constraint",
    "ElementNode",
    "ProfileError",
    "Slicing",
    "TypeRef",
]


class ProfileError(ValueError):
    """A StructureDefinition that cannot be compiled (the message says which element and why)."""


@dataclass(frozen=True, slots=True)
class TypeRef:
    code: str
    profiles: tuple[str, ...] = ()
    target_profiles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Constraint:
    key: str
    severity: str
    expression: str
    source: str = ""  # url of the StructureDefinition that declared it


@dataclass(frozen=True, slots=True)
class Slicing:
    discriminators: tuple[tuple[str, str], ...]  # (type, path)
    rules: str = "open"
    ordered: bool = False


class ElementNode:
    """One element definition, compiled."""

    __slots__ = (
        "_keymap",
        "_required",
        "_type_codes",
        "_types",
        "binding_strength",
        "binding_vs",
        "children",
        "constraints",
        "content_ref",
        "extra_vs",
        "fixed",
        "is_array",
        "is_modifier",
        "max",
        "max_length",
        "max_value",
        "min",
        "min_value",
        "name",
        "path",
        "pattern",
        "slice_name",
        "slices",
        "slicing",
        "type_nodes",
    )

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name
        self.slice_name: str | None = None
        self.min = 0
        self.max: int | None = None  # None: unbounded
        self.is_array = False  # JSON shape, from the base definition's max
        self._types: tuple[TypeRef, ...] = ()
        self._type_codes: tuple[str, ...] = ()
        self.content_ref: str | None = None
        self.fixed: Any = None
        self.pattern: Any = None
        self.binding_strength: str | None = None
        self.binding_vs: str | None = None
        #: value sets of additional bindings with purpose "required" (R5's binding.additional)
        self.extra_vs: tuple[str, ...] = ()
        self.constraints: tuple[Constraint, ...] = ()
        self.slicing: Slicing | None = None
        self.slices: list[ElementNode] = []
        self.children: dict[str, ElementNode] | None = None
        self.type_nodes: dict[str, ElementNode] = {}
        self.max_length: int | None = None
        self.min_value: Any = None
        self.max_value: Any = None
        self.is_modifier = False
        self._keymap: dict[str, tuple[ElementNode, str | None]] | None = None
        self._required: tuple[ElementNode, ...] | None = None

    def __repr__(self) -> str:
        s = f":{self.slice_name}" if self.slice_name else ""
        return f"<ElementNode {self.path}{s} {self.min}..{'*' if self.max is None else self.max}>"

    @property
    def is_choice(self) -> bool:
        return self.name.endswith("[x]")

    @property
    def types(self) -> tuple[TypeRef, ...]:
        return self._types

    @types.setter
    def types(self, value: tuple[TypeRef, ...]) -> None:
        self._types = value
        self._type_codes = tuple(t.code for t in value)

    @property
    def type_codes(self) -> tuple[str, ...]:
        return self._type_codes

    @property
    def required_children(self) -> tuple[ElementNode, ...]:
        """Children with a minimum cardinality above 0 (cached, like :meth:`keymap`)."""
        req = self._required
        if req is None:
            req = tuple(c for c in (self.children or {}).values() if c.min > 0)
            self._required = req
        return req

    def clone(self) -> ElementNode:
        """A deep copy of this node's own structure (children, slices, type nodes)."""
        n = ElementNode(self.path, self.name)
        for attr in ElementNode.__slots__:
            if attr in ("children", "slices", "type_nodes", "_keymap", "_required"):
                continue
            setattr(n, attr, getattr(self, attr))
        if self.children is not None:
            n.children = {k: c.clone() for k, c in self.children.items()}
        n.slices = [s.clone() for s in self.slices]
        n.type_nodes = {k: c.clone() for k, c in self.type_nodes.items()}
        return n

    def keymap(self, type_names: frozenset[str]) -> dict[str, tuple[ElementNode, str | None]]:
        """JSON property name -> (child node, concrete type for choice elements).

        Every data type name is accepted after a choice prefix, so a wrong choice type is
        reported as "type not allowed" rather than as an unknown property.
        """
        km = self._keymap
        if km is None:
            km = {}
            for name, child in (self.children or {}).items():
                if name.endswith("[x]"):
                    base = name[:-3]
                    for t in type_names:
                        km[base + t[0].upper() + t[1:]] = (child, t)
                else:
                    km[name] = (child, None)
            self._keymap = km
        return km

    def invalidate(self) -> None:
        self._keymap = None
        self._required = None
