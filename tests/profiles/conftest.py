"""Fixtures of the profile tests: the generated package in ``profiles/package/``."""

from __future__ import annotations

from typing import Any

import pytest
from profile_support import load_package


@pytest.fixture(scope="session")
def package() -> dict[str, dict[str, Any]]:
    return load_package()


@pytest.fixture(scope="session")
def structure_definitions(package: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """StructureDefinitions by url."""
    return {r["url"]: r for r in package.values() if r["resourceType"] == "StructureDefinition"}


@pytest.fixture(scope="session")
def code_systems(package: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """CodeSystems by url."""
    return {r["url"]: r for r in package.values() if r["resourceType"] == "CodeSystem"}


@pytest.fixture(scope="session")
def value_sets(package: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """ValueSets by url."""
    return {r["url"]: r for r in package.values() if r["resourceType"] == "ValueSet"}
