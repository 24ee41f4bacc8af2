"""The compiled form of a StructureDefinition: a tree of :class:`ElementNode`.

Lives here:

* :class:`ElementNode`, :class:`TypeRef`, :class:`Constraint`, :class:`Slicing` - one node per
  element definition, with its children, slices and choice-type constraints;
* :func:`compile_snapshot` - a snapshot (list of ElementDefinitions) to a tree;
* :func:`apply_differential` - snapshot generation done on the tree: a profile's differential
  applied to a copy of its base definition's tree (constraining existing elements, adding slices,
  expanding data types where the differential reaches into them, choice-type constraints such as
  ``value[x]:valueQuantity`` / ``valueQuantity``).

Trees are built once per StructureDefinition and then only read; a datatype's content is not
copied into each element but looked up by type when an element has no children of its own.

Imports nothing from iopfhir.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Constraint",
    "ElementNode",
    "ProfileError",
    "Slicing",
    "TypeRef",
    "apply_differential",
    "compile_snapshot",
    "parse_element_id",
]

JSON = dict[str, Any]


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


_FIXED_PREFIXES = ("fixed", "pattern", "minValue", "maxValue")


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


def parse_element_id(element: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """``Observation.component:systolic.code`` -> [(Observation, None), (component, systolic),
    (code, None)]. Uses ``path`` for the segment names so slice names may contain dots."""
    path = str(element.get("path", ""))
    names = path.split(".")
    eid = element.get("id")
    if not isinstance(eid, str) or not eid:
        out: list[tuple[str, str | None]] = [(n, None) for n in names]
        if element.get("sliceName"):
            out[-1] = (names[-1], str(element["sliceName"]))
        return out
    out = []
    rest = eid
    for i, name in enumerate(names):
        # the id segment may use the element name or (for choice renames) the path's name
        if not rest.startswith(name):
            raise ProfileError(f"element id {eid!r} does not match its path {path!r}")
        rest = rest[len(name) :]
        slice_name: str | None = None
        if rest.startswith(":"):
            if i + 1 < len(names):
                marker = "." + names[i + 1]
                cut = _find_segment_end(rest, marker)
                slice_name, rest = rest[1:cut], rest[cut:]
            else:
                slice_name, rest = rest[1:], ""
        if i + 1 < len(names):
            if not rest.startswith("."):
                raise ProfileError(f"element id {eid!r} does not match its path {path!r}")
            rest = rest[1:]
        out.append((name, slice_name))
    return out


def _find_segment_end(rest: str, marker: str) -> int:
    """Index in ``rest`` where ``marker`` (".nextName") starts as a whole segment."""
    start = 0
    while True:
        idx = rest.find(marker, start)
        if idx < 0:
            return len(rest)
        after = idx + len(marker)
        if after == len(rest) or rest[after] in ".:":
            return idx
        start = idx + 1


def _parse_max(value: Any) -> int | None:
    if value is None or value == "*":
        return None
    return int(value)


FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"


def _type_code(t: Mapping[str, Any]) -> str:
    """A type's code; FHIRPath system types (``http://hl7.org/fhirpath/System.String``) carry
    the FHIR type in a structuredefinition-fhir-type extension (``string``, ``id``, ``uri``)."""
    code = str(t.get("code"))
    for ext in t.get("extension") or ():
        if isinstance(ext, Mapping) and ext.get("url") == FHIR_TYPE_EXT:
            value = ext.get("valueUrl") or ext.get("valueUri") or ext.get("valueString")
            if isinstance(value, str) and value:
                return value
    return code


def _merge_element(node: ElementNode, e: Mapping[str, Any], source: str, *, base: bool) -> None:
    """Apply one ElementDefinition's facts to ``node``."""
    if "min" in e:
        node.min = int(e["min"])
    if "max" in e:
        node.max = _parse_max(e["max"])
        if base:
            node.is_array = node.max is None or node.max > 1
    if base and isinstance(e.get("base"), Mapping) and "max" in e["base"]:
        bmax = _parse_max(e["base"]["max"])
        node.is_array = bmax is None or bmax > 1
    if e.get("type"):
        node.types = tuple(
            TypeRef(
                _type_code(t),
                tuple(t.get("profile") or ()),
                tuple(t.get("targetProfile") or ()),
            )
            for t in e["type"]
        )
        node.invalidate()
    if "contentReference" in e:
        node.content_ref = str(e["contentReference"])
    if "maxLength" in e:
        node.max_length = int(e["maxLength"])
    for k, v in e.items():
        if k.startswith(_FIXED_PREFIXES):
            if k.startswith("fixed"):
                node.fixed = v
            elif k.startswith("pattern"):
                node.pattern = v
            elif k.startswith("minValue"):
                node.min_value = v
            else:
                node.max_value = v
    b = e.get("binding")
    if isinstance(b, Mapping) and b.get("strength"):
        node.binding_strength = str(b["strength"])
        node.binding_vs = str(b["valueSet"]) if b.get("valueSet") else None
    cons = e.get("constraint")
    if cons:
        have = {c.key for c in node.constraints}
        extra = tuple(
            Constraint(
                str(c.get("key", "")),
                str(c.get("severity", "error")),
                str(c["expression"]),
                str(c.get("source") or source),
            )
            for c in cons
            if c.get("expression") and c.get("key") not in have
        )
        node.constraints = node.constraints + extra
    s = e.get("slicing")
    if isinstance(s, Mapping):
        discs = tuple(
            (str(d.get("type", "value")), str(d.get("path", "$this")))
            for d in s.get("discriminator", ()) or ()
        )
        prev = node.slicing
        node.slicing = Slicing(
            discs or (prev.discriminators if prev else ()),
            str(s.get("rules", prev.rules if prev else "open")),
            bool(s.get("ordered", prev.ordered if prev else False)),
        )
    if e.get("isModifier"):
        node.is_modifier = True


