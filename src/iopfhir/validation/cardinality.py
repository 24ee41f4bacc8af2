"""One property of a JSON object, the general way: shape, choice type, cardinality, slices.

Lives here: :class:`Cardinality` - the path the walk takes for a property its fast path does
not cover (choice types, sliced elements, ``_key`` extensions, a value of the wrong JSON shape,
an empty array, a count outside min/max): the JSON array/single shape, the concrete type of a
choice element and whether the profile allows it, min/max, type-specific required choices,
the slice each value belongs to; then every value goes to the walk's item check.

Imports only sibling modules below the walk (``.context``, ``.definitions``, ``.model``,
``.slicing``, ``.values``).
"""

from __future__ import annotations

from typing import Any

from .context import Ctx, ItemCheck, add
from .definitions import Definitions
from .model import ElementNode
from .slicing import Slicing
from .values import cap, json_kind

__all__ = ["Cardinality"]


class Cardinality:
    """The general path for one property; ``check_item`` checks each of its values."""

    def __init__(self, definitions: Definitions, slicing: Slicing, check_item: ItemCheck) -> None:
        self._resource_types = definitions.resource_types
        self._slice = slicing.assign
        self._item = check_item

    def check(
        self,
        raw: Any,
        ext: Any,
        key: str,
        node: ElementNode,
        ctype: str | None,
        path: str,
        ctx: Ctx,
        root: ElementNode,
    ) -> None:
        """``raw`` and ``ext``: the values of ``key`` and ``_key`` in the object at ``path``."""
        is_list = isinstance(raw, list) or (raw is None and isinstance(ext, list))
        if node.is_array and not is_list:
            add(
                ctx,
                "error",
                "structure",
                f"{path}.{key}",
                f"The property {key} must be a JSON Array, not "
                f"{json_kind(raw if raw is not None else ext)}",
            )
            values: list[Any] = [raw]
            exts: list[Any] = [ext]
        elif not node.is_array and is_list:
            add(
                ctx,
                "error",
                "structure",
                f"{path}.{key}",
                f"The property {key} must be a single value, not an array",
            )
            values = list(raw) if isinstance(raw, list) else []
            exts = list(ext) if isinstance(ext, list) else []
        elif is_list:
            values = list(raw) if isinstance(raw, list) else []
            exts = list(ext) if isinstance(ext, list) else []
            if ext is not None and not isinstance(ext, list):
                # "_given": {...} beside "given": [...] - not to be dropped unseen
                add(
                    ctx,
                    "error",
                    "structure",
                    f"{path}.{key}",
                    f"The property _{key} must be a JSON Array, not {json_kind(ext)}",
                )
        else:
            values, exts = [raw], [ext]
        n = max(len(values), len(exts))
        if n == 0:
            add(ctx, "error", "structure", f"{path}.{key}", f"The array {key} must not be empty")
        values += [None] * (n - len(values))
        exts += [None] * (n - len(exts))
        # which concrete type
        if ctype is not None:
            allowed = node.type_codes
            if ctype not in allowed:
                add(
                    ctx,
                    "error",
                    "structure",
                    f"{path}.{key}",
                    f"The type '{ctype}' is not allowed for {node.path} (allowed: "
                    f"{', '.join(allowed)})",
                )
                return
            type_code = ctype
            elem_node = node.type_nodes.get(ctype, node)
            base_path = (
                f"{path}.{node.name[:-3]}.ofType({cap(ctype)})"
                if len(node.types) > 1
                else f"{path}.{node.name[:-3]}"
            )
        else:
            codes = node.type_codes
            type_code = codes[0] if codes else "BackboneElement"
            elem_node = node
            base_path = f"{path}.{key}"
            if len(codes) > 1 and type_code in self._resource_types:
                type_code = "Resource"
        if node.max is not None and n > node.max:
            add(
                ctx,
                "error",
                "structure",
                base_path,
                f"{node.path}: max allowed = {node.max}, but found {n}",
            )
        elif n < node.min and n > 0:
            add(
                ctx,
                "error",
                "structure",
                base_path,
                f"{node.path}: minimum required = {node.min}, but only found {n}",
            )
        if ctype is not None and node.type_nodes:
            for tcode, tn in node.type_nodes.items():
                if tn.min > 0 and tcode != ctype:
                    add(
                        ctx,
                        "error",
                        "required",
                        path,
                        f"{node.path}: a value of type {tcode} is required",
                    )
        assigned: list[ElementNode] = [elem_node] * n
        if elem_node.slicing is not None or elem_node.slices:
            assigned = self._slice(
                values, elem_node, base_path, ctx, root, type_code, is_list=node.is_array
            )
        item = self._item
        for i in range(n):
            ipath = f"{base_path}[{i}]" if node.is_array else base_path
            item(values[i], exts[i], assigned[i], type_code, ipath, ctx, root)
