"""An absolute reference names a resource of the input only when its server is the input's.

R4 resolves a reference in a Bundle by ``fullUrl``; a relative one against the server base
of the entry's ``fullUrl``. An absolute reference to another server names a resource
there, whatever its ``Type/id``: before, its tail was looked up in the input, so an
Encounter naming ``https://other.example.org/fhir/Practitioner/used-doc`` took this
input's ``Practitioner/used-doc``, a different person. Both readers (in memory and
streaming) now take the tail only when the reference's base is a server base of the
input's RESTful ``fullUrl``s, or when the input names no server (NDJSON, ``urn:uuid``
Bundles: the tail is all there is).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from iopfhir.fhir.read import ImportResult, read_fhir, read_fhir_streamed
from iopfhir.fhir.read.index import server_base

BASE = "http://example.org/fhir"
DROPPED = "Practitioner: taken by no episode (dropped)"


def _resources(doctor: str) -> list[dict[str, Any]]:
    """A Patient with one Encounter whose participant is ``doctor`` (a reference string),
    and a Practitioner ``used-doc``."""
    return [
        {"resourceType": "Patient", "id": "p1", "name": [{"family": "Doe"}]},
        {"resourceType": "Practitioner", "id": "used-doc", "name": [{"family": "Used"}]},
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/p1"},
            "period": {"start": "2024-01-02T10:00:00Z", "end": "2024-01-02T11:00:00Z"},
            "participant": [{"individual": {"reference": doctor}}],
        },
    ]


def _bundle(resources: list[dict[str, Any]], full_url: str | None) -> str:
    entries = []
    for r in resources:
        entry: dict[str, Any] = {"resource": r}
        if full_url == "rest":
            entry["fullUrl"] = f"{BASE}/{r['resourceType']}/{r['id']}"
        elif full_url == "uuid":
            entry["fullUrl"] = f"urn:uuid:00000000-0000-4000-8000-{len(entries):012d}"
        entries.append(entry)
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})


def _both(source: str) -> ImportResult:
    whole = read_fhir(source)
    streamed = read_fhir_streamed(source)
    assert dict(streamed.unmapped) == dict(whole.unmapped)
    assert streamed.episodes == whole.episodes
    return whole


def _doctors(result: ImportResult) -> list[str]:
    (episode,) = result.episodes
    return [p.key for p in episode.practitioners]


@pytest.mark.parametrize(
    "doctor",
    [
        "https://other.example.org/fhir/Practitioner/used-doc",
        "http://example.org/other/Practitioner/used-doc",  # same host, another base
        "https://other.example.org/fhir/Practitioner/used-doc/_history/2",
    ],
)
def test_a_reference_to_another_server_is_not_this_inputs(doctor: str) -> None:
    result = _both(_bundle(_resources(doctor), "rest"))
    assert _doctors(result) == []
    assert result.unmapped[DROPPED] == 1  # the input's own used-doc: nobody took it


@pytest.mark.parametrize(
    "doctor",
    [
        f"{BASE}/Practitioner/used-doc",
        f"{BASE}/Practitioner/used-doc/_history/2",
        "Practitioner/used-doc",
    ],
)
def test_a_reference_on_the_inputs_server_is_resolved(doctor: str) -> None:
    result = _both(_bundle(_resources(doctor), "rest"))
    assert _doctors(result) == ["used-doc"]
    assert DROPPED not in result.unmapped


@pytest.mark.parametrize("full_url", [None, "uuid"])
def test_an_input_without_a_server_takes_the_tail(full_url: str | None) -> None:
    doctor = "https://other.example.org/fhir/Practitioner/used-doc"
    result = _both(_bundle(_resources(doctor), full_url))
    assert _doctors(result) == ["used-doc"]


def test_server_base() -> None:
    assert server_base(f"{BASE}/Patient/1") == BASE
    assert server_base(f"{BASE}/Patient/1/_history/4") == BASE
    assert server_base("urn:uuid:00000000-0000-4000-8000-000000000000") is None
    assert server_base("Patient/1") is None
