"""Slicing: which slice each value of a sliced element belongs to, and slice cardinality.

Lives here: :class:`Slicing` - values are matched to slices by their discriminators (value,
pattern, exists, type, profile; extension slices by url), closed slicing rejects values that
match no slice, and each slice's min/max is checked. The definition a discriminator path
reaches (:meth:`Slicing.def_at`) is looked up in the slice's tree and the type trees.

Imports only sibling modules below the walk (``.context``, ``.definitions``,
``.discriminators``, ``.model``, ``.trees``, ``.values``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .context import Conforms, Ctx, add
from .definitions import Definitions
from .discriminators import actual_choice_type, codes_of, disc_steps, values_at
from .model import ElementNode
from .trees import TypeTrees
from .values import matches, prim_equal

__all__ = ["Slicing"]


class Slicing:
    """Assign values to slices; ``conforms`` decides profile discriminators."""

    def __init__(self, definitions: Definitions, trees: TypeTrees, conforms: Conforms) -> None:
        self.definitions = definitions
        self._trees = trees
        self._conforms = conforms

    def assign(
        self,
        values: list[Any],
        node: ElementNode,
        path: str,
        ctx: Ctx,
        root: ElementNode,
        type_code: str,
        *,
        is_list: bool,
    ) -> list[ElementNode]:
        """The node (a slice, or ``node`` itself) each of ``values`` is checked against."""
        out: list[ElementNode] = []
        counts = {id(s): 0 for s in node.slices}
        slicing = node.slicing
        discs = slicing.discriminators if slicing else ()
        for i, v in enumerate(values):
            match: ElementNode | None = None
            for s in node.slices:
                if discs and self._slice_matches(v, s, discs, type_code, ctx):
                    match = s
                    break
            if match is None:
                if slicing is not None and slicing.rules == "closed" and node.slices:
                    ipath = f"{path}[{i}]" if is_list else path
                    add(
                        ctx,
                        "error",
                        "structure",
                        ipath,
                        f"This element does not match any known slice defined in the "
                        f"profile for {node.path} (slicing is closed)",
                    )
                out.append(node)
            else:
                counts[id(match)] += 1
                out.append(match)
        for s in node.slices:
            n = counts[id(s)]
            if n < s.min:
                add(
                    ctx,
                    "error",
                    "structure",
                    path,
                    f"Slice '{node.path}:{s.slice_name}': a matching slice is required, "
                    f"but not found (minimum {s.min}, found {n})",
                )
            if s.max is not None and n > s.max:
                add(
                    ctx,
                    "error",
                    "structure",
                    path,
                    f"Slice '{node.path}:{s.slice_name}': at most {s.max} allowed, but found {n}",
                )
        return out

    def _slice_matches(
        self,
        value: Any,
        slice_node: ElementNode,
        discs: Sequence[tuple[str, str]],
        type_code: str,
        ctx: Ctx,
    ) -> bool:
        for dtype, dpath in discs:
            if not self._disc_match(value, slice_node, dtype, dpath, type_code, ctx):
                return False
        return True

    def _disc_match(
        self,
        value: Any,
        slice_node: ElementNode,
        dtype: str,
        dpath: str,
        type_code: str,
        ctx: Ctx,
    ) -> bool:
        steps = disc_steps(dpath)
        if steps is None:
            return False
        sub, sub_type = self.def_at(slice_node, type_code, steps)
        vals = values_at(value, steps)
        if dtype in ("value", "pattern"):
            if sub is None:
                return False
            expected = sub.fixed if sub.fixed is not None else sub.pattern
            if expected is None and steps == ["url"] and sub_type == "uri":
                # extension slices: the url comes from the extension profile
                expected = self.extension_url(slice_node)
            if expected is None and steps == ["url"]:
                expected = self.extension_url(slice_node)
            if expected is None:
                if sub.binding_strength == "required" and sub.binding_vs:
                    exp = self.definitions.terminology.expand(sub.binding_vs)
                    if exp is None:
                        # the value set is not available: the slice cannot be ruled out
                        return bool(vals)
                    for v in vals:
                        for system, code in codes_of(v):
                            if exp.check(system, code) is not False:
                                return True
                    return False
                return True  # the slice does not constrain this discriminator
            return any(
                prim_equal(v, expected)
                if not isinstance(expected, dict)
                else isinstance(v, dict) and matches(v, expected, exact=False)
                for v in vals
            )
        if dtype == "exists":
            if sub is None:
                return False
            return bool(vals) == (sub.min > 0) if (sub.min > 0 or sub.max == 0) else True
        if dtype == "type":
            if sub is None:
                return False
            allowed = set(sub.type_codes)
            for v in vals:
                actual = v.get("resourceType") if isinstance(v, dict) else None
                if actual is None:
                    actual = actual_choice_type(value, steps)
                if actual in allowed:
                    return True
            return False
        if dtype == "profile":
            if sub is None:
                return False
            profiles = [p for t in sub.types for p in t.profiles]
            for v in vals:
                if isinstance(v, dict) and "resourceType" in v:
                    for p in profiles:
                        if self.definitions.has(p) and self._conforms(v, p, within=ctx):
                            return True
            return False
        return False

    def extension_url(self, slice_node: ElementNode) -> str | None:
        for t in slice_node.types:
            for p in t.profiles:
                return self.definitions.extension_url_of(p)
        if slice_node.children and "url" in slice_node.children:
            fixed = slice_node.children["url"].fixed
            return fixed if isinstance(fixed, str) else None
        return None

    def def_at(
        self, node: ElementNode, type_code: str, steps: Sequence[str]
    ) -> tuple[ElementNode | None, str]:
        current: ElementNode | None = node
        tcode = type_code
        for step in steps:
            if current is None:
                return None, tcode
            if step == "$this":
                continue
            if step.startswith("ofType:"):
                want = step.split(":", 1)[1]
                tn = current.type_nodes.get(want) or current.type_nodes.get(
                    want[:1].lower() + want[1:]
                )
                if tn is not None:
                    current = tn
                tcode = want
                continue
            if step == "resolve()":
                return None, tcode
            if step.startswith("extension:"):
                url = step.split(":", 1)[1]
                holder, _ = self._trees.children_of(current, tcode, node)
                ext = holder.children.get("extension") if holder and holder.children else None
                current = None
                if ext is not None:
                    for s in ext.slices:
                        if self.extension_url(s) == url:
                            current = s
                tcode = "Extension"
                continue
            holder, _ = self._trees.children_of(current, tcode, node)
            if holder is None or holder.children is None:
                return None, tcode
            child = holder.children.get(step) or holder.children.get(step + "[x]")
            if child is None:
                return None, tcode
            current = child
            codes = child.type_codes
            tcode = codes[0] if len(codes) == 1 else tcode
        return current, tcode
