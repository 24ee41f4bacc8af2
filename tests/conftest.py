"""Session-wide test policy.

Tests that read the shared FHIR corpus are marked ``corpus``. They run when
``IOPFHIR_CORPUS`` names the corpus folder (``.ci/run`` sets it explicitly, so in CI a
missing corpus fails the run). On a machine without the corpus and without the variable
they are deselected, and the run says how many were left out and why — never silently.
"""

from __future__ import annotations

import os

import pytest

_DESELECTED: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("IOPFHIR_CORPUS"):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("corpus") else keep).append(item)
    if drop:
        _DESELECTED.extend(item.nodeid for item in drop)
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _DESELECTED:
        # Many corpus tests are parametrized over the corpus files themselves, so without the
        # corpus only their placeholders are collected: count test functions, which is exact,
        # rather than cases, which would understate what is left out.
        functions = {nodeid.split("[", 1)[0] for nodeid in _DESELECTED}
        terminalreporter.write_line(
            f"corpus tests not run: {len(functions)} test functions ({len(_DESELECTED)} cases "
            "collected without the corpus; with it they expand over every corpus file) - "
            "IOPFHIR_CORPUS is unset (set it to the shared corpus folder, as .ci/run does)",
            yellow=True,
        )