def _choice_type_of(choice_name: str, candidate: str) -> str | None:
    """``value[x]`` + ``valueQuantity`` -> ``Quantity``."""
    base = choice_name[:-3]
    if candidate.startswith(base) and len(candidate) > len(base):
        rest = candidate[len(base) :]
        if rest[0].isupper():
            return rest
    return None


def _type_node(choice: ElementNode, type_suffix: str, all_types: frozenset[str]) -> ElementNode:
    """The node that constrains ``choice`` for one concrete type (created on first use)."""
    code = next((t for t in all_types if t[0].upper() + t[1:] == type_suffix), type_suffix)
    tn = choice.type_nodes.get(code)
    if tn is None:
        tn = choice.clone()
        tn.type_nodes = {}
        tn.slices = []
        tn.slicing = None
        keep = tuple(t for t in choice.types if t.code == code)
        tn.types = keep or (TypeRef(code),)
        tn.children = None
        choice.type_nodes[code] = tn
    return tn


def compile_snapshot(
    elements: Sequence[Mapping[str, Any]], source: str, all_types: frozenset[str]
) -> ElementNode:
    """Build the tree of a snapshot. ``source`` is the StructureDefinition's url."""
    if not elements:
        raise ProfileError(f"{source}: snapshot has no elements")
    by_key: dict[tuple[tuple[str, str | None], ...], ElementNode] = {}
    root: ElementNode | None = None
    for e in elements:
        segs = parse_element_id(e)
        key = tuple(segs)
        name, slice_name = segs[-1]
        node = ElementNode(str(e["path"]), name)
        node.slice_name = slice_name
        _merge_element(node, e, source, base=True)
        if len(segs) == 1:
            root = node
            node.children = {}
            by_key[key] = node
            continue
        parent = by_key.get(key[:-1])
        if parent is None:
            raise ProfileError(f"{source}: element {e.get('id') or e.get('path')} has no parent")
        if parent.children is None:
            parent.children = {}
        if slice_name is None:
            choice_parent = _choice_rename_target(parent, name)
            if choice_parent is not None:
                tn = _type_node(
                    choice_parent, _choice_type_of(choice_parent.name, name) or "", all_types
                )
                _copy_into(tn, node)
                by_key[key] = tn
                continue
            parent.children[name] = node
            parent.invalidate()
            by_key[key] = node
        else:
            unsliced = by_key.get((*key[:-1], (name, None)))
            if unsliced is None:
                raise ProfileError(f"{source}: slice {e.get('id')} has no sliced element")
            suffix = _choice_type_of(name, slice_name) if name.endswith("[x]") else None
            if suffix is not None:
                tn = _type_node(unsliced, suffix, all_types)
                _copy_into(tn, node)
                by_key[key] = tn
            else:
                node.is_array = unsliced.is_array
                unsliced.slices.append(node)
                by_key[key] = node
    if root is None:
        raise ProfileError(f"{source}: snapshot has no root element")
    _drop_empty_children(root)
    return root


def _copy_into(target: ElementNode, src: ElementNode) -> None:
    for attr in ElementNode.__slots__:
        if attr in ("children", "slices", "type_nodes", "_keymap", "_required", "name", "is_array"):
            continue
        setattr(target, attr, getattr(src, attr))


