"""FhirClient interactions against the in-memory transport: requests sent, results read,
faults injected (429, 503, resets, timeouts, malformed and oversized bodies)."""

from __future__ import annotations

import orjson
import pytest

from iopfhir.client import (
    FhirClient,
    MemoryTransport,
    Request,
    Retry,
    Timeout,
    WriteResult,
    parse_location,
)
from iopfhir.errors import (
    ConnectTimeout,
    InputError,
    MalformedResponse,
    NotFound,
    PreconditionFailed,
    ReadTimeout,
    ResponseTooLarge,
    RetryExhausted,
    ServerUnavailable,
    TooManyRequests,
    TransportError,
)

from .support import BASE, ok, outcome, patient, raw


def client_for(transport: MemoryTransport, fake_time=None, **kwargs) -> FhirClient:
    if fake_time is not None:
        kwargs.setdefault("sleep", fake_time.sleep)
        kwargs.setdefault("clock", fake_time.clock)
    return FhirClient(BASE, transport=transport, **kwargs)


# -- what is sent -------------------------------------------------------------------------


def test_read_sends_fhir_json_accept_and_returns_the_resource():
    transport = MemoryTransport(lambda r: ok(patient("p1")))
    client = client_for(transport, timeout=Timeout(connect=2, read=9))
    assert client.read("Patient", "p1")["id"] == "p1"
    (sent,) = transport.requests
    assert (sent.method, sent.url) == ("GET", f"{BASE}/Patient/p1")
    assert sent.headers["Accept"] == "application/fhir+json"
    assert "Content-Type" not in sent.headers
    assert "Authorization" not in sent.headers
    assert transport.timeouts == [Timeout(2, 9)]


def test_vread_and_history_urls():
    transport = MemoryTransport(
        lambda r: ok(
            patient() if "_history/3" in r.url else {"resourceType": "Bundle", "type": "history"}
        )
    )
    client = client_for(transport)
    client.vread("Patient", "p1", "3")
    client.history("Patient", "p1", since="2024-01-01", count=5)
    client.history("Patient")
    client.history()
    assert [r.url for r in transport.requests] == [
        f"{BASE}/Patient/p1/_history/3",
        f"{BASE}/Patient/p1/_history?_since=2024-01-01&_count=5",
        f"{BASE}/Patient/_history",
        f"{BASE}/_history",
    ]


def test_create_posts_json_and_reads_location_etag():
    seen: list[Request] = []

    def handler(r: Request):
        seen.append(r)
        return ok(
            patient("new1", "1"),
            status=201,
            Location=f"{BASE}/Patient/new1/_history/1",
            ETag='W/"1"',
        )

    client = client_for(MemoryTransport(handler))
    result = client.create({"resourceType": "Patient", "active": True})
    assert isinstance(result, WriteResult)
    assert (result.status, result.created) == (201, True)
    assert (result.resource_type, result.id, result.version_id) == ("Patient", "new1", "1")
    assert result.resource is not None
    assert result.resource["id"] == "new1"
    (sent,) = seen
    assert (sent.method, sent.url) == ("POST", f"{BASE}/Patient")
    assert sent.headers["Content-Type"].startswith("application/fhir+json")
    assert orjson.loads(sent.body) == {"resourceType": "Patient", "active": True}
    assert "If-None-Exist" not in sent.headers


def test_conditional_create_sends_if_none_exist_and_reports_a_match():
    seen: list[Request] = []

    def handler(r: Request):
        seen.append(r)
        return ok(patient("old", "4"), status=200, Location="Patient/old/_history/4")

    client = client_for(MemoryTransport(handler))
    result = client.create({"resourceType": "Patient"}, if_none_exist={"identifier": "urn:mrn|1"})
    assert seen[0].headers["If-None-Exist"] == "identifier=urn%3Amrn%7C1"
    assert (result.created, result.id, result.version_id) == (False, "old", "4")
    client.create({"resourceType": "Patient"}, if_none_exist="?identifier=a|b")
    assert seen[1].headers["If-None-Exist"] == "identifier=a|b"
    with pytest.raises(InputError):
        client.create({"resourceType": "Patient"}, if_none_exist={})


@pytest.mark.parametrize(
    ("given", "header"), [("3", 'W/"3"'), (3, 'W/"3"'), ('W/"3"', 'W/"3"'), ('"abc"', '"abc"')]
)
def test_update_with_if_match(given, header):
    transport = MemoryTransport(lambda r: ok(patient("p1", "4"), ETag='W/"4"'))
    result = client_for(transport).update(patient("p1", "3"), if_match=given)
    (sent,) = transport.requests
    assert (sent.method, sent.url) == ("PUT", f"{BASE}/Patient/p1")
    assert sent.headers["If-Match"] == header
    assert (result.status, result.version_id) == (200, "4")


