"""Scrubbing server text (credentials, request values, quoted text, digit runs), request
labels without queries or ids, and errors that name their request once."""

from __future__ import annotations

import orjson
import pytest

from iopfhir.client import FhirClient, MemoryTransport, Request, Retry, request_values, scrub
from iopfhir.client.redact import scrub_issue
from iopfhir.errors import (
    MAX_CLIENT_MESSAGE,
    ClientError,
    Issue,
    RetryExhausted,
    UnprocessableEntity,
    request_label,
)

from .support import BASE, ok, outcome, raw, req

JWT = "eyJhbGciOiJSUzM4NCJ9.eyJzdWIiOiJjIn0.c2lnbmF0dXJlLXZhbHVl"


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("Authorization: Bearer abc.def-123456 refused", "abc.def-123456"),
        ("authorization=Basic c3ZjOnNlY3JldA== refused", "c3ZjOnNlY3JldA=="),
        ("bad header: Bearer s3cr3t-t0ken-value", "s3cr3t-t0ken-value"),
        (f"token {JWT} expired", JWT),
        (f"got {JWT[:40]}", JWT[:40]),
        ("login with password=hunter2&user=x failed", "hunter2"),
        ("client_secret: 'topsecret' not accepted", "topsecret"),
        ("access_token=QWERTY12345 invalid", "QWERTY12345"),
        ("Cookie: session=abcdef0123 rejected", "abcdef0123"),
        ("api_key=9f8e7d6c5b4a", "9f8e7d6c5b4a"),
        ("key AKIAIOSFODNN7EXAMPLE0123 is unknown", "AKIAIOSFODNN7EXAMPLE0123"),
        ("patient MRN 12345678 exists", "12345678"),
        ("call 555-123456", "123456"),
        ("value 'Jane Roe' is not allowed", "Jane Roe"),
        ('value "Jane Roe" is not allowed', "Jane Roe"),
        ("mail jane.roe@example.org bounced", "jane.roe@example.org"),
    ],
)
def test_credentials_quoted_text_and_identifiers_are_removed(text, gone):
    out = scrub(text)
    assert gone not in out
    assert "…" in out


def test_values_the_request_carried_are_removed_word_by_word_case_insensitively():
    body = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.3", "value": "A-77Q"}],
        "name": [{"family": "Quillon", "given": ["Zebedee"]}],
        "text": {"div": "<div>Quillon Zebedee</div>"},
    }
    request = Request(
        "POST",
        f"{BASE}/Patient?name=Marlowe&identifier=urn:mrn|X-9Q",
        {"Authorization": "Bearer tok-abc", "If-None-Exist": "identifier=urn:mrn|Hollis"},
        orjson.dumps(body),
    )
    values = request_values(request)
    text = (
        "Patient QUILLON zebedee (A-77Q) duplicates Marlowe X-9Q Hollis; token tok-abc; "
        "Patient.name[0] fails rule pat-1"
    )
    out = scrub(text, values)
    for word in ("QUILLON", "zebedee", "77Q", "Marlowe", "9Q", "Hollis", "tok-abc"):
        assert word.casefold() not in out.casefold(), word
    # The server's own wording and FHIR vocabulary stay readable.
    assert "Patient.name[0] fails rule pat-1" in out
    assert out.startswith("Patient … (")


def test_a_path_id_and_a_form_body_are_request_values():
    request = req("PUT", f"{BASE}/Patient/Zebedee-1/_history/2")
    assert "zebedee" in request_values(request)
    form = Request(
        "POST",
        "https://auth.example.org/token",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"client_assertion=abc.Secretvalue.def&grant_type=client_credentials",
    )
    assert "secretvalue" in request_values(form)


def test_scrub_makes_one_bounded_line_even_of_megabytes():
    text = ("line one\r\nline\ttwo \x00\x1b[31m red \u2028" + "word " * 2_000_000)[:10_000_000]
    out = scrub(text, limit=200)
    assert len(out) <= 200
    assert "\n" not in out and "\r" not in out and "\x1b" not in out and "\x00" not in out


