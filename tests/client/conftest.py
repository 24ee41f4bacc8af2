"""Shared fixtures for the client tests: a fake clock and sleep, the live-server fixture."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

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
