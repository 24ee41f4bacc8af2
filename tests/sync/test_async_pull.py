"""apull_many against the real sekmet server: the episodes of several patients pulled at
once are those the sync pull gives one by one; cancelled, it ends without hanging the loop."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.servers.fixtures import LIVE_TIMEOUT

from iopfhir.client import AsyncFhirClient, AsyncTransport, FhirClient, Request, Response, Timeout
from iopfhir.sync import DisclosureTerms, apull_many, pull, push

from .conftest import unique_episode

pytestmark = pytest.mark.integration


class Slow:
    """An async transport wrapper that delays every exchange and counts those in flight."""

    def __init__(self, inner: AsyncTransport, delay: float) -> None:
        self.inner, self.delay = inner, delay
        self.in_flight = self.max_in_flight = 0

    async def handle(self, request: Request, *, timeout: Timeout) -> Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return await self.inner.handle(request, timeout=timeout)
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        await self.inner.close()


def test_apull_many_gives_what_pull_gives_one_by_one(live_server):
    episodes = [unique_episode("co-occurring-sud-iop") for _ in range(3)]
    idents = [(e.patient.identifiers[0].system, e.patient.identifiers[0].value) for e in episodes]
    with FhirClient(live_server, timeout=LIVE_TIMEOUT) as client:
        push(client, episodes, disclosure=DisclosureTerms(own_system=True))
        expected = [pull(client, i).episodes for i in idents]

    async def main() -> tuple[list, Slow]:
        async with AsyncFhirClient(live_server, timeout=LIVE_TIMEOUT) as client:
            slow = Slow(client.transport, 0.01)
            client.transport = slow
            results = await apull_many(client, idents, concurrency=3)
            return [r.episodes for r in results], slow

    got, slow = asyncio.run(main())
    assert got == expected
    assert 1 < slow.max_in_flight <= 3  # the pulls ran together, never more than 3


def test_a_cancelled_apull_many_ends_promptly(live_server):
    ident = ("urn:iopfhir:test", "nobody")

    async def main() -> float:
        async with AsyncFhirClient(live_server, timeout=LIVE_TIMEOUT) as client:
            client.transport = Slow(client.transport, 30.0)  # every request hangs
            task = asyncio.create_task(apull_many(client, [ident] * 4, concurrency=2))
            await asyncio.sleep(0.2)
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return time.monotonic() - started

    assert asyncio.run(main()) < 5.0
