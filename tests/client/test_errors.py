"""Status → exception table and OperationOutcome parsing into ``issues``."""

from __future__ import annotations

import pytest

from iopfhir.client import FhirClient, MemoryTransport, Retry, error_type_for_status
from iopfhir.errors import (
    BadRequest,
    ClientError,
    Conflict,
    Forbidden,
    Gone,
    Issue,
    MethodNotAllowed,
    NotFound,
    PreconditionFailed,
    ServerError,
    ServerUnavailable,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
)

from .support import BASE, ok, outcome, raw

TABLE = [
    (400, BadRequest),
    (401, Unauthorized),
    (403, Forbidden),
    (404, NotFound),
    (405, MethodNotAllowed),
    (409, Conflict),
    (410, Gone),
    (412, PreconditionFailed),
    (422, UnprocessableEntity),
    (429, TooManyRequests),
    (500, ServerUnavailable),
    (501, ServerUnavailable),
    (502, ServerUnavailable),
    (503, ServerUnavailable),
    (504, ServerUnavailable),
    (418, ServerError),
    (406, ServerError),
]


@pytest.mark.parametrize(("status", "cls"), TABLE)
def test_status_table(status, cls):
    assert error_type_for_status(status) is cls


@pytest.mark.parametrize(("status", "cls"), TABLE)
def test_each_status_raises_its_exception_with_the_real_status(status, cls):
    transport = MemoryTransport(lambda r: raw(status))
    client = FhirClient(BASE, transport=transport, retry=Retry.disabled())
    with pytest.raises(cls) as info:
        client.read("Patient", "1")
    assert type(info.value) is cls
    assert info.value.status == status
    assert isinstance(info.value, ClientError)
    assert info.value.method == "GET"
    assert info.value.url == f"{BASE}/Patient/1"


def test_builtin_bases_let_callers_catch_broadly():
    client = FhirClient(BASE, transport=MemoryTransport(lambda r: raw(404)))
    with pytest.raises(LookupError):
        client.read("Patient", "1")
    client = FhirClient(BASE, transport=MemoryTransport(lambda r: raw(403)))
    with pytest.raises(PermissionError):
        client.read("Patient", "1")


def test_operation_outcome_becomes_issues_and_shows_in_the_message():
    body = outcome(
        ("error", "invariant", "Rule pat-1 failed", "Patient.contact[0]"),
        ("warning", "code-invalid", "Unknown code 'zz'"),
    )
    client = FhirClient(BASE, transport=MemoryTransport(lambda r: ok(body, status=422)))
    with pytest.raises(UnprocessableEntity) as info:
        client.create({"resourceType": "Patient"})
    issues = info.value.issues
    # Quoted text is where servers put the values they complain about: it is scrubbed
    # from ``issues``; the server's OperationOutcome is kept as sent on ``outcome``.
    assert issues == [
        Issue("error", "invariant", "Rule pat-1 failed", "Patient.contact[0]"),
        Issue("warning", "code-invalid", "Unknown code …", None),
    ]
    assert info.value.outcome == body
    text = str(info.value)
    assert "HTTP 422" in text
    assert "Rule pat-1 failed" in text
    assert "Patient.contact[0]" in text
    assert "zz" not in text
    assert info.value.operation_outcome()["issue"][0]["code"] == "invariant"


def test_issue_text_falls_back_to_details_and_location():
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "fatal",
                "code": "exception",
                "details": {"text": "boom"},
                "location": ["/f:Patient"],
            },
            {"severity": "nonsense", "code": "processing"},
            "not an object",
        ],
    }
    client = FhirClient(BASE, transport=MemoryTransport(lambda r: ok(body, status=400)))
    with pytest.raises(BadRequest) as info:
        client.read("Patient", "1")
    assert info.value.issues[0] == Issue("fatal", "exception", "boom", "/f:Patient")
    assert info.value.issues[1].severity == "error"
    assert len(info.value.issues) == 2


def test_many_issues_are_summarised_and_long_diagnostics_shortened():
    body = outcome(*[("error", "value", f"problem {i} " + "x" * 1000) for i in range(6)])
    client = FhirClient(BASE, transport=MemoryTransport(lambda r: ok(body, status=400)))
    with pytest.raises(BadRequest) as info:
        client.read("Patient", "1")
    text = str(info.value)
    assert "(+3 more)" in text
    assert "problem 3" not in text
    assert len(text) <= 300
    assert "\n" not in text
    assert text.endswith("(GET https://fhir.example.org/r4/Patient/{id})")
    assert len(info.value.issues) == 6


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Bad gateway: patient Jane Doe MRN 123</body></html>",
        b'{"resourceType": "Patient", "name": [{"family": "Doe"}]}',
        b"not json at all",
        b"",
    ],
)
def test_error_bodies_that_are_not_outcomes_are_never_echoed(body):
    client = FhirClient(BASE, transport=MemoryTransport(lambda r: raw(400, body, "text/html")))
    with pytest.raises(BadRequest) as info:
        client.read("Patient", "1")
    shown = f": text/html body, {len(body)} bytes, not shown" if body else ""
    assert str(info.value) == f"HTTP 400{shown} (GET {BASE}/Patient/{{id}})"
    assert info.value.issues[0].code == "exception"
    assert info.value.outcome is None


def test_messages_never_carry_the_query_or_the_request_body():
    client = FhirClient(
        BASE,
        transport=MemoryTransport(
            lambda r: ok(outcome(("error", "processing", "rejected")), status=409)
        ),
    )
    with pytest.raises(Conflict) as info:
        client.update_where(
            {"resourceType": "Patient", "name": [{"family": "Secretname"}]},
            {"identifier": "urn:mrn|98765"},
        )
    text = str(info.value)
    assert "98765" not in text
    assert "Secretname" not in text
    assert info.value.url == f"{BASE}/Patient"


def test_retry_after_is_carried_on_429():
    client = FhirClient(
        BASE,
        transport=MemoryTransport(lambda r: raw(429, Retry_After="17")),
        retry=Retry.disabled(),
    )
    with pytest.raises(TooManyRequests) as info:
        client.read("Patient", "1")
    assert info.value.retry_after == 17.0


def test_a_3xx_that_is_not_followed_is_an_error():
    client = FhirClient(BASE, transport=MemoryTransport(lambda r: raw(300)))
    with pytest.raises(ServerError) as info:
        client.read("Patient", "1")
    assert info.value.status == 300
