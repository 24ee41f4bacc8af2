"""Bulk Data $export against a small misbehaving server started here on 127.0.0.1 (issue 14).

:class:`BulkServer` (stdlib ``http.server``) serves a kick-off, a status endpoint and the
files, with faults injected per test: 429 with ``Retry-After``, 503, a file URL on another
origin (a second server on another port of 127.0.0.1), a truncated file (a
``Content-Length`` larger than the body; fewer lines than the manifest's ``count``), an
error file, ``Range`` support. Both servers record every request, so the tests can check
what reached which origin (the token never goes where it must not).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from iopfhir.client import BearerAuth, FhirClient, Retry
from iopfhir.errors import ClientError, NotFound
from iopfhir.fhir.read import read_fhir
from iopfhir.sync.export import STATE_NAME, ExportError, ExportProgress, export

TOKEN = "tok-export-SECRET-9c1"
PATIENTS = b"".join(
    orjson.dumps({"resourceType": "Patient", "id": f"p{i}", "gender": "female"}) + b"\n"
    for i in range(5)
)
CONDITIONS = b"".join(
    orjson.dumps(
        {
            "resourceType": "Condition",
            "id": f"c{i}",
            "subject": {"reference": f"Patient/p{i}"},
            "code": {"text": "x"},
        }
    )
    + b"\n"
    for i in range(3)
)
OUTCOME = (
    orjson.dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "too-costly", "diagnostics": "too many"}],
        }
    )
    + b"\n"
)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class BulkServer:
    """One server: a FHIR base at ``/fhir`` and files at ``/files/<name>``."""

    httpd: ThreadingHTTPServer
    files: dict[str, bytes] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    #: path -> list of (status, headers, body) answered once each before the real answer
    faults: dict[str, list[tuple[int, dict[str, str], bytes]]] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    polls_before_done: int = 1
    polls: int = 0
    deleted: bool = False
    ranges: bool = False
    #: file name -> bytes to claim beyond the body in Content-Length (then close)
    short: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def fhir(self) -> str:
        return f"{self.base}/fhir"

    def file_url(self, name: str) -> str:
        return f"{self.base}/files/{name}"

    def requests_to(self, prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(prefix)]


def _handler(server: BulkServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _route(self) -> None:
            path = self.path.split("?", 1)[0]
            with server.lock:
                server.seen.append(Seen(self.command, self.path, dict(self.headers.items())))
                queued = server.faults.get(path)
                fault = queued.pop(0) if queued else None
            if fault is not None:
                self._send(*fault)
                return
            if path.endswith("/$export"):
                if self.headers.get("Prefer") != "respond-async":
                    self._send(400, {}, b"")
                    return
                self._send(202, {"Content-Location": f"{server.fhir}/status/1"})
            elif path == "/fhir/status/1":
                if self.command == "DELETE":
                    server.deleted = True
                    self._send(202, {})
                elif server.deleted:
                    self._send(404, {})
                elif server.polls < server.polls_before_done:
                    server.polls += 1
                    self._send(202, {"X-Progress": f"step {server.polls}", "Retry-After": "2"})
                else:
                    body = orjson.dumps(server.manifest)
                    self._send(200, {"Content-Type": "application/json"}, body)
            elif path == "/token":
                self._send(200, {"Content-Type": "application/json"}, b'{"access_token": "t1"}')
            elif path.startswith("/files/"):
                self._file(path.removeprefix("/files/"))
            else:
                self._send(404, {})

        def _file(self, name: str) -> None:
            body = server.files.get(name)
            if body is None:
                self._send(404, {})
                return
            headers = {"Content-Type": "application/fhir+ndjson"}
            wanted = self.headers.get("Range", "")
            if server.ranges and wanted.startswith("bytes="):
                start = int(wanted.removeprefix("bytes=").rstrip("-"))
                part = body[start:]
                headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
                self._send(206, headers, part)
                return
            extra = server.short.get(name)
            if extra:
                headers["Content-Length"] = str(len(body) + extra)
                headers["Connection"] = "close"
                self.close_connection = True
            self._send(200, headers, body)

        def do_GET(self) -> None:
            self._route()

        def do_DELETE(self) -> None:
            self._route()

    return Handler


@pytest.fixture
def servers() -> Iterator[tuple[BulkServer, BulkServer]]:
    """The FHIR server and a file server on another origin (another port)."""
    made = []
    for _ in range(2):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        server = BulkServer(httpd)
        httpd.RequestHandlerClass = _handler(server)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        made.append(server)
    main, other = made
    main.files = {"Patient.ndjson": PATIENTS, "Condition.ndjson": CONDITIONS, "oo.ndjson": OUTCOME}
    other.files = dict(main.files)
    main.manifest = {
        "transactionTime": "2026-01-02T03:04:05Z",
        "request": f"{main.fhir}/$export",
        "requiresAccessToken": True,
        "output": [
            {"type": "Patient", "url": main.file_url("Patient.ndjson"), "count": 5},
            {"type": "Condition", "url": main.file_url("Condition.ndjson"), "count": 3},
        ],
        "error": [],
    }
    yield main, other
    for s in made:
        s.httpd.shutdown()
        s.httpd.server_close()


def _client(server: BulkServer, sleeps: list[float], transport: str | None = None) -> FhirClient:
    return FhirClient(
        server.fhir,
        auth=BearerAuth(TOKEN),
        retry=Retry(total=3, backoff_factor=0.0, jitter=0.0),
        sleep=sleeps.append,
        transport=transport,
    )


def _export(client: FhirClient, out: Path, **options: Any) -> Any:
    """:func:`export` without real waits between polls (the waits are asserted where
    they matter)."""
    options.setdefault("sleep", lambda seconds: None)
    return export(client, out, **options)


def _authorized(seen: list[Seen]) -> list[str]:
    return [s.path for s in seen if any(k.lower() == "authorization" for k in s.headers)]


@pytest.mark.parametrize("transport", [None, "httpx"])
def test_export_through_429_and_503_honours_retry_after(servers, tmp_path, transport):
    main, _ = servers
    main.faults["/fhir/$export"] = [(429, {"Retry-After": "7"}, b"")]
    main.faults["/fhir/status/1"] = [(503, {"Retry-After": "3"}, b"")]
    main.polls_before_done = 2
    sleeps: list[float] = []
    waits: list[float] = []
    events: list[ExportProgress] = []
    with _client(main, sleeps, transport) as client:
        report = _export(
            client,
            tmp_path,
            types=["Patient", "Condition"],
            progress=events.append,
            sleep=waits.append,
        )
    assert sleeps == [7.0, 3.0]  # the client's retry, each waiting the server's Retry-After
    assert waits == [2.0, 2.0]  # the polls' Retry-After
    assert [e.note for e in events if e.phase == "poll"] == ["step 1", "step 2"]
    assert (tmp_path / "Patient.ndjson").read_bytes() == PATIENTS
    assert (tmp_path / "Condition.ndjson").read_bytes() == CONDITIONS
    assert report.resources == {"Patient": 5, "Condition": 3}
    assert report.transaction_time == "2026-01-02T03:04:05Z"
    kick = main.requests_to("/fhir/$export")
    assert len(kick) == 2 and "_type=Patient%2CCondition" in kick[0].path
    assert kick[0].headers["Accept"] == "application/fhir+json"
    assert not list(tmp_path.glob("*.part"))


def test_token_is_refused_to_a_file_url_on_another_origin(servers, tmp_path):
    main, other = servers
    main.manifest["output"][1]["url"] = other.file_url("Condition.ndjson")
    with _client(main, []) as client, pytest.raises(ExportError, match="another origin"):
        _export(client, tmp_path)
    assert other.seen == []  # nothing at all reached the other origin
    assert not (tmp_path / "Patient.ndjson").exists()  # refused before any download


def test_allowed_file_host_gets_the_token(servers, tmp_path):
    main, other = servers
    main.manifest["output"][1]["url"] = other.file_url("Condition.ndjson")
    host = other.base.removeprefix("http://")
    with _client(main, []) as client:
        _export(client, tmp_path, allow_file_hosts=[host])
    assert _authorized(other.seen) == ["/files/Condition.ndjson"]
    assert (tmp_path / "Condition.ndjson").read_bytes() == CONDITIONS


def test_file_on_another_origin_without_token_requirement_gets_no_credentials(servers, tmp_path):
    main, other = servers
    main.manifest["requiresAccessToken"] = False
    main.manifest["output"][1]["url"] = other.file_url("Condition.ndjson")
    with FhirClient(main.fhir, auth=BearerAuth(TOKEN), headers={"X-Api-Key": "k-SECRET"}) as client:
        _export(client, tmp_path)
    assert [s.path for s in other.seen] == ["/files/Condition.ndjson"]
    assert _authorized(other.seen) == []
    assert "X-Api-Key" not in other.seen[0].headers
    # and the server's own file needs no token either: none sent
    assert _authorized(main.requests_to("/files/")) == []
    assert _authorized(main.requests_to("/fhir/")) != []  # the API calls carry it
    assert (tmp_path / "Condition.ndjson").read_bytes() == CONDITIONS


def test_truncated_body_is_not_kept_and_a_rerun_fetches_it(servers, tmp_path):
    main, _ = servers
    main.short["Patient.ndjson"] = 500  # Content-Length 500 bytes more than sent
    with _client(main, []) as client:
        with pytest.raises(ClientError):
            _export(client, tmp_path)
        assert not (tmp_path / "Patient.ndjson").exists()
        assert (tmp_path / STATE_NAME).exists()  # resumable
        main.short.clear()
        main.seen.clear()
        report = _export(client, tmp_path)
    assert report.resumed and report.polls == 0  # the saved manifest: no new job
    assert main.requests_to("/fhir/") == []
    assert (tmp_path / "Patient.ndjson").read_bytes() == PATIENTS


def test_fewer_lines_than_count_fails_that_file_only(servers, tmp_path):
    main, _ = servers
    main.files["Patient.ndjson"] = b"".join(PATIENTS.splitlines(keepends=True)[:4])
    with _client(main, []) as client:
        with pytest.raises(ExportError, match="size checks") as info:
            _export(client, tmp_path)
        report = info.value.report
        assert report.failed == ["Patient.ndjson"]
        assert [f.path for f in report.files] == ["Condition.ndjson"]
        assert not (tmp_path / "Patient.ndjson").exists()
        assert not list(tmp_path.glob("*.part"))
        main.files["Patient.ndjson"] = PATIENTS
        main.seen.clear()
        again = _export(client, tmp_path)
    assert [s.path for s in main.seen] == ["/files/Patient.ndjson"]  # only what was missing
    assert [(f.path, f.fetched) for f in again.files] == [
        ("Patient.ndjson", True),
        ("Condition.ndjson", False),
    ]


def test_error_file_is_reported_and_kept_out_of_the_data(servers, tmp_path):
    main, _ = servers
    main.manifest["error"] = [
        {"type": "OperationOutcome", "url": main.file_url("oo.ndjson"), "count": 1}
    ]
    with _client(main, []) as client:
        report = _export(client, tmp_path)
    assert (tmp_path / "error" / "OperationOutcome.ndjson").read_bytes() == OUTCOME
    assert [(i.severity, i.code) for i in report.issues] == [("error", "too-costly")]
    assert "OperationOutcome" not in report.resources
    result = read_fhir(tmp_path)
    assert "OperationOutcome" not in result.ignored
    assert any("error file" in key for key in result.unmapped)
    assert "file without resourceType" not in result.unmapped  # the manifest is no data


def _interrupted_in(out: Path, name: str, part: bytes) -> None:
    """Make ``out`` look like a run stopped while ``name`` was coming: not in the state,
    its first bytes in the part file."""
    state = orjson.loads((out / STATE_NAME).read_bytes())
    state["complete"] = False
    del state["files"][name]
    (out / STATE_NAME).write_bytes(orjson.dumps(state))
    (out / name).unlink()
    (out / f"{name}.part").write_bytes(part)


def test_partial_file_resumes_with_range(servers, tmp_path):
    main, _ = servers
    main.ranges = True
    half = len(PATIENTS) // 2
    with _client(main, []) as client:
        _export(client, tmp_path, types=["Patient"])
        _interrupted_in(tmp_path, "Patient.ndjson", PATIENTS[:half])
        main.seen.clear()
        again = _export(client, tmp_path, types=["Patient"])
    ranged = main.requests_to("/files/Patient.ndjson")
    assert [s.headers.get("Range") for s in ranged] == [f"bytes={half}-"]
    assert main.requests_to("/fhir/") == []  # the saved status and manifest: no new job
    assert (tmp_path / "Patient.ndjson").read_bytes() == PATIENTS
    assert again.resources["Patient"] == 5 and again.resumed


def test_without_range_support_the_whole_file_comes_again(servers, tmp_path):
    main, _ = servers
    with _client(main, []) as client:
        _export(client, tmp_path)
        _interrupted_in(tmp_path, "Patient.ndjson", b"garbage, not the start of the file")
        again = _export(client, tmp_path)
    assert (tmp_path / "Patient.ndjson").read_bytes() == PATIENTS
    assert [(f.path, f.fetched) for f in again.files] == [
        ("Patient.ndjson", True),
        ("Condition.ndjson", False),
    ]


def test_ctrl_c_while_polling_deletes_the_job_and_the_folder_state(servers, tmp_path):
    main, _ = servers
    main.polls_before_done = 5

    def interrupt(event: ExportProgress) -> None:
        if event.phase == "poll":
            raise KeyboardInterrupt

    with _client(main, []) as client:
        with pytest.raises(KeyboardInterrupt):
            _export(client, tmp_path, progress=interrupt)
        assert [s.method for s in main.requests_to("/fhir/status/1")] == ["GET", "DELETE"]
        assert list(tmp_path.iterdir()) == []
        with pytest.raises(NotFound):
            client.request("GET", f"{main.fhir}/status/1")


def test_delete_after_and_unfinished_export_with_other_options(servers, tmp_path):
    main, _ = servers
    main.faults["/files/Condition.ndjson"] = [(503, {}, b"")] * 4
    with _client(main, []) as client:
        with pytest.raises(ClientError):
            _export(client, tmp_path)
        with pytest.raises(ExportError, match="other options"):
            _export(client, tmp_path, types=["Patient"])
        report = _export(client, tmp_path, delete_after=True)
    assert report.resumed and report.deleted and main.deleted
    assert Path(tmp_path / "Condition.ndjson").read_bytes() == CONDITIONS


def test_since_last_uses_the_previous_transaction_time(servers, tmp_path):
    main, _ = servers
    with _client(main, []) as client:
        with pytest.raises(ExportError, match="finished export"):
            _export(client, tmp_path, since="last")
        _export(client, tmp_path)
        main.seen.clear()
        _export(client, tmp_path, since="last")
    kick = main.requests_to("/fhir/$export")
    assert len(kick) == 1 and "_since=2026-01-02T03%3A04%3A05Z" in kick[0].path


class _HandleOnly:
    """A transport that cannot stream (only ``handle``): the client hands the whole body
    to the download's writer in one piece."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def handle(self, request: Any, *, timeout: Any) -> Any:
        self.calls += 1
        return self.inner.handle(request, timeout=timeout)

    def close(self) -> None:
        self.inner.close()


