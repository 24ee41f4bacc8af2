"""A misbehaving FHIR server for tests: echoes secrets and patient data, redirects, drips.

:func:`running_fault_servers` starts two :class:`FaultServer` s (stdlib ``http.server``,
one thread per connection): ``primary`` on 127.0.0.1 and ``other`` on 127.0.0.2 (Linux
routes all of 127.0.0.0/8 to loopback; elsewhere ``other`` takes another port of
127.0.0.1, which is another origin too), each on a free port; ``other`` is "another
origin" for redirects. Both record every request they receive (:attr:`FaultServer.seen`),
so a test can check that nothing reached the other origin. The pytest fixture is
``fault_servers`` in ``tests/servers/fixtures.py``.

Routes. A base URL picks the fault for every request under it:

* ``/f/<fault>/fhir``  every request gets the fault;
* ``/m/<fault>/fhir``  ``GET …/metadata`` answers a CapabilityStatement, everything else
  gets the fault (a command that reads the capabilities first reaches the fault);
* ``/ok/fhir``         a tiny well-behaved server: metadata, an empty searchset for any
  search, 404 for a read, 201 echoing the body for a create/update, a transaction- or
  batch-response with one ``201`` per entry for a Bundle posted to the base.

Faults (``<fault>``):

* ``echo-401``, ``echo-403``, ``echo-404``, ``echo-422``, ``echo-500``: that status with an
  OperationOutcome whose ``diagnostics``, ``details.text`` and ``expression`` repeat the
  request's ``Authorization`` header, its query string, the string values of its JSON
  body (names, identifiers) and the planted MRN :data:`MARKER_MRN`; ``echo-…-text`` the
  same text as ``text/plain``, ``echo-…-html`` as an HTML page;
* ``redirect-301``, ``-302``, ``-303``, ``-307``, ``-308``: that status to the *same* path
  and query on the other server's ``/ok`` (another origin);
* ``same-redirect-301`` … ``same-redirect-308``: that status to the same path and query
  under this server's ``/ok`` (the same origin); ``redirect-loop`` redirects to itself;
* ``drip``: 200 with a ``Content-Length`` of 2,000 and one byte every
  :data:`DRIP_INTERVAL` seconds; ``drip-headers``: the status line and headers themselves
  one byte at a time (a drip never lasts longer than :data:`DRIP_LIMIT` seconds);
* ``stall``: headers, then no byte at all until the client gives up;
* ``truncated``: ``Content-Length`` 5,000, 100 bytes of a Bundle, then the connection closes;
* ``invalid-json``: 200 ``application/fhir+json`` with a body that is not JSON;
* ``huge``: 200 declaring 2 GiB (sends 1 MiB then closes); ``huge-chunked``: chunked, no
  length, 1 MiB chunks until 256 MiB or until the client hangs up;
* ``deep``: 200, a JSON array nested 100,000 deep; ``deep-422``: 422, an
  OperationOutcome with an issue nested 100,000 deep.

The planted values (:data:`MARKER_NAME`, :data:`MARKER_MRN`, :data:`MARKER_TOKEN`) are
what a test sends (a name and identifier in the body or the query, the token as bearer)
and then looks for in every output: the server repeats them back.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "DRIP_INTERVAL",
    "DRIP_LIMIT",
    "MARKER_MRN",
    "MARKER_NAME",
    "MARKER_TOKEN",
    "FaultServer",
    "FaultServers",
    "Seen",
    "other_loopback_available",
    "running_fault_servers",
]

MARKER_NAME = "Quillonmarker"
MARKER_MRN = "MRN4815162342"
MARKER_TOKEN = "tok.MARKER-4f9a-SECRET-77"

DRIP_INTERVAL = 0.2
DRIP_LIMIT = 30.0
_FHIR = "application/fhir+json"
_STATUS_NAMES = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 422: "Unprocessable"}


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FaultServer:
    """One running fault server; ``base`` is ``http://host:port``."""

    host: str
    port: int
    seen: list[Seen] = field(default_factory=list)
    other: FaultServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, fault: str | None = None, *, metadata_ok: bool = False) -> str:
        """The FHIR base URL for ``fault`` (``None``: the well-behaved ``/ok`` server)."""
        if fault is None:
            return f"{self.base}/ok/fhir"
        return f"{self.base}/{'m' if metadata_ok else 'f'}/{fault}/fhir"

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()


