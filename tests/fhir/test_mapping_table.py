"""MAPPING.md and the code line up: every ``module:function`` its build / read columns name
exists, and every family builder (``*_to_fhir``) and reader (``read_*``) is in the table."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

import iopfhir.fhir

MAPPING = Path(iopfhir.fhir.__file__).with_name("MAPPING.md")
FAMILIES = ("people", "team", "episode", "plans", "aftercare", "sessions", "measures")
_NAMED = re.compile(r"`([a-z_]+):([a-z_]+)`")


def _columns() -> dict[str, set[tuple[str, str]]]:
    """``{"build": {(module, function)...}, "read": {...}}`` from the mapping table."""
    lines = MAPPING.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| domain | FHIR |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    out: dict[str, set[tuple[str, str]]] = {"build": set(), "read": set()}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        for side in out:
            cell = cells[header.index(side)]
            named = _NAMED.findall(cell)
            assert named, f"row {cells[0]!r} names no {side} function"
            out[side].update(named)
    return out


@pytest.mark.parametrize("side", ["build", "read"])
def test_named_functions_exist(side: str) -> None:
    for module, function in sorted(_columns()[side]):
        mod = importlib.import_module(f"iopfhir.fhir.{side}.{module}")
        assert callable(getattr(mod, function, None)), f"{side}/{module}.py has no {function}"


@pytest.mark.parametrize("side", ["build", "read"])
def test_every_family_function_is_in_the_table(side: str) -> None:
    named = _columns()[side]
    for module in FAMILIES:
        mod = importlib.import_module(f"iopfhir.fhir.{side}.{module}")
        for name, value in vars(mod).items():
            wanted = name.endswith("_to_fhir") if side == "build" else name.startswith("read_")
            if wanted and inspect.isfunction(value) and value.__module__ == mod.__name__:
                assert (module, name) in named, f"{side}/{module}.py:{name} is not in MAPPING.md"
