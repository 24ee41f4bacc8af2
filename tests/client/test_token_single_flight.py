"""One token request at a time: flows sharing a ``SmartBackendAuth`` (tasks on one
``AsyncFhirClient``, threads on one ``FhirClient``) that need a token at once make ONE token
request and all use its result or raise its error; a later request tries again.

The token endpoint holds its answer until every task or thread has decided how to get a
token (sent a token request, or waits for another's: :class:`Deciding`), so without the
single flight each of them would have sent its own. ``asyncio.wait_for`` and
``Future.result(timeout=)`` bound the waits only so that a hang fails the test instead of
stalling the suite; nothing here asserts on time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from iopfhir.client import (
    AsyncFhirClient,
    AsyncMemoryTransport,
    FhirClient,
    MemoryTransport,
    Request,
    Response,
    Retry,
    SmartBackendAuth,
)
from iopfhir.client.auth import AuthFlow, Pending
from iopfhir.errors import AuthError, ClientError, TransportError

from .conftest import FakeTime
from .support import BASE, raw, req
from .test_auth import TOKEN_URL, FakeAuthServer

TASKS = 20
HANG_GUARD = 60.0  # seconds; only there so that a hang fails instead of stalling


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Deciding:
    """Wraps an auth and counts the flows that have decided how to get a token: those that
    sent a token request (``asked``, counted by the token endpoint) and those that wait
    for another flow's (``waiting``: a ``Pending`` step). The token endpoint holds its
    answer until ``expected`` flows have decided, so each of them meets the token request
    in flight; without the single flight, each sends its own."""

    def __init__(self, inner: SmartBackendAuth) -> None:
        self.inner = inner
        self.changed = threading.Condition()
        self.expect(TASKS)

    def expect(self, flows: int) -> None:
        with self.changed:
            self.expected, self.asked, self.waiting = flows, 0, 0

    def decided(self) -> bool:
        return self.asked + self.waiting >= self.expected

    def ask(self) -> None:
        with self.changed:
            self.asked += 1
            self.changed.notify_all()

    def auth_flow(self, request: Request) -> AuthFlow:
        inner = self.inner.auth_flow(request)
        try:
            step = next(inner)
            while True:
                if isinstance(step, Pending):
                    with self.changed:
                        self.waiting += 1
                        self.changed.notify_all()
                    yield step
                    step = next(inner)
                    continue
                try:
                    response = yield step
                except ClientError as exc:
                    step = inner.throw(exc)
                    continue
                step = inner.send(response)
        except StopIteration:
            return
        finally:
            inner.close()


def wait_until(cond: threading.Condition, ready: Callable[[], bool]) -> None:
    """Block this thread until ``ready()`` (a thread's token request held open)."""
    with cond:
        if not cond.wait_for(ready, timeout=HANG_GUARD):
            raise AssertionError("the other threads never arrived")


async def arrive(ready: Callable[[], bool]) -> None:
    """Let the other tasks (and threads) run until ``ready()`` (a task's token request
    held open)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + HANG_GUARD
    while not ready():
        if loop.time() > give_up:
            raise AssertionError("the other tasks never arrived")
        await asyncio.sleep(0)


def token_requests(requests: list[Request]) -> int:
    return sum(r.url == TOKEN_URL for r in requests)


def bearers(requests: list[Request]) -> set[str]:
    return {r.headers["Authorization"] for r in requests if r.url != TOKEN_URL}


class AsyncServer:
    """``FakeAuthServer`` over the async memory transport; the token endpoint answers only
    once every task has decided how to get a token (:class:`Deciding`). With
    ``hold_401``, a 401 is answered only once ``hold_401`` requests have got one."""

    def __init__(self, server: FakeAuthServer, auth: Deciding) -> None:
        self.server = server
        self.auth = auth
        self.hold_401 = 0
        self.unauthorized = 0  # 401s served

    async def __call__(self, r: Request) -> Response:
        if r.url == TOKEN_URL:
            self.auth.ask()
            await arrive(self.auth.decided)
            return self.server(r)
        answer = self.server(r)
        if answer.status == 401:
            self.unauthorized += 1
            await arrive(lambda: self.unauthorized >= self.hold_401)
        return answer


def async_setup(
    rsa_key: rsa.RSAPrivateKey, **client: Any
) -> tuple[FakeAuthServer, Deciding, AsyncServer, AsyncMemoryTransport, AsyncFhirClient, FakeTime]:
    t = FakeTime()
    server = FakeAuthServer(rsa_key, "RS384", t.clock)
    auth = Deciding(SmartBackendAuth("c", rsa_key, token_url=TOKEN_URL, clock=t.clock))
    handler = AsyncServer(server, auth)
    transport = AsyncMemoryTransport(handler)

    async def no_wait(_: float) -> None:
        return None

    c = AsyncFhirClient(
        BASE, transport=transport, auth=auth, clock=t.clock, sleep=no_wait, **client
    )
    return server, auth, handler, transport, c, t


async def read_all(c: AsyncFhirClient, n: int = TASKS) -> list[Any]:
    jobs = asyncio.gather(*(c.read("Patient", f"p{i}") for i in range(n)), return_exceptions=True)
    return await asyncio.wait_for(jobs, HANG_GUARD)


# -- asyncio ---------------------------------------------------------------------------------


def test_concurrent_tasks_on_a_fresh_client_make_one_token_request(rsa_key):
    server, _, _, transport, c, _ = async_setup(rsa_key)
    results = asyncio.run(read_all(c))
    assert all(r["resourceType"] == "Patient" for r in results), results
    assert token_requests(transport.requests) == 1
    assert server.issued == ["access-1"]
    assert bearers(transport.requests) == {"Bearer access-1"}
    assert len(transport.requests) == TASKS + 1


def test_an_expired_token_is_renewed_once_for_all_tasks(rsa_key):
    server, auth, _, transport, c, t = async_setup(rsa_key)

    async def main() -> list[Any]:
        auth.expect(1)
        await c.read("Patient", "first")  # access-1 cached
        t.advance(server.lifetime)  # ... and now expired
        auth.expect(TASKS)
        return await read_all(c)

    results = asyncio.run(main())
    assert all(r["resourceType"] == "Patient" for r in results), results
    assert server.issued == ["access-1", "access-2"]
    assert token_requests(transport.requests) == 2
    assert bearers(transport.requests[2:]) == {"Bearer access-2"}


def test_a_401_for_many_tasks_at_once_refreshes_once(rsa_key):
    server, auth, handler, transport, c, _ = async_setup(rsa_key)

    async def main() -> list[Any]:
        auth.expect(1)
        await c.read("Patient", "first")  # access-1 cached
        server.valid.clear()  # the server revoked it: every task gets a 401 at once
        handler.hold_401 = TASKS
        auth.expect(TASKS)
        return await read_all(c)

    results = asyncio.run(main())
    assert all(r["resourceType"] == "Patient" for r in results), results
    assert handler.unauthorized == TASKS
    assert server.issued == ["access-1", "access-2"]
    assert token_requests(transport.requests) == 2
    resent = [r for r in transport.requests[2:] if r.url != TOKEN_URL]
    assert sum(r.headers["Authorization"] == "Bearer access-2" for r in resent) == TASKS


def test_a_401_after_another_task_replaced_the_token_does_not_refetch(rsa_key):
    """The token that got the 401 is compared with the cached one: a task whose 401 comes
    after another task already renewed the token resends with the new one."""
    t = FakeTime()
    server = FakeAuthServer(rsa_key, "RS384", t.clock)
    smart = SmartBackendAuth("c", rsa_key, token_url=TOKEN_URL, clock=t.clock)
    patient = req("GET", f"{BASE}/Patient/p1")
    slow, fast = smart.auth_flow(patient), smart.auth_flow(patient)
    first = next(slow)
    assert first.url == TOKEN_URL
    sent_slow = slow.send(server(first))
    assert sent_slow.headers["Authorization"] == "Bearer access-1"
    sent_fast = next(fast)
    assert sent_fast.headers["Authorization"] == "Bearer access-1"
    server.valid.clear()
    renew = fast.send(raw(401))  # fast: 401 -> requests access-2
    assert renew.url == TOKEN_URL
    resent_fast = fast.send(server(renew))
    assert resent_fast.headers["Authorization"] == "Bearer access-2"
    # slow's 401 (for access-1) arrives after the renewal: no second token request
    resent_slow = slow.send(raw(401))
    assert resent_slow.headers["Authorization"] == "Bearer access-2"
    assert server.issued == ["access-1", "access-2"]


@pytest.mark.parametrize("status", [400, 500])
def test_a_failed_token_request_fails_every_task_and_a_later_call_retries(rsa_key, status):
    server, auth, _, transport, c, _ = async_setup(rsa_key)
    server.token_status = status  # {"error": "invalid_client", ...}

    async def main() -> tuple[list[Any], Any]:
        failed = await read_all(c)
        server.token_status = 200
        auth.expect(1)
        later = await asyncio.wait_for(c.read("Patient", "later"), HANG_GUARD)
        return failed, later

    failed, later = asyncio.run(main())
    assert all(isinstance(e, AuthError) for e in failed), failed
    assert all(f"HTTP {status}: invalid_client" in str(e) for e in failed)
    assert token_requests(transport.requests[:-2]) == 1  # one failed request for all
    assert later["resourceType"] == "Patient"
    assert token_requests(transport.requests) == 2  # the later call asked again
    assert server.issued == ["access-1"]
    assert c.auth.inner.token is not None


def test_a_transport_error_on_the_token_request_reaches_every_waiting_task(rsa_key):
    server, _, handler, transport, c, _ = async_setup(rsa_key, retry=Retry.disabled())
    answer = handler.server

    def down(r: Request) -> Response:
        if r.url == TOKEN_URL:
            raise TransportError("connection refused", method=r.method, url=r.url)
        return answer(r)

    handler.server = down
    failed = asyncio.run(read_all(c))
    assert all(isinstance(e, TransportError) for e in failed), failed
    assert token_requests(transport.requests) == 1
    assert server.issued == []


def test_a_cancelled_task_leaves_its_token_request_to_a_waiting_task(rsa_key):
    t = FakeTime()
    server = FakeAuthServer(rsa_key, "RS384", t.clock)
    auth = Deciding(SmartBackendAuth("c", rsa_key, token_url=TOKEN_URL, clock=t.clock))
    asked = asyncio.Event()

    async def handler(r: Request) -> Response:
        if r.url == TOKEN_URL:
            if not asked.is_set():
                asked.set()
                await asyncio.Event().wait()  # the first token request never answers
            auth.ask()
            await arrive(auth.decided)
        return server(r)

    transport = AsyncMemoryTransport(handler)
    c = AsyncFhirClient(BASE, transport=transport, auth=auth, clock=t.clock)

    async def main() -> list[Any]:
        leader = asyncio.create_task(c.read("Patient", "leader"))
        await asyncio.wait_for(asked.wait(), HANG_GUARD)
        auth.expect(TASKS)  # the flows below
        others = [asyncio.create_task(c.read("Patient", f"p{i}")) for i in range(TASKS)]
        await asyncio.sleep(0)  # the others meet the request in flight
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        return await asyncio.wait_for(asyncio.gather(*others), HANG_GUARD)

    results = asyncio.run(main())
    assert all(r["resourceType"] == "Patient" for r in results)
    assert token_requests(transport.requests) == 2  # the abandoned one, then one for all
    assert bearers(transport.requests) == {"Bearer access-1"}


# -- the sans-IO flows, driven by hand -------------------------------------------------------


def test_a_second_flow_waits_for_the_first_flows_token_request(rsa_key):
    t = FakeTime()
    server = FakeAuthServer(rsa_key, "RS384", t.clock)
    smart = SmartBackendAuth("c", rsa_key, token_url=TOKEN_URL, clock=t.clock)
    one = smart.auth_flow(req("GET", f"{BASE}/Patient/1"))
    two = smart.auth_flow(req("GET", f"{BASE}/Patient/2"))
    token_request = next(one)
    waiting = next(two)
    assert isinstance(waiting, Pending)
    assert not waiting.future.done()
    assert not waiting.future.cancel()  # a waiter cannot cancel the shared request
    first = one.send(server(token_request))
    assert waiting.future.done()
    second = next(two)  # the driver resumes the waiting flow with next()
    assert isinstance(first, Request)
    assert isinstance(second, Request)
    assert first.headers["Authorization"] == second.headers["Authorization"] == "Bearer access-1"
    assert len(server.issued) == 1


# -- threads on the sync client --------------------------------------------------------------


def thread_setup(
    rsa_key: rsa.RSAPrivateKey,
) -> tuple[FakeAuthServer, Deciding, MemoryTransport, FhirClient]:
    t = FakeTime()
    server = FakeAuthServer(rsa_key, "RS384", t.clock)
    auth = Deciding(SmartBackendAuth("c", rsa_key, token_url=TOKEN_URL, clock=t.clock))
    lock = threading.Lock()  # the fake server's lists are not for threads

    def handler(r: Request) -> Response:
        if r.url == TOKEN_URL:
            auth.ask()
            wait_until(auth.changed, auth.decided)
        with lock:
            return server(r)

    transport = MemoryTransport(handler)
    c = FhirClient(BASE, transport=transport, auth=auth, clock=t.clock, sleep=t.sleep)
    return server, auth, transport, c


def in_threads(call: Callable[[], Any], n: int = TASKS) -> Iterator[Any]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        jobs = [pool.submit(call) for _ in range(n)]
        for job in jobs:
            try:
                yield job.result(timeout=HANG_GUARD)
            except Exception as exc:  # collected, as gather(return_exceptions=True)
                yield exc


def test_threads_on_one_sync_client_make_one_token_request(rsa_key):
    server, _, transport, c = thread_setup(rsa_key)
    results = list(in_threads(lambda: c.read("Patient", "p1")))
    assert all(isinstance(r, dict) and r["resourceType"] == "Patient" for r in results), results
    assert token_requests(transport.requests) == 1
    assert server.issued == ["access-1"]
    assert bearers(transport.requests) == {"Bearer access-1"}


def test_a_failed_token_request_fails_every_thread_and_a_later_call_retries(rsa_key):
    server, auth, transport, c = thread_setup(rsa_key)
    server.token_status = 400
    failed = list(in_threads(lambda: c.read("Patient", "p1")))
    assert all(isinstance(e, AuthError) for e in failed), failed
    assert token_requests(transport.requests) == 1
    server.token_status = 200
    auth.expect(1)
    assert c.read("Patient", "later")["resourceType"] == "Patient"
    assert token_requests(transport.requests) == 2


def test_tasks_and_threads_sharing_one_auth_make_one_token_request(rsa_key):
    """The async client's worker threads (``apull_many``) share its auth: tasks on the loop
    and threads wait for the same token request, whichever of them makes it."""
    server, auth, sync_transport, sync_client = thread_setup(rsa_key)
    handler = AsyncServer(server, auth)
    async_transport = AsyncMemoryTransport(handler)
    async_client = AsyncFhirClient(BASE, transport=async_transport, auth=auth)
    half = TASKS // 2

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=half) as pool:
            threads = [
                loop.run_in_executor(pool, sync_client.read, "Patient", f"t{i}")
                for i in range(half)
            ]
            tasks = [async_client.read("Patient", f"a{i}") for i in range(TASKS - half)]
            jobs = asyncio.gather(*threads, *tasks, return_exceptions=True)
            return await asyncio.wait_for(jobs, HANG_GUARD)

    results = asyncio.run(main())
    assert all(isinstance(r, dict) and r["resourceType"] == "Patient" for r in results), results
    requests = sync_transport.requests + async_transport.requests
    assert token_requests(requests) == 1
    assert server.issued == ["access-1"]
    assert bearers(requests) == {"Bearer access-1"}
