"""Capability-aware, idempotent push of IOP episodes (or any FHIR Bundle) to a server.

The plan, in round trips:

1. ``GET /metadata`` (cached by the client) → :class:`~.capabilities.ServerSupport`:
   write mode (transaction, else batch, else one request per resource) and, per type,
   how resources are written (conditional create on the business identifier, ``PUT`` to
   a derived id, or not at all: reported in ``not_accepted``).
2. One look-up: a ``batch`` of GET searches (``identifier=a,b,c...`` per type, ``_count``
   large) and GETs by derived id; without batch support, the same requests one by one.
3. Only the differences are written: creates for what is missing, ``PUT`` with
   ``If-Match`` for what changed (compared ignoring ``id``, server ``meta`` and server
   ``text``), nothing for what is equal. A second push of the same data writes nothing.
4. Writes go in chunks of at most ``chunk_size`` entries, in reference order (referenced
   resources first); references to resources written in earlier chunks or found on the
   server are rewritten from ``urn:uuid`` to their server ids. In transaction mode one
   chunk is one transaction; in batch mode a chunk holds only resources whose references
   are already resolved.
5. A 412 on an update: the current version is re-read and our changed elements are
   applied to it when the other writer did not touch them (3-way merge on top-level
   elements); otherwise the push stops with :class:`~iopfhir.errors.SyncConflict`.
   Nothing is overwritten silently.

Failures raise :class:`~iopfhir.errors.SyncError` (or ``SyncConflict``) with ``report``:
the :class:`PushReport` of what was written and what was not; a rerun completes the rest.

Cost on the client: each resource is walked once for its references (their paths are
kept), rewriting copies only the paths to rewritten references, and the comparison is a
plain ``==`` on the rewritten copy. Python's cyclic garbage collector is paused for the
duration of a push (:mod:`._gc`): the JSON it handles holds no cycles, and the
collections it would trigger were most of the client's CPU time.
"""

from __future__ import annotations

import graphlib
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, Protocol
from urllib.parse import quote_plus, urlencode

import orjson

from iopfhir.client import FhirClient, parse_location
from iopfhir.domain import Episode
from iopfhir.errors import (
    ClientError,
    InputError,
    Issue,
    PreconditionFailed,
    ServerError,
    SyncConflict,
    SyncError,
    ValidationFailed,
)
from iopfhir.fhir.bundle import unique_entries

from . import _gc
from .capabilities import Unlisted, WriteMode, server_support
from .counting import CountingTransport
from .resources import (
    Site,
    business_identifier,
    derived_id,
    drop_references,
    escape_search,
    identifiers,
    normalized,
    reference_sites,
    rewrite_references,
    same_content,
    unchanged_on_server,
)

__all__ = [
    "ConflictDetail",
    "PlannedRequest",
    "Progress",
    "PushReport",
    "Validates",
    "push",
]

log = logging.getLogger("iopfhir.sync")

Resource = dict[str, Any]
Progress = Callable[[int, int], None]
Action = Literal["create", "update", "unchanged", "created", "updated", "failed"]

#: Identifiers per OR-search in the look-up (keeps URLs well under common limits).
LOOKUP_GROUP = 40
#: Sub-requests per look-up batch.
LOOKUP_BATCH = 200
#: Times a chunk is re-sent after merging concurrent changes (412).
MAX_MERGE_ROUNDS = 3


