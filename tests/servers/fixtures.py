"""Pytest fixtures for integration tests against a real FHIR server.

``fhir_server`` (session scope) is the base URL of a live FHIR R4 server:

* ``IOPFHIR_TEST_SERVER`` set → that base URL, used as it is (any live server);
* otherwise sekmet-fhir is started on 127.0.0.1 for the session (see ``sekmet.py``).

Load with ``from tests.servers.fixtures import fhir_server`` in a ``conftest.py`` (or
``pytest_plugins`` in the root one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .sekmet import running_sekmet

__all__ = ["fhir_server"]


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[str]:
    """Base URL of the FHIR server the integration tests talk to."""
    given = os.environ.get("IOPFHIR_TEST_SERVER")
    if given:
        yield given.rstrip("/")
        return
    with running_sekmet() as base_url:
        yield base_url
