"""Values already found clean: a complex value checked once is not walked again.

Lives here: :class:`CleanMemo`. Most of what data from anywhere repeats is the same small
values (a Coding of a LOINC code, a category, a unit, a BP component): once such a value has
been checked against an element node without a single issue, the same bytes against the same
node give the same (empty) answer, so the walk skips them.

That holds only where the check depends on nothing but the value and the node. Statically, a
node is *pure* when nothing in its subtree reads the context of the run: no resource or
Reference types, no invariant with ``%resource``/``%rootResource``/``resolve()``/
``conformsTo()``/``memberOf()``, no slicing by profile. Extensions (their context is where
they are) and references (they resolve against the resource and the Bundle) are excluded
dynamically: a value whose JSON holds an ``extension``, ``modifierExtension``, ``reference``
or ``resourceType`` property is always walked. Only clean results are kept (an issue of any
severity means the value is walked every time), and the memo is emptied when definitions or
terminology change. It is bounded: values up to 1 KB of JSON, 50,000 of them at most (then it
starts again), so a few tens of MB at worst.

Imports only sibling modules below the walk (``.definitions``, ``.model``, ``.trees``).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from .definitions import Definitions
from .model import ElementNode
from .trees import TypeTrees

__all__ = ["CleanMemo"]

#: what makes a check depend on more than the value: the resource, the Bundle, profiles
_CONTEXT_EXPR = ("%resource", "%rootResource", "resolve(", "conformsTo", "memberOf")
#: properties whose check depends on where the value is: walked every time
_DYNAMIC_RX = re.compile(rb'"(?:extension|modifierExtension|reference|resourceType)"')
#: larger values (a narrative) are rarely repeated: not worth keeping
_MAX_BYTES = 1024
_MAX_ENTRIES = 50_000


class CleanMemo:
    """Which (node, type, value) were checked without issues; which nodes may be memoized."""

    def __init__(self, definitions: Definitions, trees: TypeTrees) -> None:
        self.definitions = definitions
        self._trees = trees
        self._primitives = definitions.primitive_types
        self._resource_types = definitions.resource_types
        self._pure: dict[tuple[int, str, int], bool] = {}
        self._keep: list[Any] = []  # nodes keyed by id above stay alive
        self._clean: set[tuple[int, str, int, int, bytes]] = set()
        self._generation = -1

    def key(
        self, value: Any, node: ElementNode, type_code: str, root: ElementNode, mode: int
    ) -> tuple[int, str, int, int, bytes] | None:
        """The memo key of a value at a node, or None when it must be walked anyway; ``mode``
        tells apart runs whose invariants differ (off: 0, else the engine's id)."""
        generation = self.definitions.generation
        if generation != self._generation:
            self._clean.clear()
            self._pure.clear()
            self._keep.clear()
            self._generation = generation
        pure = self._pure.get((id(node), type_code, id(root)))
        if pure is None:
            pure = self.pure(node, type_code, root)
        if not pure:
            return None
        try:
            raw = orjson.dumps(value)
        except (TypeError, orjson.JSONEncodeError):
            return None
        if len(raw) > _MAX_BYTES or _DYNAMIC_RX.search(raw) is not None:
            return None
        return (id(node), type_code, id(root), mode, raw)

    def is_clean(self, key: tuple[int, str, int, int, bytes]) -> bool:
        return key in self._clean

    def add_clean(self, key: tuple[int, str, int, int, bytes]) -> None:
        if len(self._clean) >= _MAX_ENTRIES:
            self._clean.clear()
        self._clean.add(key)

    # -- which nodes ---------------------------------------------------------------------
    def pure(self, node: ElementNode, type_code: str, root: ElementNode) -> bool:
        """True when checking a value at ``node`` depends on nothing but the value (given
        that it holds none of the dynamic properties)."""
        key = (id(node), type_code, id(root))
        got = self._pure.get(key)
        if got is not None:
            return got
        self._pure[key] = False  # while it is being decided (recursive types): not pure
        self._keep.append((node, root))
        try:
            ok = self._decide(node, type_code, root)
        except ValueError:  # a profile that cannot be compiled: the walk reports it
            ok = False
        self._pure[key] = ok
        return ok

    def _decide(self, node: ElementNode, type_code: str, root: ElementNode) -> bool:
        if type_code in self._resource_types or type_code in ("Extension", "Reference"):
            return False
        if not _pure_constraints(node):
            return False
        if type_code in self._primitives:
            return True
        if node.slicing is not None and any(d == "profile" for d, _ in node.slicing.discriminators):
            return False
        if not all(self.pure(s, type_code, root) for s in node.slices):
            return False
        plain = self.definitions.type_tree(type_code)
        for t in node.types:
            for prof in t.profiles if t.code == type_code else ():
                tree = self.definitions.tree(prof)
                if tree is not None and tree is not plain and not self.pure(tree, type_code, tree):
                    return False
        holder, type_root = self._trees.children_of(node, type_code, root)
        if holder is None or holder.children is None:
            return False
        if type_root is not None and not _pure_constraints(type_root):
            return False
        for name, child in holder.children.items():
            if name in ("extension", "modifierExtension"):
                continue  # dynamic: a value with extensions is always walked
            for code in child.type_codes or ("BackboneElement",):
                if code == "Reference":
                    continue  # dynamic: a value with a reference is always walked
                at = child.type_nodes.get(code, child)
                if not self.pure(at, code, root):
                    return False
                if not all(self.pure(s, code, root) for s in child.slices):
                    return False
        return True


def _pure_constraints(node: ElementNode) -> bool:
    return not any(
        any(marker in c.expression for marker in _CONTEXT_EXPR) for c in node.constraints
    )
