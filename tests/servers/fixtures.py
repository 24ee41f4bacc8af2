"""Pytest fixtures for integration tests against a real FHIR server.

``fhir_server`` (session scope) is the base URL of a live FHIR R4 server:

* ``IOPFHIR_TEST_SERVER`` set → that base URL, used as it is (any live server);
* otherwise sekmet-fhir is started on 127.0.0.1 for the session (see ``sekmet.py``).

``loopback_server`` (session scope) is a server the tests started on 127.0.0.1 (the
sekmet of ``fhir_server`` when that is local, else one of its own), for checks that need
to reach the same server under two spellings of its origin.

``medplum_server`` (session scope) is a second, different server: Medplum's FHIR router
with its in-memory repository (see ``medplum.py``); skipped when Node.js is not installed.

``fault_servers`` (session scope) is the misbehaving pair of ``fault.py``: ``primary`` on
127.0.0.1, ``other`` on 127.0.0.2 (another origin), their request records cleared before
each test that uses it (``fault_servers.primary.seen``).

Load with ``from tests.servers.fixtures import fhir_server`` in a ``conftest.py`` (or
``pytest_plugins`` in the root one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from iopfhir.client import Timeout

from .fault import FaultServers, running_fault_servers
from .medplum import node_available, running_medplum
from .sekmet import running_sekmet

__all__ = ["LIVE_TIMEOUT", "fault_servers", "fhir_server", "loopback_server", "medplum_server"]

#: The client timeouts of the tests that write to the live servers. Medplum's in-memory
#: repository answers a conditional create (``ifNoneExist``) by scanning every stored
#: resource of the type, so a transaction of one episode (about 180 conditional creates)
#: takes 9 s on an empty server and keeps growing as the session's tests add data (30 s
#: for the second episode of a test under load): slower than the client's 30 s default
#: read timeout for real servers, where the search is an index lookup. The tests wait
#: as long as the test server needs instead of retrying (which only queues the same work
#: again behind the first attempt).
LIVE_TIMEOUT = Timeout(connect=5.0, read=300.0, total=600.0)


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[str]:
    """Base URL of the FHIR server the integration tests talk to."""
    given = os.environ.get("IOPFHIR_TEST_SERVER")
    if given:
        yield given.rstrip("/")
        return
    with running_sekmet() as base_url:
        yield base_url


@pytest.fixture(scope="session")
def loopback_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """Base URL of a server started by the tests on 127.0.0.1."""
    if not os.environ.get("IOPFHIR_TEST_SERVER"):
        yield request.getfixturevalue("fhir_server")
        return
    with running_sekmet() as base_url:
        yield base_url


@pytest.fixture(scope="session")
def medplum_server() -> Iterator[str]:
    """Base URL of the Medplum in-memory FHIR router, started for the session."""
    if not node_available():
        if os.environ.get("CI"):  # CI has Node: its absence there is a failure, not a skip
            pytest.fail("Node.js (node, npm) is needed for the Medplum test server")
        pytest.skip("Node.js (node, npm) is needed for the Medplum test server")
    with running_medplum() as base_url:
        yield base_url


@pytest.fixture(scope="session")
def _fault_servers_session() -> Iterator[FaultServers]:
    with running_fault_servers() as servers:
        yield servers


@pytest.fixture
def fault_servers(_fault_servers_session: FaultServers) -> FaultServers:
    """The fault servers of ``fault.py``, with empty request records."""
    _fault_servers_session.clear()
    return _fault_servers_session
