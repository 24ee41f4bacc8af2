"""Integration tests against a real FHIR R4 server (sekmet on 127.0.0.1, or the server
named by ``IOPFHIR_TEST_SERVER``). Every test writes resources with its own random
identifier, so the tests do not depend on each other or on what the server holds.

Every test runs on FhirClient (requests and httpx transports) and on AsyncFhirClient
(``async-httpx``: run by the synchronous driver of conftest): one suite, both clients."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from iopfhir.client import FhirClient, Retry
from iopfhir.errors import InsecureTransportError, NotFound, PreconditionFailed

pytestmark = pytest.mark.integration

SYSTEM = "urn:iopfhir:test"


@pytest.fixture(params=["requests", "httpx", "async-httpx"])
def client_factory(request, make_async_client) -> Callable[..., Any]:
    """A client on ``base`` of the kind under test: the sync FhirClient on the requests or
    the httpx transport, or the AsyncFhirClient (httpx.AsyncClient) run by the synchronous
    driver of conftest, so every test below runs unchanged on both clients."""

    def make(base: str, **kwargs: Any) -> Any:
        if request.param == "async-httpx":
            return make_async_client(base, **kwargs)
        transport = None
        if request.param == "httpx":
            from iopfhir.client_httpx import HttpxTransport

            transport = HttpxTransport()
        return FhirClient(base, transport=transport, **kwargs)

    return make


@pytest.fixture
def client(client_factory, fhir_server) -> Iterator[FhirClient]:
    with client_factory(fhir_server, retry=Retry(total=2)) as c:
        yield c


def new_patient(mrn: str) -> dict:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": SYSTEM, "value": mrn}],
        "name": [{"family": "Testpatient", "given": ["Iop"]}],
        "gender": "unknown",
    }


def test_capabilities(client):
    statement = client.capabilities()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"].startswith("4.0")
    assert client.capabilities() is statement


def test_create_read_vread_and_conditional_create(client):
    mrn = uuid.uuid4().hex
    created = client.create(new_patient(mrn))
    assert created.status == 201
    assert created.created
    assert created.id
    assert created.version_id
    read = client.read("Patient", created.id)
    assert read["identifier"][0]["value"] == mrn
    assert client.vread("Patient", created.id, created.version_id)["id"] == created.id
    assert client.get(created.location)["id"] == created.id

    again = client.create(new_patient(mrn), if_none_exist={"identifier": f"{SYSTEM}|{mrn}"})
    assert again.status == 200
    assert not again.created
    assert again.id == created.id
    matches = client.search("Patient").where(identifier=f"{SYSTEM}|{mrn}").fetch_all()
    assert [m["id"] for m in matches] == [created.id]


def test_update_with_if_match_and_412_on_a_stale_version(client):
    created = client.create(new_patient(uuid.uuid4().hex))
    assert created.resource is not None
    first_version = created.version_id
    updated = client.update({**created.resource, "active": True}, if_match=first_version)
    assert updated.status == 200
    assert updated.version_id != first_version
    with pytest.raises(PreconditionFailed) as info:
        client.update({**created.resource, "active": False}, if_match=first_version)
    assert info.value.status == 412
    assert info.value.issues
    assert info.value.issues[0].severity in ("error", "fatal")
    assert client.read("Patient", created.id)["active"] is True
    history = client.history("Patient", created.id)
    assert history["type"] == "history"
    assert len(history["entry"]) == 2


def test_search_paging_follows_next_links(client):
    mrn = uuid.uuid4().hex
    patient = client.create(new_patient(mrn))
    for value in range(7):
        client.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
                "subject": {"reference": f"Patient/{patient.id}"},
                "valueInteger": value,
            }
        )
    search = (
        client.search("Observation")
        .where(subject=f"Patient/{patient.id}", code="http://loinc.org|44261-6")
        .count(3)
    )
    pages = list(search.pages())
    assert len(pages) == 3
    values = sorted(o["valueInteger"] for o in search)
    assert values == list(range(7))
    assert search.total() == 7
    with_patient = search.include("Observation:subject").bundle()
    modes = {e["search"]["mode"] for e in with_patient["entry"]}
    assert modes == {"match", "include"}


def test_transaction_with_urn_uuid_references(client):
    mrn = uuid.uuid4().hex
    patient_urn = f"urn:uuid:{uuid.uuid4()}"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient_urn,
                "resource": new_patient(mrn),
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": f"identifier={SYSTEM}|{mrn}",
                },
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "PHQ-9 total"},
                    "subject": {"reference": patient_urn},
                    "valueInteger": 12,
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = client.transaction(bundle)
    assert response["type"] == "transaction-response"
    first, second = response["entry"]
    assert first["response"]["status"].startswith("201")
    patient_id = first["response"]["location"].split("/Patient/")[1].split("/")[0]
    observation_location = second["response"]["location"]
    observation = client.get(observation_location)
    assert observation["subject"]["reference"] == f"Patient/{patient_id}"


def test_validate_and_errors(client):
    outcome = client.validate(new_patient("x"))
    assert outcome["resourceType"] == "OperationOutcome"
    assert all(i["severity"] not in ("error", "fatal") for i in outcome["issue"])
    with pytest.raises(NotFound):
        client.read("Patient", f"missing-{uuid.uuid4().hex[:8]}")


def test_strict_handling_rejects_unknown_parameters(client):
    from iopfhir.errors import BadRequest

    with pytest.raises(BadRequest):
        client.search("Observation").where(no_such_param_iopfhir="x").strict().bundle()


def test_next_links_stay_on_the_server_origin(client_factory, loopback_server):
    # the server's own links use its base_url; a client bound to another spelling of the
    # origin (localhost vs 127.0.0.1) must refuse to follow them. A server the tests
    # started on 127.0.0.1 is used even when IOPFHIR_TEST_SERVER names another one.
    assert "127.0.0.1" in loopback_server
    other = loopback_server.replace("127.0.0.1", "localhost")
    with client_factory(other) as c:
        for i in range(3):
            c.create({"resourceType": "Basic", "code": {"text": f"paging-{i}"}})
        with pytest.raises(InsecureTransportError):
            list(c.search("Basic").count(1).pages())
