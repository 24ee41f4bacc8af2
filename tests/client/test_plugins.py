"""Plugin discovery through entry points, with ``importlib.metadata`` faked."""

from __future__ import annotations

import importlib.metadata
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iopfhir import plugins
from iopfhir.client import FhirClient, MemoryTransport, RequestsTransport
from iopfhir.errors import PluginError


@dataclass
class FakeDist:
    name: str


class FakeEntryPoint:
    def __init__(self, name: str, value: str, group: str, dist: str | None) -> None:
        self.name, self.value, self.group = name, value, group
        self.dist = FakeDist(dist) if dist else None
        self.loads = 0

    def load(self) -> Any:
        self.loads += 1
        module, _, attr = self.value.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj


@pytest.fixture
def fake_entry_points(monkeypatch):
    """Install a fake ``entry_points``; returns the list to fill."""
    points: list[FakeEntryPoint] = []
    calls: list[str] = []

    def entry_points(*, group: str):
        calls.append(group)
        return [p for p in points if p.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    plugins.reset()
    yield points, calls
    plugins.reset()


T = "iopfhir.transports"
A = "iopfhir.auth"


def test_discovery_lists_names_and_records_the_distribution(fake_entry_points):
    points, calls = fake_entry_points
    points += [
        FakeEntryPoint(
            "requests", "iopfhir.client.requests_transport:RequestsTransport", T, "iopfhir"
        ),
        FakeEntryPoint("memory", "iopfhir.client.memory:MemoryTransport", T, "iopfhir"),
        FakeEntryPoint("bearer", "iopfhir.client.auth:BearerAuth", A, "iopfhir"),
        FakeEntryPoint("fancy", "fancy_transport:Fancy", T, "fancy-dist"),
    ]
    assert plugins.available(T) == ["fancy", "memory", "requests"]
    assert plugins.available(A) == ["bearer"]
    assert plugins.get(T, "requests") is RequestsTransport
    # the module registry read each group once, however often it was asked
    assert calls.count(T) == 1
    registry = plugins.Registry()
    found = registry.plugins(T)
    assert found["fancy"].distribution == "fancy-dist"
    assert found["memory"].value == "iopfhir.client.memory:MemoryTransport"


def test_exact_duplicates_are_skipped(fake_entry_points):
    points, _ = fake_entry_points
    value = "iopfhir.client.memory:MemoryTransport"
    points += [
        FakeEntryPoint("memory", value, T, "iopfhir"),
        FakeEntryPoint("memory", value, T, "iopfhir"),
    ]
    assert plugins.available(T) == ["memory"]
    assert plugins.get(T, "memory") is MemoryTransport
    assert points[0].loads == 1
    assert points[1].loads == 0


def test_a_name_claimed_twice_is_ambiguous(fake_entry_points):
    points, _ = fake_entry_points
    points += [
        FakeEntryPoint("x", "iopfhir.client.memory:MemoryTransport", T, "one"),
        FakeEntryPoint("x", "iopfhir.client.requests_transport:RequestsTransport", T, "two"),
    ]
    with pytest.raises(PluginError, match="ambiguous") as info:
        plugins.get(T, "x")
    assert "one" in str(info.value)
    assert "two" in str(info.value)
    assert isinstance(info.value, LookupError)


def test_missing_and_broken_plugins(fake_entry_points):
    points, _ = fake_entry_points
    points += [
        FakeEntryPoint("broken", "no_such_module_iopfhir:Thing", T, "brokendist"),
        FakeEntryPoint("ok", "iopfhir.client.memory:MemoryTransport", T, None),
    ]
    with pytest.raises(PluginError, match=r"no plugin 'nope'.*available: broken, ok"):
        plugins.get(T, "nope")
    with pytest.raises(PluginError, match="brokendist") as info:
        plugins.get(T, "broken")
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert plugins.Registry().plugins(T)["ok"].distribution is None


def test_client_finds_a_transport_plugin_by_name(fake_entry_points):
    points, _ = fake_entry_points
    points.append(FakeEntryPoint("httpx", "iopfhir.client_httpx:HttpxTransport", T, "iopfhir"))
    client = FhirClient("https://fhir.example.org/r4", transport="httpx", max_response_bytes=1234)
    from iopfhir.client_httpx import HttpxTransport

    assert isinstance(client.transport, HttpxTransport)
    assert client.transport.max_response_bytes == 1234
    client.close()
    with pytest.raises(PluginError):
        FhirClient("https://fhir.example.org/r4", transport="carrier-pigeon")


# The built-ins are registered in pyproject.toml through the same entry points. The entry
# points below are what the client layer asks pyproject to declare.
EXPECTED = {
    T: {
        "requests": "iopfhir.client.requests_transport:RequestsTransport",
        "httpx": "iopfhir.client_httpx:HttpxTransport",
        "memory": "iopfhir.client.memory:MemoryTransport",
    },
    A: {
        "none": "iopfhir.client.auth:NoAuth",
        "bearer": "iopfhir.client.auth:BearerAuth",
        "basic": "iopfhir.client.auth:BasicAuth",
        "smart-backend": "iopfhir.client.smart:SmartBackendAuth",
    },
}


@pytest.mark.parametrize("group", sorted(EXPECTED))
def test_expected_builtin_entry_points_resolve(group):
    for name, value in EXPECTED[group].items():
        assert FakeEntryPoint(name, value, group, "iopfhir").load() is not None


@pytest.mark.parametrize("group", sorted(EXPECTED))
def test_pyproject_registers_the_builtins(group):
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    declared = (
        tomllib.loads(pyproject.read_text()).get("project", {}).get("entry-points", {}).get(group)
    )
    if declared is None:
        pytest.xfail(f"pyproject.toml does not declare [project.entry-points.{group!r}] yet")
    assert declared == EXPECTED[group]
