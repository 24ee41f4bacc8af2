"""The immutable search builder and paging over ``next`` links."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qsl, urlsplit

import pytest

from iopfhir.client import FhirClient, MemoryTransport, Request
from iopfhir.errors import BadRequest, InsecureTransportError, MalformedResponse

from .support import BASE, ok


def page(ids: list[str], next_url: str | None = None, *, included: list[str] = ()) -> dict:
    entries = [
        {"resource": {"resourceType": "Observation", "id": i}, "search": {"mode": "match"}}
        for i in ids
    ]
    entries += [
        {"resource": {"resourceType": "Patient", "id": i}, "search": {"mode": "include"}}
        for i in included
    ]
    links = [{"relation": "self", "url": "x"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}


def query(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query)


def test_builder_returns_copies_and_builds_the_query():
    client = FhirClient(BASE, transport=MemoryTransport(lambda r: ok(page([]))))
    base = client.search("Observation")
    built = (
        base.where(patient="Patient/1", code="http://loinc.org|44261-6")
        .count(50)
        .last_updated(ge=date(2024, 1, 1), lt="2025-01-01")
        .include("Observation:patient")
        .revinclude("Provenance:target", iterate=True)
        .where({"subject:Patient.name": "x"}, code__text="phq", status=["final", "amended"])
        .sort("-date", "code")
        .elements("id", "code")
        .count(10)
    )
    assert base.params == ()
    assert query(built.url) == [
        ("patient", "Patient/1"),
        ("code", "http://loinc.org|44261-6"),
        ("_lastUpdated", "ge2024-01-01"),
        ("_lastUpdated", "lt2025-01-01"),
        ("_include", "Observation:patient"),
        ("_revinclude:iterate", "Provenance:target"),
        ("subject:Patient.name", "x"),
        ("code:text", "phq"),
        ("status", "final"),
        ("status", "amended"),
        ("_sort", "-date,code"),
        ("_elements", "id,code"),
        ("_count", "10"),
    ]
    assert urlsplit(built.url).path == "/r4/Observation"


def test_repr_hides_values():
    client = FhirClient(BASE, transport=MemoryTransport(lambda r: ok(page([]))))
    s = client.search("Patient").where(name="Jane Doe", identifier="urn:mrn|12345")
    assert "Jane" not in repr(s)
    assert "12345" not in repr(s)
    assert "name" in repr(s)


def test_invalid_builder_input():
    client = FhirClient(BASE, transport=MemoryTransport(lambda r: ok(page([]))))
    with pytest.raises(ValueError):
        client.search("Observation").last_updated(after="2024")
    with pytest.raises(ValueError):
        client.search("Observation").count(-1)


def test_iteration_follows_next_links_and_yields_matches_only():
    pages = {
        f"{BASE}/Observation?code=x": page(
            ["1", "2"], f"{BASE}/Observation?code=x&_offset=2", included=["p"]
        ),
        f"{BASE}/Observation?code=x&_offset=2": page(["3"], "Observation?code=x&_offset=3"),
        f"{BASE}/Observation?code=x&_offset=3": page(["4"]),
    }
    transport = MemoryTransport(lambda r: ok(pages[r.url]))
    client = FhirClient(BASE, transport=transport)
    ids = [r["id"] for r in client.search("Observation").where(code="x")]
    assert ids == ["1", "2", "3", "4"]
    assert len(transport.requests) == 3
    everything = list(client.search("Observation").where(code="x").pages())
    assert [e["resource"]["id"] for e in everything[0]["entry"]] == ["1", "2", "p"]
    assert client.search("Observation").where(code="x").fetch_all(limit=3) == [
        {"resourceType": "Observation", "id": i} for i in ("1", "2", "3")
    ]


def test_next_link_to_another_origin_is_not_followed_and_credentials_stay_home():
    evil = "https://evil.example.com/r4/Observation?page=2"
    transport = MemoryTransport(lambda r: ok(page(["1"], evil)))
    from iopfhir.client import BearerAuth

    client = FhirClient(BASE, transport=transport, auth=BearerAuth("tok-SECRET"))
    results = iter(client.search("Observation"))
    assert next(results)["id"] == "1"
    with pytest.raises(InsecureTransportError) as info:
        next(results)
    assert "another origin" in str(info.value)
    assert all(urlsplit(r.url).hostname == "fhir.example.org" for r in transport.requests)
    assert "tok-SECRET" not in str(info.value)


@pytest.mark.parametrize(
    "next_url",
    [
        "http://fhir.example.org/r4/Observation?page=2",  # scheme downgrade
        "https://fhir.example.org:8443/r4/Observation?page=2",  # other port
    ],
)
def test_other_scheme_or_port_is_another_origin(next_url):
    transport = MemoryTransport(lambda r: ok(page(["1"], next_url)))
    client = FhirClient(BASE, transport=transport)
    with pytest.raises(InsecureTransportError):
        list(client.search("Observation"))
    assert len(transport.requests) == 1


def test_a_next_link_loop_is_detected():
    loop = f"{BASE}/Observation?_offset=1"
    transport = MemoryTransport(lambda r: ok(page(["1"], loop)))
    with pytest.raises(MalformedResponse):
        list(FhirClient(BASE, transport=transport).search("Observation"))
    # the first page, then the looping page once; the same link again is refused
    assert len(transport.requests) == 2


def test_strict_handling_header_on_every_page():
    pages = {
        f"{BASE}/Observation?code=x": page(["1"], f"{BASE}/Observation?code=x&p=2"),
        f"{BASE}/Observation?code=x&p=2": page(["2"]),
    }
    transport = MemoryTransport(lambda r: ok(pages[r.url]))
    list(FhirClient(BASE, transport=transport).search("Observation").where(code="x").strict())
    assert [r.headers.get("Prefer") for r in transport.requests] == ["handling=strict"] * 2


def test_strict_search_error_is_raised():
    from .support import outcome

    transport = MemoryTransport(
        lambda r: ok(
            outcome(("error", "not-supported", "Unknown search parameter 'foo'")), status=400
        )
    )
    with pytest.raises(BadRequest) as info:
        FhirClient(BASE, transport=transport).search("Observation").where(foo="1").strict().bundle()
    assert "Unknown search parameter" in str(info.value)


def test_first_and_total(caplog):
    def handler(r: Request):
        q = dict(query(r.url))
        if q.get("_summary") == "count":
            return ok({"resourceType": "Bundle", "type": "searchset", "total": 12})
        assert q["_count"] == "1"
        return ok(page(["only"]))

    client = FhirClient(BASE, transport=MemoryTransport(handler))
    assert client.search("Observation").first() == {"resourceType": "Observation", "id": "only"}
    assert client.search("Observation").total() == 12


def test_outcome_entries_are_logged_by_code(caplog):
    bundle = page(["1"])
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "warning",
                        "code": "not-supported",
                        "diagnostics": "Unknown parameter 'name' value 'Jane'",
                    }
                ],
            },
            "search": {"mode": "outcome"},
        }
    )
    client = FhirClient(BASE, transport=MemoryTransport(lambda r: ok(bundle)))
    with caplog.at_level("WARNING", logger="iopfhir.client"):
        assert [r["id"] for r in client.search("Observation")] == ["1"]
    assert "not-supported" in caplog.text
    assert "Jane" not in caplog.text