def test_a_transport_without_stream_still_downloads(servers, tmp_path):
    main, _ = servers
    with _client(main, []) as client:
        plain = _HandleOnly(client.transport)
        client.transport = plain
        report = _export(client, tmp_path)
    assert plain.calls == len(main.seen) >= 4
    assert (tmp_path / "Patient.ndjson").read_bytes() == PATIENTS
    assert report.resources == {"Patient": 5, "Condition": 3}


def test_no_token_in_logs_files_or_messages(servers, tmp_path, caplog):
    main, other = servers
    main.manifest["output"][1]["url"] = other.file_url("Condition.ndjson?_token=x")
    caplog.set_level("DEBUG")
    with _client(main, []) as client, pytest.raises(ExportError) as info:
        _export(client, tmp_path)
    assert TOKEN not in caplog.text and TOKEN not in str(info.value)
    assert "_token" not in str(info.value)  # the file URL's query is not echoed
    for path in tmp_path.rglob("*"):
        assert TOKEN.encode() not in path.read_bytes()


@pytest.mark.parametrize("transport", [None, "httpx"])
def test_files_are_streamed_not_held_whole(servers, tmp_path, transport):
    """A file 80 times the client's response bound: read whole it would be refused
    (``ResponseTooLarge``); streamed to disk it is not bounded by memory."""
    main, _ = servers
    big = PATIENTS * 4000  # about 5 MiB
    main.files["Patient.ndjson"] = big
    main.manifest["output"] = [
        {"type": "Patient", "url": main.file_url("Patient.ndjson"), "count": 20000}
    ]
    with FhirClient(main.fhir, transport=transport, max_response_bytes=64 * 1024) as client:
        report = _export(client, tmp_path)
    assert report.resources == {"Patient": 20000}
    assert (tmp_path / "Patient.ndjson").read_bytes() == big


class _TokenEachTime:
    """An auth flow that fetches a token before every request, through the client (as
    SMART's flow does when its token needs renewing)."""

    def __init__(self, token_url: str) -> None:
        self.token_url = token_url
        self.tokens: list[bytes] = []

    def auth_flow(self, request: Any) -> Any:
        from iopfhir.client import Request

        answer = yield Request("GET", self.token_url)
        self.tokens.append(answer.body)
        yield request.with_header("Authorization", "Bearer t1")


def test_auth_flow_requests_during_a_download_are_not_streamed_into_the_file(servers, tmp_path):
    main, _ = servers
    auth = _TokenEachTime(f"{main.base}/token")
    with FhirClient(main.fhir, auth=auth) as client:
        _export(client, tmp_path)
    assert len(auth.tokens) == len(main.requests_to("/token")) >= 4
    assert set(auth.tokens) == {b'{"access_token": "t1"}'}  # every token answer read whole
    assert (tmp_path / "Patient.ndjson").read_bytes() == PATIENTS
