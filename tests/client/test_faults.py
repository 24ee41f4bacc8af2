"""The client against a misbehaving server (tests/servers/fault.py), over real sockets, on
both transports: server text that repeats tokens and patient data never reaches a message,
a repr or a log; redirects never leave the origin; a dripping server is cut off at the
overall deadline; truncated, invalid, huge and deeply nested bodies end in clean errors."""

from __future__ import annotations

import logging
import time

import pytest
from tests.servers.fault import (
    DRIP_LIMIT,
    MARKER_MRN,
    MARKER_NAME,
    MARKER_TOKEN,
    FaultServers,
    running_fault_servers,
)

from iopfhir.client import BearerAuth, FhirClient, Retry, Timeout
from iopfhir.errors import (
    MAX_CLIENT_MESSAGE,
    ClientError,
    CrossOriginRedirect,
    Forbidden,
    MalformedResponse,
    NotFound,
    ReadTimeout,
    ResponseTooLarge,
    ServerError,
    ServerUnavailable,
    TransportError,
    Unauthorized,
    UnprocessableEntity,
)

TRANSPORTS = ["requests", "httpx"]
SECRETS = (MARKER_TOKEN, MARKER_NAME, MARKER_MRN, "4815162342", "SECRET")
SYSTEM = "urn:oid:2.16.840.1.113883.19.5"


def _transport(name: str) -> object:
    if name == "httpx":
        from iopfhir.client_httpx import HttpxTransport

        return HttpxTransport()
    return None  # the default: requests


def _client(base: str, transport: str, **kwargs: object) -> FhirClient:
    kwargs.setdefault("retry", Retry.disabled())
    return FhirClient(
        base,
        transport=_transport(transport),  # type: ignore[arg-type]
        auth=BearerAuth(MARKER_TOKEN),
        **kwargs,  # type: ignore[arg-type]
    )


def _patient() -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": SYSTEM, "value": MARKER_MRN}],
        "name": [{"family": MARKER_NAME, "given": ["Zeb"]}],
    }


def _assert_clean(error: BaseException, logs: str) -> None:
    texts = [str(error), repr(error), logs]
    if isinstance(error, ClientError):
        texts += [str(issue) for issue in error.issues]
    for text in texts:
        for secret in SECRETS:
            assert secret.casefold() not in text.casefold(), (secret, text)
        assert "Bearer" not in text
    message = str(error)
    assert "\n" not in message and "\r" not in message
    assert len(message) <= MAX_CLIENT_MESSAGE
    # The request is named once (issue 9 saw "(POST …) (POST …)").
    assert message.count(" (GET ") + message.count(" (POST ") <= 1


STATUSES = [
    (401, Unauthorized),
    (403, Forbidden),
    (404, NotFound),
    (422, UnprocessableEntity),
    (500, ServerUnavailable),
]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("status", "cls"), STATUSES)
@pytest.mark.parametrize("shape", ["", "-text", "-html"])
def test_echoed_tokens_and_patient_data_never_reach_messages_or_logs(
    fault_servers: FaultServers, caplog, transport, status, cls, shape
):
    base = fault_servers.primary.url(f"echo-{status}{shape}")
    with (
        caplog.at_level(logging.DEBUG, logger="iopfhir"),
        _client(base, transport) as client,
    ):
        with pytest.raises(cls) as created:
            client.create(_patient(), if_none_exist={"identifier": f"{SYSTEM}|{MARKER_MRN}"})
        with pytest.raises(cls) as searched:
            client.search("Patient").where(identifier=f"{SYSTEM}|{MARKER_MRN}").bundle()
    # The server really did repeat them: the test would prove nothing otherwise.
    seen = fault_servers.primary.seen
    assert seen[0].headers["authorization"] == f"Bearer {MARKER_TOKEN}"
    for info in (created, searched):
        error = info.value
        _assert_clean(error, caplog.text)
        assert error.status == status
        assert str(error).startswith(f"HTTP {status}")
        if shape:
            assert error.outcome is None
            assert "bytes, not shown" in str(error)
        else:
            # Programs get the server's OperationOutcome as sent; messages never do.
            assert MARKER_MRN in str(error.outcome)
            assert [i.code for i in error.issues][:2] in (
                ["invalid", "processing"],
                ["security", "processing"],
                ["exception", "processing"],
            )
    assert f"(POST http://127.0.0.1:{fault_servers.primary.port}/f/" in str(created.value)
    assert str(created.value).endswith("/fhir/Patient)")


