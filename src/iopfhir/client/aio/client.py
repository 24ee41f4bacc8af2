"""``AsyncFhirClient``: ``FhirClient``'s interactions, awaited, over an async transport.

Every method has ``FhirClient``'s name, arguments, result type and exceptions: the
request and the reading of its answer come from the same sans-IO calls
(:mod:`iopfhir.client._calls`), and the request goes through the same send flow
(:func:`iopfhir.client._flow.send_flow`: URL rules, retry and ``Retry-After``, the auth
flow, same-origin redirects, the size bound), driven by
:func:`~iopfhir.client._flow.arun_flow` over an
:class:`~iopfhir.client.aio.transport.AsyncTransport`. Only the awaiting differs::

    async with AsyncFhirClient("https://fhir.example.org/r4") as client:
        patient = await client.read("Patient", "1")
        async for obs in client.search("Observation").where(subject="Patient/1"):
            ...

Auth flows are the sync ones (:mod:`iopfhir.client.auth`, :mod:`iopfhir.client.smart`):
they do no I/O themselves, so a SMART Backend Services token is fetched through this
client's async transport, on the event loop, with no thread. Tasks that need a token at
once (none cached yet, it expired, or a 401) make one token request between them: the
others await its result without blocking the loop (:class:`~iopfhir.client.auth.Pending`)
and all raise its error if it fails; the next request tries again.

Imports the client's lower modules only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TypeVar, cast

from iopfhir.client import _calls as calls
from iopfhir.client._base import ClientBase
from iopfhir.client._flow import Exchange, arun_flow, deliver_whole, send_flow
from iopfhir.client._paging import afollow_pages
from iopfhir.client._responses import WriteResult
from iopfhir.client._syntax import Criteria, Resource, check_type
from iopfhir.client.auth import Auth, NoAuth
from iopfhir.client.retry import Retry
from iopfhir.client.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    BodySink,
    Request,
    Response,
    Timeout,
)

from .search import AsyncSearch
from .transport import AsyncStreamingTransport, AsyncTransport

__all__ = ["AsyncFhirClient"]

T = TypeVar("T")

#: The async transport used when none is named (a plugin of ``iopfhir.async_transports``).
DEFAULT_ASYNC_TRANSPORT = "httpx"


def _make_transport(transport: AsyncTransport | str | None, max_bytes: int) -> AsyncTransport:
    if transport is None or isinstance(transport, str):
        from iopfhir import plugins

        factory = plugins.get("iopfhir.async_transports", transport or DEFAULT_ASYNC_TRANSPORT)
        return cast(AsyncTransport, factory(max_response_bytes=max_bytes))
    return transport


class AsyncFhirClient(ClientBase):
    """A FHIR R4 REST client bound to one server base URL, for asyncio.

    The arguments are :class:`~iopfhir.client.FhirClient`'s; ``transport`` is an
    :class:`~iopfhir.client.aio.transport.AsyncTransport`, the name of a plugin of the
    entry-point group ``iopfhir.async_transports``, or ``None`` for ``httpx``
    (``httpx.AsyncClient``; install ``iopfhir[async]``). ``sleep`` is awaited between
    retries (``asyncio.sleep``). Closing the client (``await client.close()``, or
    ``async with``) closes its transport.
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: AsyncTransport | str | None = None,
        auth: Auth | None = None,
        retry: Retry | None = None,
        timeout: Timeout | float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        allow_insecure_http: bool = False,
        max_redirects: int = 5,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._configure(
            base_url,
            auth=auth,
            retry=retry,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            allow_insecure_http=allow_insecure_http,
            max_redirects=max_redirects,
            headers=headers,
            clock=clock,
        )
        self.transport = _make_transport(transport, max_response_bytes)
        self._sleep = sleep
        self._capabilities: Resource | None = None

    def __repr__(self) -> str:
        return f"AsyncFhirClient({self.base_url!r})"

    async def __aenter__(self) -> AsyncFhirClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the transport (and its connection pool)."""
        await self.transport.close()

    # -- sending -----------------------------------------------------------------------

    async def _exchange(self, step: Exchange, timeout: Timeout | None = None) -> Response:
        transport, wait = self.transport, timeout or self.timeout
        if step.sink is None:
            return await transport.handle(step.request, timeout=wait)
        if isinstance(transport, AsyncStreamingTransport):
            return await transport.stream(step.request, timeout=wait, sink=step.sink)
        return deliver_whole(await transport.handle(step.request, timeout=wait), step.sink)

    async def send(self, request: Request) -> Response:
        """Send a request through retry, auth and redirects; return any final response.

        Error statuses are returned, not raised (see :meth:`request`).
        """
        flow = send_flow(self, request, clock=self._clock)
        return await arun_flow(flow, self._exchange, self._sleep)

    async def _run(self, call: calls.Call[T]) -> T:
        return call.result(await self.send(call.request), now=self._clock)

    async def download(
        self,
        url: str,
        sink: BodySink,
        *,
        accept: str = "application/fhir+ndjson",
        headers: Mapping[str, str] | None = None,
        credentials: bool = True,
        other_origin: bool = False,
        timeout: Timeout | None = None,
    ) -> Response:
        """``GET url``, its body streamed to the writer ``sink`` returns; see
        :meth:`iopfhir.client.FhirClient.download` (the same rules)."""
        request = calls.download_request(
            self,
            url,
            accept=accept,
            headers=headers,
            credentials=credentials,
            other_origin=other_origin,
        )
        settings = calls.DownloadSettings(
            auth=self.auth if credentials else NoAuth(),
            retry=self.retry,
            timeout=timeout or self.timeout,
            max_redirects=self.max_redirects,
            max_response_bytes=self.max_response_bytes,
            allow_insecure_http=self.allow_insecure_http,
        )
        flow = send_flow(settings, request, clock=self._clock, sink=sink)
        return await arun_flow(
            flow, lambda step: self._exchange(step, settings.timeout), self._sleep
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: Resource | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one FHIR request and raise the mapped exception for an error status."""
        return await self._run(calls.raw(self, method, url, body=body, headers=headers))

    # -- reads -------------------------------------------------------------------------

    async def capabilities(self, *, refresh: bool = False) -> Resource:
        """The server's CapabilityStatement (``GET [base]/metadata``), cached."""
        if self._capabilities is not None and not refresh:
            return self._capabilities
        statement = await self._run(calls.capabilities(self))
        self._capabilities = statement
        return statement

    async def read(self, resource_type: str, id: str) -> Resource:
        """``GET [base]/[type]/[id]``."""
        return await self._run(calls.read(self, resource_type, id))

    async def vread(self, resource_type: str, id: str, version_id: str) -> Resource:
        """``GET [base]/[type]/[id]/_history/[vid]``."""
        return await self._run(calls.vread(self, resource_type, id, version_id))

    async def get(self, url_or_path: str) -> Resource:
        """GET any resource or Bundle by relative path or same-origin URL (a ``Location``)."""
        return await self._run(calls.get(self, url_or_path))

    async def history(
        self,
        resource_type: str | None = None,
        id: str | None = None,
        *,
        since: str | None = None,
        count: int | None = None,
    ) -> Resource:
        """The first ``_history`` Bundle (system, type or instance); see :meth:`pages`."""
        return await self._run(calls.history(self, resource_type, id, since=since, count=count))

    # -- writes ------------------------------------------------------------------------

    async def create(
        self,
        resource: Resource,
        *,
        if_none_exist: Criteria | None = None,
        prefer: str = "return=representation",
    ) -> WriteResult:
        """``POST [base]/[type]``; with ``if_none_exist``, a conditional create."""
        call = calls.create(self, resource, if_none_exist=if_none_exist, prefer=prefer)
        return await self._run(call)

    async def update(
        self,
        resource: Resource,
        *,
        if_match: str | int | None = None,
        prefer: str = "return=representation",
    ) -> WriteResult:
        """``PUT [base]/[type]/[id]``; ``if_match`` is a version id or an ETag."""
        return await self._run(calls.update(self, resource, if_match=if_match, prefer=prefer))

    async def update_where(
        self, resource: Resource, criteria: Criteria, *, prefer: str = "return=representation"
    ) -> WriteResult:
        """Conditional update: ``PUT [base]/[type]?criteria``."""
        return await self._run(calls.update_where(self, resource, criteria, prefer=prefer))

    async def delete(self, resource_type: str, id: str) -> Resource | None:
        """``DELETE [base]/[type]/[id]``; returns the OperationOutcome, if any."""
        return await self._run(calls.delete(self, resource_type, id))

    async def delete_where(self, resource_type: str, criteria: Criteria) -> Resource | None:
        """Conditional delete: ``DELETE [base]/[type]?criteria``."""
        return await self._run(calls.delete_where(self, resource_type, criteria))

    async def transaction(self, bundle: Resource) -> Resource:
        """POST a ``transaction`` Bundle to the base; returns the transaction-response."""
        return await self._run(calls.transaction(self, bundle))

    async def batch(self, bundle: Resource) -> Resource:
        """POST a ``batch`` Bundle to the base; entries may fail one by one."""
        return await self._run(calls.batch(self, bundle))

    # -- operations and search ---------------------------------------------------------

    async def operation(
        self,
        name: str,
        *,
        resource_type: str | None = None,
        id: str | None = None,
        params: Criteria | list[tuple[str, str]] | None = None,
        body: Resource | None = None,
        method: str | None = None,
    ) -> Resource:
        """Invoke ``$name`` at system, type or instance level (POST with a body, else GET)."""
        call = calls.operation(
            self, name, resource_type=resource_type, id=id, params=params, body=body, method=method
        )
        return await self._run(call)

    async def validate(self, resource: Resource, *, profile: str | None = None) -> Resource:
        """``POST [base]/[type]/$validate``; returns the server's OperationOutcome."""
        return await self._run(calls.validate(self, resource, profile=profile))

    def search(self, resource_type: str) -> AsyncSearch:
        """An immutable search builder for ``resource_type`` (iterate with ``async for``)."""
        check_type(resource_type)
        return AsyncSearch(self, resource_type)

    # -- pages -------------------------------------------------------------------------

    async def fetch_bundle(self, url: str, *, headers: Mapping[str, str] | None = None) -> Resource:
        """GET a Bundle at ``url`` (same origin as the base only)."""
        return await self._run(calls.fetch_bundle(self, url, headers=headers))

    def pages(
        self, first: Resource, *, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[Resource]:
        """``first``, then every page its ``next`` links lead to (``async for``); the
        rules of :meth:`iopfhir.client.FhirClient.pages`."""

        def fetch(url: str) -> Awaitable[Resource]:
            return self.fetch_bundle(url, headers=headers)

        return afollow_pages(first, self.base_url, fetch)