def test_an_issue_code_from_the_server_that_is_not_a_code_is_not_shown():
    issue = scrub_issue(Issue("error", "Bearer abc 123", "x", "Patient.where(name='Roe')"))
    assert issue.code == "unknown"
    assert issue.path == "Patient.where(name=…)"


@pytest.mark.parametrize(
    ("method", "url", "label"),
    [
        ("GET", f"{BASE}/Patient/p1", "GET https://fhir.example.org/r4/Patient/{id}"),
        (
            "GET",
            f"{BASE}/Patient/p1/_history/3?x=1",
            "GET https://fhir.example.org/r4/Patient/{id}/_history/{id}",
        ),
        ("POST", f"{BASE}/Patient/_search", "POST https://fhir.example.org/r4/Patient/_search"),
        (
            "GET",
            f"{BASE}/Patient/p1/$everything",
            "GET https://fhir.example.org/r4/Patient/{id}/$everything",
        ),
        ("GET", f"{BASE}/metadata", "GET https://fhir.example.org/r4/metadata"),
        ("POST", BASE, "POST https://fhir.example.org/r4"),
        ("GET", "https://user:pw@h.example/fhir/Patient", "GET https://h.example/fhir/Patient"),
        (
            "GET",
            f"{BASE}/Patient?identifier=urn:mrn|123456",
            "GET https://fhir.example.org/r4/Patient",
        ),
    ],
)
def test_request_labels_carry_no_query_no_ids_no_userinfo(method, url, label):
    assert request_label(method, url) == label


def test_retry_exhausted_names_its_request_once():
    client = FhirClient(
        BASE,
        transport=MemoryTransport(lambda r: raw(503)),
        retry=Retry(total=2, backoff_factor=0, jitter=0),
        sleep=lambda s: None,
    )
    with pytest.raises(RetryExhausted) as info:
        client.read("Patient", "p1")
    text = str(info.value)
    assert text.count("(GET ") == 1, text
    assert (
        text
        == "gave up after 3 attempts, last: HTTP 503 (GET https://fhir.example.org/r4/Patient/{id})"
    )


def test_client_error_messages_are_one_bounded_line():
    error = ClientError("a\nb\r\n" + "x" * 1000, method="GET", url=f"{BASE}/Patient/p1?name=Roe")
    assert "\n" not in str(error)
    assert len(str(error)) <= MAX_CLIENT_MESSAGE
    assert str(error).endswith("(GET https://fhir.example.org/r4/Patient/{id})")
    assert error.url == f"{BASE}/Patient/p1"


def test_a_422_repeating_the_resource_is_scrubbed_but_kept_for_programs():
    sent = {"resourceType": "Patient", "name": [{"family": "Quillon"}], "birthDate": "1970-01-01"}
    body = outcome(
        ("error", "invariant", "Patient Quillon born 1970-01-01 fails pat-1", "Patient.name[0]")
    )
    client = FhirClient(BASE, transport=MemoryTransport(lambda r: ok(body, status=422)))
    with pytest.raises(UnprocessableEntity) as info:
        client.create(sent)
    assert "Quillon" not in str(info.value)
    assert "fails pat-1" in str(info.value)
    assert info.value.issues[0].message == "Patient … born … fails pat-1"
    assert info.value.outcome == body


def test_search_outcome_codes_are_logged_only_when_they_are_codes(caplog):
    import logging

    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"search": {"mode": "outcome"}, "resource": outcome(("warning", "Bearer tok-99", "x"))},
            {"search": {"mode": "outcome"}, "resource": outcome(("warning", "not-found", "x"))},
            {"search": "not an object"},
            "not an entry",
        ],
    }
    client = FhirClient(BASE, transport=MemoryTransport(lambda r: ok(bundle)))
    with caplog.at_level(logging.WARNING, logger="iopfhir"):
        client.search("Patient").bundle()
    assert "issues (unknown)" in caplog.text
    assert "issues (not-found)" in caplog.text
    assert "tok-99" not in caplog.text
