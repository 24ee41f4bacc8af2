"""Invariants on the walk: which of a node's constraints run, and how failures are reported.

Lives here: :class:`Constraints` - per node, a plan of its invariants (each with its native or
simple-compiled evaluator, or none when fhirpathpy must run it) is built once and cached, then
run on every value the node matches; and :func:`resolver_for`, FHIRPath ``resolve()`` within
the current resource and Bundle. Evaluating an expression is :mod:`.invariants`' job.

Imports only ``iopfhir.errors`` and sibling modules below the walk (``.context``,
``.invariants``, ``.model``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from iopfhir.errors import Severity, one_line

from .context import Ctx, add
from .invariants import InvariantEngine
from .model import ElementNode

__all__ = ["Constraints", "resolver_for"]

#: a failed invariant's message at most: the key says which, the expression is a reminder
_MAX_MESSAGE = 300


class Constraints:
    """Run the invariants of element nodes; ``check_invariants`` False turns them off."""

    def __init__(self, invariants: InvariantEngine, check_invariants: bool) -> None:
        self.invariants = invariants
        self.check_invariants = check_invariants
        self._todo_cache: dict[tuple[int, int], tuple[Any, ...]] = {}
        self._todo_keep: list[Any] = []

    def check(
        self,
        node: ElementNode,
        value: Any,
        path: str,
        ctx: Ctx,
        model_path: str,
        *,
        skip: Sequence[Any] = (),
        primitive: bool = False,
    ) -> None:
        if not self.check_invariants or not node.constraints:
            return
        ckey = (id(node.constraints), id(skip) if skip else 0)
        todo = self._todo_cache.get(ckey)
        if todo is None:
            skip_keys = {c.key for c in skip}
            # (constraint, fast evaluator or None): the plan of this node's invariants
            todo = tuple(
                (c, self.invariants.fast(c.key, c.expression))
                for c in node.constraints
                if c.key not in skip_keys and c.key != "ele-1"
            )
            # the tuples are kept alive by the trees, so their ids stay theirs
            self._todo_cache[ckey] = todo
            self._todo_keep.append((node.constraints, skip))
        if not todo:
            return
        env = {"resource": ctx.resource, "rootResource": ctx.root_resource, "context": value}
        resolver: Any = None
        for c, fn in todo:
            if fn is not None:
                ok = fn(value, env)
            else:
                if resolver is None:
                    resolver = resolver_for(ctx)
                ok = self.invariants.evaluate(
                    c.key, c.expression, value, model_path.replace("[x]", ""), env, resolver
                )
            if ok is False:
                severity: Severity = "error" if c.severity == "error" else "warning"
                # a profile's expression may span lines and run long: one bounded line
                text = one_line(f"Constraint failed: {c.key}: {c.expression}", _MAX_MESSAGE)
                add(ctx, severity, "invariant", path, text)


def resolver_for(ctx: Ctx) -> Any:
    root, bundle, here = ctx.root_resource, ctx.bundle, ctx.full_url

    def resolve(ref: str) -> Any:
        if ref.startswith("#"):
            if not isinstance(root, dict):
                return None
            if ref == "#":
                return root
            return next(
                (
                    c
                    for c in root.get("contained", ()) or ()
                    if isinstance(c, dict) and c.get("id") == ref[1:]
                ),
                None,
            )
        return bundle.resolve(ref, here) if bundle is not None else None

    return resolve
