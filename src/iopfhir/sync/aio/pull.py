"""The async pull: ``await apull(client, (system, value))`` with an ``AsyncFhirClient``.

The same pull as :func:`iopfhir.sync.pull` (same arguments, result, report and
exceptions), run as it is in a worker thread over :mod:`.bridge`: its requests go
through the async client's transport on this loop, which stays free for other tasks. A
pull only reads, so a cancelled pull leaves nothing behind. :func:`apull_many` pulls many
patients, at most ``concurrency`` at once (each pull in its own worker thread, their
requests interleaved on the loop).

Imports :mod:`iopfhir.client`, :mod:`iopfhir.fhir`, :mod:`iopfhir.sync.pull` and
:mod:`.bridge`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from functools import partial

from iopfhir.client import AsyncFhirClient, FhirClient
from iopfhir.errors import InputError
from iopfhir.fhir.read import ImportResult
from iopfhir.sync.pull import PullReport, pull

from .bridge import LoopTransport, blocking_twin

__all__ = ["apull", "apull_many"]


async def apull(
    client: AsyncFhirClient,
    patient_identifier: tuple[str, str],
    since: str | date | datetime | None = None,
    *,
    report: PullReport | None = None,
) -> ImportResult:
    """Fetch the IOP data of the patient with ``patient_identifier``; see
    :func:`iopfhir.sync.pull`."""
    bridge = LoopTransport(client.transport, asyncio.get_running_loop())
    try:
        twin = blocking_twin(client, bridge)
        return await asyncio.to_thread(pull, twin, patient_identifier, since, report=report)
    finally:
        bridge.stop()


async def apull_many(
    client: AsyncFhirClient,
    patient_identifiers: Iterable[tuple[str, str]],
    since: str | date | datetime | None = None,
    *,
    concurrency: int = 4,
) -> list[ImportResult]:
    """:func:`apull` of every patient, at most ``concurrency`` at once; results in order."""
    if concurrency < 1:
        raise InputError("concurrency must be at least 1")
    loop = asyncio.get_running_loop()
    bridges: list[LoopTransport] = []
    statement = await client.capabilities()  # read once, not once per patient

    def twin() -> FhirClient:
        bridges.append(LoopTransport(client.transport, loop))
        return blocking_twin(client, bridges[-1], capabilities=statement)

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="iopfhir-pull")
    try:
        jobs = [
            loop.run_in_executor(pool, partial(pull, twin(), i, since)) for i in patient_identifiers
        ]
        return list(await asyncio.gather(*jobs))
    finally:
        for bridge in bridges:
            bridge.stop()
        pool.shutdown(wait=False, cancel_futures=True)  # never block the loop
