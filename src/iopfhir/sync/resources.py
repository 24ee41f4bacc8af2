"""Resource helpers for sync: references, business identifiers, derived ids, comparison.

Plain functions on resource dicts; nothing here talks to a server.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

__all__ = [
    "SERVER_META",
    "business_identifier",
    "canonical",
    "derived_id",
    "drop_references",
    "escape_search",
    "normalized",
    "references",
    "rewrite_references",
    "unchanged_on_server",
]

Resource = dict[str, Any]

#: ``meta`` elements a server fills in; never compared.
SERVER_META = frozenset({"versionId", "lastUpdated", "source"})
_NAMESPACE = uuid.UUID("6f1c3b2e-5d7a-5c43-9b0e-1f0f4a1c7e21")


def _holders(node: Any, out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Append every element of ``node`` that holds a ``reference`` string (contained
    resources excluded). Exact ``type`` tests and a plain recursion: this runs over every
    element of every resource pushed, so it is kept to the cheapest Python there is."""
    if type(node) is dict:
        if type(node.get("reference")) is str:
            out.append(node)
        for key, value in node.items():
            kind = type(value)
            if (kind is dict or kind is list) and key != "contained":
                _holders(value, out)
    elif type(node) is list:
        for value in node:
            kind = type(value)
            if kind is dict or kind is list:
                _holders(value, out)
    return out


def references(resource: Mapping[str, Any]) -> Iterator[str]:
    """Every ``reference`` string in ``resource`` (contained resources excluded)."""
    return iter([holder["reference"] for holder in _holders(dict(resource), [])])


def rewrite_references(resource: Mapping[str, Any], mapping: Mapping[str, str]) -> Resource:
    """A deep copy with references found in ``mapping`` replaced by their mapped value."""
    out: Resource = orjson.loads(orjson.dumps(resource))  # the fastest deep copy of JSON
    for holder in _holders(out, []):
        target = mapping.get(holder["reference"])
        if target is not None:
            holder["reference"] = target
    return out


def drop_references(
    resource: Mapping[str, Any], drop: Callable[[str], bool]
) -> tuple[Resource, int]:
    """A deep copy without the Reference elements whose target ``drop`` selects.

    A reference inside a list is removed from the list (an emptied list is removed); a
    single-valued one is removed from its parent. Returns the copy and how many went.
    """
    removed = 0

    def clean(node: Any) -> Any:
        nonlocal removed
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "contained":
                    out[key] = value
                    continue
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
    """``(system, value)`` of the first identifier that has both (None if there is none)."""
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
    return str(uuid.uuid5(_NAMESPACE, f"{resource_type}|{system}|{value}"))


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
    """Equal ignoring ``id``, server ``meta`` and a ``text`` the server generated."""
    keep_text = "text" in ours
    return canonical(normalized(ours, keep_text=keep_text)) == canonical(
        normalized(theirs, keep_text=keep_text)
    )


def _equal_mapped(ours: Any, theirs: Any, mapping: Mapping[str, str]) -> bool:
    if ours == theirs:  # C-speed for every subtree without a reference to rewrite
        return True
    if isinstance(ours, dict):
        if not isinstance(theirs, dict) or ours.keys() != theirs.keys():
            return False
        for key, value in ours.items():
            if key == "reference" and isinstance(value, str):
                target = mapping.get(value, value)
                # a reference not yet resolved to a server id must be written
                if target.startswith("urn:") or target != theirs[key]:
                    return False
            elif not _equal_mapped(value, theirs[key], mapping):
                return False
        return True
    if isinstance(ours, list):
        return (
            isinstance(theirs, list)
            and len(ours) == len(theirs)
            and all(_equal_mapped(a, b, mapping) for a, b in zip(ours, theirs, strict=True))
        )
    return bool(ours == theirs)


def unchanged_on_server(
    ours: Mapping[str, Any], theirs: Mapping[str, Any], mapping: Mapping[str, str]
) -> bool:
    """Whether writing ``ours`` (references to be rewritten by ``mapping``) would change
    ``theirs``: equal ignoring ``id``, server ``meta`` and a ``text`` the server generated,
    with our identifiers all present among theirs (identifiers are merged, never dropped),
    and every reference resolvable to a server id.

    The same decision as rewriting, merging identifiers and :func:`same_content`, without
    copying the resource: a second push compares every resource, so this is its hot path.
    """
    a = normalized(ours, keep_text="text" in ours)
    b = normalized(theirs, keep_text="text" in ours)
    mine, current = a.pop("identifier", None), b.pop("identifier", None)
    if isinstance(mine, list) and isinstance(current, list):
        if any(i not in current for i in mine):
            return False
    elif mine != current:
        return False
    return _equal_mapped(a, b, mapping)
