"""Shared fixtures for the client tests: a fake clock and sleep, the live-server fixture,
and a synchronous driver over the async client (the live suites run on both clients)."""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from iopfhir.client import AsyncFhirClient, AsyncSearch

# The server harness lives in tests/servers; make ``tests`` importable however pytest
# was started (``pytest`` or ``python -m pytest``, from any folder).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.servers.fixtures import (  # noqa: E402
    _fault_servers_session,
    fault_servers,
    fhir_server,
    loopback_server,
    medplum_server,
)

__all__ = [
    "Blocking",
    "FakeTime",
    "_fault_servers_session",
    "fault_servers",
    "fhir_server",
    "loopback_server",
    "medplum_server",
]


class FakeTime:
    """A clock that only moves when someone sleeps (or a test advances it)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


class Blocking:
    """A thin synchronous driver over an async object (``AsyncFhirClient``, ``AsyncSearch``):
    every coroutine a method returns is run on the driver's event loop, every async
    iterator is iterated there, so the SAME test bodies run on the sync and the async
    client (the live suites are parametrised over both)."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop

    def __repr__(self) -> str:
        return f"Blocking({self._target!r})"

    def _wrap(self, result: Any) -> Any:
        if inspect.isawaitable(result):
            return self._wrap(self._loop.run_until_complete(result))
        if isinstance(result, AsyncIterator):
            return self._iterate(result)
        if isinstance(result, AsyncSearch | AsyncFhirClient):
            return Blocking(result, self._loop)
        return result

    def _iterate(self, iterator: AsyncIterator[Any]) -> Iterator[Any]:
        while True:
            try:
                yield self._loop.run_until_complete(anext(iterator))
            except StopAsyncIteration:
                return

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._wrap(attr(*args, **kwargs))

        return call

    def __iter__(self) -> Iterator[Any]:
        return self._iterate(aiter(self._target))

    def __enter__(self) -> Blocking:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@pytest.fixture
def make_async_client() -> Iterator[Callable[..., Blocking]]:
    """``make(base_url, **kwargs)``: an ``AsyncFhirClient`` behind a :class:`Blocking`
    driver, on one event loop per test (closed, with every client, at the end)."""
    loop = asyncio.new_event_loop()
    made: list[AsyncFhirClient] = []

    def make(base_url: str, **kwargs: Any) -> Blocking:
        client = AsyncFhirClient(base_url, **kwargs)
        made.append(client)
        return Blocking(client, loop)

    try:
        yield make
    finally:
        for client in made:
            loop.run_until_complete(client.close())
        loop.close()
