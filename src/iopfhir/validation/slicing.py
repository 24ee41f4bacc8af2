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
from dataclasses import dataclass
from typing import Any

from .context import Conforms, Ctx, add
from .definitions import Definitions
from .discriminators import actual_choice_type, codes_of, disc_steps, values_at
from .model import ElementNode
from .trees import TypeTrees
from .values import matches, prim_equal

__all__ = ["Slicing"]


@dataclass(frozen=True, slots=True)
class _Criterion:
    """One discriminator of one slice, compiled: the path as steps, the definition it
    reaches, and the values it must find there (all of them)."""

    steps: list[str] | None
    sub: ElementNode | None
    sub_type: str
    expected: tuple[Any, ...]


def _found(vals: list[Any], expected: Any) -> bool:
    if isinstance(expected, dict):
        return any(isinstance(v, dict) and matches(v, expected, exact=False) for v in vals)
    return any(prim_equal(v, expected) for v in vals)


class Slicing:
    """Assign values to slices; ``conforms`` decides profile discriminators."""

    def __init__(self, definitions: Definitions, trees: TypeTrees, conforms: Conforms) -> None:
        self.definitions = definitions
        self._trees = trees
        self._conforms = conforms
        self._criteria: dict[tuple[int, str, str, str], _Criterion] = {}
        self._keep: list[ElementNode] = []  # the nodes keyed by id above stay alive
        self._generation = -1

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

    def _criterion(
        self, slice_node: ElementNode, dtype: str, dpath: str, type_code: str
    ) -> _Criterion:
        """What a discriminator asks of a value to be in ``slice_node`` (built once)."""
        if self._generation != self.definitions.generation:
            # definitions loaded since (an extension's profile): build the criteria again
            self._criteria.clear()
            self._keep.clear()
            self._generation = self.definitions.generation
        key = (id(slice_node), dtype, dpath, type_code)
        got = self._criteria.get(key)
        if got is not None:
            return got
        steps = disc_steps(dpath)
        sub: ElementNode | None = None
        sub_type = type_code
        expected: tuple[Any, ...] = ()
        if steps is not None:
            sub, sub_type = self.def_at(slice_node, type_code, steps)
            if dtype in ("value", "pattern") and sub is not None:
                one = sub.fixed if sub.fixed is not None else sub.pattern
                if one is None and steps == ["url"]:
                    # extension slices: the url comes from the extension profile
                    one = self.extension_url(slice_node)
                if one is not None:
                    expected = (one,)
                else:
                    # the value may be fixed inside required slices on the path (bp:
                    # component.code.coding:SBPCode.code): every one of them must be there
                    expected = tuple(self._nested_expected(slice_node, type_code, steps))
        got = _Criterion(steps, sub, sub_type, expected)
        self._criteria[key] = got
        self._keep.append(slice_node)
        return got

    def _nested_expected(
        self, node: ElementNode, type_code: str, steps: Sequence[str]
    ) -> list[Any]:
        """Fixed/pattern values that slices with a minimum above 0, met along ``steps``,
        put at the end of the path."""
        out: list[Any] = []
        current, tcode = node, type_code
        for i, step in enumerate(steps):
            child, ctype = self.def_at(current, tcode, [step])
            if child is None:
                return out
            rest = steps[i + 1 :]
            for s in child.slices:
                if s.min <= 0:
                    continue
                sub, _ = self.def_at(s, ctype, rest)
                if sub is None:
                    continue
                exp = sub.fixed if sub.fixed is not None else sub.pattern
                if exp is not None:
                    out.append(exp)
                elif rest:
                    out.extend(self._nested_expected(s, ctype, rest))
            current, tcode = child, ctype
        return out

    def _disc_match(
        self,
        value: Any,
        slice_node: ElementNode,
        dtype: str,
        dpath: str,
        type_code: str,
        ctx: Ctx,
    ) -> bool:
        crit = self._criterion(slice_node, dtype, dpath, type_code)
        steps = crit.steps
        if steps is None:
            return False
        sub = crit.sub
        vals = values_at(value, steps)
        if dtype in ("value", "pattern"):
            if sub is None:
                return False
            if not crit.expected:
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
            return all(_found(vals, expected) for expected in crit.expected)
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
