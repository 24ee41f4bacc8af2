"""The public surface: every package's ``__all__`` names exactly its public attributes."""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = [
    "iopfhir",
    "iopfhir.errors",
    "iopfhir.terminology",
    "iopfhir.terminology.documents",
    "iopfhir.terminology.programs",
    "iopfhir.domain",
    "iopfhir.fhir.conventions",
    "iopfhir.fhir.bundle",
    "iopfhir.fhir.ndjson",
    "iopfhir.fhir.build",
    "iopfhir.fhir.read",
    "iopfhir.fhir.models",
    "iopfhir.fhir.document",
    "iopfhir.fhir.document.build",
    "iopfhir.fhir.document.reference",
    "iopfhir.fhir.document.html",
    "iopfhir.fhir.document.pdf",
    "iopfhir.fhir.disclosure",
    "iopfhir.validation",
    "iopfhir.client",
    "iopfhir.sync",
    "iopfhir.synth",
    "iopfhir.views",
    "iopfhir.views.engine",
    "iopfhir.views.model",
    "iopfhir.views.source",
    "iopfhir.views.fhirpath",
    "iopfhir.views.dialect",
    "iopfhir.views.types",
    "iopfhir.views.engines.duckdb_engine",
    "iopfhir.views.engines.spark_engine",
    "iopfhir.outcomes",
    "iopfhir.outcomes.programs",
    "iopfhir.outcomes.report",
    "iopfhir.outcomes.report.data",
    "iopfhir.outcomes.report.charts",
    "iopfhir.outcomes.report.page",
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
