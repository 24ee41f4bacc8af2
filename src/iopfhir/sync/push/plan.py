"""Planning a push: an item per resource, how each is written, and the chunks in order.

* :func:`classify` makes the items: per type, the write strategy the server allows
  (conditional create on the business identifier, ``PUT`` to a derived id, or not at
  all); a resource without a business identifier is given one (:mod:`.identity`);
  references to resources the server does not take are dropped.
* :func:`chunks` orders the writes by reference (referenced resources first) and cuts
  them into chunks: in transaction mode any order inside a chunk, in batch mode only
  resources whose references are already resolved, in single mode one per chunk.
* :func:`request_line` is the method and path a write is planned as (for dry runs).

Imports :mod:`iopfhir.errors`, :mod:`iopfhir.sync.capabilities`,
:mod:`iopfhir.sync.resources`, :mod:`.identity` and :mod:`.state`.
"""

from __future__ import annotations

import graphlib
from collections import Counter, defaultdict
from collections.abc import Sequence

from iopfhir.errors import Issue, SyncError
from iopfhir.sync.capabilities import WriteMode
from iopfhir.sync.resources import business_identifier, derived_id, drop_references

from .identity import SOURCE_RECORD_SYSTEM, source_identity, with_identity
from .state import Item, PushRun, Resource

__all__ = ["chunks", "classify", "request_line"]


def classify(run: PushRun, entries: Sequence[tuple[str, Resource]]) -> None:
    """Fill ``run.items`` from ``entries``; report what the server does not take."""
    report = run.report
    strategies: dict[str, tuple[str, str]] = {}
    skipped_urls: set[str] = set()
    given: Counter[str] = Counter()
    shared: Counter[str] = Counter()
    idents = [business_identifier(resource) for _, resource in entries]
    # Two entries of one push with one business identifier are two resources to the file
    # (US Core's practitioner-2 and -3 share an NPI) but one to a conditional create.
    seen = Counter((r["resourceType"], i) for (_, r), i in zip(entries, idents, strict=True))
    for (url, resource), ident in zip(entries, idents, strict=True):
        rtype = str(resource["resourceType"])
        if rtype not in strategies:
            strategies[rtype] = run.support.write_strategy(rtype)
        strategy, reason = strategies[rtype]
        if strategy == "skip":
            report.not_accepted[rtype] += 1
            report.not_accepted_reasons[rtype] = reason
            skipped_urls.add(url)
            continue
        if ident is not None and seen[(rtype, ident)] > 1:
            shared[rtype] += 1
            ident = None
        if ident is None:
            # anyone's FHIR: iopfhir gives it an identifier a rerun finds (see .identity)
            ident = source_identity(rtype, run.sources.get(url, url), resource)
            carried = with_identity(resource, ident)
            given[rtype] += 1
            if carried is None:
                strategy = "put-id"  # nowhere to put it: PUT to the id derived from it
            else:
                resource = carried
        if strategy == "identifier" and "identifier" not in resource:
            # identified by extension (Provenance): nothing to search on, so PUT by id
            strategy = "put-id"
        run.items.append(Item(url, rtype, resource, ident, strategy))
    for rtype, n in sorted(shared.items()):
        report.issues.append(
            Issue(
                "warning",
                "duplicate",
                f"{n} {rtype} resource(s) share a business identifier with another entry: "
                "each is identified by iopfhir's own identifier instead",
            )
        )
    for rtype, n in sorted(given.items()):
        report.issues.append(
            Issue(
                "warning",
                "business-rule",
                f"{n} {rtype} resource(s) without a business identifier: given one by "
                f"iopfhir (system {SOURCE_RECORD_SYSTEM}) so that a repeated push finds them",
            )
        )
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
        # Resources that reference each other in a cycle (two Observations naming each
        # other in hasMember/derivedFrom) are written in one transaction, after
        # everything they reference: each cycle is kept whole in one chunk.
        return _cyclic_chunks(graph, by_url, chunk_size)
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


def _cyclic_chunks(
    graph: dict[str, list[str]], by_url: dict[str, Item], chunk_size: int
) -> list[list[Item]]:
    """Chunks in reference order when references form cycles: the strongly connected
    components in topological order, each whole in one chunk (a chunk grows past
    ``chunk_size`` only when one cycle is larger)."""
    out: list[list[Item]] = []
    current: list[Item] = []
    for component in _components(graph):
        if current and len(current) + len(component) > chunk_size:
            out.append(current)
            current = []
        current.extend(by_url[u] for u in component)
    if current:
        out.append(current)
    return out


def _components(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph`` (node -> what it references),
    iteratively; a component comes after every component it references."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, pos = work[-1]
            if pos == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            edges = graph[node]
            if pos < len(edges):
                work[-1] = (node, pos + 1)
                nxt = edges[pos]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
    return out


def request_line(item: Item) -> tuple[str, str]:
    """The method and path (never a body) a write is sent as."""
    if item.action == "update" or item.strategy == "put-id":
        suffix = " (If-Match)" if item.action == "update" and item.version else ""
        return "PUT", f"{item.type}/{item.server_id}{suffix}"
    if item.strategy == "identifier":
        return "POST", f"{item.type} (If-None-Exist)"
    return "POST", item.type