@dataclass(frozen=True)
class FaultServers:
    """The pair: ``primary`` on 127.0.0.1, ``other`` (another origin) on 127.0.0.2, or on
    another port of 127.0.0.1 where 127.0.0.2 cannot be bound."""

    primary: FaultServer
    other: FaultServer

    def clear(self) -> None:
        self.primary.clear()
        self.other.clear()


def _strings(node: Any, out: list[str]) -> None:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and item not in out and len(out) < 40:
            out.append(item)


def _echo_text(seen: Seen) -> str:
    """What a careless server says back: everything the request carried."""
    values: list[str] = []
    for _, value in parse_qsl(seen.query, keep_blank_values=True):
        values.append(value)
    try:
        _strings(json.loads(seen.body or b"null"), values)
    except ValueError:
        values.append(seen.body[:500].decode("utf-8", "replace"))
    auth = seen.headers.get("authorization", "")
    return (
        f"Patient {' '.join(values)} with MRN {MARKER_MRN} was refused. "
        f"Authorization: {auth}\r\nquery was ?{seen.query}\nrequest body: "
        f"{seen.body[:300].decode('utf-8', 'replace')}"
    )


def _outcome(seen: Seen, status: int) -> dict[str, Any]:
    text = _echo_text(seen)
    auth = seen.headers.get("authorization", "")
    return {
        "resourceType": "OperationOutcome",
        "text": {"status": "generated", "div": f"<div>{text}</div>"},
        "issue": [
            {
                "severity": "error",
                "code": "invalid" if status == 422 else "security" if status < 500 else "exception",
                "diagnostics": text,
                "expression": [f"Patient.identifier.where(value='{MARKER_MRN}')"],
            },
            {
                "severity": "error",
                "code": "processing",
                "details": {"text": f"credentials {auth} rejected for {MARKER_MRN}"},
            },
        ],
    }


