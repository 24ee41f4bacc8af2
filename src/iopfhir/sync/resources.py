"""Resource helpers for sync: references, business identifiers, derived ids, comparison.

Plain functions on resource dicts; nothing here talks to a server.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from iopfhir.fhir.conventions import EXT, name_uuid

__all__ = [
    "SERVER_META",
    "Site",
    "business_identifier",
    "canonical",
    "derived_id",
    "drop_references",
    "escape_search",
    "extension_identifier",
    "normalized",
    "reference_sites",
    "references",
    "rewrite_references",
    "unchanged_on_server",
]

Resource = dict[str, Any]

#: ``meta`` elements a server fills in; never compared.
SERVER_META = frozenset({"versionId", "lastUpdated", "source"})
_NAMESPACE = uuid.UUID("6f1c3b2e-5d7a-5c43-9b0e-1f0f4a1c7e21")


Path = tuple[str | int, ...]
#: Where a reference sits (the path to the element holding ``reference``) and its value.
Site = tuple[Path, str]


def _sites(node: Any, path: list[str | int], out: list[Site]) -> None:
    # Exact ``type`` tests and a plain recursion: this walks every element of every
    # resource pushed, once, so it is kept to the cheapest Python there is. Contained
    # resources are walked too: a server rewrites their references in a transaction.
    if type(node) is dict:
        ref = node.get("reference")
        if type(ref) is str:
            out.append((tuple(path), ref))
        for key, value in node.items():
            kind = type(value)
            if kind is dict or kind is list:
                path.append(key)
                _sites(value, path, out)
                path.pop()
    else:
        for index, value in enumerate(node):
            kind = type(value)
            if kind is dict or kind is list:
                path.append(index)
                _sites(value, path, out)
                path.pop()


def reference_sites(resource: Mapping[str, Any]) -> list[Site]:
    """Every ``reference`` string in ``resource`` with the path to the element holding it."""
    out: list[Site] = []
    ref = resource.get("reference")
    if type(ref) is str:
        out.append(((), ref))
    for key, value in resource.items():
        kind = type(value)
        # Most top-level elements (codes, values, identifiers, meta) hold no reference:
        # orjson tells in C whether a key "reference" occurs at all, so only the others
        # are walked in Python.
        if (kind is dict or kind is list) and _holds(value, _REFERENCE_KEY):
            _sites(value, [key], out)
    return out


# How orjson writes the key (never found inside a string, where the quotes are escaped).
_REFERENCE_KEY = b'"reference":'
_URN_REFERENCE = b'"reference":"urn:'


def _holds(value: Any, needle: bytes) -> bool:
    """Whether ``needle`` may occur in ``value``'s JSON (True when it is not plain JSON)."""
    try:
        return needle in orjson.dumps(value)
    except TypeError:  # a Decimal, say: walk it to be sure
        return True


def references(resource: Mapping[str, Any]) -> Iterator[str]:
    """Every ``reference`` string in ``resource`` (contained resources included)."""
    return iter([ref for _, ref in reference_sites(resource)])


def rewrite_references(
    resource: Mapping[str, Any],
    mapping: Mapping[str, str],
    sites: list[Site] | None = None,
) -> Resource:
    """A copy of ``resource`` with the references found in ``mapping`` replaced.

    Structural sharing: the top-level object is new, and so is every object or array on
    the way to a replaced reference; everything else is shared with ``resource``. Treat
    the result as read-only below its top level. ``sites`` (from
    :func:`reference_sites`) saves walking the resource again.
    """
    out: Resource = dict(resource)
    copied: dict[Path, Any] = {(): out}
    for path, ref in reference_sites(resource) if sites is None else sites:
        target = mapping.get(ref)
        if target is None:
            continue
        node: Any = out
        for depth in range(1, len(path) + 1):
            prefix = path[:depth]
            child = copied.get(prefix)
            if child is None:
                original = node[path[depth - 1]]
                child = dict(original) if type(original) is dict else list(original)
                node[path[depth - 1]] = child
                copied[prefix] = child
            node = child
        node["reference"] = target
    return out


