"""The async push against the in-memory server: the same plan and result as the sync push,
never more than ``concurrency`` requests in flight, and a cancelled push records only what
the server confirmed (a transaction all or nothing); a rerun then writes only the rest."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from iopfhir.client import (
    AsyncFhirClient,
    AsyncMemoryTransport,
    FhirClient,
    MemoryTransport,
    Request,
    Response,
)
from iopfhir.errors import InputError, SyncError
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.sync import DisclosureTerms, PushReport, apush, push
from iopfhir.sync.aio.push import waves
from iopfhir.sync.resources import references

from .conftest import unique_episode
from .fake import BASE, FakeServer


def async_transport(server: FakeServer, delay: float = 0.001) -> AsyncMemoryTransport:
    async def handler(request: Request) -> Response:
        await asyncio.sleep(delay)  # let other requests start meanwhile
        return server.handle(request)

    return AsyncMemoryTransport(handler)


async def apush_with(transport: AsyncMemoryTransport, source: Any, **kwargs: Any) -> PushReport:
    async with AsyncFhirClient(BASE, transport=transport) as client:
        return await apush(client, source, **kwargs)


def total(episode) -> int:
    return len(transaction_bundle([episode])["entry"])


def is_write(request: Request) -> bool:
    if request.method == "PUT":
        return True
    if request.method != "POST":
        return False
    body = json.loads(request.body)
    entries = body.get("entry") or [] if body.get("resourceType") == "Bundle" else []
    return not entries or any(e["request"]["method"] != "GET" for e in entries)


@pytest.mark.parametrize(
    ("capabilities", "concurrency"),
    [
        ({"transaction": False, "batch": False}, 4),  # single requests
        ({"transaction": False}, 3),  # batches
        ({}, 4),  # transactions
    ],
)
def test_same_result_as_the_sync_push_and_bounded_concurrency(capabilities, concurrency):
    episode = unique_episode("co-occurring-sud-iop")
    own = DisclosureTerms(own_system=True)
    sync_server, async_server = FakeServer(**capabilities), FakeServer(**capabilities)
    expected = push(
        FhirClient(BASE, transport=MemoryTransport(sync_server.handle)),
        episode,
        chunk_size=10,
        disclosure=own,
    )
    transport = async_transport(async_server)
    report = asyncio.run(
        apush_with(transport, episode, chunk_size=10, disclosure=own, concurrency=concurrency)
    )
    assert report.mode == expected.mode
    assert report.summary() == expected.summary()
    assert report.planned == expected.planned
    assert len(async_server.store) == len(sync_server.store)
    assert report.created == total(episode)
    for resource in async_server.store.values():  # every reference resolved on the server
        assert not [r for r in references(resource) if r.startswith("urn:")]
    assert transport.max_in_flight <= concurrency
    if report.mode == "transaction":
        assert transport.max_in_flight == 1  # a transaction chunk may need the one before
    else:
        assert transport.max_in_flight > 1  # the write mode allows it: it was used
    again = asyncio.run(apush_with(async_transport(async_server), episode, disclosure=own))
    assert again.writes == 0
    assert again.unchanged == total(episode)


def test_batch_waves_never_hold_a_reference_to_their_own_chunks():
    episode = unique_episode()
    server = FakeServer(transaction=False)
    transport = async_transport(server)
    asyncio.run(apush_with(transport, episode, chunk_size=4, concurrency=8))
    batches = [json.loads(r.body) for r in transport.requests if is_write(r)]
    assert len(batches) > 2
    for b in batches:  # batch entries cannot point at each other: all refs resolved
        for e in b["entry"]:
            assert not [r for r in references(e["resource"]) if r.startswith("urn:")]


def test_concurrency_must_be_positive():
    with pytest.raises(InputError):
        asyncio.run(apush_with(async_transport(FakeServer()), unique_episode(), concurrency=0))


def test_waves_follow_the_references():
    class I:  # noqa: E742 - a minimal Item
        def __init__(self, url: str, refs: set[str]) -> None:
            self.full_url, self.refs = url, frozenset(refs)

    a, b, c, d = I("a", set()), I("b", set()), I("c", {"a"}), I("d", set())
    assert waves([[a], [b], [c], [d]], "single") == [[[a], [b]], [[c], [d]]]
    assert waves([[a, b], [c]], "transaction") == [[[a, b]], [[c]]]


def hanging_transport(
    server: FakeServer, hang_on_write: int, *, apply_first: bool
) -> tuple[AsyncMemoryTransport, asyncio.Event, Callable[[], int]]:
    """Answers like ``server``; the N-th write is applied by the server (``apply_first``)
    and then never answered, as when the connection drops after the server committed."""
    reached = asyncio.Event()
    writes = 0

    async def handler(request: Request) -> Response:
        nonlocal writes
        await asyncio.sleep(0.001)
        if is_write(request):
            writes += 1
            if writes >= hang_on_write:
                if apply_first and writes == hang_on_write:
                    server.handle(request)
                reached.set()
                await asyncio.Event().wait()  # never answered
        return server.handle(request)

    return AsyncMemoryTransport(handler), reached, lambda: writes


@pytest.mark.parametrize(
    ("capabilities", "concurrency"), [({"transaction": False, "batch": False}, 3), ({}, 2)]
)
def test_a_cancelled_push_records_only_what_the_server_confirmed(capabilities, concurrency):
    episode = unique_episode()
    n = total(episode)
    server = FakeServer(**capabilities)
    transport, reached, _ = hanging_transport(server, 4, apply_first=True)
    report = PushReport()

    async def main() -> None:
        async with AsyncFhirClient(BASE, transport=transport) as client:
            task = asyncio.create_task(
                apush(client, episode, chunk_size=5, concurrency=concurrency, report=report)
            )
            await reached.wait()
            await asyncio.sleep(0.01)  # the other requests in flight settle or hang
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    stored = {(t, i) for t, i in server.store}
    # recorded = confirmed: everything the report says was written is on the server ...
    assert set(report.written) <= stored
    assert report.created == len(report.written)
    # ... and what the server applied without answering is not in the report
    assert len(stored) > len(report.written)
    assert report.not_written
    assert len(report.not_written) + report.created == n
    assert any(i.code == "incomplete" for i in report.issues)
    if report.mode == "transaction":  # all or nothing: whole chunks only
        assert report.chunks_written == 3
        assert report.created == 15
    # a rerun writes only the rest, and never a resource twice
    again = asyncio.run(apush_with(async_transport(server), episode, chunk_size=5))
    assert again.created + again.unchanged == n
    assert again.unchanged >= len(stored)
    assert len(server.store) == n


def test_a_failed_chunk_stops_the_push_with_the_report_of_what_was_written():
    episode = unique_episode()
    server = FakeServer(transaction=False, batch=False, fail_on_write_call=6)
    transport = async_transport(server)
    with pytest.raises(SyncError) as info:
        asyncio.run(apush_with(transport, episode, concurrency=2))
    report = info.value.report
    assert report is not None
    assert set(report.written) <= set(server.store)
    assert report.created == len(server.store)
    assert report.failed == total(episode) - report.created
    server.fail_on_write_call = None
    again = asyncio.run(apush_with(async_transport(server), episode))
    assert again.created == total(episode) - report.created
    assert len(server.store) == total(episode)


def test_dry_run_plans_the_same_requests_and_writes_nothing():
    episode = unique_episode()
    server = FakeServer(transaction=False)
    expected = push(
        FhirClient(BASE, transport=MemoryTransport(server.handle)), episode, dry_run=True
    )
    transport = async_transport(server)
    report = asyncio.run(apush_with(transport, episode, dry_run=True))
    assert report.planned == expected.planned
    assert not [r for r in transport.requests if is_write(r)]
    assert server.store == {}
