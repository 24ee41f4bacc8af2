"""Bulk Data $export against the real sekmet server (issue 14): a synthetic cohort pushed,
exported at system and patient level (with ``_type`` and ``_since``), downloaded and
imported gives back the pushed episodes; a cancel deletes the job; an interrupted download
resumes with only the missing files.

The tests start their own sekmet (a fresh database), so a system-level export holds the
cohort pushed here and nothing of other tests.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.servers.fixtures import LIVE_TIMEOUT
from tests.servers.sekmet import running_sekmet

from iopfhir.client import BearerAuth, FhirClient, Request, Response, Retry, Timeout, Transport
from iopfhir.domain import Episode
from iopfhir.errors import NotFound, TransportError, Unauthorized
from iopfhir.fhir.read import read_fhir
from iopfhir.sync import DisclosureTerms, push
from iopfhir.sync.export import MANIFEST_NAME, ExportProgress, export
from iopfhir.synth import synth_episodes

pytestmark = pytest.mark.integration

#: The test server stands for the program's own record system (42 CFR Part 2 data may go).
OWN_SYSTEM = DisclosureTerms(own_system=True)
PUSH_TOKEN = "push-token-for-the-test-server"


def _normal(value: Any) -> Any:
    """Lists of keyed items sorted by key: the server's order is not the pushed one."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_normal(v) for v in value]
        if items and all(isinstance(v, dict) and "key" in v for v in items):
            items.sort(key=lambda v: v["key"])
        return items
    return value


def _by_key(episodes: list[Episode]) -> dict[str, Any]:
    return {e.key: _normal(e.model_dump(mode="json")) for e in episodes}


def _one_episode_per_patient(episodes: list[Episode]) -> list[Episode]:
    """The cohort without readmissions: a patient's second episode shares its resources
    with the first, which is not what this test is about."""
    counts = Counter(e.patient.identifiers[0].value for e in episodes)
    return [e for e in episodes if counts[e.patient.identifiers[0].value] == 1]


def _quick(seconds: float) -> None:
    pass  # no real waits between polls beyond the few ms the job takes


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[Episode]]]:
    """A fresh sekmet holding a pushed synthetic cohort."""
    cohort = _one_episode_per_patient(list(synth_episodes(8, seed=11)))
    assert len(cohort) >= 4
    with running_sekmet() as base, FhirClient(base, timeout=LIVE_TIMEOUT) as client:
        report = push(client, cohort, disclosure=OWN_SYSTEM)
        assert report.failed == 0
        yield base, cohort


def _client(base: str, **options: Any) -> FhirClient:
    return FhirClient(base, timeout=LIVE_TIMEOUT, **options)


def test_system_export_imported_gives_the_pushed_episodes(server, tmp_path):
    base, cohort = server
    with _client(base) as client:
        report = export(client, tmp_path, sleep=_quick)
    assert report.polls >= 1 and report.transaction_time
    assert report.resources["EpisodeOfCare"] == len(cohort)
    assert report.resources["Patient"] == len(cohort)
    assert (tmp_path / MANIFEST_NAME).is_file()
    result = read_fhir(tmp_path)
    assert _by_key(result.episodes) == _by_key(cohort)


def test_patient_level_export_with_type_then_since(server, tmp_path):
    base, cohort = server
    with _client(base) as client:
        report = export(
            client, tmp_path, level="patient", types=["Patient", "EpisodeOfCare"], sleep=_quick
        )
        n = len(cohort)
        assert dict(report.resources) == {"Patient": n, "EpisodeOfCare": n}
        assert sorted(p.name for p in tmp_path.glob("*.ndjson")) == [
            "EpisodeOfCare.ndjson",
            "Patient.ndjson",
        ]
        # one more patient after the first export: --since last brings only that one
        extra = next(
            e
            for e in synth_episodes(12, seed=23)
            if e.patient.identifiers[0].value
            not in {c.patient.identifiers[0].value for c in cohort}
        )
        assert push(client, extra, disclosure=OWN_SYSTEM).failed == 0
        cohort.append(extra)  # the module's cohort is what the server holds
        since = export(
            client,
            tmp_path,
            level="patient",
            types=["Patient", "EpisodeOfCare"],
            since="last",
            sleep=_quick,
        )
    assert dict(since.resources) == {"Patient": 1, "EpisodeOfCare": 1}
    assert since.transaction_time and since.transaction_time > report.transaction_time
    only = read_fhir(tmp_path)
    assert [e.patient.identifiers[0].value for e in only.episodes] == [
        extra.patient.identifiers[0].value
    ]


class _Recording:
    """A transport wrapper recording each request's method and path; fails the
    ``fail_at``-th file download (once) as a dropped connection would."""

    def __init__(self, inner: Transport, fail_at: int | None = None) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str]] = []
        self.fail_at = fail_at
        self.files = 0
        self.files_seen: list[str] = []
        self._lock = threading.Lock()

    def _note(self, request: Request) -> None:
        with self._lock:
            self.sent.append((request.method, request.path))
            if "/bulk-files/" in request.path:
                self.files += 1
                self.files_seen.append(request.path)
                if self.files == self.fail_at:
                    raise TransportError(
                        "connection dropped (test)", method=request.method, url=request.url
                    )

    def handle(self, request: Request, *, timeout: Timeout) -> Response:
        self._note(request)
        return self.inner.handle(request, timeout=timeout)

    def stream(self, request: Request, *, timeout: Timeout, sink: Any) -> Response:
        self._note(request)
        return self.inner.stream(request, timeout=timeout, sink=sink)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.inner.close()


