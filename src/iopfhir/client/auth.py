"""Authentication as generator flows, in the manner of httpx's ``Auth``.

An auth method is an object with ``auth_flow(request)``: a generator that yields the
requests to send (usually one: the caller's request with an ``Authorization`` header)
and receives each response. It never does I/O itself, so a token refresh is tested by
feeding it responses. The client drives the flow (:meth:`FhirClient` ``_send``)::

    flow = auth.auth_flow(request)
    request = next(flow)
    while True:
        response = send(request)
        try:
            request = flow.send(response)
        except StopIteration:
            break

This module holds the protocol and the simple methods: :class:`NoAuth`,
:class:`BearerAuth` and :class:`BasicAuth`. SMART Backend Services lives in
:mod:`iopfhir.client.smart`. ``repr`` of every method hides its secret.
"""

from __future__ import annotations

import base64
from collections.abc import Generator
from typing import Protocol, runtime_checkable

from .transport import Request, Response

__all__ = ["Auth", "AuthFlow", "BasicAuth", "BearerAuth", "NoAuth"]

AuthFlow = Generator[Request, Response, None]


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
