"""The async Bulk Data export: ``await aexport(client, out_dir)`` with an ``AsyncFhirClient``.

:func:`iopfhir.sync.export` itself (kick-off, polls honouring ``Retry-After`` and
``X-Progress``, manifest, files streamed to disk and checked, resume, who gets the token),
run in a worker thread over :mod:`.bridge`: its requests go through the async client's
transport on this loop (file bodies streamed, their chunks written to disk from the loop),
its waits between polls are the bridge's. Same arguments (but ``sleep``: the waits end at
once on cancellation), result and exceptions; ``progress`` is called from the worker
thread.

Cancelling the task is Ctrl-C for the export: the request in flight is cancelled, the job
is deleted on the server (DELETE on the status URL) and what the export wrote in the
folder is removed, then ``CancelledError`` propagates.

Imports :mod:`iopfhir.client`, :mod:`iopfhir.sync.export` and :mod:`.bridge`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from os import PathLike

from iopfhir.client import AsyncFhirClient, Timeout
from iopfhir.sync.export import ExportError, ExportReport, export
from iopfhir.sync.export.download import DOWNLOAD_TIMEOUT
from iopfhir.sync.export.poll import DEFAULT_MAX_WAIT
from iopfhir.sync.export.report import ProgressCallback

from .bridge import LoopTransport, blocking_twin

__all__ = ["aexport"]


async def aexport(
    client: AsyncFhirClient,
    out_dir: str | PathLike[str],
    *,
    level: str = "system",
    group: str | None = None,
    types: Sequence[str] = (),
    since: str | None = None,
    type_filters: Sequence[str] = (),
    delete_after: bool = False,
    allow_file_hosts: Iterable[str] = (),
    restart: bool = False,
    progress: ProgressCallback | None = None,
    clock: Callable[[], float] = time.monotonic,
    max_wait: float = DEFAULT_MAX_WAIT,
    download_timeout: Timeout = DOWNLOAD_TIMEOUT,
) -> ExportReport:
    """Export from ``client``'s server into ``out_dir``; see :func:`iopfhir.sync.export`."""
    loop = asyncio.get_running_loop()
    bridge = LoopTransport(client.transport, loop)
    run = partial(
        export,
        blocking_twin(client, bridge),
        out_dir,
        level=level,
        group=group,
        types=types,
        since=since,
        type_filters=type_filters,
        delete_after=delete_after,
        allow_file_hosts=allow_file_hosts,
        restart=restart,
        progress=progress,
        sleep=bridge.sleep,
        clock=clock,
        max_wait=max_wait,
        download_timeout=download_timeout,
    )

    def work() -> ExportReport:
        try:
            return run()
        except KeyboardInterrupt:  # our interrupt: the export cleaned up after itself
            raise ExportError("export cancelled: the job was deleted") from None

    job = loop.run_in_executor(None, work)
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        bridge.interrupt()
        await asyncio.wait([job])  # the export deletes its job and clears the folder
        if not job.cancelled():
            job.exception()  # retrieved: the cancellation is what propagates
        raise
    finally:
        bridge.stop()