class Validates(Protocol):
    """What :func:`push` needs of a validator (``iopfhir.validation.Validator`` fits)."""

    def validate(self, resource: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One write a push sends (or would send): method and URL path, never a body."""

    method: str
    url: str
    chunk: int

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


@dataclass(frozen=True, slots=True)
class ConflictDetail:
    """A resource another client changed in the same elements we change."""

    resource: str
    elements: tuple[str, ...]


@dataclass
class PushReport:
    """What a push did. :meth:`summary` is the five counts; the rest are details.

    ``failed`` counts resources not written because of an error (including those of
    chunks not attempted after a failed one). ``not_accepted`` counts, per type, the
    resources the server does not take (``not_accepted_reasons`` says why); they are not
    in the five counts.
    """

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    round_trips: int = 0
    mode: WriteMode = "transaction"
    dry_run: bool = False
    total: int = 0
    chunks: int = 0
    chunks_written: int = 0
    not_accepted: Counter[str] = field(default_factory=Counter)
    not_accepted_reasons: dict[str, str] = field(default_factory=dict)
    dropped_references: int = 0
    merged: list[str] = field(default_factory=list)
    conflicts: list[ConflictDetail] = field(default_factory=list)
    written: list[tuple[str, str]] = field(default_factory=list)
    not_written: list[str] = field(default_factory=list)
    matched_existing: int = 0
    planned: list[PlannedRequest] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def writes(self) -> int:
        """Resources created or updated."""
        return self.created + self.updated

    def summary(self) -> dict[str, int]:
        """``{"created", "updated", "unchanged", "failed", "round_trips"}``."""
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "round_trips": self.round_trips,
        }

    def to_json(self) -> str:
        """The summary as one JSON object."""
        return orjson.dumps(self.summary()).decode()

    def details(self) -> dict[str, Any]:
        """Everything but the planned requests, JSON-ready (no patient data)."""
        return {
            **self.summary(),
            "mode": self.mode,
            "dry_run": self.dry_run,
            "total": self.total,
            "chunks": self.chunks,
            "chunks_written": self.chunks_written,
            "not_accepted": dict(self.not_accepted),
            "not_accepted_reasons": self.not_accepted_reasons,
            "dropped_references": self.dropped_references,
            "merged": self.merged,
            "conflicts": [
                {"resource": c.resource, "elements": list(c.elements)} for c in self.conflicts
            ],
            "matched_existing": self.matched_existing,
            "not_written": self.not_written,
            "issues": [str(i) for i in self.issues],
        }


@dataclass
class _Item:
    full_url: str
    type: str
    _resource: Resource
    ident: tuple[str, str] | None
    strategy: str = "identifier"
    server_id: str | None = None
    version: str | None = None
    current: Resource | None = None
    action: Action = "create"
    sent: Resource | None = None  # what the last attempt sent (the 'ours' of a merge)
    # Where the references are: found by one walk, on first use (an unchanged resource
    # never needs it), and kept for every later step.
    _sites: list[Site] | None = None
    _refs: frozenset[str] | None = None

    @property
    def resource(self) -> Resource:
        """Our version of the resource (references still to be rewritten)."""
        return self._resource

    @resource.setter
    def resource(self, value: Resource) -> None:
        self._resource, self._sites, self._refs = value, None, None

    @property
    def sites(self) -> list[Site]:
        """Paths to the references of :attr:`resource`."""
        if self._sites is None:
            self._sites = reference_sites(self._resource)
        return self._sites

    @property
    def refs(self) -> frozenset[str]:
        """The references of :attr:`resource`."""
        if self._refs is None:
            self._refs = frozenset(ref for _, ref in self.sites)
        return self._refs

    @property
    def label(self) -> str:
        """A name for reports: the type and a server id or the bundle's fullUrl."""
        return f"{self.type}/{self.server_id}" if self.server_id else f"{self.type} {self.full_url}"


# -- input ----------------------------------------------------------------------------------


def _entries(source: Episode | Iterable[Episode] | Mapping[str, Any]) -> list[tuple[str, Resource]]:
    if isinstance(source, Episode):
        source = [source]
    if isinstance(source, Mapping):
        if source.get("resourceType") != "Bundle":
            raise InputError("push takes episodes or a FHIR Bundle", path="resourceType")
        out: list[tuple[str, Resource]] = []
        for i, entry in enumerate(source.get("entry") or []):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                raise InputError("a Bundle entry without a resource", path=f"Bundle.entry[{i}]")
            url = entry.get("fullUrl")
            if not isinstance(url, str) or not url:
                rid = resource.get("id")
                url = f"{resource['resourceType']}/{rid}" if rid else f"urn:iopfhir:entry:{i}"
            out.append((url, resource))
        return out
    return list(unique_entries(source))


def _validate(validator: Validates, entries: Sequence[tuple[str, Resource]]) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": url, "resource": r} for url, r in entries],
    }
    report = validator.validate(bundle)
    errors = list(getattr(report, "errors", []) or [])
    if errors:
        raise ValidationFailed(
            f"{len(errors)} validation error(s); nothing was sent", issues=errors
        )


