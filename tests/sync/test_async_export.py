"""The async Bulk Data export against the real sekmet server: the same export as the sync
one (the pushed cohort comes back), the event loop stays free while it runs, and cancelling
the task deletes the job and clears the folder, as Ctrl-C does for the sync export."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.servers.fixtures import LIVE_TIMEOUT

from iopfhir.client import AsyncFhirClient, AsyncTransport, Request, Response, Timeout
from iopfhir.errors import NotFound
from iopfhir.fhir.read import read_fhir
from iopfhir.sync import aexport
from iopfhir.sync.export import MANIFEST_NAME, ExportProgress

from .test_export_live import _by_key, server  # noqa: F401  (the module's sekmet fixture)

pytestmark = pytest.mark.integration


class Recording:
    """An async transport wrapper recording each request's method and path."""

    def __init__(self, inner: AsyncTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str]] = []

    async def handle(self, request: Request, *, timeout: Timeout) -> Response:
        self.sent.append((request.method, request.path))
        return await self.inner.handle(request, timeout=timeout)

    async def stream(self, request: Request, *, timeout: Timeout, sink: Any) -> Response:
        self.sent.append((request.method, request.path))
        return await self.inner.stream(request, timeout=timeout, sink=sink)  # type: ignore[attr-defined]

    async def close(self) -> None:
        await self.inner.close()


def test_async_export_imported_gives_the_pushed_episodes(server, tmp_path):  # noqa: F811
    base, cohort = server
    ticks = 0

    async def ticker(done: asyncio.Event) -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    async def main() -> Any:
        done = asyncio.Event()
        async with AsyncFhirClient(base, timeout=LIVE_TIMEOUT) as client:
            recording = Recording(client.transport)
            client.transport = recording
            beat = asyncio.create_task(ticker(done))
            try:
                report = await aexport(client, tmp_path)
            finally:
                done.set()
                await beat
            return report, recording

    report, recording = asyncio.run(main())
    assert report.polls >= 1 and report.transaction_time
    assert report.resources["EpisodeOfCare"] == len(cohort)
    assert (tmp_path / MANIFEST_NAME).is_file()
    assert _by_key(read_fhir(tmp_path).episodes) == _by_key(cohort)
    assert ticks > len(recording.sent)  # the loop ran other tasks while the export waited
    assert [m for m, _ in recording.sent].count("GET") >= len(report.files) + report.polls


def test_cancelling_the_task_deletes_the_job_and_clears_the_folder(server, tmp_path):  # noqa: F811
    base, _ = server

    async def main() -> Recording:
        loop = asyncio.get_running_loop()
        polling = asyncio.Event()

        def progress(event: ExportProgress) -> None:  # called from the worker thread
            if event.phase in ("poll", "download"):
                loop.call_soon_threadsafe(polling.set)

        async with AsyncFhirClient(base, timeout=LIVE_TIMEOUT) as client:
            recording = Recording(client.transport)
            client.transport = recording
            task = asyncio.create_task(aexport(client, tmp_path, progress=progress))
            await polling.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            deletes = [path for method, path in recording.sent if method == "DELETE"]
            assert len(deletes) == 1 and "/bulk-status/" in deletes[0]
            with pytest.raises(NotFound):
                await client.request("GET", client.resolve(deletes[0]))
        return recording

    asyncio.run(main())
    assert list(tmp_path.iterdir()) == []
