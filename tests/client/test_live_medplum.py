"""Integration tests against a second real server, Medplum's FHIR router (in memory), whose
answers differ from sekmet's: UUID version ids, relative ``Location``, bare transaction
statuses (``"201"``), no paging links."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from tests.servers.fixtures import LIVE_TIMEOUT

from iopfhir.client import FhirClient, parse_location
from iopfhir.errors import PreconditionFailed

pytestmark = pytest.mark.integration

SYSTEM = "urn:iopfhir:test"


@pytest.fixture(params=["sync", "async"])
def client(request, medplum_server, make_async_client) -> Iterator[FhirClient]:
    """The sync client, or the async one run by the synchronous driver of conftest: the
    same tests on both."""
    make = make_async_client if request.param == "async" else FhirClient
    with make(medplum_server, timeout=LIVE_TIMEOUT) as c:
        yield c


def new_patient(mrn: str) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": mrn}]}


def test_relative_location_and_uuid_versions(client):
    created = client.create(new_patient(uuid.uuid4().hex))
    assert created.status == 201
    assert created.location is not None
    assert not created.location.startswith("http")
    uuid.UUID(created.version_id)  # a UUID, not a counter
    assert created.id == created.resource["id"]
    assert client.get(created.location)["meta"]["versionId"] == created.version_id
    assert client.vread("Patient", created.id, created.version_id)["id"] == created.id


def test_conditional_create_and_if_match(client):
    mrn = uuid.uuid4().hex
    created = client.create(new_patient(mrn))
    again = client.create(new_patient(mrn), if_none_exist={"identifier": f"{SYSTEM}|{mrn}"})
    assert (again.status, again.id) == (200, created.id)
    updated = client.update({**created.resource, "active": True}, if_match=created.version_id)
    assert updated.version_id != created.version_id
    with pytest.raises(PreconditionFailed):
        client.update({**created.resource, "active": False}, if_match=created.version_id)


def test_transaction_statuses_and_locations(client):
    urn = f"urn:uuid:{uuid.uuid4()}"
    response = client.transaction(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": urn,
                    "resource": new_patient(uuid.uuid4().hex),
                    "request": {"method": "POST", "url": "Patient"},
                },
                {
                    "resource": {
                        "resourceType": "Observation",
                        "status": "final",
                        "code": {"text": "PHQ-9"},
                        "subject": {"reference": urn},
                    },
                    "request": {"method": "POST", "url": "Observation"},
                },
            ],
        }
    )
    first, second = response["entry"]
    assert first["response"]["status"] == "201"
    rtype, pid, _ = parse_location(first["response"]["location"])
    assert (rtype, pid) == ("Patient", first["resource"]["id"])
    observation = client.read("Observation", second["resource"]["id"])
    assert observation["subject"]["reference"] == f"Patient/{pid}"


def test_search_without_paging_links_stops_after_one_page(client):
    created = client.create(new_patient(uuid.uuid4().hex))
    for _ in range(3):
        client.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "subject": {"reference": f"Patient/{created.id}"},
            }
        )
    search = client.search("Observation").where(subject=f"Patient/{created.id}")
    assert len(list(search)) == 3
    assert len(list(search.count(2).pages())) == 1
