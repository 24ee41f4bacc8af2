"""Fixtures for the validation tests.

``corpus``: the shared test corpus, from ``IOPFHIR_CORPUS``. Tests marked ``corpus`` FAIL (never
skip) when the variable is unset or the folder is missing, so CI cannot pass without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iopfhir.validation import Validator


@pytest.fixture(scope="session")
def corpus() -> Path:
    value = os.environ.get("IOPFHIR_CORPUS")
    if not value:
        pytest.fail(
            "IOPFHIR_CORPUS is not set: point it at the shared corpus folder "
            "(e.g. IOPFHIR_CORPUS=../shared/corpus)",
            pytrace=False,
        )
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"IOPFHIR_CORPUS={value} is not a folder", pytrace=False)
    return path


@pytest.fixture(scope="session")
def us_core_dir(corpus: Path) -> Path:
    path = corpus / "ig-definitions" / "us-core-9.0.0"
    if not path.is_dir():
        pytest.fail(f"US Core definitions missing at {path}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def base_validator() -> Validator:
    return Validator()


@pytest.fixture(scope="session")
def us_core_validator(us_core_dir: Path) -> Validator:
    return Validator([us_core_dir])
