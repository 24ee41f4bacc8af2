"""Where an element's content is defined.

Lives here: :class:`TypeTrees` - for an element node, the node that holds its children (its own
children in the profile, the target of a ``contentReference``, or the tree of its data type) and
the data type tree whose invariants apply; data type roots and content references are looked
up once and cached.

Imports only sibling modules below the walk (``.definitions``, ``.model``).
"""

from __future__ import annotations

from .definitions import Definitions
from .model import ElementNode

__all__ = ["TypeTrees"]


class TypeTrees:
    """Type trees and content references of ``definitions``, cached."""

    def __init__(self, definitions: Definitions) -> None:
        self.definitions = definitions
        self._primitives = definitions.primitive_types
        self._content_ref_cache: dict[tuple[int, str], ElementNode | None] = {}
        self._type_roots: dict[str, ElementNode | None] = {}

    def children_of(
        self, node: ElementNode, type_code: str, root: ElementNode
    ) -> tuple[ElementNode | None, ElementNode | None]:
        """(node holding the children, type tree root whose constraints apply)."""
        if node.children is not None:
            tt = None if node.path.count(".") == 0 else self.type_root(type_code)
            return node, tt
        if node.content_ref:
            target = self._content_ref(root, node.content_ref)
            return target, None
        tt = self.type_root(type_code)
        return tt, tt

    def type_root(self, code: str) -> ElementNode | None:
        try:
            return self._type_roots[code]
        except KeyError:
            pass
        if code in ("BackboneElement", "Element") or code in self._primitives:
            got = None
        else:
            got = self.definitions.type_tree(code)
            if got is None:
                return None  # not cached: a definition may be loaded later
        self._type_roots[code] = got
        return got

    def _content_ref(self, root: ElementNode, ref: str) -> ElementNode | None:
        key = (id(root), ref)
        if key in self._content_ref_cache:
            return self._content_ref_cache[key]
        target_path = ref.split("#", 1)[-1]
        parts = target_path.split(".")
        node: ElementNode | None = root if parts[0] == root.path.split(".")[0] else None
        if node is None:
            # a reference into another definition (rare in R4)
            node = self.definitions.type_tree(parts[0])
        for p in parts[1:]:
            if node is None or node.children is None:
                node = None
                break
            node = node.children.get(p)
        self._content_ref_cache[key] = node
        return node
