"""Planning a push: an item per resource, how each is written, and the chunks in order.

* :func:`classify` makes the items: per type, the write strategy the server allows
  (conditional create on the business identifier, ``PUT`` to a derived id, plain create,
  or not at all); references to resources the server does not take are dropped.
* :func:`chunks` orders the writes by reference (referenced resources first) and cuts
  them into chunks: in transaction mode any order inside a chunk, in batch mode only
  resources whose references are already resolved, in single mode one per chunk.
* :func:`request_line` is the method and path a write is planned as (for dry runs).

Imports :mod:`iopfhir.errors`, :mod:`iopfhir.sync.capabilities`,
:mod:`iopfhir.sync.resources` and :mod:`.state`.
"""

from __future__ import annotations

import graphlib
from collections import defaultdict
from collections.abc import Sequence

from iopfhir.errors import Issue, SyncError
from iopfhir.sync.capabilities import WriteMode
from iopfhir.sync.resources import business_identifier, derived_id, drop_references

from .state import Item, PushRun, Resource

__all__ = ["chunks", "classify", "request_line"]


def classify(run: PushRun, entries: Sequence[tuple[str, Resource]]) -> None:
    """Fill ``run.items`` from ``entries``; report what the server does not take."""
    report = run.report
    strategies: dict[str, tuple[str, str]] = {}
    skipped_urls: set[str] = set()
    for url, resource in entries:
        rtype = str(resource["resourceType"])
        if rtype not in strategies:
            strategies[rtype] = run.support.write_strategy(rtype)
        strategy, reason = strategies[rtype]
        ident = business_identifier(resource)
        if strategy == "identifier" and ident is not None and "identifier" not in resource:
            # identified by extension (Provenance): nothing to search on, so PUT by id
            strategy = "put-id"
        if strategy == "skip":
            report.not_accepted[rtype] += 1
            report.not_accepted_reasons[rtype] = reason
            skipped_urls.add(url)
            continue
        if ident is None:
            strategy = "plain"
            report.issues.append(
                Issue(
                    "warning",
                    "business-rule",
                    f"a {rtype} without a business identifier is created unconditionally",
                )
            )
        run.items.append(Item(url, rtype, resource, ident, strategy))
    if skipped_urls:
        for item in run.items:
            if not item.refs.isdisjoint(skipped_urls):
                item.resource, n = drop_references(item.resource, skipped_urls.__contains__)
                report.dropped_references += n
    for item in run.items:
        if item.strategy == "put-id" and item.ident is not None:
            item.server_id = derived_id(item.type, *item.ident)
            run.ids[item.full_url] = f"{item.type}/{item.server_id}"


def chunks(run: PushRun, writes: list[Item], mode: WriteMode) -> list[list[Item]]:
    """``writes`` in reference order, cut into the chunks ``mode`` allows."""
    chunk_size = run.chunk_size
    by_url = {i.full_url: i for i in writes}
    graph = {i.full_url: [r for r in i.refs if r in by_url and r != i.full_url] for i in writes}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        if mode != "transaction":
            raise SyncError(
                "the resources reference each other in a cycle; only a transaction can "
                "write them and the server has none",
                report=run.report,
            ) from None
        order = [i.full_url for i in writes]
    if mode == "transaction":
        ordered = [by_url[u] for u in order]
        return [ordered[s : s + chunk_size] for s in range(0, len(ordered), chunk_size)]
    if mode == "single":
        return [[by_url[u]] for u in order]
    depth: dict[str, int] = {}
    for url in order:
        depth[url] = 1 + max((depth[d] for d in graph[url]), default=-1)
    levels: dict[int, list[Item]] = defaultdict(list)
    for url in order:
        levels[depth[url]].append(by_url[url])
    out: list[list[Item]] = []
    for level in sorted(levels):
        items = levels[level]
        out.extend(items[s : s + chunk_size] for s in range(0, len(items), chunk_size))
    return out


def request_line(item: Item) -> tuple[str, str]:
    """The method and path (never a body) a write is sent as."""
    if item.action == "update" or item.strategy == "put-id":
        suffix = " (If-Match)" if item.action == "update" and item.version else ""
        return "PUT", f"{item.type}/{item.server_id}{suffix}"
    if item.strategy == "identifier":
        return "POST", f"{item.type} (If-None-Exist)"
    return "POST", item.type
