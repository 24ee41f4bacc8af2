"""A push never overwrites one patient with another who shares a business identifier
(two sources reusing a sample MRN): on a real server (sekmet), it stops before any write
when the Patient the server holds disagrees on two or more of birth date, gender and
family name, naming where and what, never a value; one disagreement alone (a name
changed at marriage) is a correction, and is written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tests.servers.fixtures import LIVE_TIMEOUT

from iopfhir.client import FhirClient
from iopfhir.errors import SyncError
from iopfhir.sync import push

pytestmark = pytest.mark.integration


def _bundle(system: str, family: str, gender: str, born: str) -> dict[str, Any]:
    patient = {
        "resourceType": "Patient",
        "id": "p",
        "identifier": [{"system": system, "value": "1032702"}],
        "name": [{"family": family, "given": ["Sam"]}],
        "gender": gender,
        "birthDate": born,
    }
    condition = {
        "resourceType": "Condition",
        "id": "c",
        "identifier": [{"system": system + "/condition", "value": family}],
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]},
        "subject": {"reference": "Patient/p"},
    }
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"https://example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r}
            for r in (patient, condition)
        ],
    }


def _patients(client: FhirClient, system: str) -> list[dict[str, Any]]:
    return client.search("Patient").where(identifier=f"{system}|1032702").fetch_all()


def test_another_person_under_the_same_identifier_is_not_overwritten(live_server: str) -> None:
    system = f"urn:example:mrn:{uuid.uuid4().hex}"
    with FhirClient(live_server, timeout=LIVE_TIMEOUT) as client:
        push(client, _bundle(system, "Abbas", "male", "1974-07-01"))
        before = _patients(client, system)
        conditions = client.search("Condition").where(identifier=f"{system}/condition|Shaw")
        with pytest.raises(SyncError) as failed:
            push(client, _bundle(system, "Shaw", "female", "1987-02-20"))
        assert _patients(client, system) == before  # same person, same version
        assert conditions.fetch_all() == []  # nothing of the file written
    message = str(failed.value)
    assert "nothing was written" in message
    assert "Bundle.entry[0].resource" in message
    assert "birthDate, gender, name.family differ" in message
    for value in ("Shaw", "Abbas", "1032702", "1987", "female"):
        assert value not in message
    assert [i.code for i in failed.value.issues] == ["conflict"]


@pytest.mark.parametrize(
    ("family", "gender", "born"),
    [
        ("Jones", "male", "1974-07-01"),
        ("Abbas", "male", "1974-07-02"),
        ("Abbas", "unknown", "1974"),
    ],
)
def test_one_difference_is_a_correction(
    live_server: str, family: str, gender: str, born: str
) -> None:
    system = f"urn:example:mrn:{uuid.uuid4().hex}"
    with FhirClient(live_server, timeout=LIVE_TIMEOUT) as client:
        push(client, _bundle(system, "Abbas", "male", "1974-07-01"))
        report = push(client, _bundle(system, family, gender, born))
        assert report.failed == 0
        (patient,) = _patients(client, system)
    assert (patient["name"][0]["family"], patient["gender"], patient["birthDate"]) == (
        family,
        gender,
        born,
    )
