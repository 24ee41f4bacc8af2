"""Security rules: https or loopback, credentials stay on their origin, TLS verification
cannot be turned off silently, and logs/messages carry no tokens or patient data."""

from __future__ import annotations

import logging

import pytest

from iopfhir.client import (
    BasicAuth,
    BearerAuth,
    FhirClient,
    MemoryTransport,
    Request,
    RequestsTransport,
    check_url,
)
from iopfhir.errors import CrossOriginRedirect, InsecureTransportError, NotFound

from .support import BASE, ok, outcome, patient, raw

TOKEN = "tok-VERY-SECRET-123"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/fhir",
        "http://localhost/fhir",
        "http://[::1]:9000/fhir",
        "http://127.1.2.3/fhir",
        "https://fhir.example.org/r4",
    ],
)
def test_loopback_http_and_https_are_allowed(url):
    FhirClient(url, transport=MemoryTransport(lambda r: ok(patient())))


@pytest.mark.parametrize(
    "url",
    [
        "http://fhir.example.org/r4",
        "http://10.0.0.5/fhir",
        "http://localhost.example.com/fhir",
    ],
)
def test_plain_http_elsewhere_is_refused(url):
    with pytest.raises(InsecureTransportError):
        FhirClient(url, transport=MemoryTransport(lambda r: ok(patient())))


def test_plain_http_can_be_allowed_explicitly_and_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="iopfhir.client"):
        FhirClient(
            "http://fhir.example.org/r4",
            allow_insecure_http=True,
            transport=MemoryTransport(lambda r: ok(patient())),
        )
    assert "plain http" in caplog.text


def test_other_schemes_are_refused():
    with pytest.raises(InsecureTransportError):
        check_url("ftp://fhir.example.org/", allow_insecure_http=True)


def test_unverified_tls_needs_an_explicit_flag_and_warns(caplog):
    with pytest.raises(InsecureTransportError):
        RequestsTransport(verify=False)
    with caplog.at_level(logging.WARNING, logger="iopfhir.client"):
        transport = RequestsTransport(verify=False, allow_unverified_tls=True)
    transport.close()
    assert "verification is OFF" in caplog.text


def redirecting(target: str, status: int = 302):
    def handler(r: Request):
        if r.url.startswith(BASE):
            return raw(status, Location=target)
        return ok(patient())

    return handler


@pytest.mark.parametrize("auth", [BearerAuth(TOKEN), BasicAuth("svc", TOKEN)])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_origin_is_refused_naming_both_origins(auth, status):
    # Issue 9: the redirect is not followed at all (its path and query could carry an MRN,
    # and the other origin's answer would be trusted), rather than followed without
    # Authorization.
    transport = MemoryTransport(
        redirecting("https://mirror.example.net:8443/r4/Patient/p1?identifier=urn:mrn|777123")
    )
    with pytest.raises(CrossOriginRedirect) as info:
        FhirClient(BASE, transport=transport, auth=auth).read("Patient", "p1")
    assert len(transport.requests) == 1
    error = info.value
    assert isinstance(error, InsecureTransportError)
    assert (error.origin, error.target) == (
        "https://fhir.example.org:443",
        "https://mirror.example.net:8443",
    )
    text = str(error)
    assert "https://fhir.example.org:443" in text
    assert "https://mirror.example.net:8443" in text
    assert "777123" not in text
    assert "/r4/Patient/p1" not in text
    assert TOKEN not in text


def test_a_redirect_to_something_that_is_not_a_url_is_a_malformed_response():
    from iopfhir.errors import MalformedResponse

    transport = MemoryTransport(redirecting("http://[::1/oops"))
    with pytest.raises(MalformedResponse):
        FhirClient(BASE, transport=transport).read("Patient", "p1")


