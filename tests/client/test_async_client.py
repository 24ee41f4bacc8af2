"""AsyncFhirClient: the same surface and the same rules as FhirClient (retry with
Retry-After, auth refresh, the URL and credential rules, the exception tree), over the
in-memory async transport and over httpx.MockTransport through the httpx async transport."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from iopfhir import plugins
from iopfhir.client import (
    AsyncFhirClient,
    AsyncMemoryTransport,
    AsyncSearch,
    BearerAuth,
    FhirClient,
    MemoryTransport,
    Request,
    Response,
    Retry,
    SmartBackendAuth,
    WriteResult,
)
from iopfhir.client_httpx import AsyncHttpxTransport
from iopfhir.errors import (
    ClientError,
    CrossOriginRedirect,
    InsecureTransportError,
    MalformedResponse,
    PreconditionFailed,
    ReadTimeout,
    ResponseTooLarge,
    RetryExhausted,
    ServerUnavailable,
    TooManyRequests,
    TransportError,
    Unauthorized,
)

from .support import BASE, ok, outcome, patient, raw
from .test_auth import TOKEN_URL, FakeAuthServer


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class AsyncFakeTime:
    """The FakeTime of conftest, with an awaitable sleep."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def aclient(
    transport: AsyncMemoryTransport, **kwargs: Any
) -> tuple[AsyncFhirClient, AsyncFakeTime]:
    t = AsyncFakeTime()
    c = AsyncFhirClient(BASE, transport=transport, sleep=t.sleep, clock=t.clock, **kwargs)
    return c, t


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- the same surface ------------------------------------------------------------------------


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_every_fhirclient_method_exists_with_the_same_parameters():
    sync, aio = _public_methods(FhirClient), _public_methods(AsyncFhirClient)
    assert set(sync) == set(aio)
    for name, signature in sync.items():
        params = [(p.name, p.kind, p.default) for p in signature.parameters.values()]
        other = [(p.name, p.kind, p.default) for p in aio[name].parameters.values()]
        if name == "__init__":
            continue
        assert params == other, name
    awaited = {
        n
        for n, m in inspect.getmembers(AsyncFhirClient)
        if inspect.iscoroutinefunction(m) and not n.startswith("_")
    }
    blocking_only = {"url", "resolve", "search", "pages"}  # builders and the async iterator
    assert awaited == set(sync) - blocking_only
    init_sync = list(inspect.signature(FhirClient).parameters)
    assert list(inspect.signature(AsyncFhirClient).parameters) == init_sync


def test_the_default_transport_is_the_httpx_plugin():
    assert "httpx" in plugins.available("iopfhir.async_transports")
    assert "memory" in plugins.available("iopfhir.async_transports")

    async def main() -> None:
        async with AsyncFhirClient(BASE) as c:
            assert isinstance(c.transport, AsyncHttpxTransport)

    run(main())


# -- interactions ----------------------------------------------------------------------------


def test_read_create_with_if_none_exist_update_with_if_match_and_delete():
    def handler(r: Request) -> Response:
        if r.method == "GET":
            return ok(patient())
        if r.method == "POST":
            return ok(patient("p2"), status=201, Location=f"{BASE}/Patient/p2/_history/1")
        if r.method == "PUT":
            if r.headers.get("If-Match") == 'W/"1"':
                return ok(patient("p1", "2"))
            return ok(outcome(("error", "conflict", "stale")), status=412)
        return raw(204)

    transport = AsyncMemoryTransport(handler)

    async def main() -> None:
        c, _ = aclient(transport)
        assert (await c.read("Patient", "p1"))["id"] == "p1"
        created = await c.create({"resourceType": "Patient"}, if_none_exist={"identifier": "a|b"})
        assert isinstance(created, WriteResult)
        assert (created.created, created.id, created.version_id) == (True, "p2", "1")
        updated = await c.update(patient(), if_match="1")
        assert updated.version_id == "2"
        with pytest.raises(PreconditionFailed):
            await c.update(patient(), if_match="7")
        assert await c.delete("Patient", "p1") is None
        await c.close()

    run(main())
    sent = transport.requests
    assert sent[1].headers["If-None-Exist"] == "identifier=a%7Cb"
    assert sent[2].headers["If-Match"] == 'W/"1"'
    assert transport.closed


