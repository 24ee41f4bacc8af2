"""Authentication as generator flows, in the manner of httpx's ``Auth``.

An auth method is an object with ``auth_flow(request)``: a generator that yields the
requests to send (usually one: the caller's request with an ``Authorization`` header)
and receives each response. It never does I/O itself, so a token refresh is tested by
feeding it responses. The send loop (:func:`iopfhir.client._flow.send_flow`) drives it::

    flow = auth.auth_flow(request)
    step = next(flow)
    while True:
        if isinstance(step, Pending):      # another flow's token request is in flight
            wait_until_done(step.future)   # blocking in a thread, awaited on a loop
            step = next(flow)
            continue
        try:
            response = send(step)
        except ClientError as exc:
            step = flow.throw(exc)         # the flow sees its request fail (and re-raises)
            continue
        try:
            step = flow.send(response)
        except StopIteration:
            break

A flow may yield :class:`Pending` instead of a request: "wait until this future is done,
then resume me". That is how flows sharing one token cache (tasks on an event loop,
threads, or both) make one token request between them instead of one each: the first
flow that needs a token requests it, the others wait for its result (see
:class:`~iopfhir.client.smart.SmartBackendAuth`). Waiting is the driver's part, so the
flow stays free of I/O and of any one concurrency model.

This module holds the protocol and the simple methods: :class:`NoAuth`,
:class:`BearerAuth` and :class:`BasicAuth`. SMART Backend Services lives in
:mod:`iopfhir.client.smart`. ``repr`` of every method hides its secret.
"""

from __future__ import annotations

import base64
import concurrent.futures
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .transport import Request, Response

__all__ = ["Auth", "AuthFlow", "BasicAuth", "BearerAuth", "NoAuth", "Pending"]


@dataclass(frozen=True, slots=True, eq=False)
class Pending:
    """Step of an auth flow: wait until ``future`` is done, then resume the flow.

    ``future`` is set by another flow (in any thread) when its token request ends; the
    waiting flow reads the outcome from where it keeps it. The driver resumes the flow
    with ``next(flow)``: the value of that ``yield`` is ``None`` and is not read. A driver
    that stops waiting (a cancelled task) must leave ``future`` alone: others wait on it.
    """

    future: concurrent.futures.Future[Any]


#: What ``auth_flow`` returns: yields requests (or :class:`Pending`), is sent responses.
AuthFlow = Generator[Request | Pending, Response, None]


@runtime_checkable
class Auth(Protocol):
    """Adds credentials to requests; may answer a response (a 401) with another request."""

    def auth_flow(self, request: Request) -> AuthFlow:
        """Yield the request(s) to send; receive each response."""
        ...


class NoAuth:
    """Sends requests unchanged."""

    def auth_flow(self, request: Request) -> AuthFlow:
        """Yield the request as it is."""
        yield request

    def __repr__(self) -> str:
        return "NoAuth()"


class BearerAuth:
    """A static bearer token (for example one issued out of band)."""

    def __init__(self, token: str) -> None:
        if not token or any(c in token for c in "\r\n"):
            raise ValueError("a bearer token must be a non-empty single line")
        self._token = token

    def auth_flow(self, request: Request) -> AuthFlow:
        """Yield the request with ``Authorization: Bearer <token>``."""
        yield request.with_header("Authorization", f"Bearer {self._token}")

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"


class BasicAuth:
    """HTTP Basic authentication (RFC 7617, UTF-8)."""

    def __init__(self, username: str, password: str) -> None:
        if ":" in username:
            raise ValueError("a Basic username cannot contain ':'")
        raw = f"{username}:{password}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode("ascii")
        self.username = username

    def auth_flow(self, request: Request) -> AuthFlow:
        """Yield the request with ``Authorization: Basic ...``."""
        yield request.with_header("Authorization", self._header)

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=***)"
