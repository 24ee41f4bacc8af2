"""Fixtures of the domain tests."""

from __future__ import annotations

from typing import Any

import pytest
from domain_support import example_data


@pytest.fixture
def data() -> dict[str, Any]:
    """A fresh copy of the mental-health example's raw data."""
    return example_data()