def test_search_pages_with_async_for_and_refuses_a_next_link_on_another_origin():
    pages = {
        f"{BASE}/Observation?code=x&_count=2": [("o1", "match"), ("p", "include")],
        f"{BASE}/Observation?page=2": [("o2", "match")],
    }

    def handler(r: Request) -> Response:
        entries = [
            {"resource": {"resourceType": "Observation", "id": i}, "search": {"mode": m}}
            for i, m in pages[r.url]
        ]
        link = [{"relation": "next", "url": f"{BASE}/Observation?page=2"}]
        if r.url.endswith("page=2"):
            link = [{"relation": "next", "url": "https://evil.example.org/Observation?p=3"}]
        return ok({"resourceType": "Bundle", "type": "searchset", "link": link, "entry": entries})

    transport = AsyncMemoryTransport(handler)

    async def main() -> list[str]:
        c, _ = aclient(transport)
        search = c.search("Observation").where(code="x").count(2)
        assert isinstance(search, AsyncSearch)
        assert repr(search) == "Search(Observation, params=[code,_count])"
        seen: list[str] = []

        async def walk() -> None:
            async for resource in search:
                seen.append(resource["id"])

        with pytest.raises(InsecureTransportError):
            await walk()
        return seen

    assert run(main()) == ["o1", "o2"]
    assert all("evil" not in r.url for r in transport.requests)


def test_the_same_exception_for_the_same_answer_on_both_clients():
    answers = [
        raw(404),
        ok(outcome(("error", "invalid", "bad")), status=400),
        ok(outcome(("error", "conflict", "x")), status=409),
        raw(200, b"<html>", "text/html"),
        ok({"resourceType": "Observation"}),
    ]
    for answer in answers:
        errors = []
        with pytest.raises(ClientError) as sync_info:
            FhirClient(BASE, transport=MemoryTransport(lambda _, a=answer: a)).read("Patient", "1")
        errors.append(sync_info.value)

        async def main(a: Response = answer) -> None:
            c, _ = aclient(AsyncMemoryTransport(lambda _: a))
            await c.read("Patient", "1")

        with pytest.raises(ClientError) as async_info:
            run(main())
        errors.append(async_info.value)
        assert type(errors[0]) is type(errors[1])
        assert str(errors[0]) == str(errors[1])
    assert isinstance(errors[0], MalformedResponse)


# -- retry -----------------------------------------------------------------------------------


def test_429_and_503_are_retried_after_retry_after_then_succeed():
    transport = AsyncMemoryTransport.sequence(
        [raw(429, Retry_After="3"), raw(503, Retry_After="1"), ok(patient())]
    )

    async def main() -> tuple[dict[str, Any], AsyncFakeTime]:
        c, t = aclient(transport)
        return await c.read("Patient", "p1"), t

    resource, t = run(main())
    assert resource["id"] == "p1"
    assert t.sleeps == [3.0, 1.0]
    assert len(transport.requests) == 3


def test_retries_are_bounded_and_a_plain_create_is_never_repeated():
    transport = AsyncMemoryTransport.sequence([raw(503)] * 3)

    async def main() -> None:
        c, t = aclient(transport, retry=Retry(total=2, jitter=0))
        with pytest.raises(RetryExhausted) as info:
            await c.read("Patient", "p1")
        assert isinstance(info.value.last, ServerUnavailable)
        assert t.sleeps == [0.5, 1.0]

    run(main())
    once = AsyncMemoryTransport.sequence([raw(429, Retry_After="1")])

    async def create() -> None:
        c, t = aclient(once)
        with pytest.raises(TooManyRequests):
            await c.create({"resourceType": "Patient"})
        assert t.sleeps == []

    run(create())
    assert len(once.requests) == 1


def test_a_retry_after_beyond_the_bound_gives_up_without_waiting():
    transport = AsyncMemoryTransport.sequence([raw(503, Retry_After="3600")])

    async def main() -> None:
        c, t = aclient(transport, retry=Retry(max_retry_after=60))
        with pytest.raises(RetryExhausted):
            await c.read("Patient", "p1")
        assert t.sleeps == []

    run(main())


def test_connection_errors_are_retried_for_reads():
    transport = AsyncMemoryTransport.sequence(
        [TransportError("boom", method="GET", url=f"{BASE}/Patient/p1"), ok(patient())]
    )

    async def main() -> None:
        c, _ = aclient(transport)
        assert (await c.read("Patient", "p1"))["id"] == "p1"

    run(main())
    assert len(transport.requests) == 2


# -- auth ------------------------------------------------------------------------------------


