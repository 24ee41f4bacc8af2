"""Bundles: entries indexed for reference resolution, and the rules a Bundle must follow.

Lives here: :class:`BundleIndex` (a Bundle's entries by fullUrl and by type/id, built once per
Bundle by :func:`bundle_index`), the reference pattern :data:`REF_RX` and the two resolution
outcomes that are not a resource (:data:`AMBIGUOUS`, :data:`NOT_FOUND`), and
:func:`bundle_rules` - the Bundle rules the HL7 Java validator applies beyond the
StructureDefinition (link relations, fullUrl shape, searchset entries). Their messages
never repeat a fullUrl or an id of the input: the location says which entry.

Imports only ``iopfhir.errors``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iopfhir.errors import Issue

__all__ = [
    "AMBIGUOUS",
    "NOT_FOUND",
    "REF_RX",
    "BundleIndex",
    "bundle_index",
    "bundle_rules",
]

REF_RX = re.compile(
    r"(?:(?P<base>.*)/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-\.]{1,64})"
    r"(?:/_history/[A-Za-z0-9\-\.]{1,64})?"
)

AMBIGUOUS: Any = object()
NOT_FOUND: Any = object()


@dataclass(slots=True)
class BundleIndex:
    kind: str
    by_full_url: dict[str, Any] = field(default_factory=dict)
    by_type_id: dict[str, Any] = field(default_factory=dict)
    ambiguous: set[str] = field(default_factory=set)
    versions: dict[str, list[Any]] = field(default_factory=dict)

    def _by_url(self, url: str, version: str) -> Any:
        """An entry by fullUrl; several entries share it when they are versions."""
        many = self.versions.get(url)
        if many is None:
            return None
        if version:
            for r in many:
                meta = r.get("meta")
                if isinstance(meta, dict) and meta.get("versionId") == version:
                    return r
            return NOT_FOUND
        return many[0] if len(many) == 1 else AMBIGUOUS

    def resolve(self, ref: str, here: str | None) -> Any:
        ref, _, version = ref.partition("/_history/")
        got = self._by_url(ref, version)
        if got is not None:
            return got
        if "://" in ref or ref.startswith("urn:"):
            return None
        m = REF_RX.fullmatch(ref)
        if m is None:
            return None
        if here and "://" in here:
            hm = REF_RX.fullmatch(here)
            if hm is not None and hm.group("base"):
                got = self._by_url(f"{hm.group('base')}/{ref}", version)
                if got is not None:
                    return got
        key = f"{m.group('type')}/{m.group('id')}"
        if version:
            return None
        if key in self.ambiguous:
            return AMBIGUOUS
        return self.by_type_id.get(key)


def bundle_index(bundle: Mapping[str, Any]) -> BundleIndex:
    idx = BundleIndex(kind=str(bundle.get("type", "")))
    for entry in bundle.get("entry", ()) or ():
        if not isinstance(entry, Mapping):
            continue
        res = entry.get("resource")
        if not isinstance(res, Mapping):
            continue
        fu = entry.get("fullUrl")
        if isinstance(fu, str):
            idx.by_full_url.setdefault(fu, res)
            idx.versions.setdefault(fu, []).append(res)
        rt, rid = res.get("resourceType"), res.get("id")
        if isinstance(rt, str) and isinstance(rid, str):
            key = f"{rt}/{rid}"
            if key in idx.by_type_id:
                idx.ambiguous.add(key)
            idx.by_type_id.setdefault(key, res)
    return idx


def bundle_rules(
    bundle: Mapping[str, Any], path: str, issues: list[Issue], resource_types: frozenset[str]
) -> None:
    """Bundle rules the HL7 Java validator applies beyond the StructureDefinition."""
    kind = bundle.get("type")
    links = bundle.get("link")
    self_url: Any = None
    if isinstance(links, list):
        _link_rules(links, kind, path, issues)
        self_url = next(
            (
                link.get("url")
                for link in links
                if isinstance(link, dict) and link.get("relation") == "self"
            ),
            None,
        )
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return
    searched: frozenset[str] | None = None  # the self link's types, read at the first match
    type_id_count: dict[str, int] = {}
    for e in entries:
        res = e.get("resource") if isinstance(e, dict) else None
        if isinstance(res, dict):
            key = f"{res.get('resourceType')}/{res.get('id')}"
            type_id_count[key] = type_id_count.get(key, 0) + 1
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            continue
        epath = f"{path}.entry[{i}]"
        res = e.get("resource")
        fu = e.get("fullUrl")
        if isinstance(fu, str):
            if ":" not in fu:
                issues.append(
                    Issue(
                        "error",
                        "invalid",
                        "The fullUrl must be an absolute URL (not a relative reference)",
                        epath,
                    )
                )
            elif isinstance(res, dict) and "://" in fu:
                m = REF_RX.fullmatch(fu.split("/_history/", 1)[0])
                if (
                    m is not None
                    and m.group("type") in resource_types
                    and isinstance(res.get("id"), str)
                    and (m.group("type"), m.group("id")) != (res.get("resourceType"), res.get("id"))
                ):
                    issues.append(
                        Issue(
                            "error",
                            "invalid",
                            # the fullUrl and the id are input: the paths say which
                            "The fullUrl looks like a RESTful server URL, so it must end "
                            f"with the resource's type and id ({epath}.resource.id)",
                            epath,
                        )
                    )
        if kind == "searchset" and isinstance(res, dict):
            search = e.get("search")
            mode = search.get("mode") if isinstance(search, dict) else None
            if mode == "outcome" and res.get("resourceType") != "OperationOutcome":
                issues.append(
                    Issue(
                        "error",
                        "invalid",
                        "This is not an OperationOutcome"
                        + _type_said(res.get("resourceType"), resource_types),
                        f"{epath}.resource",
                    )
                )
            elif mode in ("match", "include") and not isinstance(res.get("id"), str):
                issues.append(
                    Issue("error", "invalid", "Search results must have ids", f"{epath}.resource")
                )
            if mode == "match" and searched is None:
                searched = _searched_types(self_url, resource_types)
            if mode == "match" and searched and res.get("resourceType") not in searched:
                issues.append(
                    Issue(
                        "error",
                        "invalid",
                        "This is not a matching resource type for the specified search"
                        + _type_said(res.get("resourceType"), resource_types)
                        + ": its self link asks for other types",
                        f"{epath}.resource",
                    )
                )


#: relations of a page of results: in a searchset or a history only (once each)
_PAGING = ("first", "previous", "next", "last")


def _link_rules(links: list[Any], kind: Any, path: str, issues: list[Issue]) -> None:
    """The Java validator's link rules: in a searchset or a history, each paging relation and
    ``self`` once; elsewhere no paging relation, and ``self`` once."""
    paged = kind in ("searchset", "history")
    seen: set[str] = set()
    for i, link in enumerate(links):
        rel = link.get("relation") if isinstance(link, dict) else None
        if rel not in _PAGING and rel != "self":
            continue
        # rel is one of the relations just listed, not free input
        if not paged and rel != "self":
            text = f"The link relationship type '{rel}' is only allowed in a searchset or history"
            issues.append(Issue("error", "invalid", text, f"{path}.link[{i}]"))
        elif rel in seen:
            text = f"The link relationship type '{rel}' can only occur once"
            issues.append(Issue("error", "invalid", text, f"{path}.link[{i}]"))
        seen.add(str(rel))


def _searched_types(url: Any, resource_types: frozenset[str]) -> frozenset[str]:
    """The resource types a search's self link asks for, as the Java validator reads them:
    the last path segment when it is a resource type, else the ``_type`` parameters; none
    when the url says neither (then any type may match)."""
    if not isinstance(url, str):
        return frozenset()
    head, sep, query = url.partition("?")
    segments = [s for s in head.split("/") if s]
    if segments and segments[-1] in resource_types:
        return frozenset((segments[-1],))
    if not sep:
        return frozenset()
    return frozenset(
        t
        for param in query.split("&")
        if param.startswith("_type=")
        for t in param[len("_type=") :].split(",")
    )


def _type_said(rt: Any, resource_types: frozenset[str]) -> str:
    """`` (Type)`` for a real resource type; anything else is input and is not said."""
    return f" ({rt})" if isinstance(rt, str) and rt in resource_types else ""
