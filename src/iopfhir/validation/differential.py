"""Snapshot generation done on the tree: a profile's differential applied to its base tree.

Lives here: :func:`apply_differential` - a copy of the base definition's tree with the
differential applied (constraining existing elements, adding slices, expanding data types where
the differential reaches into them, choice-type constraints such as
``value[x]:valueQuantity`` / ``valueQuantity``).

Imports only ``.model`` and ``.snapshot``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .model import ElementNode, ProfileError
from .snapshot import (
    choice_rename_target,
    choice_type_of,
    merge_element,
    parse_element_id,
    type_node,
)

__all__ = ["TypeTreeLookup", "apply_differential"]

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
        merge_element(node, e, source, base=False)
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
                merge_element(tn, shared, source, base=False)
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
        target = choice_rename_target(node, name)
        if target is None:
            raise ProfileError(f"{source}: element {where} is not in the base definition")
        child = type_node(target, choice_type_of(target.name, name) or "", all_types)
    if slice_name is None:
        return child
    if child.is_choice:
        suffix = choice_type_of(child.name, slice_name)
        if suffix is not None:
            return type_node(child, suffix, all_types)
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