def test_smart_token_is_fetched_async_and_renewed_on_401(rsa_key, caplog):
    t = AsyncFakeTime()
    server = FakeAuthServer(rsa_key, "RS384", t.clock)
    smart = SmartBackendAuth("c", rsa_key, token_url=TOKEN_URL, clock=t.clock)
    transport = AsyncMemoryTransport(server)
    caplog.set_level(logging.DEBUG, logger="iopfhir")

    async def main() -> None:
        c = AsyncFhirClient(BASE, transport=transport, auth=smart, sleep=t.sleep, clock=t.clock)
        await c.read("Patient", "p1")
        server.valid.clear()  # the server revoked every token
        await c.read("Patient", "p1")

    run(main())
    assert server.issued == ["access-1", "access-2"]
    assert [r.url for r in transport.requests] == [
        TOKEN_URL,
        f"{BASE}/Patient/p1",
        f"{BASE}/Patient/p1",
        TOKEN_URL,
        f"{BASE}/Patient/p1",
    ]
    assert transport.requests[-1].headers["Authorization"] == "Bearer access-2"
    assert "access-" not in caplog.text


def test_a_second_401_raises_unauthorized_without_the_token_in_the_message(rsa_key):
    t = AsyncFakeTime()
    server = FakeAuthServer(rsa_key, "RS384", t.clock)
    smart = SmartBackendAuth("c", rsa_key, token_url=TOKEN_URL, clock=t.clock)

    def handler(r: Request) -> Response:
        return server(r) if r.url == TOKEN_URL else raw(401)

    async def main() -> None:
        c = AsyncFhirClient(BASE, transport=AsyncMemoryTransport(handler), auth=smart)
        await c.read("Patient", "p1")

    with pytest.raises(Unauthorized) as info:
        run(main())
    assert "access-" not in str(info.value)


# -- security --------------------------------------------------------------------------------


def test_a_redirect_to_another_origin_is_refused_before_the_token_goes_there():
    transport = AsyncMemoryTransport(
        lambda r: (
            raw(307, Location="https://evil.example.org/r4/Patient/p1")
            if r.url.startswith(BASE)
            else ok(patient())
        )
    )

    async def main() -> None:
        c, _ = aclient(transport, auth=BearerAuth("secret-token"))
        await c.read("Patient", "p1")

    with pytest.raises(CrossOriginRedirect) as info:
        run(main())
    assert [r.url for r in transport.requests] == [f"{BASE}/Patient/p1"]
    assert "secret-token" not in str(info.value)


def test_credentials_go_only_to_the_server_origin():
    transport = AsyncMemoryTransport(lambda r: ok(patient()))

    async def main() -> None:
        c, _ = aclient(transport, auth=BearerAuth("secret-token"))
        with pytest.raises(InsecureTransportError):
            await c.get("https://evil.example.org/r4/Patient/p1")
        with pytest.raises(InsecureTransportError):
            await c.download("https://files.example.net/1.ndjson", lambda head: None)
        # a file URL the caller allowed, without credentials: no Authorization header
        await c.download(
            "https://files.example.net/1.ndjson",
            lambda head: None,
            credentials=False,
            other_origin=True,
        )
        await c.read("Patient", "p1")

    run(main())
    other, own = transport.requests
    assert other.url.startswith("https://files.example.net/")
    assert "Authorization" not in other.headers
    assert own.headers["Authorization"] == "Bearer secret-token"


def test_plain_http_to_a_remote_host_is_refused():
    with pytest.raises(InsecureTransportError):
        AsyncFhirClient("http://fhir.example.org/r4", transport=AsyncMemoryTransport(raw))


def test_download_streams_the_body_to_the_sink():
    transport = AsyncMemoryTransport(lambda r: raw(200, b'{"a":1}\n{"a":2}\n', "x/ndjson"))
    chunks: list[bytes] = []

    async def main() -> Response:
        c, _ = aclient(transport)
        return await c.download(f"{BASE}/files/1.ndjson", lambda head: chunks.append)

    response = run(main())
    assert response.status == 200
    assert response.body == b""
    assert b"".join(chunks) == b'{"a":1}\n{"a":2}\n'


# -- the httpx async transport, faults injected by httpx.MockTransport -----------------------


def _httpx_client(handler: Any, **kwargs: Any) -> AsyncFhirClient:
    mock = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    t = AsyncFakeTime()
    transport = AsyncHttpxTransport(client=mock, **kwargs)
    return AsyncFhirClient(BASE, transport=transport, sleep=t.sleep, clock=t.clock)


def test_httpx_async_transport_retries_a_503_then_reads():
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(503, headers={"Retry-After": "2"})
        return httpx.Response(
            200, json=patient(), headers={"Content-Type": "application/fhir+json"}
        )

    async def main() -> dict[str, Any]:
        async with _httpx_client(handler) as c:
            return await c.read("Patient", "p1")

    assert run(main())["id"] == "p1"
    assert len(calls) == 2
    assert calls[0].headers["Accept"] == "application/fhir+json"