def test_update_412_raises_precondition_failed_with_the_outcome():
    body = outcome(("error", "conflict", "Version conflict: current is 5"))
    client = client_for(MemoryTransport(lambda r: ok(body, status=412)))
    with pytest.raises(PreconditionFailed) as info:
        client.update(patient("p1", "3"), if_match="3")
    assert info.value.status == 412
    assert info.value.issues[0].code == "conflict"
    assert "Version conflict" in str(info.value)


def test_update_needs_an_id_and_valid_segments():
    client = client_for(MemoryTransport(lambda r: ok(patient())))
    with pytest.raises(InputError):
        client.update({"resourceType": "Patient"})
    with pytest.raises(InputError):
        client.read("Patient", "../metadata")
    with pytest.raises(InputError):
        client.read("patient", "1")
    with pytest.raises(InputError):
        client.create({"name": "no type"})


def test_conditional_update_and_deletes():
    transport = MemoryTransport(
        lambda r: (
            raw(204)
            if r.method == "DELETE" and "?" in r.url
            else ok(outcome(("information", "informational", "Deleted")))
        )
    )
    client = client_for(transport)
    client.update_where({"resourceType": "Patient"}, {"identifier": "a|1"})
    assert client.delete("Patient", "p1") is not None
    assert client.delete_where("Patient", "identifier=a|1") is None
    assert [(r.method, r.url) for r in transport.requests] == [
        ("PUT", f"{BASE}/Patient?identifier=a%7C1"),
        ("DELETE", f"{BASE}/Patient/p1"),
        ("DELETE", f"{BASE}/Patient?identifier=a|1"),
    ]


def test_write_with_prefer_minimal_has_no_resource():
    client = client_for(MemoryTransport(lambda r: raw(201, Location="Patient/x/_history/1")))
    result = client.create({"resourceType": "Patient"}, prefer="return=minimal")
    assert result.resource is None
    assert (result.id, result.version_id) == ("x", "1")


def test_write_returning_an_outcome_keeps_it_apart():
    client = client_for(
        MemoryTransport(
            lambda r: ok(
                outcome(("information", "informational", "ok")),
                status=201,
                Location=f"{BASE}/Patient/x/_history/1",
            )
        )
    )
    result = client.create({"resourceType": "Patient"}, prefer="return=OperationOutcome")
    assert result.resource is None
    assert result.outcome is not None
    assert result.outcome["resourceType"] == "OperationOutcome"


def test_transaction_and_batch_post_to_the_base():
    transport = MemoryTransport(
        lambda r: ok({"resourceType": "Bundle", "type": "transaction-response"})
    )
    client = client_for(transport)
    tx = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    assert client.transaction(tx)["type"] == "transaction-response"
    assert (transport.requests[0].method, transport.requests[0].url) == ("POST", BASE)
    with pytest.raises(InputError):
        client.batch(tx)


def test_capabilities_are_cached():
    transport = MemoryTransport(
        lambda r: ok({"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"})
    )
    client = client_for(transport)
    assert client.capabilities()["fhirVersion"] == "4.0.1"
    client.capabilities()
    assert len(transport.requests) == 1
    client.capabilities(refresh=True)
    assert len(transport.requests) == 2
    assert transport.requests[0].url == f"{BASE}/metadata"


def test_operations():
    transport = MemoryTransport(
        lambda r: ok(
            {"resourceType": "Bundle", "type": "searchset"}
            if "everything" in r.url
            else outcome(("information", "informational", "ok"))
        )
    )
    client = client_for(transport)
    client.operation("$everything", resource_type="Patient", id="p1", params={"_count": 10})
    client.validate({"resourceType": "Patient"}, profile="http://example.org/p")
    client.operation("validate", body={"resourceType": "Parameters"}, method="POST")
    first, second, third = transport.requests
    assert (first.method, first.url) == ("GET", f"{BASE}/Patient/p1/$everything?_count=10")
    assert (second.method, second.url) == ("POST", f"{BASE}/Patient/$validate")
    params = orjson.loads(second.body)
    assert params["parameter"][0]["resource"] == {"resourceType": "Patient"}
    assert params["parameter"][1] == {"name": "profile", "valueUri": "http://example.org/p"}
    assert third.url == f"{BASE}/$validate"
    with pytest.raises(InputError):
        client.operation("$bad name")