def test_without_127_0_0_2_the_other_origin_is_another_port(monkeypatch):
    # where 127.0.0.2 is not routed (macOS), the pair still has two origins: nothing skips
    import tests.servers.fault as fault

    monkeypatch.setattr(fault, "other_loopback_available", lambda: False)
    with running_fault_servers() as servers, FhirClient(servers.primary.url("redirect-307")) as c:
        assert servers.other.host == "127.0.0.1"
        assert servers.other.port != servers.primary.port
        with pytest.raises(CrossOriginRedirect) as refused:
            c.read("Patient", "p1")
        assert refused.value.target == f"http://127.0.0.1:{servers.other.port}"
        assert servers.other.seen == []


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_is_never_followed(
    fault_servers: FaultServers, caplog, transport, status
):
    base = fault_servers.primary.url(f"redirect-{status}")
    with (
        caplog.at_level(logging.DEBUG, logger="iopfhir"),
        _client(base, transport) as client,
    ):
        with pytest.raises(CrossOriginRedirect) as searched:
            client.search("Patient").where(identifier=f"{SYSTEM}|{MARKER_MRN}").bundle()
        with pytest.raises(CrossOriginRedirect) as read:
            client.read("Patient", "p1")
    assert fault_servers.other.seen == []
    assert len(fault_servers.primary.seen) == 2
    for info in (searched, read):
        error = info.value
        _assert_clean(error, caplog.text)
        assert error.origin == f"http://127.0.0.1:{fault_servers.primary.port}"
        assert error.target == f"http://{fault_servers.other.host}:{fault_servers.other.port}"
        assert error.origin in str(error) and error.target in str(error)
        assert "/ok/" not in str(error)
    # A redirected write is refused the same way, before anything is sent there.
    with _client(base, transport) as client, pytest.raises(CrossOriginRedirect):
        client.create(_patient())
    assert fault_servers.other.seen == []


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_on_the_same_origin_are_followed(fault_servers: FaultServers, transport, status):
    base = fault_servers.primary.url(f"same-redirect-{status}")
    with _client(base, transport) as client:
        bundle = client.search("Patient").where(identifier=f"{SYSTEM}|x").bundle()
    assert bundle["type"] == "searchset"
    first, second = fault_servers.primary.seen
    assert second.path == "/ok/fhir/Patient"
    assert second.query == first.query
    assert second.headers["authorization"] == f"Bearer {MARKER_TOKEN}"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("status", "method"), [(303, "GET"), (307, "POST"), (308, "POST")])
