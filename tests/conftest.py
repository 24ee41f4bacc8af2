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
        terminalreporter.write_line(
            f"{len(_DESELECTED)} corpus tests not run: IOPFHIR_CORPUS is unset "
            "(set it to the shared corpus folder, as .ci/run does)",
            yellow=True,
        )