def test_cancel_then_status_url_is_gone(server, tmp_path):
    base, _ = server
    with _client(base) as client:
        recording = _Recording(client.transport)
        client.transport = recording

        def interrupt(event: ExportProgress) -> None:
            if event.phase in ("poll", "download"):
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            export(client, tmp_path, progress=interrupt, sleep=_quick)
        deletes = [path for method, path in recording.sent if method == "DELETE"]
        assert len(deletes) == 1 and "/bulk-status/" in deletes[0]
        with pytest.raises(NotFound):
            client.request("GET", client.resolve(deletes[0]))
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_resumes_with_only_the_missing_files(server, tmp_path):
    base, cohort = server
    with _client(base, retry=Retry.disabled()) as client:
        broken = _Recording(client.transport, fail_at=3)
        client.transport = broken
        with pytest.raises(TransportError):
            export(client, tmp_path, sleep=_quick)
    done_before = sorted(p.name for p in tmp_path.glob("*.ndjson"))
    assert len(done_before) == 2  # two files were down when the connection dropped
    with _client(base) as client:
        counting = _Recording(client.transport)
        client.transport = counting
        report = export(client, tmp_path, sleep=_quick)
    assert report.resumed
    fetched = [path.rsplit("/", 1)[-1] for _m, path in counting.sent]
    assert all("/bulk-files/" in path for _m, path in counting.sent)  # no kick-off, no poll
    assert len(fetched) == len(report.files) - 2
    assert not set(fetched) & set(done_before)
    assert sorted(f.path for f in report.files if not f.fetched) == done_before
    assert _by_key(read_fhir(tmp_path).episodes) == _by_key(cohort)


@pytest.fixture(scope="module")
def smart_server(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """A sekmet that demands auth: SMART Backend Services for a registered client (our
    key), and a static bearer token to push the data with."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from iopfhir.client import SmartBackendAuth

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # the key's public JWKS is registered before the server (and its URL) exists
    holder = SmartBackendAuth("export-test", key, token_url="https://127.0.0.1/not-used")
    module = importlib.import_module("iopfhir.sync.localserver")
    plain = module.settings_yaml
    jwks = json.dumps(holder.public_jwks())
    auth = (
        "server_auth:\n"
        "  types: [smart, bearer]\n"
        f"  tokens: [{PUSH_TOKEN}]\n"
        "  smart_clients:\n"
        "    - client_id: export-test\n"
        f"      jwks: {jwks}\n"
        "      scopes: system/*.read\n"
    )

    def with_auth(port: int, folder: Path) -> str:
        return plain(port, folder).replace("server_auth:\n  types: [none]\n", auth)

    monkeypatch_module.setattr(module, "settings_yaml", with_auth)
    cohort = _one_episode_per_patient(list(synth_episodes(4, seed=3)))
    with running_sekmet() as base:
        with FhirClient(base, auth=BearerAuth(PUSH_TOKEN), timeout=LIVE_TIMEOUT) as client:
            assert push(client, cohort, disclosure=OWN_SYSTEM).failed == 0
        smart = SmartBackendAuth("export-test", key, fhir_base_url=base, scopes="system/*.read")
        yield base, smart, len(cohort)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_smart_backend_services_export_sends_the_token_for_files(smart_server, tmp_path):
    base, smart, n = smart_server
    with FhirClient(base, timeout=LIVE_TIMEOUT) as anonymous, pytest.raises(Unauthorized):
        export(anonymous, tmp_path / "no-auth", sleep=_quick)
    with FhirClient(base, auth=smart, timeout=LIVE_TIMEOUT) as client:
        recording = _Recording(client.transport)
        client.transport = recording
        report = export(client, tmp_path / "smart", types=["Patient"], sleep=_quick)
        assert report.requires_access_token is True
        assert report.resources["Patient"] == n
        file_url = client.base_url.rsplit("/fhir", 1)[0] + recording.files_seen[0]
    # the file really needs the token: without it the server refuses it
    with FhirClient(base, timeout=LIVE_TIMEOUT) as anonymous:
        response = anonymous.download(file_url, lambda head: None)
    assert response.status == 401


def test_group_export_holds_only_the_members(server, tmp_path):
    base, cohort = server
    with _client(base) as client:
        patients = client.search("Patient").fetch_all()
        members = sorted(p["id"] for p in patients)[:2]
        group = client.create(
            {
                "resourceType": "Group",
                "type": "person",
                "actual": True,
                "member": [{"entity": {"reference": f"Patient/{pid}"}} for pid in members],
            }
        )
        assert group.id
        report = export(client, tmp_path, group=group.id, sleep=_quick)
    assert report.resources["Patient"] == 2
    assert report.resources["EpisodeOfCare"] == 2
    exported = read_fhir(tmp_path)
    assert len(exported.episodes) == 2
    # a group export holds the members' compartments: the episodes and their patients
    # (shared staff and organizations are not in a patient's compartment)
    wanted = {e.key: e for e in cohort}
    for episode in exported.episodes:
        assert episode.patient.identifiers == wanted[episode.key].patient.identifiers
        assert len(episode.sessions) == len(wanted[episode.key].sessions)