# -- the push -------------------------------------------------------------------------------


def push(
    client: FhirClient,
    source: Episode | Iterable[Episode] | Mapping[str, Any],
    *,
    chunk_size: int = 250,
    dry_run: bool = False,
    validator: Validates | None = None,
    progress: Progress | None = None,
    unlisted: Unlisted = "attempt",
    mode: WriteMode | None = None,
) -> PushReport:
    """Write ``source`` (episodes or a Bundle) to the server behind ``client``; see the module.

    ``mode`` forces a write mode the server supports less well than it could (``batch``
    or ``single``); by default the CapabilityStatement decides. Returns the report;
    raises :class:`~iopfhir.errors.SyncError` (with ``report``) when anything could not
    be written, :class:`~iopfhir.errors.SyncConflict` on a conflicting concurrent change,
    :class:`~iopfhir.errors.ValidationFailed` (before sending anything) when the validator
    finds errors.
    """
    if chunk_size < 1:
        raise InputError("chunk_size must be at least 1")
    # The work below allocates millions of acyclic containers: see _gc. By the time the
    # collector is back on, _run's frame (and every resource it held) is gone.
    with _gc.paused():
        return _run(client, source, chunk_size, dry_run, validator, progress, unlisted, mode)


def _run(
    client: FhirClient,
    source: Episode | Iterable[Episode] | Mapping[str, Any],
    chunk_size: int,
    dry_run: bool,
    validator: Validates | None,
    progress: Progress | None,
    unlisted: Unlisted,
    mode: WriteMode | None,
) -> PushReport:
    entries = _entries(source)
    if validator is not None:
        _validate(validator, entries)
    counter = CountingTransport(client.transport)
    client.transport = counter
    try:
        run = _Push(client, entries, chunk_size, dry_run, progress, unlisted, mode)
        try:
            run.execute()
        finally:
            run.report.round_trips = counter.count
        return run.report
    finally:
        client.transport = counter.inner