def test_get_resolves_relative_locations_and_refuses_other_origins():
    transport = MemoryTransport(lambda r: ok(patient()))
    client = client_for(transport)
    client.get("Patient/p1/_history/1")
    assert transport.requests[0].url == f"{BASE}/Patient/p1/_history/1"
    from iopfhir.errors import InsecureTransportError

    with pytest.raises(InsecureTransportError):
        client.get("https://elsewhere.example.com/r4/Patient/p1")
    assert len(transport.requests) == 1


# -- malformed and oversized --------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        (raw(200, b"<html>oops</html>", "text/html"), "expected FHIR JSON, got text/html"),
        (raw(200, b"{not json", "application/fhir+json"), "not valid JSON"),
        (raw(200, b"[1, 2]", "application/fhir+json"), "no resourceType"),
        (raw(200, b'{"id": "x"}', "application/json"), "no resourceType"),
        (raw(200, b"", "application/fhir+json"), "not valid JSON"),
        (ok({"resourceType": "Observation", "id": "p1"}), "expected a Patient, got a Observation"),
    ],
)
def test_malformed_bodies(response, fragment):
    client = client_for(MemoryTransport(lambda r: response))
    with pytest.raises(MalformedResponse) as info:
        client.read("Patient", "p1")
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)
    assert "oops" not in str(info.value)


def test_oversized_body_is_refused_by_the_transport_and_by_the_client():
    big = ok(patient(text={"div": "x" * 5000}))
    transport = MemoryTransport(lambda r: big, max_response_bytes=1000)
    with pytest.raises(ResponseTooLarge):
        client_for(transport).read("Patient", "p1")
    # a transport without its own bound: the client's bound still holds
    unbounded = MemoryTransport(lambda r: big)
    with pytest.raises(ResponseTooLarge):
        client_for(unbounded, max_response_bytes=1000).read("Patient", "p1")
    assert len(unbounded.requests) == 1  # not retried


# -- retries ------------------------------------------------------------------------------


def test_503_then_success_is_retried_after_backoff(fake_time):
    transport = MemoryTransport.sequence([raw(503), raw(503), ok(patient())])
    client = client_for(transport, fake_time, retry=Retry(total=3, backoff_factor=1.0, jitter=0.0))
    assert client.read("Patient", "p1")["id"] == "p1"
    assert len(transport.requests) == 3
    assert fake_time.sleeps == [1.0, 2.0]


def test_429_retry_after_seconds_is_honoured(fake_time):
    transport = MemoryTransport.sequence([raw(429, Retry_After="7"), ok(patient())])
    client = client_for(transport, fake_time, retry=Retry(backoff_factor=1.0))
    client.read("Patient", "p1")
    assert fake_time.sleeps == [7.0]


def test_429_retry_after_http_date_is_honoured(fake_time):
    from datetime import UTC, datetime
    from email.utils import format_datetime

    when = format_datetime(datetime.fromtimestamp(fake_time.now + 42, UTC), usegmt=True)
    transport = MemoryTransport.sequence([raw(429, Retry_After=when), ok(patient())])
    client_for(transport, fake_time).read("Patient", "p1")
    assert fake_time.sleeps == [pytest.approx(42.0)]


def test_retry_after_longer_than_allowed_gives_up_at_once(fake_time):
    transport = MemoryTransport.sequence([raw(429, Retry_After="3600")])
    client = client_for(transport, fake_time, retry=Retry(max_retry_after=60))
    with pytest.raises(RetryExhausted) as info:
        client.read("Patient", "p1")
    assert isinstance(info.value.last, TooManyRequests)
    assert info.value.last.retry_after == 3600.0
    assert fake_time.sleeps == []


def test_connection_reset_then_success(fake_time):
    transport = MemoryTransport.sequence([TransportError("connection reset"), ok(patient())])
    assert client_for(transport, fake_time).read("Patient", "p1")["id"] == "p1"
    assert len(transport.requests) == 2
    assert len(fake_time.sleeps) == 1


def test_read_timeouts_exhaust_the_budget(fake_time):
    transport = MemoryTransport.sequence([ReadTimeout("slow")] * 3)
    client = client_for(transport, fake_time, retry=Retry(total=2, jitter=0.0))
    with pytest.raises(RetryExhausted) as info:
        client.read("Patient", "p1")
    assert isinstance(info.value.last, ReadTimeout)
    assert len(transport.requests) == 3
    assert fake_time.sleeps == [0.5, 1.0]


