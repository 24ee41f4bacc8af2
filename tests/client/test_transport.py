"""Transports: the contract types, the requests transport (faults injected with
``responses`` and a raw socket server on 127.0.0.1), the httpx transport (MockTransport)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
import requests
import responses

from iopfhir.client import (
    FhirClient,
    Headers,
    Request,
    RequestsTransport,
    Response,
    Retry,
    Timeout,
    Transport,
    origin_of,
)
from iopfhir.client_httpx import HttpxTransport
from iopfhir.errors import (
    ConnectTimeout,
    InsecureTransportError,
    ReadTimeout,
    ResponseTooLarge,
    TransportError,
)

URL = "https://fhir.example.org/r4/Patient/1?name=Secret"
T = Timeout(connect=1.0, read=2.0)


# -- contract types -------------------------------------------------------------------------


def test_headers_are_case_insensitive_and_immutable():
    h = Headers({"Content-Type": "a"})
    assert h["content-type"] == "a"
    assert "CONTENT-TYPE" in h
    h2 = h.set("content-type", "b").set("X-A", "1")
    assert h["Content-Type"] == "a"
    assert h2["Content-Type"] == "b"
    assert list(h2) == ["content-type", "X-A"]
    assert h2.without("x-a") == {"content-type": "b"}
    assert h == {"CONTENT-TYPE": "a"}
    with pytest.raises(TypeError):
        h["x"] = "y"  # type: ignore[index]


def test_request_normalises_and_response_content_type():
    r = Request("get", URL, {"Accept": "x"})
    assert r.method == "GET"
    assert isinstance(r.headers, Headers)
    assert r.path == "/r4/Patient/1"
    assert (
        Response(200, {"Content-Type": "Application/FHIR+JSON; charset=utf-8"}).content_type
        == "application/fhir+json"
    )


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://A.example.org/x", ("https", "a.example.org", 443)),
        ("http://a.example.org:8080/x", ("http", "a.example.org", 8080)),
        ("http://[::1]/fhir", ("http", "::1", 80)),
    ],
)
def test_origin_of(url, origin):
    assert origin_of(url) == origin


def test_timeouts_must_be_positive():
    with pytest.raises(ValueError):
        Timeout(connect=0)


def test_transports_satisfy_the_protocol():
    rt, ht = RequestsTransport(), HttpxTransport()
    assert isinstance(rt, Transport)
    assert isinstance(ht, Transport)
    rt.close()
    ht.close()


# -- requests transport with `responses` ----------------------------------------------------


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_requests_transport_sends_and_reads(mocked):
    mocked.add(
        responses.PUT,
        URL,
        body=b'{"resourceType":"Patient"}',
        status=201,
        headers={"ETag": 'W/"2"', "Content-Type": "application/fhir+json"},
    )
    t = RequestsTransport()
    resp = t.handle(Request("PUT", URL, {"If-Match": 'W/"1"'}, b"{}"), timeout=T)
    assert (resp.status, resp.body, resp.headers["etag"]) == (
        201,
        b'{"resourceType":"Patient"}',
        'W/"2"',
    )
    sent = mocked.calls[0].request
    assert sent.headers["If-Match"] == 'W/"1"'
    assert sent.body == b"{}"
    t.close()


def test_requests_transport_does_not_follow_redirects(mocked):
    mocked.add(responses.GET, URL, status=302, headers={"Location": "https://other.example/"})
    resp = RequestsTransport().handle(Request("GET", URL), timeout=T)
    assert resp.status == 302
    assert len(mocked.calls) == 1


@pytest.mark.parametrize(
    ("exc", "mapped"),
    [
        (requests.exceptions.ConnectTimeout("https://x/?name=Secret"), ConnectTimeout),
        (requests.exceptions.ReadTimeout("https://x/?name=Secret"), ReadTimeout),
        (
            requests.exceptions.ConnectionError("Connection reset by peer ?name=Secret"),
            TransportError,
        ),
        (requests.exceptions.SSLError("bad cert ?name=Secret"), TransportError),
        (requests.exceptions.ChunkedEncodingError("broken"), TransportError),
    ],
)
def test_requests_exceptions_are_mapped(mocked, exc, mapped):
    mocked.add(responses.GET, URL, body=exc)
    with pytest.raises(mapped) as info:
        RequestsTransport().handle(Request("GET", URL), timeout=T)
    assert type(info.value) is mapped
    assert info.value.__cause__ is exc
    assert "Secret" not in str(info.value)
    assert not isinstance(info.value, requests.exceptions.RequestException)


def test_declared_oversize_is_refused_before_reading(mocked):
    mocked.add(responses.GET, URL, body=b"x" * 2000, headers={"Content-Length": "2000"})
    with pytest.raises(ResponseTooLarge, match="declares 2000"):
        RequestsTransport(max_response_bytes=1000).handle(Request("GET", URL), timeout=T)


def test_client_retries_a_reset_through_the_requests_transport(mocked, fake_time):
    mocked.add(responses.GET, URL.split("?")[0], body=requests.exceptions.ConnectionError("reset"))
    mocked.add(
        responses.GET,
        URL.split("?")[0],
        json={"resourceType": "Patient", "id": "1"},
        content_type="application/fhir+json",
    )
    client = FhirClient("https://fhir.example.org/r4", sleep=fake_time.sleep, clock=fake_time.clock)
    assert client.read("Patient", "1")["id"] == "1"
    assert len(mocked.calls) == 2
    client.close()


# -- a raw socket server on 127.0.0.1: chunked oversize, connection reset ----------------------


@pytest.fixture
def raw_server() -> Iterator[Callable[[bytes | None], str]]:
    """Serve one scripted answer per connection (``None``: close without answering)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.05)  # so the loop notices `stop` soon after the test
    answers: list[bytes | None] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                answer = answers.pop(0) if answers else None
                if answer is not None:
                    conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = sock.getsockname()[1]

    def script(answer: bytes | None) -> str:
        answers.append(answer)
        return f"http://127.0.0.1:{port}/fhir/Patient/1"

    yield script
    stop.set()
    sock.close()
    thread.join(timeout=5)