def test_redirect_on_the_same_origin_keeps_authorization():
    transport = MemoryTransport(
        lambda r: raw(301, Location="/r4/Patient/p2") if r.url.endswith("p1") else ok(patient())
    )
    FhirClient(BASE, transport=transport, auth=BearerAuth(TOKEN)).read("Patient", "p1")
    assert transport.requests[1].url == "https://fhir.example.org/r4/Patient/p2"
    assert transport.requests[1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_redirect_downgrade_to_plain_http_is_refused():
    transport = MemoryTransport(redirecting("http://fhir.example.org/r4/Patient/p1"))
    with pytest.raises(InsecureTransportError):
        FhirClient(BASE, transport=transport, auth=BearerAuth(TOKEN)).read("Patient", "p1")
    assert len(transport.requests) == 1


def test_redirect_loops_stop():
    transport = MemoryTransport(redirecting(f"{BASE}/Patient/p1", 307))
    from iopfhir.errors import ClientError

    with pytest.raises(ClientError, match="redirects"):
        FhirClient(BASE, transport=transport, max_redirects=3).read("Patient", "p1")
    assert len(transport.requests) == 4


def test_a_write_is_not_turned_into_a_get_by_302_but_307_keeps_it():
    transport = MemoryTransport(redirecting(f"{BASE}-new/Patient", 302))
    from iopfhir.errors import ServerError

    with pytest.raises(ServerError):
        FhirClient(BASE, transport=transport).create({"resourceType": "Patient"})
    assert len(transport.requests) == 1

    def handler(r: Request):
        if r.url == f"{BASE}/Patient":
            return raw(307, Location=f"{BASE}/v2/Patient")
        return ok(patient(), status=201)

    transport = MemoryTransport(handler)
    FhirClient(BASE, transport=transport).create({"resourceType": "Patient"})
    assert [(r.method, r.url) for r in transport.requests] == [
        ("POST", f"{BASE}/Patient"),
        ("POST", f"{BASE}/v2/Patient"),
    ]
    assert transport.requests[0].body == transport.requests[1].body


def test_303_after_a_post_becomes_a_get_without_body():
    def handler(r: Request):
        if r.method == "POST":
            return raw(303, Location=f"{BASE}/Patient/p1")
        return ok(patient())

    transport = MemoryTransport(handler)
    FhirClient(BASE, transport=transport).create({"resourceType": "Patient"})
    second = transport.requests[1]
    assert (second.method, second.body) == ("GET", b"")
    assert "Content-Type" not in second.headers


def test_logs_carry_method_path_status_but_no_token_query_or_body(caplog):
    def handler(r: Request):
        if "/Patient/" in r.url:
            return ok(outcome(("error", "not-found", "gone")), status=404)
        return ok({"resourceType": "Bundle", "type": "searchset"})

    client = FhirClient(BASE, transport=MemoryTransport(handler), auth=BearerAuth(TOKEN))
    with caplog.at_level(logging.DEBUG, logger="iopfhir"):
        client.search("Patient").where(name="Janedoe", identifier="urn:mrn|777123").bundle()
        with pytest.raises(NotFound) as info:
            client.read("Patient", "p1")
    assert "GET /r4/Patient -> 200" in caplog.text
    # Ids are hidden in logs too (an id may come from the input).
    assert "GET /r4/Patient/{id} -> 404" in caplog.text
    assert "p1" not in caplog.text
    for secret in (TOKEN, "Janedoe", "777123", "Bearer"):
        assert secret not in caplog.text
        assert secret not in str(info.value)
    assert TOKEN not in repr(client.auth)


def test_exception_and_log_free_of_body_and_token_on_write_failure(caplog):
    client = FhirClient(
        BASE,
        auth=BearerAuth(TOKEN),
        transport=MemoryTransport(
            lambda r: raw(400, b"echo Bodyname " + TOKEN.encode(), "text/plain")
        ),
    )
    with caplog.at_level(logging.DEBUG, logger="iopfhir"), pytest.raises(Exception) as info:
        client.create({"resourceType": "Patient", "name": [{"family": "Bodyname"}]})
    for secret in (TOKEN, "Bodyname"):
        assert secret not in str(info.value)
        assert secret not in caplog.text


def test_request_and_headers_repr_hide_values():
    r = Request("GET", f"{BASE}/Patient?name=Jane", {"Authorization": f"Bearer {TOKEN}"})
    assert TOKEN not in repr(r)
    assert "Jane" not in repr(r)
    assert TOKEN not in repr(r.headers)
