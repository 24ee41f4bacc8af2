"""Sending the chunks of a push and recording what the server answered.

:func:`send_chunk` writes one chunk (one transaction, one batch, or one request in
single mode) and records each answer on its item and in the report: created, updated,
matched an existing resource (a concurrent create), or failed (with every resource that
references it). Updates answered 412 are merged (:mod:`.merge`) and the chunk is sent
again, at most :data:`MAX_MERGE_ROUNDS` times.

The decisions are :func:`chunk_flow`, a sans-IO generator that yields the steps
(:class:`PostBundle`, :class:`WriteOne`, :class:`Merge`) and records their answers;
:func:`send_chunk` performs them with the blocking client, the async push
(:mod:`iopfhir.sync.aio.push`) awaits them.

Imports :mod:`iopfhir.client`, :mod:`iopfhir.errors`, :mod:`iopfhir.sync.capabilities`,
:mod:`iopfhir.sync.resources`, :mod:`.content`, :mod:`.lookup`, :mod:`.merge` and
:mod:`.state`.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

from iopfhir.client import WriteResult, parse_location
from iopfhir.errors import Issue, PreconditionFailed, SyncConflict, SyncError
from iopfhir.sync.capabilities import WriteMode
from iopfhir.sync.resources import escape_search
from iopfhir.validation.outcomes import foreign_issues

from .content import desired
from .lookup import status
from .merge import merge
from .state import Item, PushRun, Resource

__all__ = [
    "MAX_MERGE_ROUNDS",
    "ChunkFlow",
    "ChunkStep",
    "Merge",
    "PostBundle",
    "WriteOne",
    "chunk_flow",
    "send_chunk",
]

#: Times a chunk is re-sent after merging concurrent changes (412).
MAX_MERGE_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class PostBundle:
    """Step: POST ``bundle`` (a ``transaction`` or ``batch``); answer: the response Bundle."""

    bundle: Resource
    mode: WriteMode


@dataclass(frozen=True, slots=True)
class WriteOne:
    """Step: one create (conditional) or update (``If-Match``); answer: a ``WriteResult``."""

    resource: Resource
    request: Resource  # the Bundle entry's ``request``: method, url, ifMatch / ifNoneExist


@dataclass(frozen=True, slots=True)
class Merge:
    """Step: re-read ``stale`` and merge our changes (:func:`.merge.merge`); answer: None."""

    stale: list[Item]


ChunkStep = PostBundle | WriteOne | Merge
ChunkFlow = Generator[ChunkStep, Any, None]


def chunk_flow(run: PushRun, chunk: list[Item], mode: WriteMode) -> ChunkFlow:
    """The steps of writing ``chunk`` (sans-IO): yields what to send, records each answer.

    An answer is recorded in one go once it has arrived, so a driver that stops at a
    step (a cancelled task) leaves nothing half-recorded. A ``PreconditionFailed`` of a
    step is thrown back in by the driver (412: merged and sent again).
    """
    for _ in range(MAX_MERGE_ROUNDS + 1):
        chunk = [i for i in chunk if i.action in ("create", "update")]
        if not chunk:
            return
        try:
            if mode == "single":
                item = chunk[0]
                entry = _entry(run, item)
                result = yield WriteOne(entry["resource"], entry["request"])
                _record_result(run, item, result)
                return
            bundle = {
                "resourceType": "Bundle",
                "type": mode,
                "entry": [_entry(run, i) for i in chunk],
            }
            stale = _record_bundle(run, chunk, (yield PostBundle(bundle, mode)))
            if not stale:
                return
            yield Merge(stale)
            chunk = stale
        except PreconditionFailed as exc:
            stale = [i for i in chunk if i.action == "update"]
            if not stale:
                raise SyncError(
                    "the server answered 412 to a conditional create: several resources "
                    "match one business identifier",
                    report=run.report,
                    issues=exc.issues,
                ) from exc
            yield Merge(stale)
    raise SyncConflict(
        "the resources kept changing on the server while we wrote them", report=run.report
    )


def send_chunk(run: PushRun, chunk: list[Item], mode: WriteMode) -> None:
    """Write ``chunk``; merge and resend updates another client got to first."""
    flow = chunk_flow(run, chunk, mode)
    try:
        step = next(flow)
        while True:
            try:
                answer = _perform(run, step)
            except PreconditionFailed as exc:
                step = flow.throw(exc)
            else:
                step = flow.send(answer)
    except StopIteration:
        return
    finally:
        flow.close()


def _perform(run: PushRun, step: ChunkStep) -> Any:
    client = run.client
    if isinstance(step, Merge):
        merge(run, step.stale)
        return None
    if isinstance(step, PostBundle):
        post = client.transaction if step.mode == "transaction" else client.batch
        return post(step.bundle)
    if step.request["method"] == "PUT":
        return client.update(step.resource, if_match=step.request.get("ifMatch"))
    return client.create(step.resource, if_none_exist=step.request.get("ifNoneExist"))


def _entry(run: PushRun, item: Item) -> Resource:
    resource = desired(run, item)
    item.sent = resource
    if item.action == "update" or item.strategy == "put-id":
        request: Resource = {"method": "PUT", "url": f"{item.type}/{item.server_id}"}
        if item.action == "update" and item.version:
            request["ifMatch"] = f'W/"{item.version}"'
        full_url = f"{run.client.base_url}/{item.type}/{item.server_id}"
    else:
        request = {"method": "POST", "url": item.type}
        if item.strategy == "identifier" and item.ident is not None:
            request["ifNoneExist"] = _if_none_exist(*item.ident)
        full_url = item.full_url
    return {"fullUrl": full_url, "resource": resource, "request": request}


def _record_bundle(run: PushRun, chunk: list[Item], response: Resource) -> list[Item]:
    """Record a transaction's or batch's answers; returns the updates a batch answered 412."""
    answers = response.get("entry") or []
    stale: list[Item] = []
    for item, answer in zip(chunk, answers, strict=False):
        info = (answer.get("response") or {}) if isinstance(answer, dict) else {}
        code = status(info.get("status"))
        if code == 412 and item.action == "update":
            stale.append(item)
            continue
        if code >= 300 or code == 0:
            # the server's words may repeat what we sent: keep where and what kind, not text
            _fail(run, item, f"HTTP {code}", foreign_issues(info.get("outcome")))
            continue
        _record(run, item, code, info.get("location"), info.get("etag"), answer.get("resource"))
    for item in chunk[len(answers) :]:
        _fail(run, item, "no response entry", [])
    return stale


def _record_result(run: PushRun, item: Item, result: WriteResult) -> None:
    _record(
        run,
        item,
        result.status,
        result.location,
        result.etag,
        result.resource,
        result.id,
        result.version_id,
    )


def _record(
    run: PushRun,
    item: Item,
    code: int,
    location: Any,
    etag: Any,
    body: Any,
    rid: str | None = None,
    version: str | None = None,
) -> None:
    report = run.report
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
        run.ids[item.full_url] = f"{item.type}/{rid}"
    item.version = str(version) if version is not None else item.version
    if item.action == "create" and code == 200 and item.strategy == "identifier":
        # Someone created it between our look-up and our write (a concurrent push).
        item.action = "unchanged"
        report.unchanged += 1
        report.matched_existing += 1
        return
    # The server's answer decides: created only on 201. A PUT to a derived id the look-up
    # did not find answered 200 is counted as updated: a concurrent push may have created
    # it first (both would count it as created otherwise), and some servers (Medplum)
    # answer 200 to any PUT, so the status is all there is to go by.
    if code == 201:
        report.created += 1
        item.action = "created"
    else:
        report.updated += 1
        item.action = "updated"
    report.written.append((item.type, item.server_id or ""))


def _fail(run: PushRun, item: Item, why: str, issues: list[Issue]) -> None:
    item.action = "failed"
    run.report.issues.append(Issue("error", "exception", f"{item.type}: not written ({why})"))
    run.report.issues.extend(issues)
    dependents = [
        i for i in run.items if i.action in ("create", "update") and item.full_url in i.refs
    ]
    for dep in dependents:
        _fail(run, dep, f"references a {item.type} that was not written", [])


def _if_none_exist(system: str, value: str) -> str:
    """``identifier=<system>|<value>``, search-escaped and URL-encoded."""
    return f"identifier={_quoted(system)}%7C{quote_plus(escape_search(value), safe='')}"


@lru_cache(maxsize=256)
def _quoted(system: str) -> str:
    # A push repeats a handful of identifier systems thousands of times.
    return quote_plus(escape_search(system), safe="")