class _Push:
    def __init__(
        self,
        client: FhirClient,
        entries: list[tuple[str, Resource]],
        chunk_size: int,
        dry_run: bool,
        progress: Progress | None,
        unlisted: Unlisted,
        mode: WriteMode | None,
    ) -> None:
        self.client = client
        self.entries = entries
        self.chunk_size = chunk_size
        self.dry_run = dry_run
        self.progress = progress
        self.unlisted: Unlisted = unlisted
        self.forced_mode = mode
        self.report = PushReport(dry_run=dry_run, total=len(entries))
        self.ids: dict[str, str] = {}  # fullUrl → Type/id on the server
        self.items: list[_Item] = []

    # -- planning ---------------------------------------------------------------------------

    def execute(self) -> None:
        support = server_support(self.client.capabilities(), unlisted=self.unlisted)
        mode = support.mode
        if self.forced_mode is not None:
            order = ("single", "batch", "transaction")
            if order.index(self.forced_mode) > order.index(mode):
                raise InputError(f"the server does not support {self.forced_mode} writes")
            mode = self.forced_mode
        self.report.mode = mode
        self.support = support
        self._classify()
        self._lookup()
        self._decide()
        writes = [i for i in self.items if i.action in ("create", "update")]
        chunks = self._chunks(writes, mode)
        self.report.chunks = len(chunks)
        for n, chunk in enumerate(chunks):
            for item in chunk:
                self.report.planned.append(PlannedRequest(*self._request_line(item), n))
        if self.dry_run:
            return
        done = self.report.unchanged
        total = len(self.items)
        if self.progress:
            self.progress(done, total)
        for n, chunk in enumerate(chunks):
            try:
                self._send(chunk, mode)
            except (SyncError, ClientError) as exc:
                self._stop(chunks[n:], exc)
            self.report.chunks_written += 1
            done += len(chunk)
            if self.progress:
                self.progress(done, total)
        failed = [i for i in self.items if i.action == "failed"]
        if failed:
            self.report.failed = len(failed)
            self.report.not_written = [i.label for i in failed]
            raise SyncError(
                f"{len(failed)} resource(s) could not be written",
                report=self.report,
                issues=self.report.issues,
            )

    def _classify(self) -> None:
        strategies: dict[str, tuple[str, str]] = {}
        skipped_urls: set[str] = set()
        for url, resource in self.entries:
            rtype = str(resource["resourceType"])
            if rtype not in strategies:
                strategies[rtype] = self.support.write_strategy(rtype)
            strategy, reason = strategies[rtype]
            ident = business_identifier(resource)
            if strategy == "skip":
                self.report.not_accepted[rtype] += 1
                self.report.not_accepted_reasons[rtype] = reason
                skipped_urls.add(url)
                continue
            if ident is None:
                strategy = "plain"
                self.report.issues.append(
                    Issue(
                        "warning",
                        "business-rule",
                        f"a {rtype} without a business identifier is created unconditionally",
                    )
                )
            self.items.append(_Item(url, rtype, resource, ident, strategy))
        if skipped_urls:
            for item in self.items:
                if not item.refs.isdisjoint(skipped_urls):
                    item.resource, n = drop_references(item.resource, skipped_urls.__contains__)
                    self.report.dropped_references += n
        for item in self.items:
            if item.strategy == "put-id" and item.ident is not None:
                item.server_id = derived_id(item.type, *item.ident)
                self.ids[item.full_url] = f"{item.type}/{item.server_id}"

    def _lookup(self) -> None:
        """Find what the server already holds, in as few round trips as it allows."""
        wanted: dict[tuple[str, str, str], list[_Item]] = defaultdict(list)
        by_id: dict[tuple[str, str], _Item] = {}
        for item in self.items:
            if item.strategy == "identifier" and item.ident is not None:
                wanted[(item.type, *item.ident)].append(item)
            elif item.strategy == "put-id" and item.server_id is not None:
                by_id[(item.type, item.server_id)] = item
        requests: list[str] = []
        per_type: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for rtype, system, value in wanted:
            per_type[rtype].append((system, value))
        for rtype, pairs in per_type.items():
            for start in range(0, len(pairs), LOOKUP_GROUP):
                group = pairs[start : start + LOOKUP_GROUP]
                values = ",".join(f"{escape_search(s)}|{escape_search(v)}" for s, v in group)
                query = urlencode(
                    [("identifier", values), ("_count", str(max(100, 4 * len(group))))]
                )
                requests.append(f"{rtype}?{query}")
        requests.extend(f"{t}/{i}" for t, i in by_id)
        found: list[Resource] = []
        for resource in self._get_many(requests):
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
        for items in wanted.values():
            for item in items:
                candidates = matches.get(id(item), [])
                if len(candidates) > 1:
                    item.action = "failed"
                    self.report.issues.append(
                        Issue(
                            "error",
                            "multiple-matches",
                            f"{len(candidates)} {item.type} resources on the server carry "
                            "the same business identifier; not written",
                        )
                    )
                elif candidates:
                    item.current = candidates[0]
        for item in self.items:
            if item.current is not None:
                item.server_id = str(item.current.get("id"))
                meta = item.current.get("meta")
                version = meta.get("versionId") if isinstance(meta, dict) else None
                item.version = str(version) if version is not None else None
                self.ids[item.full_url] = f"{item.type}/{item.server_id}"

    def _get_many(self, urls: list[str]) -> Iterator[Resource]:
        """Resources answered by GETs of ``urls`` (searches expand to their matches)."""
        if not urls:
            return
        if self.support.batch:
            for start in range(0, len(urls), LOOKUP_BATCH):
                part = urls[start : start + LOOKUP_BATCH]
                bundle = {
                    "resourceType": "Bundle",
                    "type": "batch",
                    "entry": [{"request": {"method": "GET", "url": u}} for u in part],
                }
                response = self.client.batch(bundle)
                for url, entry in zip(part, response.get("entry") or [], strict=False):
                    status = _status((entry.get("response") or {}).get("status"))
                    if status in (404, 410):
                        continue
                    if status >= 300:
                        raise SyncError(
                            f"look-up failed with HTTP {status} ({url.split('?', 1)[0]})",
                            report=self.report,
                        )
                    resource = entry.get("resource")
                    if isinstance(resource, dict):
                        yield from self._expand(resource)
            return
        for url in urls:
            try:
                resource = self.client.get(url)
            except ServerError as exc:
                if exc.status in (404, 410):
                    continue
                raise
            yield from self._expand(resource)

    def _expand(self, resource: Resource) -> Iterator[Resource]:
        if resource.get("resourceType") != "Bundle":
            yield resource
            return
        for page in self.client.pages(resource):
            for entry in page.get("entry") or []:
                found = entry.get("resource") if isinstance(entry, dict) else None
                mode = (entry.get("search") or {}).get("mode", "match")
                if isinstance(found, dict) and mode == "match":
                    yield found

    def _decide(self) -> None:
        for item in self.items:
            if item.action == "failed":
                continue
            if item.current is None:
                item.action = "create"
                continue
            if unchanged_on_server(item.resource, item.current, self.ids):
                item.action = "unchanged"
                self.report.unchanged += 1
            else:
                item.action = "update"

    def _desired(self, item: _Item) -> Resource:
        resource = rewrite_references(item.resource, self.ids, item.sites)
        resource.pop("id", None)
        if item.current is not None:
            resource = _keep_their_identifiers(resource, item.current)
        if item.server_id is not None and (item.current is not None or item.strategy == "put-id"):
            resource["id"] = item.server_id
        return resource

    def _chunks(self, writes: list[_Item], mode: WriteMode) -> list[list[_Item]]:
        by_url = {i.full_url: i for i in writes}
        graph = {i.full_url: [r for r in i.refs if r in by_url and r != i.full_url] for i in writes}
        try:
            order = list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError:
            if mode != "transaction":
                raise SyncError(
                    "the resources reference each other in a cycle; only a transaction can "
                    "write them and the server has none",
                    report=self.report,
                ) from None
            order = [i.full_url for i in writes]
        if mode == "transaction":
            ordered = [by_url[u] for u in order]
            return [
                ordered[s : s + self.chunk_size] for s in range(0, len(ordered), self.chunk_size)
            ]
        if mode == "single":
            return [[by_url[u]] for u in order]
        depth: dict[str, int] = {}
        for url in order:
            depth[url] = 1 + max((depth[d] for d in graph[url]), default=-1)
        levels: dict[int, list[_Item]] = defaultdict(list)
        for url in order:
            levels[depth[url]].append(by_url[url])
        chunks: list[list[_Item]] = []
        for level in sorted(levels):
            items = levels[level]
            chunks.extend(
                items[s : s + self.chunk_size] for s in range(0, len(items), self.chunk_size)
            )
        return chunks

    # -- writing ----------------------------------------------------------------------------

    def _request_line(self, item: _Item) -> tuple[str, str]:
        if item.action == "update" or item.strategy == "put-id":
            suffix = " (If-Match)" if item.action == "update" and item.version else ""
            return "PUT", f"{item.type}/{item.server_id}{suffix}"
        if item.strategy == "identifier":
            return "POST", f"{item.type} (If-None-Exist)"
        return "POST", item.type

    def _entry(self, item: _Item, mode: WriteMode) -> Resource:
        resource = self._desired(item)
        item.sent = resource
        if item.action == "update" or item.strategy == "put-id":
            request: Resource = {"method": "PUT", "url": f"{item.type}/{item.server_id}"}
            if item.action == "update" and item.version:
                request["ifMatch"] = f'W/"{item.version}"'
            full_url = f"{self.client.base_url}/{item.type}/{item.server_id}"
        else:
            request = {"method": "POST", "url": item.type}
            if item.strategy == "identifier" and item.ident is not None:
                request["ifNoneExist"] = _if_none_exist(*item.ident)
            full_url = item.full_url
        return {"fullUrl": full_url, "resource": resource, "request": request}

    def _send(self, chunk: list[_Item], mode: WriteMode) -> None:
        for _ in range(MAX_MERGE_ROUNDS + 1):
            chunk = [i for i in chunk if i.action in ("create", "update")]
            if not chunk:
                return
            try:
                if mode == "single":
                    self._send_single(chunk[0])
                    return
                stale = self._send_bundle(chunk, mode)
                if not stale:
                    return
                self._merge(stale)
                chunk = stale
            except PreconditionFailed as exc:
                stale = [i for i in chunk if i.action == "update"]
                if not stale:
                    raise SyncError(
                        "the server answered 412 to a conditional create: several resources "
                        "match one business identifier",
                        report=self.report,
                        issues=exc.issues,
                    ) from exc
                self._merge(stale)
        raise SyncConflict(
            "the resources kept changing on the server while we wrote them", report=self.report
        )

    def _send_bundle(self, chunk: list[_Item], mode: WriteMode) -> list[_Item]:
        """Send one chunk; returns the updates a batch answered with 412."""
        bundle = {
            "resourceType": "Bundle",
            "type": mode,
            "entry": [self._entry(i, mode) for i in chunk],
        }
        if mode == "transaction":
            response = self.client.transaction(bundle)
        else:
            response = self.client.batch(bundle)
        answers = response.get("entry") or []
        stale: list[_Item] = []
        for item, answer in zip(chunk, answers, strict=False):
            info = (answer.get("response") or {}) if isinstance(answer, dict) else {}
            status = _status(info.get("status"))
            if status == 412 and item.action == "update":
                stale.append(item)
                continue
            if status >= 300 or status == 0:
                outcome = info.get("outcome") or {}
                issues = [
                    Issue.from_fhir(i) for i in outcome.get("issue") or [] if isinstance(i, dict)
                ]
                self._fail(item, f"HTTP {status}", issues)
                continue
            self._record(
                item, status, info.get("location"), info.get("etag"), answer.get("resource")
            )
        for item in chunk[len(answers) :]:
            self._fail(item, "no response entry", [])
        return stale

    def _send_single(self, item: _Item) -> None:
        entry = self._entry(item, "single")
        resource = entry["resource"]
        request = entry["request"]
        if request["method"] == "PUT":
            result = self.client.update(resource, if_match=request.get("ifMatch"))
        else:
            condition = request.get("ifNoneExist")
            result = self.client.create(resource, if_none_exist=condition)
        self._record(
            item,
            result.status,
            result.location,
            result.etag,
            result.resource,
            result.id,
            result.version_id,
        )

    def _record(
        self,
        item: _Item,
        status: int,
        location: Any,
        etag: Any,
        body: Any,
        rid: str | None = None,
        version: str | None = None,
    ) -> None:
        if isinstance(location, str) and location:
            _, lid, lversion = parse_location(location)
            rid = rid or lid
            version = version or lversion
        if isinstance(body, dict):
            rid = rid or body.get("id")
            meta = body.get("meta")
            if version is None and isinstance(meta, dict):
                version = meta.get("versionId")
        if version is None and isinstance(etag, str):
            version = etag.removeprefix("W/").strip('"') or None
        if rid:
            item.server_id = str(rid)
            self.ids[item.full_url] = f"{item.type}/{rid}"
        item.version = str(version) if version is not None else item.version
        if item.action == "create" and status == 200 and item.strategy == "identifier":
            # Someone created it between our look-up and our write (a concurrent push).
            item.action = "unchanged"
            self.report.unchanged += 1
            self.report.matched_existing += 1
            return
        # A PUT to a derived id that the look-up did not find creates it, whatever the
        # status says: some servers (Medplum) answer 200 to an update that creates.
        if status == 201 or (item.action == "create" and item.strategy == "put-id"):
            self.report.created += 1
            item.action = "created"
        else:
            self.report.updated += 1
            item.action = "updated"
        self.report.written.append((item.type, item.server_id or ""))

    def _fail(self, item: _Item, why: str, issues: list[Issue]) -> None:
        item.action = "failed"
        self.report.issues.append(Issue("error", "exception", f"{item.type}: not written ({why})"))
        self.report.issues.extend(issues)
        dependents = [
            i for i in self.items if i.action in ("create", "update") and item.full_url in i.refs
        ]
        for dep in dependents:
            self._fail(dep, f"references a {item.type} that was not written", [])

    def _stop(self, remaining: list[list[_Item]], exc: Exception) -> None:
        for chunk in remaining:
            for item in chunk:
                if item.action in ("create", "update"):
                    item.action = "failed"
        failed = [i for i in self.items if i.action == "failed"]
        self.report.failed = len(failed)
        self.report.not_written = [i.label for i in failed]
        issues = list(getattr(exc, "issues", []) or [])
        self.report.issues.extend(issues)
        message = (
            f"push stopped after {self.report.chunks_written} of {self.report.chunks} chunk(s): "
            f"{exc}; {self.report.created} created, {self.report.updated} updated, "
            f"{len(failed)} not written (a rerun writes the rest)"
        )
        if isinstance(exc, SyncConflict):
            raise SyncConflict(message, report=self.report, issues=issues) from exc
        raise SyncError(message, report=self.report, issues=issues) from exc

    # -- concurrent changes -----------------------------------------------------------------

    def _merge(self, stale: list[_Item]) -> None:
        """Re-read ``stale`` updates; apply our changes to the newer versions, or raise."""
        urls = [f"{i.type}/{i.server_id}" for i in stale]
        current = {f"{r.get('resourceType')}/{r.get('id')}": r for r in self._get_many(urls)}
        conflicts: list[ConflictDetail] = []
        newer = False
        for item in stale:
            theirs = current.get(f"{item.type}/{item.server_id}")
            base = item.current
            ours = item.sent if item.sent is not None else self._desired(item)
            if theirs is None or base is None:
                conflicts.append(ConflictDetail(item.label, ("(deleted on the server)",)))
                continue
            newer = newer or (theirs.get("meta") or {}).get("versionId") != item.version
            b, o, t = normalized(base), normalized(ours), normalized(theirs)
            keys = set(b) | set(o) | set(t)
            ours_changed = {k for k in keys if b.get(k) != o.get(k)}
            theirs_changed = {k for k in keys if b.get(k) != t.get(k)}
            clash = sorted(k for k in ours_changed & theirs_changed if o.get(k) != t.get(k))
            if clash:
                conflicts.append(ConflictDetail(item.label, tuple(clash)))
                continue
            merged = dict(theirs)
            for key in ours_changed:
                if key in o:
                    merged[key] = o[key]
                else:
                    merged.pop(key, None)
            meta = theirs.get("meta")
            item.current = theirs
            item.version = str(meta.get("versionId")) if isinstance(meta, dict) else None
            item.resource = _unrewrite(merged)
            self.report.merged.append(item.label)
            if same_content(merged, theirs):
                item.action = "unchanged"
        if not newer and not conflicts:
            raise SyncError(
                "the server answered 412 but no resource changed since we read it (several "
                "resources may match one business identifier)",
                report=self.report,
            )
        if conflicts:
            self.report.conflicts.extend(conflicts)
            names = ", ".join(f"{c.resource} ({', '.join(c.elements)})" for c in conflicts)
            raise SyncConflict(
                f"another client changed the same elements: {names}; nothing was overwritten",
                report=self.report,
                issues=[
                    Issue("error", "conflict", f"{c.resource}: {', '.join(c.elements)}", path=None)
                    for c in conflicts
                ],
            )


