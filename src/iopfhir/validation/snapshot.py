"""Compiling a snapshot (the list of ElementDefinitions) to an :class:`~.model.ElementNode` tree.

Lives here: :func:`compile_snapshot`; :func:`parse_element_id` (an element id as (name, slice)
segments); and what :mod:`.differential` shares with it: merging one ElementDefinition's facts
into a node (:func:`merge_element`), the type-specific node of a choice element
(:func:`type_node`, :func:`choice_type_of`, :func:`choice_rename_target`).

Imports only ``.model``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .model import Constraint, ElementNode, ProfileError, Slicing, TypeRef

__all__ = [
    "choice_rename_target",
    "choice_type_of",
    "compile_snapshot",
    "merge_element",
    "parse_element_id",
    "type_node",
]

_FIXED_PREFIXES = ("fixed", "pattern", "minValue", "maxValue")


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


def merge_element(node: ElementNode, e: Mapping[str, Any], source: str, *, base: bool) -> None:
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
    if isinstance(b, Mapping) and b.get("extension"):
        more = tuple(_required_additional(b["extension"]))
        if more:
            node.extra_vs = tuple(dict.fromkeys(node.extra_vs + more))
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
            # ele-1 is checked by the walk itself (every element must have a value or
            # children), never evaluated as an expression: not kept, so most nodes have none
            if c.get("expression") and c.get("key") not in have and c.get("key") != "ele-1"
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


#: the extension R4 profiles use for R5's ``ElementDefinition.binding.additional``
_ADDITIONAL_BINDING = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition.binding.additional",
    "http://hl7.org/fhir/tools/StructureDefinition/additional-binding",
)


def _required_additional(extensions: Any) -> list[str]:
    """Value sets of additional bindings whose purpose is "required" and that apply
    everywhere (no ``usage`` context)."""
    out: list[str] = []
    if not isinstance(extensions, list):
        return out
    for ext in extensions:
        if not isinstance(ext, Mapping) or ext.get("url") not in _ADDITIONAL_BINDING:
            continue
        parts = {
            p.get("url"): p
            for p in ext.get("extension") or ()
            if isinstance(p, Mapping) and isinstance(p.get("url"), str)
        }
        purpose = (parts.get("purpose") or {}).get("valueCode")
        vs_part = parts.get("valueSet") or {}
        vs = vs_part.get("valueCanonical") or vs_part.get("valueUri")
        if purpose == "required" and "usage" not in parts and isinstance(vs, str):
            out.append(vs)
    return out


def choice_type_of(choice_name: str, candidate: str) -> str | None:
    """``value[x]`` + ``valueQuantity`` -> ``Quantity``."""
    base = choice_name[:-3]
    if candidate.startswith(base) and len(candidate) > len(base):
        rest = candidate[len(base) :]
        if rest[0].isupper():
            return rest
    return None


def type_node(choice: ElementNode, type_suffix: str, all_types: frozenset[str]) -> ElementNode:
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
        merge_element(node, e, source, base=True)
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
            choice_parent = choice_rename_target(parent, name)
            if choice_parent is not None:
                tn = type_node(
                    choice_parent, choice_type_of(choice_parent.name, name) or "", all_types
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
            suffix = choice_type_of(name, slice_name) if name.endswith("[x]") else None
            if suffix is not None:
                tn = type_node(unsliced, suffix, all_types)
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


def choice_rename_target(parent: ElementNode, name: str) -> ElementNode | None:
    if parent.children is None or name in parent.children:
        return None
    for cname, child in parent.children.items():
        if cname.endswith("[x]") and choice_type_of(cname, name):
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