def _capabilities() -> dict[str, Any]:
    interactions = [{"code": c} for c in ("read", "search-type", "create", "update")]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2024-01-01",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
                "resource": [
                    {
                        "type": t,
                        "interaction": interactions,
                        "conditionalCreate": True,
                        "conditionalUpdate": True,
                    }
                    for t in ("Patient", "EpisodeOfCare", "Observation", "Practitioner")
                ],
            }
        ],
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault/1"
    fault_server: FaultServer  # set on the subclass made for each server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest captures stderr, and these lines carry the planted values

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        seen = Seen(self.command, parts.path, parts.query, headers, body)
        self.fault_server.record(seen)
        segments = parts.path.split("/")
        if len(segments) > 1 and segments[1] == "ok":
            self._ok(seen, "/".join(segments[2:]))
            return
        if len(segments) < 3 or segments[1] not in ("f", "m"):
            self._send(404, b"no such route", "text/plain")
            return
        fault, rest = segments[2], "/".join(segments[3:])
        if segments[1] == "m" and rest.endswith("metadata") and self.command == "GET":
            self._json(200, _capabilities())
            return
        self._fault(fault, seen, rest)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    # -- responses ------------------------------------------------------------------------

    def _send(
        self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any, extra: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), _FHIR, extra)

    def _ok(self, seen: Seen, rest: str) -> None:
        tail = rest.removeprefix("fhir").strip("/")
        if tail == "metadata":
            self._json(200, _capabilities())
        elif self.command == "GET" and "/" not in tail and tail:
            self._json(200, {"resourceType": "Bundle", "type": "searchset", "total": 0})
        elif self.command == "GET":
            self._json(
                404,
                {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "not-found"}],
                },
            )
        elif self.command == "POST" and not tail:
            bundle = json.loads(seen.body or b"{}")
            kind = "batch-response" if bundle.get("type") == "batch" else "transaction-response"
            entries = [
                {"response": {"status": "201 Created", "location": f"Patient/ok{n}/_history/1"}}
                for n, _ in enumerate(bundle.get("entry") or [])
            ]
            self._json(200, {"resourceType": "Bundle", "type": kind, "entry": entries})
        else:
            resource = json.loads(seen.body or b"{}")
            resource.setdefault("id", "ok1")
            resource["meta"] = {"versionId": "1"}
            rtype = resource.get("resourceType", "Basic")
            self._json(201, resource, {"Location": f"{rtype}/{resource['id']}/_history/1"})

    def _fault(self, fault: str, seen: Seen, rest: str) -> None:
        if fault.startswith("echo-"):
            self._echo(fault, seen)
        elif fault.startswith(("redirect-", "same-redirect-")):
            self._redirect(fault, seen, rest)
        elif fault in ("drip", "drip-headers", "stall"):
            self._drip(fault)
        elif fault == "truncated":
            self._partial(5000, b'{"resourceType": "Bundle", "type": "searchset", "entry": [' * 2)
        elif fault == "invalid-json":
            self._send(200, b'{"resourceType": "Bundle", "type": , oops', _FHIR)
        elif fault == "huge":
            self._partial(2 * 1024**3, b" " * (1024 * 1024))
        elif fault == "huge-chunked":
            self._chunked()
        elif fault == "deep":
            self._send(200, b"[" * 100_000 + b"]" * 100_000, _FHIR)
        elif fault == "deep-422":
            deep = b'{"resourceType": "OperationOutcome", "issue": [' + b"[" * 100_000
            self._send(422, deep + b"]" * 100_000 + b"]}", _FHIR)
        else:
            self._send(404, b"no such fault", "text/plain")

    def _echo(self, fault: str, seen: Seen) -> None:
        status = int(fault.split("-")[1])
        extra = {"WWW-Authenticate": f'Bearer error="{seen.headers.get("authorization", "")}"'}
        if fault.endswith("-text"):
            self._send(status, _echo_text(seen).encode(), "text/plain; charset=utf-8", extra)
        elif fault.endswith("-html"):
            page = f"<html><body><h1>{status}</h1><p>{_echo_text(seen)}</p></body></html>"
            self._send(status, page.encode(), "text/html", extra)
        else:
            self._json(status, _outcome(seen, status), extra)

    def _redirect(self, fault: str, seen: Seen, rest: str) -> None:
        status = int(fault.rsplit("-", 1)[1]) if fault != "redirect-loop" else 307
        query = f"?{seen.query}" if seen.query else ""
        if fault == "redirect-loop":
            target = f"{self.fault_server.base}{seen.path}{query}"
        elif fault.startswith("same-"):
            target = f"{self.fault_server.base}/ok/{rest}{query}"
        else:
            other = self.fault_server.other or self.fault_server
            target = f"{other.base}/ok/{rest}{query}"
        self._send(status, b"", "text/plain", {"Location": target})

    def _drip(self, fault: str) -> None:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
            b"Content-Length: 2000\r\nConnection: close\r\n\r\n"
        )
        started = time.monotonic()
        try:
            if fault == "drip-headers":
                for i in range(len(head)):
                    self.wfile.write(head[i : i + 1])
                    self.wfile.flush()
                    time.sleep(DRIP_INTERVAL)
                    if time.monotonic() - started > DRIP_LIMIT:
                        break
            else:
                self.wfile.write(head)
                self.wfile.flush()
            while time.monotonic() - started < DRIP_LIMIT:
                if fault != "stall":
                    self.wfile.write(b" ")
                    self.wfile.flush()
                time.sleep(DRIP_INTERVAL)
        except OSError:
            pass  # the client hung up: that is what the test wants
        self.close_connection = True

    def _partial(self, declared: int, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", _FHIR)
        self.send_header("Content-Length", str(declared))
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True

    def _chunked(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", _FHIR)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b" " * (1024 * 1024)
        try:
            for _ in range(256):
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-fault is the normal case here


@contextmanager
def _serving(host: str) -> Iterator[FaultServer]:
    # Bind first, then learn the port: a free port is taken atomically.
    state = FaultServer(host, 0)
    handler = type("Handler", (_Handler,), {"fault_server": state})
    server = _Server((host, 0), handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def other_loopback_available() -> bool:
    """True when 127.0.0.2 can be bound (Linux; not macOS without an alias)."""
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
    except OSError:
        return False
    return True


@contextmanager
def running_fault_servers() -> Iterator[FaultServers]:
    """The two fault servers, started for the ``with`` block."""
    # Another origin is another host where the system routes one (Linux: all of
    # 127.0.0.0/8), else another port of 127.0.0.1, which is another origin too.
    other_host = "127.0.0.2" if other_loopback_available() else "127.0.0.1"
    with _serving("127.0.0.1") as primary, _serving(other_host) as other:
        primary.other, other.other = other, primary
        yield FaultServers(primary, other)
