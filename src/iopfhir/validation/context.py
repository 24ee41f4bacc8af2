"""The state of one validation run, and how check modules call back into the walk.

Lives here: :class:`Ctx` (issues found so far and where the walk is: the resource, the
resource that contains it, the Bundle references resolve against, the entry's fullUrl),
:func:`add` (record one issue), and the call signatures through which check modules reach the
walk without importing it (:class:`ObjectWalk`, :class:`ResourceWalk`, :class:`Conforms`,
:data:`ItemCheck`): the walk hands its bound methods to the checks it builds, so imports only
go from the walk down to the checks.

Imports only ``iopfhir.errors``, ``.bundles`` and ``.model``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from iopfhir.errors import Issue, Severity

from .bundles import BundleIndex
from .model import ElementNode

__all__ = [
    "ABSTRACT_RESOURCE",
    "JSON",
    "Conforms",
    "Ctx",
    "ItemCheck",
    "ObjectWalk",
    "ResourceWalk",
    "add",
    "add_ele1",
]

JSON = dict[str, Any]

ABSTRACT_RESOURCE = frozenset({"Resource", "DomainResource"})


@dataclass(slots=True)
class Ctx:
    issues: list[Issue]
    resource: Any = None
    root_resource: Any = None
    bundle: BundleIndex | None = None
    full_url: str | None = None
    silent: bool = False
    depth: int = 0
    res_path: str = ""


def add(ctx: Ctx, severity: Severity, code: str, path: str, message: str) -> None:
    ctx.issues.append(Issue(severity, code, message, path))


def add_ele1(ctx: Ctx, path: str, node: ElementNode) -> None:
    """ele-1 failed at ``path``: the element (of ``node``) has neither a value nor children
    (a complex value, or a primitive's ``_key``, with nothing but an id)."""
    text = f"Constraint failed: ele-1: {node.path} must have a value or children"
    add(ctx, "error", "invariant", path, text)


class ObjectWalk(Protocol):
    """Check a JSON object against the element node that defines it."""

    def __call__(
        self,
        obj: Any,
        node: ElementNode,
        type_code: str,
        path: str,
        ctx: Ctx,
        root: ElementNode,
        *,
        is_resource: bool = False,
    ) -> None: ...


class ResourceWalk(Protocol):
    """Check a resource against its base definition and the profiles it is held to."""

    def __call__(
        self,
        res: Mapping[str, Any],
        path: str,
        ctx: Ctx,
        profiles: Sequence[str] = (),
        *,
        top: bool = False,
        only_explicit: bool = False,
        container: Any = None,
        allowed_types: Sequence[str] = (),
    ) -> None: ...


class Conforms(Protocol):
    """True when a resource has no errors against a profile."""

    def __call__(self, resource: Any, profile: str, *, within: Any = None) -> bool: ...


#: check one value of a property: (value, ``_key`` extension, node, type code, path, ctx, root)
ItemCheck = Callable[[Any, Any, ElementNode, str, str, Ctx, ElementNode], None]