def test_the_total_time_bound_stops_retrying(fake_time):
    transport = MemoryTransport.sequence([raw(503)] * 10)
    client = client_for(
        transport,
        fake_time,
        retry=Retry(total=10, backoff_factor=4.0, jitter=0.0, backoff_max=100, deadline=20.0),
    )
    with pytest.raises(RetryExhausted) as info:
        client.read("Patient", "p1")
    # waits 4, 8 (elapsed 12); the next 16 would pass 20 s
    assert fake_time.sleeps == [4.0, 8.0]
    assert len(transport.requests) == 3
    assert "time bound" in str(info.value)
    assert isinstance(info.value.last, ServerUnavailable)


def test_500_in_the_middle_of_a_sequence_is_not_retried(fake_time):
    transport = MemoryTransport.sequence(
        [ok(patient("a")), raw(500, b"", "application/fhir+json"), ok(patient("c"))]
    )
    client = client_for(transport, fake_time)
    assert client.read("Patient", "a")["id"] == "a"
    with pytest.raises(ServerUnavailable) as info:
        client.read("Patient", "b")
    assert info.value.status == 500
    assert client.read("Patient", "c")["id"] == "c"
    assert fake_time.sleeps == []


def test_plain_create_is_never_retried(fake_time):
    transport = MemoryTransport.sequence([raw(503)])
    with pytest.raises(ServerUnavailable):
        client_for(transport, fake_time).create({"resourceType": "Patient"})
    transport = MemoryTransport.sequence([TransportError("reset")])
    with pytest.raises(TransportError):
        client_for(transport, fake_time).create({"resourceType": "Patient"})
    assert fake_time.sleeps == []


def test_conditional_create_is_retried(fake_time):
    transport = MemoryTransport.sequence([ConnectTimeout("slow"), ok(patient(), status=201)])
    result = client_for(transport, fake_time).create(
        {"resourceType": "Patient"}, if_none_exist="identifier=a|1"
    )
    assert result.created
    assert len(transport.requests) == 2
    assert transport.requests[0] == transport.requests[1]


def test_safe_transaction_is_retried_and_unsafe_one_is_not(fake_time):
    safe = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "PUT", "url": "Patient/1"}, "resource": patient("1")}],
    }
    transport = MemoryTransport.sequence([raw(502), ok({"resourceType": "Bundle"})])
    client_for(transport, fake_time).transaction(safe)
    assert len(transport.requests) == 2
    unsafe = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "POST", "url": "Patient"}, "resource": patient("1")}],
    }
    transport = MemoryTransport.sequence([raw(502)])
    with pytest.raises(ServerUnavailable):
        client_for(transport, fake_time).transaction(unsafe)


def test_disabled_retry_raises_the_plain_error(fake_time):
    transport = MemoryTransport.sequence([raw(503)])
    with pytest.raises(ServerUnavailable):
        client_for(transport, fake_time, retry=Retry.disabled()).read("Patient", "p1")
    transport = MemoryTransport.sequence([TransportError("reset")])
    with pytest.raises(TransportError):
        client_for(transport, fake_time, retry=Retry.disabled()).read("Patient", "p1")


def test_not_found_is_not_retried(fake_time):
    transport = MemoryTransport.sequence([raw(404)])
    with pytest.raises(NotFound):
        client_for(transport, fake_time).read("Patient", "p1")
    assert fake_time.sleeps == []


def test_context_manager_closes_the_transport():
    transport = MemoryTransport(lambda r: ok(patient()))
    with client_for(transport) as client:
        client.read("Patient", "p1")
    assert transport.closed


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("Patient/123", ("Patient", "123", None)),
        ("Patient/123/_history/4", ("Patient", "123", "4")),
        ("https://ehr.example.org/fhir/r4/Patient/123/_history/4", ("Patient", "123", "4")),
        ("http://127.0.0.1:8080/CarePlan/a-b.c", ("CarePlan", "a-b.c", None)),
        ("http://127.0.0.1:8080/CarePlan/7?_format=json", ("CarePlan", "7", None)),
        ("https://x.example/fhir/Observation/9/_history/2#frag", ("Observation", "9", "2")),
        ("/fhir/Encounter/e1", ("Encounter", "e1", None)),
        ("https://x.example", (None, None, None)),
        ("https://x.example/fhir/metadata", (None, None, None)),
        ("not a location", (None, None, None)),
    ],
)
def test_parse_location(location, expected):
    assert parse_location(location) == expected
