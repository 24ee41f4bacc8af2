"""The public surface: every package's ``__all__`` names exactly its public attributes."""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = [
    "iopfhir",
    "iopfhir.errors",
    "iopfhir.terminology",
    "iopfhir.domain",
    "iopfhir.fhir.conventions",
    "iopfhir.fhir.bundle",
    "iopfhir.fhir.ndjson",
    "iopfhir.fhir.build",
    "iopfhir.fhir.read",
    "iopfhir.fhir.models",
    "iopfhir.fhir.document",
    "iopfhir.fhir.disclosure",
    "iopfhir.validation",
    "iopfhir.client",
    "iopfhir.sync",
    "iopfhir.synth",
    "iopfhir.views",
    "iopfhir.outcomes",
    "iopfhir.outcomes.report",
    "iopfhir.cli",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_matches_public_names(name: str) -> None:
    module = importlib.import_module(name)
    declared = set(module.__all__)
    # what the module itself defines (classes and functions) must be declared public or
    # be private; what it declares must exist
    defined = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", None) == name
    }
    assert declared <= set(dir(module)), declared - set(dir(module))
    assert defined <= declared, sorted(defined - declared)


def test_version() -> None:
    import iopfhir

    assert iopfhir.__version__.count(".") == 2