def test_same_origin_redirects_of_a_write(fault_servers: FaultServers, transport, status, method):
    base = fault_servers.primary.url(f"same-redirect-{status}")
    with _client(base, transport) as client:
        if status == 303:
            with pytest.raises(NotFound):  # the GET /ok/fhir/Patient... of a 303 → 404 here
                client.update({**_patient(), "id": "p1"})
        else:
            client.create(_patient())
    first, second = fault_servers.primary.seen
    assert second.method == method
    assert second.path.startswith("/ok/fhir/Patient")
    if method == "POST":
        assert second.body == first.body
    else:
        assert second.body == b""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_write_is_not_turned_into_a_get_by_a_302(fault_servers: FaultServers, transport):
    base = fault_servers.primary.url("same-redirect-302")
    with _client(base, transport) as client, pytest.raises(ServerError) as info:
        client.create(_patient())
    assert info.value.status == 302
    assert len(fault_servers.primary.seen) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_redirect_loop_stops_after_max_redirects(fault_servers: FaultServers, transport):
    base = fault_servers.primary.url("redirect-loop")
    with (
        _client(base, transport, max_redirects=3) as client,
        pytest.raises(ClientError, match="more than 3 redirects"),
    ):
        client.read("Patient", "p1")
    assert len(fault_servers.primary.seen) == 4


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("fault", ["drip", "drip-headers", "stall"])
def test_a_dripping_server_is_cut_off_at_the_overall_deadline(
    fault_servers: FaultServers, transport, fault
):
    base = fault_servers.primary.url(fault)
    timeout = Timeout(connect=2.0, read=10.0, total=1.5)
    started = time.monotonic()
    with (
        _client(base, transport, timeout=timeout) as client,
        pytest.raises(ReadTimeout, match=r"1\.5 s overall deadline") as info,
    ):
        client.read("Patient", "p1")
    # Not a timing bound: the cut must come from the client, before the server stops
    # dripping of its own accord (a read that waited for that also ends in ReadTimeout).
    assert time.monotonic() - started < DRIP_LIMIT
    assert isinstance(info.value, TimeoutError)
    assert "(GET http://127.0.0.1:" in str(info.value)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_client_works_again_after_a_deadline(fault_servers: FaultServers, transport):
    timeout = Timeout(connect=2.0, read=10.0, total=1.0)
    drip = _client(fault_servers.primary.url("drip"), transport, timeout=timeout)
    with drip, pytest.raises(ReadTimeout):
        drip.read("Patient", "p1")
    with _client(fault_servers.primary.url(), transport, timeout=timeout) as client:
        assert client.capabilities()["resourceType"] == "CapabilityStatement"
        assert client.search("Patient").bundle()["type"] == "searchset"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("fault", "cls", "limit"),
    [
        ("truncated", TransportError, None),
        ("invalid-json", MalformedResponse, None),
        ("deep", MalformedResponse, None),
        ("huge", ResponseTooLarge, None),
        ("huge-chunked", ResponseTooLarge, 4 * 1024 * 1024),
    ],
)
def test_broken_bodies_end_in_clean_errors(
    fault_servers: FaultServers, caplog, transport, fault, cls, limit
):
    base = fault_servers.primary.url(fault, metadata_ok=True)
    kwargs = {"max_response_bytes": limit} if limit else {}
    name = transport
    if transport == "httpx" and limit:
        from iopfhir.client_httpx import HttpxTransport

        name = HttpxTransport(max_response_bytes=limit)  # type: ignore[assignment]
    with caplog.at_level(logging.DEBUG, logger="iopfhir"):
        client = FhirClient(
            base,
            transport=_transport(name) if isinstance(name, str) else name,  # type: ignore[arg-type]
            retry=Retry.disabled(),
            **kwargs,  # type: ignore[arg-type]
        )
        with client:
            assert client.capabilities()["fhirVersion"] == "4.0.1"
            with pytest.raises(cls) as info:
                client.search("Patient").where(identifier=f"{SYSTEM}|{MARKER_MRN}").bundle()
    assert type(info.value) is cls or cls is TransportError
    _assert_clean(info.value, caplog.text)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_error_body_nested_100000_deep_is_summarised(fault_servers: FaultServers, transport):
    with (
        _client(fault_servers.primary.url("deep-422"), transport) as client,
        pytest.raises(UnprocessableEntity) as info,
    ):
        client.create(_patient())
    assert info.value.outcome is None
    assert str(info.value).startswith("HTTP 422: application/fhir+json body, ")


def test_the_default_timeouts_have_an_overall_deadline():
    timeout = Timeout()
    assert timeout.total == 120.0
    assert Timeout(connect=5, read=300, total=60).socket_timeouts() == (5, 60)
    with pytest.raises(ValueError, match="positive"):
        Timeout(total=0)
    assert FhirClient("http://127.0.0.1:9/fhir").timeout.total == 120.0
    assert FhirClient("http://127.0.0.1:9/fhir", timeout=300).timeout.total == 300