def chunked(total: int) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    piece = b"x" * 1000
    body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(total // 1000))
    return head + body + b"0\r\n\r\n"


@pytest.mark.parametrize("make", [RequestsTransport, HttpxTransport])
def test_streaming_read_stops_at_the_bound(raw_server, make):
    url = raw_server(chunked(50_000))
    transport = make(max_response_bytes=10_000)
    with pytest.raises(ResponseTooLarge, match="passed the 10000-byte bound"):
        transport.handle(Request("GET", url), timeout=T)
    transport.close()


@pytest.mark.parametrize("make", [RequestsTransport, HttpxTransport])
def test_a_small_chunked_body_is_read_whole(raw_server, make):
    url = raw_server(chunked(5_000))
    transport = make(max_response_bytes=10_000)
    assert len(transport.handle(Request("GET", url), timeout=T).body) == 5_000
    transport.close()


@pytest.mark.parametrize("make", [RequestsTransport, HttpxTransport])
def test_connection_closed_without_answer_is_a_transport_error(raw_server, make):
    url = raw_server(None)
    transport = make()
    with pytest.raises(TransportError) as info:
        transport.handle(Request("GET", url), timeout=T)
    assert type(info.value) is TransportError
    transport.close()


@pytest.mark.parametrize("make", [RequestsTransport, HttpxTransport])
def test_nothing_listening_is_a_transport_error(make):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    transport = make()
    with pytest.raises(TransportError):
        transport.handle(Request("GET", f"http://127.0.0.1:{port}/fhir/metadata"), timeout=T)
    transport.close()


def test_client_over_a_reset_retries_then_succeeds(raw_server, fake_time):
    ok_body = b'{"resourceType":"Patient","id":"1"}'
    raw_server(None)
    url = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(ok_body), ok_body)
    )
    base = url.rsplit("/Patient/1", 1)[0]
    with FhirClient(base, sleep=fake_time.sleep, clock=fake_time.clock) as client:
        assert client.read("Patient", "1")["id"] == "1"
    assert len(fake_time.sleeps) == 1


# -- httpx transport ------------------------------------------------------------------------


def httpx_transport(handler: Callable[[httpx.Request], httpx.Response], **kw) -> HttpxTransport:
    return HttpxTransport(client=httpx.Client(transport=httpx.MockTransport(handler)), **kw)


def test_httpx_transport_sends_and_reads():
    seen: list[httpx.Request] = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(r)
        return httpx.Response(302, headers={"Location": "https://o/"}, content=b"moved")

    t = httpx_transport(handler)
    resp = t.handle(Request("POST", URL, {"X-A": "1"}, b"{}"), timeout=T)
    assert (resp.status, resp.body, resp.headers["location"]) == (302, b"moved", "https://o/")
    assert seen[0].headers["x-a"] == "1"
    assert seen[0].content == b"{}"
    assert len(seen) == 1  # not followed


@pytest.mark.parametrize(
    ("exc", "mapped"),
    [
        (httpx.ConnectTimeout("t"), ConnectTimeout),
        (httpx.ReadTimeout("t"), ReadTimeout),
        (httpx.PoolTimeout("t"), ReadTimeout),
        (httpx.ConnectError("refused"), TransportError),
        (httpx.RemoteProtocolError("reset"), TransportError),
        (httpx.ReadError("reset"), TransportError),
    ],
)
def test_httpx_exceptions_are_mapped(exc, mapped):
    def handler(r: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(mapped) as info:
        httpx_transport(handler).handle(Request("GET", URL), timeout=T)
    assert type(info.value) is mapped
    assert "Secret" not in str(info.value)
    assert not isinstance(info.value, httpx.HTTPError)


def test_httpx_declared_oversize_and_tls_flag(caplog):
    t = httpx_transport(lambda r: httpx.Response(200, content=b"x" * 2000), max_response_bytes=100)
    with pytest.raises(ResponseTooLarge):
        t.handle(Request("GET", URL), timeout=T)
    with pytest.raises(InsecureTransportError):
        HttpxTransport(verify=False)
    with caplog.at_level("WARNING", logger="iopfhir.client"):
        HttpxTransport(verify=False, allow_unverified_tls=True).close()
    assert "verification is OFF" in caplog.text


def test_client_with_httpx_transport_retries_503(fake_time):
    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(
                200,
                json={"resourceType": "Patient", "id": "1"},
                headers={"Content-Type": "application/fhir+json"},
            ),
        ]
    )
    client = FhirClient(
        "https://fhir.example.org/r4",
        transport=httpx_transport(lambda r: next(answers)),
        retry=Retry(jitter=0.0),
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    )
    assert client.read("Patient", "1")["id"] == "1"
    assert fake_time.sleeps == [0.5]
