"""The look-up: what the server already holds of the resources to push.

:func:`lookup` asks in as few round trips as the server allows: a ``batch`` of GET
searches (``identifier=a,b,c...`` per type, ``_count`` large) and GETs by derived id, or
the same requests one by one without batch support. It sets each item's ``current``
(the server's version), ``server_id`` and ``version``; an identifier that matches
several resources fails its item. :func:`get_many` is also how a merge re-reads.

Imports :mod:`iopfhir.errors`, :mod:`iopfhir.sync.resources` and :mod:`.state`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from iopfhir.errors import Issue, ServerError, SyncError
from iopfhir.sync.resources import escape_search, identifiers

from .state import Item, PushRun, Resource

__all__ = ["LOOKUP_BATCH", "LOOKUP_GROUP", "get_many", "lookup", "status"]

#: Identifiers per OR-search in the look-up (keeps URLs well under common limits).
LOOKUP_GROUP = 40
#: Sub-requests per look-up batch.
LOOKUP_BATCH = 200


def lookup(run: PushRun) -> None:
    """Find what the server already holds, in as few round trips as it allows."""
    wanted: dict[tuple[str, str, str], list[Item]] = defaultdict(list)
    by_id: dict[tuple[str, str], Item] = {}
    for item in run.items:
        if item.strategy == "identifier" and item.ident is not None:
            wanted[(item.type, *item.ident)].append(item)
        elif item.strategy == "put-id" and item.server_id is not None:
            by_id[(item.type, item.server_id)] = item
    requests = _searches(wanted)
    requests.extend(f"{t}/{i}" for t, i in by_id)
    found: list[Resource] = []
    for resource in get_many(run, requests):
        found.append(resource)
    matches: dict[int, list[Resource]] = defaultdict(list)
    for resource in found:
        found_type = str(resource.get("resourceType"))
        if found_type == "Bundle":
            continue
        for system, value in set(identifiers(resource)):
            for item in wanted.get((found_type, system, value), []):
                if all(m.get("id") != resource.get("id") for m in matches[id(item)]):
                    matches[id(item)].append(resource)
        key = (found_type, str(resource.get("id")))
        if key in by_id:
            by_id[key].current = resource
    _take_matches(run, wanted, matches)
    for item in run.items:
        if item.current is not None:
            item.server_id = str(item.current.get("id"))
            meta = item.current.get("meta")
            version = meta.get("versionId") if isinstance(meta, dict) else None
            item.version = str(version) if version is not None else None
            run.ids[item.full_url] = f"{item.type}/{item.server_id}"


def _searches(wanted: dict[tuple[str, str, str], list[Item]]) -> list[str]:
    """OR-searches on the business identifiers, at most :data:`LOOKUP_GROUP` each."""
    requests: list[str] = []
    per_type: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for rtype, system, value in wanted:
        per_type[rtype].append((system, value))
    for rtype, pairs in per_type.items():
        for start in range(0, len(pairs), LOOKUP_GROUP):
            group = pairs[start : start + LOOKUP_GROUP]
            values = ",".join(f"{escape_search(s)}|{escape_search(v)}" for s, v in group)
            query = urlencode([("identifier", values), ("_count", str(max(100, 4 * len(group))))])
            requests.append(f"{rtype}?{query}")
    return requests


def _take_matches(
    run: PushRun,
    wanted: dict[tuple[str, str, str], list[Item]],
    matches: dict[int, list[Resource]],
) -> None:
    """Each wanted item's server version; an item several resources match fails."""
    for items in wanted.values():
        for item in items:
            candidates = matches.get(id(item), [])
            if len(candidates) > 1:
                item.action = "failed"
                run.report.issues.append(
                    Issue(
                        "error",
                        "multiple-matches",
                        f"{len(candidates)} {item.type} resources on the server carry "
                        "the same business identifier; not written",
                    )
                )
            elif candidates:
                item.current = candidates[0]


def get_many(run: PushRun, urls: list[str]) -> Iterator[Resource]:
    """Resources answered by GETs of ``urls`` (searches expand to their matches)."""
    if not urls:
        return
    if run.support.batch:
        for start in range(0, len(urls), LOOKUP_BATCH):
            part = urls[start : start + LOOKUP_BATCH]
            bundle = {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [{"request": {"method": "GET", "url": u}} for u in part],
            }
            response = run.client.batch(bundle)
            for url, entry in zip(part, response.get("entry") or [], strict=False):
                code = status((entry.get("response") or {}).get("status"))
                if code in (404, 410):
                    continue
                if code >= 300:
                    raise SyncError(
                        f"look-up failed with HTTP {code} ({url.split('?', 1)[0]})",
                        report=run.report,
                    )
                resource = entry.get("resource")
                if isinstance(resource, dict):
                    yield from _expand(run, resource)
        return
    for url in urls:
        try:
            resource = run.client.get(url)
        except ServerError as exc:
            if exc.status in (404, 410):
                continue
            raise
        yield from _expand(run, resource)


def _expand(run: PushRun, resource: Resource) -> Iterator[Resource]:
    if resource.get("resourceType") != "Bundle":
        yield resource
        return
    for page in run.client.pages(resource):
        for entry in page.get("entry") or []:
            found = entry.get("resource") if isinstance(entry, dict) else None
            mode = (entry.get("search") or {}).get("mode", "match")
            if isinstance(found, dict) and mode == "match":
                yield found


def status(value: Any) -> int:
    """The code of a Bundle ``response.status`` (``"201 Created"``, ``"201"``); 0 if none."""
    text = str(value or "").strip()
    head = text.split(" ", 1)[0]
    return int(head) if head.isdigit() else 0
