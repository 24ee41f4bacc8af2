"""References and the resources inside a resource: contained resources and Bundle entries.

Lives here: :class:`References` - a Reference is resolved (a contained resource, or an entry of
the Bundle being validated; urn: references must resolve in the Bundle), its target type is
checked against the declared ``type`` and the element's target profiles, and a resolved target
is checked against a profiled target profile. Contained resources and Bundle entries are
walked as resources of their own (depth-limited), with the fullUrl of the entry they are in;
:func:`duplicate_contained_ids` finds contained resources that share an id.
Messages never repeat a reference (it holds ids, sometimes identifiers): the location
(``....reference``) says which one; a type is said only when it is a real resource type.

Imports only ``iopfhir.errors`` and sibling modules below the walk (``.bundles``,
``.context``, ``.definitions``, ``.model``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from iopfhir.errors import Severity

from .bundles import AMBIGUOUS, NOT_FOUND, REF_RX
from .context import ABSTRACT_RESOURCE, JSON, Conforms, Ctx, ResourceWalk, add
from .definitions import Definitions
from .model import ElementNode

__all__ = ["References", "duplicate_contained_ids"]

_SCHEME_RX = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_HAS_SPACE_RX = re.compile(r"[ \t\n\r]")
_RELATIVE_RX = re.compile(r"(?P<type>[^/?]+)/(?P<id>[^/]+)(?:/_history/(?P<vid>[^/]+))?")
_ID_RX = re.compile(r"[A-Za-z0-9\-\.]{1,64}")

_BUNDLE_MUST_RESOLVE = frozenset({"document", "message"})
_URN_MUST_RESOLVE = frozenset({"document", "message", "transaction", "batch"})


class References:
    """Check references and walk inner resources; ``conforms`` checks target profiles,
    ``check_resource`` walks a contained resource or a Bundle entry."""

    def __init__(
        self, definitions: Definitions, conforms: Conforms, check_resource: ResourceWalk
    ) -> None:
        self.definitions = definitions
        self._resource_types = definitions.resource_types
        self._concrete_types = definitions.resource_types - ABSTRACT_RESOURCE
        self._conforms = conforms
        self._resource = check_resource
        self._ref_targets: dict[int, tuple[list[str], set[str], bool]] = {}
        self._keep: list[Any] = []

    def reference(self, value: Mapping[str, Any], node: ElementNode, path: str, ctx: Ctx) -> None:
        ref = value.get("reference")
        if not isinstance(ref, str) or not ref:
            return
        if not self._well_formed(ref, path, ctx):
            return
        cached = self._ref_targets.get(id(node))
        if cached is None:
            targets = [tp for t in node.types if t.code == "Reference" for tp in t.target_profiles]
            allowed_or_none = {self.definitions.sd_type(tp) for tp in targets}
            allowed = {a for a in allowed_or_none if a}
            # an unknown target profile: its type cannot be known, so any target is accepted
            any_ok = not allowed or bool(allowed & ABSTRACT_RESOURCE) or (None in allowed_or_none)
            cached = (targets, allowed, any_ok)
            self._ref_targets[id(node)] = cached
            self._keep.append(node)
        targets, allowed, any_ok = cached
        target_type: str | None = None
        resolved: Any = None
        if ref.startswith("#"):
            if ref != "#":
                container = ctx.root_resource if isinstance(ctx.root_resource, dict) else {}
                found = next(
                    (
                        c
                        for c in container.get("contained", ()) or ()
                        if isinstance(c, dict) and c.get("id") == ref[1:]
                    ),
                    None,
                )
                if found is None:
                    add(
                        ctx,
                        "error",
                        "not-found",
                        f"{path}.reference",
                        "The contained resource referenced was not found",
                    )
                    return
                resolved = found
        else:
            m = REF_RX.fullmatch(ref.split("?", 1)[0])
            if m is not None and m.group("type") in self._resource_types:
                target_type = m.group("type")
            if ctx.bundle is not None:
                resolved = ctx.bundle.resolve(ref, ctx.full_url)
                if resolved is AMBIGUOUS:
                    add(
                        ctx,
                        "error",
                        "invalid",
                        f"{path}.reference",
                        "Multiple matches in the Bundle for the reference",
                    )
                    resolved = None
                elif resolved is NOT_FOUND:
                    # R4 allows a reference to a version the Bundle does not hold (and an
                    # entry without meta.versionId): the HL7 validator warns, as here
                    add(
                        ctx,
                        "warning",
                        "not-found",
                        f"{path}.reference",
                        "The Bundle has entries for the resource referenced, but none "
                        "with the referenced version",
                    )
                    resolved = None
                elif resolved is None:
                    if ref.startswith(("urn:uuid:", "urn:oid:")):
                        # a transaction, batch, document or message is processed on its own,
                        # so a urn: that is not in it can never be resolved
                        sev: Severity = (
                            "error" if ctx.bundle.kind in _URN_MUST_RESOLVE else ("warning")
                        )
                        add(
                            ctx,
                            sev,
                            "not-found",
                            f"{path}.reference",
                            "The reference could not be resolved in the Bundle "
                            "(urn: references must point to a Bundle entry)",
                        )
                    elif ctx.bundle.kind in _BUNDLE_MUST_RESOLVE and "://" not in ref:
                        add(
                            ctx,
                            "warning",
                            "not-found",
                            f"{path}.reference",
                            # the kind is one of _BUNDLE_MUST_RESOLVE here, not free input
                            f"The reference could not be resolved in the {ctx.bundle.kind} Bundle",
                        )
        if isinstance(resolved, dict) and isinstance(resolved.get("resourceType"), str):
            target_type = resolved["resourceType"]
        declared = value.get("type")
        if isinstance(declared, str) and target_type and declared != target_type:
            add(
                ctx,
                "error",
                "structure",
                f"{path}",
                f"The reference type {self._type_name(declared)} does not match the target "
                f"type {self._type_name(target_type)}",
            )
        if isinstance(resolved, dict) and target_type:
            profiled = [
                tp
                for tp in targets
                if self.definitions.sd_type(tp) == target_type
                and not tp.startswith("http://hl7.org/fhir/StructureDefinition/")
                and self.definitions.has(tp)
            ]
            if profiled and not any(self._conforms(resolved, tp, within=ctx) for tp in profiled):
                add(
                    ctx,
                    "error",
                    "structure",
                    path,
                    f"The resource referenced does not conform to the target profile "
                    f"{' or '.join(profiled)}",
                )
        if target_type and not any_ok and target_type not in allowed:
            add(
                ctx,
                "error",
                "structure",
                f"{path}",
                f"The type {self._type_name(target_type, quote=True)} of the reference target "
                "is not a valid "
                f"target for {node.path} (must be one of "
                f"{', '.join(sorted(allowed))})",
            )

    def _well_formed(self, ref: str, path: str, ctx: Ctx) -> bool:
        """The shapes R4 allows for ``Reference.reference`` (references.html): ``#id`` of a
        contained resource, an absolute URL (``urn:uuid:``, ``urn:oid:``...), a conditional
        ``Type?query``, or relative ``Type/id`` or ``Type/id/_history/vid`` with an R4
        resource type and ids of the FHIR id type. An error says which part is
        wrong, never the reference (it holds ids)."""
        where = f"{path}.reference"
        if ref[0] == "#":
            return True  # resolved against the contained resources below
        problem: str | None = None
        if _SCHEME_RX.match(ref) is not None:
            # absolute (urn:uuid:, urn:oid: too: like the HL7 Java validator, their form is
            # not judged here; an unresolved one is, below)
            if _HAS_SPACE_RX.search(ref) is not None:
                problem = "an absolute URL cannot contain whitespace"
        elif "?" in ref.split("/", 1)[0]:
            if ref.split("?", 1)[0] not in self._concrete_types:
                problem = "a conditional reference must start with an R4 resource type"
        else:
            m = _RELATIVE_RX.fullmatch(ref)
            if m is None:
                problem = "a relative reference must be Type/id or Type/id/_history/version"
            elif m.group("type") not in self._concrete_types:
                problem = "the reference does not start with an R4 resource type"
            elif _ID_RX.fullmatch(m.group("id")) is None:
                problem = "the id in the reference is not a valid id ([A-Za-z0-9-.]{1,64})"
            elif m.group("vid") is not None and _ID_RX.fullmatch(m.group("vid")) is None:
                problem = "the version in the reference is not a valid id"
        if problem is None:
            return True
        add(ctx, "error", "invalid", where, f"Invalid reference: {problem}")
        return False

    def _type_name(self, name: str, *, quote: bool = False) -> str:
        """A resource type for a message: said when it is one, else it is input."""
        if name in self._resource_types:
            return f"'{name}'" if quote else name
        return "(not a resource type)"

    # -- contained and entry resources -------------------------------------------------
    def contained(self, value: JSON, node: ElementNode, path: str, ctx: Ctx) -> None:
        rtype = value.get("resourceType")
        profiles = [
            p
            for t in node.types
            if t.code == rtype or t.code in ABSTRACT_RESOURCE
            for p in t.profiles
        ]
        allowed = [t.code for t in node.types if t.code not in ABSTRACT_RESOURCE]
        if node.name == "contained":
            if ctx.depth > 20:
                return
            ctx.depth += 1
            try:
                rid = value.get("id")
                if not isinstance(rid, str):
                    add(ctx, "error", "required", path, "A contained resource must have an id")
                self._resource(
                    value, path, ctx, profiles, container=ctx.root_resource, allowed_types=allowed
                )
            finally:
                ctx.depth -= 1
            return
        full_url = None
        if node.path == "Bundle.entry.resource":
            entry_path = path.rsplit(".", 1)[0]
            full_url = _entry_full_url(ctx, entry_path)
        saved = ctx.full_url
        ctx.full_url = full_url
        ctx.depth += 1
        try:
            if ctx.depth <= 20:
                self._resource(value, path, ctx, profiles, allowed_types=allowed)
        finally:
            ctx.full_url = saved
            ctx.depth -= 1


def duplicate_contained_ids(contained: list[Any], path: str, ctx: Ctx) -> None:
    """Contained resources share one id space with their container, so their ids must be
    unique within it (R4 references.html; the HL7 Java validator's "Duplicate id value"): each
    contained resource whose id an earlier one already has is an error at its own place,
    naming the earlier one by position (the id is input). One pass, run only on a resource
    with more than one contained resource; a missing or malformed id is reported where the
    contained resource is walked."""
    first: dict[str, int] = {}
    for i, c in enumerate(contained):
        rid = c.get("id") if isinstance(c, dict) else None
        if not isinstance(rid, str):
            continue
        seen = first.setdefault(rid, i)
        if seen != i:
            add(
                ctx,
                "error",
                "business-rule",
                f"{path}.contained[{i}]",
                f"Duplicate id value: contained[{seen}] has the same id (the ids of contained "
                "resources must be unique within the resource)",
            )


def _entry_full_url(ctx: Ctx, entry_path: str) -> str | None:
    m = re.search(r"\.entry\[(\d+)\]$", entry_path)
    if m is None or not isinstance(ctx.resource, dict):
        return None
    entries = ctx.resource.get("entry")
    i = int(m.group(1))
    if isinstance(entries, list) and i < len(entries) and isinstance(entries[i], dict):
        fu = entries[i].get("fullUrl")
        return fu if isinstance(fu, str) else None
    return None