def _choice_rename_target(parent: ElementNode, name: str) -> ElementNode | None:
    if parent.children is None or name in parent.children:
        return None
    for cname, child in parent.children.items():
        if cname.endswith("[x]") and _choice_type_of(cname, name):
            return child
    return None


def _drop_empty_children(node: ElementNode) -> None:
    """Nodes whose children dict stayed empty take their content from their type instead."""
    if node.children is not None:
        for c in node.children.values():
            _drop_empty_children(c)
    for s in node.slices:
        _drop_empty_children(s)
    for t in node.type_nodes.values():
        _drop_empty_children(t)
    if node.children == {} and node.path.count(".") > 0:
        node.children = None


TypeTreeLookup = Callable[[str], "ElementNode | None"]


def apply_differential(
    base_root: ElementNode,
    differential: Sequence[Mapping[str, Any]],
    source: str,
    type_tree: TypeTreeLookup,
    all_types: frozenset[str],
) -> ElementNode:
    """Generate a profile's tree: a copy of ``base_root`` with ``differential`` applied.

    ``type_tree(code)`` returns the tree of a data type (used when the differential reaches
    inside an element whose content the base takes from its type).
    """
    root = base_root.clone()
    root_name = root.path
    for e in differential:
        segs = parse_element_id(e)
        if segs[0][0] != root_name:
            raise ProfileError(f"{source}: element {e.get('id')} is not under {root_name}")
        node = root
        for i, (name, slice_name) in enumerate(segs[1:], start=1):
            node = _step(node, name, slice_name, e, source, type_tree, all_types, segs[: i + 1])
        _merge_element(node, e, source, base=False)
        if (
            node.is_choice
            and node.type_nodes
            and segs[-1][1] is None
            and (node.name == segs[-1][0])
        ):
            # a constraint on value[x] itself also binds the type-specific nodes made earlier
            shared = {
                k: v
                for k, v in e.items()
                if k not in ("type", "min", "max", "slicing", "id", "path", "sliceName")
            }
            for tn in node.type_nodes.values():
                _merge_element(tn, shared, source, base=False)
        if node.slicing is not None and node.is_choice:
            node.slicing = None  # type slicing on a choice: handled by type nodes
    return root


def _materialize(node: ElementNode, type_tree: TypeTreeLookup, source: str, where: str) -> None:
    if node.children is not None:
        return
    codes = {t.code for t in node.types}
    if len(codes) != 1:
        raise ProfileError(f"{source}: cannot constrain inside {where}: it has {len(codes)} types")
    tt = type_tree(next(iter(codes)))
    if tt is None or tt.children is None:
        raise ProfileError(f"{source}: cannot constrain inside {where}: unknown type")
    prefix = node.path
    node.children = {}
    for k, c in tt.children.items():
        copy = c.clone()
        _repath(copy, tt.path, prefix)
        node.children[k] = copy
    node.invalidate()


def _repath(node: ElementNode, old: str, new: str) -> None:
    if node.path.startswith(old):
        node.path = new + node.path[len(old) :]
    for c in (node.children or {}).values():
        _repath(c, old, new)
    for s in node.slices:
        _repath(s, old, new)
    for t in node.type_nodes.values():
        _repath(t, old, new)


def _step(
    node: ElementNode,
    name: str,
    slice_name: str | None,
    e: Mapping[str, Any],
    source: str,
    type_tree: TypeTreeLookup,
    all_types: frozenset[str],
    segs: Sequence[tuple[str, str | None]],
) -> ElementNode:
    where = ".".join(n + (f":{s}" if s else "") for n, s in segs)
    if node.content_ref and node.children is None:
        raise ProfileError(f"{source}: cannot constrain inside {where} (content reference)")
    _materialize(node, type_tree, source, where)
    assert node.children is not None
    child = node.children.get(name)
    if child is None:
        target = _choice_rename_target(node, name)
        if target is None:
            raise ProfileError(f"{source}: element {where} is not in the base definition")
        child = _type_node(target, _choice_type_of(target.name, name) or "", all_types)
    if slice_name is None:
        return child
    if child.is_choice:
        suffix = _choice_type_of(child.name, slice_name)
        if suffix is not None:
            return _type_node(child, suffix, all_types)
    current = child
    for part in slice_name.split("/"):
        found = next((s for s in current.slices if s.slice_name == part), None)
        if found is None:
            found = current.clone()
            found.slices = []
            found.slicing = None
            found.slice_name = part
            found.min = 0
            current.slices.append(found)
        current = found
    return current