def _if_none_exist(system: str, value: str) -> str:
    """``identifier=<system>|<value>``, search-escaped and URL-encoded."""
    return f"identifier={_quoted(system)}%7C{quote_plus(escape_search(value), safe='')}"


@lru_cache(maxsize=256)
def _quoted(system: str) -> str:
    # A push repeats a handful of identifier systems thousands of times.
    return quote_plus(escape_search(system), safe="")


def _keep_their_identifiers(ours: Resource, theirs: Mapping[str, Any]) -> Resource:
    """Identifiers are a set that others add to: keep the server's (in its order) and add
    ours that are missing. A Patient, Practitioner or Organization shared by several
    episodes then gathers each episode's identifier once instead of flipping between them,
    and identifiers another system added are never dropped."""
    mine, current = ours.get("identifier"), theirs.get("identifier")
    if not isinstance(mine, list) or not isinstance(current, list):
        return ours
    merged = list(current) + [i for i in mine if i not in current]
    return {**ours, "identifier": merged}


def _unrewrite(resource: Resource) -> Resource:
    """A merged resource is already in server form; keep it as the item's content."""
    out = {k: v for k, v in resource.items() if k not in ("id",)}
    meta = out.get("meta")
    if isinstance(meta, dict):
        kept = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated", "source")}
        if kept:
            out["meta"] = kept
        else:
            out.pop("meta")
    return out


def _status(value: Any) -> int:
    """The code of a Bundle ``response.status`` (``"201 Created"``, ``"201"``); 0 if none."""
    text = str(value or "").strip()
    head = text.split(" ", 1)[0]
    return int(head) if head.isdigit() else 0
