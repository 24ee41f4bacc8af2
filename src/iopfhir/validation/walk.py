"""The walk: a JSON object along its element nodes, one property and one value at a time.

Lives here: :class:`Walker` - the hot path of validation. For an object: unknown properties
(reported at the object's path, by position: the key is input), missing required children,
each property (a fast path for a plain element of the right JSON shape; everything else
through :class:`~.cardinality.Cardinality`), choice types, then the invariants of the node
or of its data type. For a value: primitives, resources (contained or
in a Bundle), extensions, then for a complex value ele-1, fixed/pattern, required bindings,
known codes, Quantity ranges, references, data type profiles and the node's invariants.

The walker builds the checks it uses (one object per concern) and calls them directly, so a
check costs the one call a method of its own would; checks that walk again get the walker's
bound methods, so imports only go from here down. Resources and profiles
(:mod:`.resources`) sit above.

Imports only sibling modules: the checks above, ``.context``, ``.definitions``, ``.model``,
``.values``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .bindings import Bindings
from .cardinality import Cardinality
from .constraints import Constraints
from .context import Conforms, Ctx, ResourceWalk, add, add_ele1
from .definitions import Definitions
from .extensions import Extensions
from .memo import CleanMemo
from .model import ElementNode
from .primitives import Primitives, quantity_range
from .references import References
from .slicing import Slicing
from .trees import TypeTrees
from .values import cap, describe, json_kind, matches, model_path

__all__ = ["Walker"]

_QUANTITY_TYPES = (
    "Quantity",
    "Age",
    "Duration",
    "Distance",
    "Count",
    "SimpleQuantity",
    "MoneyQuantity",
)


class Walker:
    """Walk JSON objects and values along element nodes of ``definitions``."""

    def __init__(
        self,
        definitions: Definitions,
        constraints: Constraints,
        check_resource: ResourceWalk,
        conforms: Conforms,
    ) -> None:
        self.definitions = definitions
        self._type_names = definitions.type_names
        self._primitives = definitions.primitive_types
        self._resource_types = definitions.resource_types
        # checks are held as objects, not bound methods: ``self._x.check(...)`` is the
        # cheaper call in CPython 3.11 (both lookups are specialised)
        self._trees = TypeTrees(definitions)
        self._constraints = constraints
        self._bindings = Bindings(definitions)
        self._primitive_values = Primitives(
            definitions, self._bindings, constraints, self.check_object
        )
        self._extensions = Extensions(definitions, self.check_object, constraints)
        self._references = References(definitions, conforms, check_resource)
        self._memo = CleanMemo(definitions, self._trees)
        slicing = Slicing(definitions, self._trees, conforms)
        self._cardinality = Cardinality(definitions, slicing, self._item)

    def check_object(
        self,
        obj: Any,
        node: ElementNode,
        type_code: str,
        path: str,
        ctx: Ctx,
        root: ElementNode,
        *,
        is_resource: bool = False,
    ) -> None:
        if not isinstance(obj, dict):
            add(
                ctx,
                "error",
                "structure",
                path,
                f"{node.path} must be a JSON object, not {json_kind(obj)}",
            )
            return
        holder, type_root = self._trees.children_of(node, type_code, root)
        if holder is None or holder.children is None:
            if type_code not in self._primitives:
                add(
                    ctx,
                    "error",
                    "structure",
                    path,
                    f"No definition found for the content of {node.path} ({type_code})",
                )
            return
        km = holder.keymap(self._type_names)
        plain: list[tuple[str, ElementNode]] = []
        choices: dict[str, list[tuple[str, str | None]]] = {}
        choice_nodes: dict[str, ElementNode] = {}
        for key in obj:
            entry = km.get(key)
            if entry is None:
                if key[:1] == "_":
                    entry = km.get(key[1:])
                    if entry is None:
                        _unknown(obj, key, node, path, ctx)
                        continue
                    if obj[key] is None:
                        # read like an absent "_key" below: null is no JSON value in FHIR
                        _null_element(key, entry, path, ctx)
                    if key[1:] in obj:
                        continue
                    key = key[1:]
                elif (is_resource and key == "resourceType") or key == "fhir_comments":
                    continue
                else:
                    _unknown(obj, key, node, path, ctx)
                    continue
            child, ctype = entry
            if ctype is None:
                plain.append((key, child))
            else:
                choices.setdefault(child.name, []).append((key, ctype))
                choice_nodes[child.name] = child
        for child in holder.required_children:
            name = child.name
            if name in choices or (not name.endswith("[x]") and (name in obj or "_" + name in obj)):
                continue
            add(
                ctx,
                "error",
                "required",
                path,
                f"{child.path}: minimum required = {child.min}, but only found 0",
            )
        for key, child in plain:
            self._element(obj, key, child, path, ctx, root)
        for name, keys in choices.items():
            child = choice_nodes[name]
            if len(keys) > 1:
                add(
                    ctx,
                    "error",
                    "structure",
                    path,
                    f"{child.path}: only one choice type may be present, found "
                    f"{', '.join(k for k, _ in keys)}",
                )
            key, ctype = keys[0]
            self._cardinality.check(
                obj.get(key), obj.get("_" + key), key, child, ctype, path, ctx, root
            )
        if is_resource:
            self._constraints.check(node, obj, path, ctx, node.path)
        elif type_root is not None:
            self._constraints.check(
                type_root, obj, path, ctx, type_root.path, skip=node.constraints
            )

    # -- one property ------------------------------------------------------------------
    def _element(
        self,
        obj: Mapping[str, Any],
        key: str,
        node: ElementNode,
        path: str,
        ctx: Ctx,
        root: ElementNode,
    ) -> None:
        raw = obj.get(key)
        ext = obj.get("_" + key)
        # the common case: a plain element, no primitive extension
        if (
            ext is None
            and not node.type_nodes
            and raw is not None
            and self._element_fast(raw, key, node, path, ctx, root)
        ):
            return
        self._cardinality.check(raw, ext, key, node, None, path, ctx, root)

    def _element_fast(
        self,
        raw: Any,
        key: str,
        node: ElementNode,
        path: str,
        ctx: Ctx,
        root: ElementNode,
    ) -> bool:
        """:meth:`_element` for a value of the right JSON shape, without ``_key``; False
        when the general path must run instead."""
        codes = node.type_codes
        if len(codes) > 1 or node.slicing is not None or node.slices:
            return False
        type_code = codes[0] if codes else "BackboneElement"
        if node.is_array:
            if type(raw) is not list or not raw:
                return False
            n = len(raw)
            if node.max is not None and n > node.max:
                return False
            if n < node.min:
                return False
            base = f"{path}.{key}"
            for i, v in enumerate(raw):
                self._item(v, None, node, type_code, f"{base}[{i}]", ctx, root)
            return True
        if type(raw) is list:
            return False
        if node.max == 0:
            return False
        self._item(raw, None, node, type_code, f"{path}.{key}", ctx, root)
        return True

    # -- one value ---------------------------------------------------------------------
    def _item(
        self,
        value: Any,
        ext: Any,
        node: ElementNode,
        type_code: str,
        path: str,
        ctx: Ctx,
        root: ElementNode,
    ) -> None:
        if type_code in self._primitives:
            self._primitive_values.check(value, ext, node, type_code, path, ctx)
            return
        if ext is not None:
            add(
                ctx,
                "error",
                "structure",
                path,
                f"Property _{node.name} is only allowed on primitive types",
            )
        if value is None:
            add(ctx, "error", "structure", path, f"{node.path}: null is not allowed")
            return
        if type_code in self._resource_types:
            if not isinstance(value, dict):
                add(
                    ctx,
                    "error",
                    "structure",
                    path,
                    f"{node.path} must be a JSON object (a resource)",
                )
                return
            self._references.contained(value, node, path, ctx)
            return
        if type_code == "Extension":
            self._extensions.check(value, node, path, ctx, root)
            return
        if type(value) is dict:
            cons = self._constraints
            # invariants off, or another engine: other answers
            mode = id(cons.invariants) if cons.check_invariants else 0
            key = self._memo.key(value, node, type_code, root, mode)
            if key is not None:
                if self._memo.is_clean(key):
                    return
                before = len(ctx.issues)
                self._complex(value, node, type_code, path, ctx, root)
                if len(ctx.issues) == before:
                    self._memo.add_clean(key)
                return
        self._complex(value, node, type_code, path, ctx, root)

    def _complex(
        self,
        value: Any,
        node: ElementNode,
        type_code: str,
        path: str,
        ctx: Ctx,
        root: ElementNode,
    ) -> None:
        """A value of a complex type: its content, then the checks of the node on it."""
        self.check_object(value, node, type_code, path, ctx, root)
        if not isinstance(value, dict):
            return
        if not any(k != "id" for k in value):
            add_ele1(ctx, path, node)
        if node.fixed is not None and not matches(value, node.fixed, exact=True):
            add(
                ctx,
                "error",
                "value",
                path,
                f"{node.path}: value does not match the fixed value in the profile",
            )
        if node.pattern is not None and not matches(value, node.pattern, exact=False):
            add(
                ctx,
                "error",
                "value",
                path,
                f"{node.path}: value does not match the pattern in the profile "
                f"({describe(node.pattern)})",
            )
        if (
            node.binding_strength == "required"
            and node.binding_vs
            and type_code in ("CodeableConcept", "Coding")
        ):
            self._bindings.coded(value, type_code, node, path, ctx)
        if (
            node.binding_strength == "required"
            and node.binding_vs
            and type_code in _QUANTITY_TYPES
            and "code" in value
        ):
            self._bindings.coded(value, "Coding", node, path, ctx)
        if type_code in ("CodeableConcept", "Coding"):
            for vs in node.extra_vs:
                self._bindings.coded(value, type_code, node, path, ctx, additional=vs)
            self._bindings.known_codes(value, type_code, path, ctx)
        if (node.min_value is not None or node.max_value is not None) and isinstance(
            node.min_value if node.min_value is not None else node.max_value, dict
        ):
            quantity_range(value, node, path, ctx)
        if type_code == "Reference":
            self._references.reference(value, node, path, ctx)
        for t in node.types:
            if t.code == type_code and t.profiles:
                for prof in t.profiles:
                    tree = self.definitions.tree(prof)
                    if tree is not None and tree is not self.definitions.type_tree(type_code):
                        self.check_object(value, tree, type_code, path, ctx, tree)
                        self._constraints.check(tree, value, path, ctx, tree.path)
        if node.constraints:
            self._constraints.check(node, value, path, ctx, model_path(node, type_code))


def _null_element(key: str, entry: tuple[ElementNode, str | None], path: str, ctx: Ctx) -> None:
    """``"_key": null``: an error at the element ``key`` names (a known one)."""
    child, ctype = entry
    if ctype is None:
        where = f"{path}.{key[1:]}"
    elif len(child.types) > 1:
        where = f"{path}.{child.name[:-3]}.ofType({cap(ctype)})"
    else:
        where = f"{path}.{child.name[:-3]}"
    add(ctx, "error", "structure", where, f"The property {key} must not be null")


def _unknown(obj: Mapping[str, Any], key: str, node: ElementNode, path: str, ctx: Ctx) -> None:
    """An unrecognized property, said by its position: the key is input (it may be a name
    or an identifier), so neither the message nor the location may hold it."""
    position = next(i for i, k in enumerate(obj, 1) if k == key)
    add(
        ctx,
        "error",
        "structure",
        path,
        f"Unrecognized property (property {position} of {node.path})",
    )