def drop_references(
    resource: Mapping[str, Any], drop: Callable[[str], bool]
) -> tuple[Resource, int]:
    """A deep copy without the Reference elements whose target ``drop`` selects
    (contained resources included).

    A reference inside a list is removed from the list (an emptied list is removed); a
    single-valued one is removed from its parent. Returns the copy and how many went.
    """
    removed = 0

    def clean(node: Any) -> Any:
        nonlocal removed
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if isinstance(value, dict) and _dropped(value):
                    removed += 1
                    continue
                if isinstance(value, list):
                    kept = []
                    for item in value:
                        if isinstance(item, dict) and _dropped(item):
                            removed += 1
                            continue
                        kept.append(clean(item))
                    if kept:
                        out[key] = kept
                    continue
                out[key] = clean(value)
            return out
        return node

    def _dropped(value: dict[str, Any]) -> bool:
        ref = value.get("reference")
        return isinstance(ref, str) and drop(ref)

    result: Resource = clean(copy.deepcopy(dict(resource)))
    return result, removed


def business_identifier(resource: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(system, value)`` of the first identifier that has both (None if there is none);
    for a type without ``identifier`` in R4 (Provenance), iopfhir's ``record-identifier``
    extension (see :func:`extension_identifier`)."""
    if "identifier" not in resource:
        return extension_identifier(resource)
    idents = resource.get("identifier")
    if isinstance(idents, dict):  # QuestionnaireResponse.identifier is 0..1
        idents = [idents]
    if not isinstance(idents, list):
        return None
    for ident in idents:
        if isinstance(ident, dict):
            system, value = ident.get("system"), ident.get("value")
            if isinstance(system, str) and isinstance(value, str) and system and value:
                return system, value
    return None


def extension_identifier(resource: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(system, value)`` of the ``record-identifier`` extension: the business identifier
    of a resource whose type has none in R4. No server can search it, so such a resource
    is written by ``PUT`` to an id derived from it."""
    for ext in resource.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") == EXT.RECORD_IDENTIFIER:
            ident = ext.get("valueIdentifier")
            if isinstance(ident, dict):
                system, value = ident.get("system"), ident.get("value")
                if isinstance(system, str) and isinstance(value, str) and system and value:
                    return system, value
    return None


def identifiers(resource: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every ``(system, value)`` pair of ``resource``."""
    idents = resource.get("identifier")
    if isinstance(idents, dict):
        idents = [idents]
    for ident in idents if isinstance(idents, list) else []:
        if isinstance(ident, dict):
            system, value = ident.get("system"), ident.get("value")
            if isinstance(system, str) and isinstance(value, str):
                yield system, value


def derived_id(resource_type: str, system: str, value: str) -> str:
    """A stable resource id from a business identifier (a UUID v5: no patient data in it)."""
    return name_uuid(_NAMESPACE, f"{resource_type}|{system}|{value}")


def escape_search(value: str) -> str:
    """Escape ``\\ , $ |`` in a search value (FHIR search escaping)."""
    for ch in ("\\", ",", "$", "|"):
        value = value.replace(ch, "\\" + ch)
    return value


def normalized(resource: Mapping[str, Any], *, keep_text: bool = True) -> Resource:
    """``resource`` without ``id``, server-populated ``meta`` and (optionally) ``text``."""
    out = {k: v for k, v in resource.items() if k != "id"}
    meta = out.pop("meta", None)
    if isinstance(meta, dict):
        kept = {k: v for k, v in meta.items() if k not in SERVER_META}
        if kept:
            out["meta"] = kept
    if not keep_text:
        out.pop("text", None)
    return out


def canonical(resource: Mapping[str, Any]) -> bytes:
    """Bytes that compare equal exactly when the JSON values are equal."""
    return orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)


def same_content(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> bool:
    """Equal ignoring ``id``, server ``meta``, a ``text`` the server generated and what
    the server set after the write (:func:`_as_written`)."""
    theirs = _as_written(ours, theirs)
    keep_text = "text" in ours
    return canonical(normalized(ours, keep_text=keep_text)) == canonical(
        normalized(theirs, keep_text=keep_text)
    )


def _equal_mapped(ours: Any, theirs: Any, mapping: Mapping[str, str]) -> bool:
    if ours == theirs:  # C speed for every subtree without a reference to rewrite
        return True
    if type(ours) is dict:
        if type(theirs) is not dict or ours.keys() != theirs.keys():
            return False
        for key, value in ours.items():
            if key == "reference" and type(value) is str:
                target = mapping.get(value, value)
                # a reference not yet resolved to a server id must be written
                if target.startswith("urn:") or target != theirs[key]:
                    return False
            elif not _equal_mapped(value, theirs[key], mapping):
                return False
        return True
    if type(ours) is list:
        if type(theirs) is not list or len(ours) != len(theirs):
            return False
        # a plain loop, not all(...): no generator frame on this hot path
        for a, b in zip(ours, theirs, strict=True):  # noqa: SIM110
            if not _equal_mapped(a, b, mapping):
                return False
        return True
    return False  # unequal leaves (the == above said so)


_COMPARED_APART = frozenset({"id", "meta", "identifier", "text"})
_MISSING: Any = object()

#: R4 Subscription: a client asks for ``requested``; the server then sets ``active`` or
#: ``error`` (and ``error``, its note) itself. Such a Subscription is what was written.
_SUBSCRIPTION_SET_BY_SERVER = frozenset({"active", "error"})


def _as_written(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> Mapping[str, Any]:
    """``theirs`` with what the server itself sets after our write put back as we wrote
    it (a Subscription's ``status`` and ``error``), so a repeated push compares equal."""
    if (
        ours.get("resourceType") != "Subscription"
        or ours.get("status") != "requested"
        or theirs.get("status") not in _SUBSCRIPTION_SET_BY_SERVER
    ):
        return theirs
    out = {k: v for k, v in theirs.items() if k != "error" or "error" in ours}
    out["status"] = "requested"
    return out


def unchanged_on_server(
    ours: Mapping[str, Any], theirs: Mapping[str, Any], mapping: Mapping[str, str]
) -> bool:
    """Whether writing ``ours`` (references to be rewritten by ``mapping``) would change
    ``theirs``: equal ignoring ``id``, server ``meta`` and a ``text`` the server generated,
    with our identifiers all present among theirs (identifiers are merged, never dropped),
    and every reference resolvable to a server id.

    The same decision as rewriting, merging identifiers and :func:`same_content`, without
    copying or walking the resource first: a second push compares every resource, so
    this is its hot path. Subtrees without a reference compare at C speed.
    """
    theirs = _as_written(ours, theirs)
    for key, value in ours.items():
        if key not in _COMPARED_APART:
            other = theirs.get(key, _MISSING)
            if other is _MISSING or not _equal_mapped(value, other, mapping):
                return False
    for key in theirs:
        if key not in ours and key not in _COMPARED_APART:
            return False
    # a narrative we send is compared; one the server made is not
    if "text" in ours and not _equal_mapped(ours["text"], theirs.get("text"), mapping):
        return False
    if not _equal_mapped(_own_meta(ours), _own_meta(theirs), mapping):
        return False
    # (an Identifier may hold a reference: its assigner)
    mine, current = ours.get("identifier"), theirs.get("identifier")
    if isinstance(mine, list) and isinstance(current, list):
        for ident in mine:
            if not any(_equal_mapped(ident, other, mapping) for other in current):
                return False
    elif not _equal_mapped(mine, current, mapping):
        return False
    if _holds(theirs, _URN_REFERENCE):
        # The == shortcut would take a urn reference the server holds verbatim for ours.
        # Rare (servers resolve them), so only then is the slow, exact way taken.
        return _unchanged_exact(ours, theirs, mapping)
    return True


def _unchanged_exact(
    ours: Mapping[str, Any], theirs: Mapping[str, Any], mapping: Mapping[str, str]
) -> bool:
    sites = reference_sites(ours)
    if any(mapping.get(ref, ref).startswith("urn:") for _, ref in sites):
        return False
    keep_text = "text" in ours
    a = normalized(rewrite_references(ours, mapping, sites), keep_text=keep_text)
    b = normalized(theirs, keep_text=keep_text)
    mine, current = a.pop("identifier", None), b.pop("identifier", None)
    if isinstance(mine, list) and isinstance(current, list):
        if any(i not in current for i in mine):
            return False
    elif mine != current:
        return False
    return a == b


def _own_meta(resource: Mapping[str, Any]) -> dict[str, Any]:
    meta = resource.get("meta")
    if not isinstance(meta, dict):
        return {}
    return {k: v for k, v in meta.items() if k not in SERVER_META}