def test_httpx_async_transport_maps_failures():
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def big(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=b"x" * 2000, headers={"Content-Type": "application/json"}
        )

    async def read(c: AsyncFhirClient) -> None:
        async with c:
            await c.read("Patient", "p1")

    no_retry = Retry.disabled()
    for handler, error in ((broken, TransportError), (slow, ReadTimeout)):
        c = _httpx_client(handler)
        c.retry = no_retry
        with pytest.raises(error):
            run(read(c))
    with pytest.raises(ResponseTooLarge):
        run(read(_httpx_client(big, max_response_bytes=1000)))


def test_httpx_async_transport_enforces_the_overall_deadline():
    from iopfhir.client import Timeout

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    async def main() -> None:
        transport = AsyncHttpxTransport(
            client=httpx.AsyncClient(transport=httpx.MockTransport(handler))
        )
        async with AsyncFhirClient(
            BASE, transport=transport, retry=Retry.disabled(), timeout=Timeout(1, 1, 0.2)
        ) as c:
            await c.read("Patient", "p1")

    with pytest.raises(ReadTimeout) as info:
        run(main())
    assert "overall deadline" in str(info.value)


# -- the same requests and results, interaction by interaction ------------------------------

BUNDLE = {"resourceType": "Bundle", "type": "searchset", "entry": []}
INTERACTIONS = [
    ("capabilities", (), {}, ok({"resourceType": "CapabilityStatement"})),
    ("read", ("Patient", "p1"), {}, ok(patient())),
    ("vread", ("Patient", "p1", "3"), {}, ok(patient(version="3"))),
    ("get", ("Patient/p1/_history/3",), {}, ok(patient(version="3"))),
    ("history", ("Patient", "p1"), {"since": "2024-01-01", "count": 5}, ok(BUNDLE)),
    (
        "create",
        ({"resourceType": "Patient", "active": True},),
        {"if_none_exist": {"identifier": "urn:x|1"}},
        ok(patient(), status=201, Location=f"{BASE}/Patient/p1/_history/1"),
    ),
    ("update", (patient(active=False),), {"if_match": 'W/"1"'}, ok(patient(version="2"))),
    ("update_where", (patient(), {"identifier": "urn:x|1"}), {}, ok(patient())),
    ("delete", ("Patient", "p1"), {}, raw(204)),
    ("delete_where", ("Patient", {"identifier": "urn:x|1"}), {}, ok(outcome())),
    ("transaction", ({"resourceType": "Bundle", "type": "transaction"},), {}, ok(BUNDLE)),
    ("batch", ({"resourceType": "Bundle", "type": "batch"},), {}, ok(BUNDLE)),
    ("operation", ("$everything",), {"resource_type": "Patient", "id": "p1"}, ok(BUNDLE)),
    ("validate", (patient(),), {"profile": "http://x/p"}, ok(outcome())),
    ("fetch_bundle", (f"{BASE}/Patient?page=2",), {}, ok(BUNDLE)),
    ("request", ("GET", f"{BASE}/Patient/p1"), {"headers": {"If-None-Match": 'W/"1"'}}, raw(304)),
]


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "answer"), INTERACTIONS, ids=[i[0] for i in INTERACTIONS]
)
def test_both_clients_send_the_same_request_and_give_the_same_result(name, args, kwargs, answer):
    sync_transport = MemoryTransport(lambda _: answer)
    expected = getattr(FhirClient(BASE, transport=sync_transport), name)(*args, **kwargs)
    async_transport = AsyncMemoryTransport(lambda _: answer)

    async def main() -> Any:
        c, _ = aclient(async_transport)
        return await getattr(c, name)(*args, **kwargs)

    got = run(main())
    assert len(sync_transport.requests) == len(async_transport.requests) == 1
    (want,), (sent,) = sync_transport.requests, async_transport.requests
    assert (sent.method, sent.url, dict(sent.headers), sent.body) == (
        want.method,
        want.url,
        dict(want.headers),
        want.body,
    )
    if isinstance(expected, Response):
        assert (got.status, got.body) == (expected.status, expected.body)
    else:
        assert got == expected


def test_a_cancelled_read_sends_nothing_more():
    transport = AsyncMemoryTransport.sequence([raw(503, Retry_After="30"), ok(patient())])

    async def main() -> None:
        c = AsyncFhirClient(BASE, transport=transport)  # the real asyncio.sleep
        task = asyncio.create_task(c.read("Patient", "p1"))
        await asyncio.sleep(0.05)  # the first answer came: the client waits 30 s to retry
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert len(transport.requests) == 1
