"""The async push: ``await apush(client, source, concurrency=N)`` with an ``AsyncFhirClient``.

The same push as :func:`iopfhir.sync.push` (same arguments plus ``concurrency``, same
report, same exceptions): the input, the Part 2 gate and the validator
(:func:`~iopfhir.sync.push.run.prepare`), every read-only step before the writes
(:func:`~iopfhir.sync.push.run.plan_push`: capabilities, look-up, reference check,
unchanged check, chunks) and the writing decisions (:func:`~iopfhir.sync.push.write.chunk_flow`,
412 merges included) are the sync push's own code. The read-only steps run in a worker
thread over :mod:`.bridge` (their HTTP on this loop, through the async transport); the
writes are awaited here.

Concurrency: the write mode decides what may be in flight together. In ``transaction``
mode each chunk is one transaction, sent one after the other (a later chunk may reference
an earlier one). In ``batch`` and ``single`` mode the chunks come in reference order, and
those of one *wave* (none references a resource of another chunk of the wave) are sent
together, at most ``concurrency`` requests in flight (an ``asyncio.Semaphore``); the next
wave starts when the previous one is confirmed. When a chunk of a wave fails, the others
already in flight finish and are recorded, and nothing after them is sent.

Cancellation: an answer is recorded (on its items and in the report) in one synchronous
step after it arrived, so a cancelled push records exactly what the server confirmed;
a transaction is all or nothing on the server and in the report. Pass ``report=`` to read
what was written after a cancellation: its ``not_written`` lists what was not, and a
rerun writes only that (what was written is found by the look-up, never written twice).

Imports :mod:`iopfhir.client`, :mod:`iopfhir.errors`, :mod:`iopfhir.sync.push` and
:mod:`.bridge`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from iopfhir.client import AsyncFhirClient
from iopfhir.domain import Episode
from iopfhir.errors import ClientError, InputError, Issue, PreconditionFailed, SyncError
from iopfhir.fhir.models import FhirModel
from iopfhir.sync.capabilities import Unlisted, WriteMode
from iopfhir.sync.push.merge import merge
from iopfhir.sync.push.part2 import DisclosureTerms
from iopfhir.sync.push.report import PushReport
from iopfhir.sync.push.run import (
    Progress,
    Validates,
    _stop,
    finish_writes,
    plan_push,
    prepare,
    stopped_before_writing,
)
from iopfhir.sync.push.state import Item, PushRun
from iopfhir.sync.push.write import ChunkStep, Merge, PostBundle, chunk_flow

from .bridge import AsyncCountingTransport, LoopTransport, blocking_twin

__all__ = ["DEFAULT_CONCURRENCY", "apush", "waves"]

#: Requests in flight at most, by default.
DEFAULT_CONCURRENCY = 4


async def apush(
    client: AsyncFhirClient,
    source: Episode | Iterable[Episode] | Mapping[str, Any] | FhirModel,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    chunk_size: int = 250,
    dry_run: bool = False,
    validator: Validates | None = None,
    progress: Progress | None = None,
    unlisted: Unlisted = "attempt",
    mode: WriteMode | None = None,
    disclosure: DisclosureTerms | None = None,
    report: PushReport | None = None,
) -> PushReport:
    """Write ``source`` to the server behind ``client``, ``concurrency`` requests at most
    in flight; see the module and :func:`iopfhir.sync.push`. ``report`` (optional) is
    filled in as the push goes (keep it to read after a cancellation)."""
    if chunk_size < 1:
        raise InputError("chunk_size must be at least 1")
    if concurrency < 1:
        raise InputError("concurrency must be at least 1")
    given, report = prepare(source, dry_run, validator, disclosure, report)
    counter = AsyncCountingTransport(client.transport)
    bridge = LoopTransport(counter, asyncio.get_running_loop())
    client.transport = counter
    run: PushRun | None = None
    try:
        try:
            twin = blocking_twin(client, bridge)
            planning = asyncio.to_thread(plan_push, twin, given, report, chunk_size, unlisted, mode)
            run, planned = plan = await planning
            if not report.dry_run:
                await _write(client, plan[0], planned, report.mode, progress, concurrency)
        except ClientError as exc:
            raise stopped_before_writing(report, exc) from exc
        except asyncio.CancelledError:
            _cancelled(run, report)
            raise
        finally:
            bridge.stop()
            report.round_trips = counter.count
        return report
    finally:
        client.transport = counter.inner


def _cancelled(run: PushRun | None, report: PushReport) -> None:
    """What a cancelled push leaves in its report: what was confirmed stays, the rest is
    listed as not written."""
    pending = [i for i in run.items if i.action in ("create", "update")] if run else []
    report.not_written = [i.label for i in pending]
    report.issues.append(
        Issue(
            "warning",
            "incomplete",
            f"push cancelled after {report.chunks_written} of {report.chunks} chunk(s): "
            f"{report.created} created, {report.updated} updated; a rerun writes the rest",
        )
    )


def waves(planned: list[list[Item]], mode: WriteMode) -> list[list[list[Item]]]:
    """``planned`` (in reference order) cut into waves whose chunks may be in flight
    together: no chunk references a resource of another chunk of its wave. Transactions
    go one by one."""
    if mode == "transaction":
        return [[chunk] for chunk in planned]
    out: list[list[list[Item]]] = []
    wave: list[list[Item]] = []
    in_wave: set[str] = set()
    for chunk in planned:
        if wave and any(not item.refs.isdisjoint(in_wave) for item in chunk):
            out.append(wave)
            wave, in_wave = [], set()
        wave.append(chunk)
        in_wave.update(item.full_url for item in chunk)
    if wave:
        out.append(wave)
    return out


async def _write(
    client: AsyncFhirClient,
    run: PushRun,
    planned: list[list[Item]],
    mode: WriteMode,
    progress: Progress | None,
    concurrency: int,
) -> None:
    report = run.report
    done = report.unchanged
    total = len(run.items)
    if progress:
        progress(done, total)
    gate = asyncio.Semaphore(concurrency)
    confirmed: set[int] = set()
    for wave in waves(planned, mode):
        results = await asyncio.gather(
            *(_send_chunk(client, run, chunk, mode, gate) for chunk in wave),
            return_exceptions=True,
        )
        failure: Exception | None = None
        for chunk, result in zip(wave, results, strict=True):
            if isinstance(result, SyncError | ClientError):
                failure = failure or result
                continue
            if isinstance(result, BaseException):
                raise result
            confirmed.add(id(chunk))
            report.chunks_written += 1
            done += len(chunk)
            if progress:
                progress(done, total)
        if failure is not None:
            _stop(run, [c for c in planned if id(c) not in confirmed], failure)
    finish_writes(run)


async def _send_chunk(
    client: AsyncFhirClient,
    run: PushRun,
    chunk: list[Item],
    mode: WriteMode,
    gate: asyncio.Semaphore,
) -> None:
    async with gate:
        flow = chunk_flow(run, chunk, mode)
        try:
            step = next(flow)
            while True:
                try:
                    answer = await _perform(client, run, step)
                except PreconditionFailed as exc:
                    step = flow.throw(exc)
                else:
                    step = flow.send(answer)
        except StopIteration:
            return
        finally:
            flow.close()


async def _perform(client: AsyncFhirClient, run: PushRun, step: ChunkStep) -> Any:
    if isinstance(step, Merge):
        # the re-read is the sync merge's, in a worker thread (its client is the bridge)
        await asyncio.to_thread(merge, run, step.stale)
        return None
    if isinstance(step, PostBundle):
        post = client.transaction if step.mode == "transaction" else client.batch
        return await post(step.bundle)
    if step.request["method"] == "PUT":
        return await client.update(step.resource, if_match=step.request.get("ifMatch"))
    return await client.create(step.resource, if_none_exist=step.request.get("ifNoneExist"))
