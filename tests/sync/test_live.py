"""Push and pull against real FHIR servers: each test runs on sekmet (or the server named by
IOPFHIR_TEST_SERVER) and on Medplum's FHIR router, both started on 127.0.0.1, and (those
that take ``api``) with the sync client and ``push``/``pull`` and with the async client and
``apush``/``apull``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.client.conftest import Blocking
from tests.servers.fixtures import LIVE_TIMEOUT
from tests.servers.medplum import running_medplum

from iopfhir.client import (
    AsyncFhirClient,
    AsyncTransport,
    FhirClient,
    Request,
    Response,
    Timeout,
    Transport,
)
from iopfhir.domain import dump_episode, load_episodes
from iopfhir.errors import SyncConflict, SyncError, TransportError
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.sync import DisclosureTerms, apull, apush, pull, push
from iopfhir.sync.resources import business_identifier

from .conftest import EXAMPLES, unique_episode

#: The test server stands for the program's own record system: Part 2 data may go there.
OWN = DisclosureTerms(own_system=True)

pytestmark = pytest.mark.integration


@pytest.fixture(params=["server", "medplum"])
def fhir_server(request) -> Iterator[str]:
    """Base URL of one of the two live servers (each test runs once on each).

    Medplum gets a fresh server per test: its in-memory router searches by scanning, so a
    transaction of conditional creates slows down as earlier tests fill it (past the
    client's read timeout within a session), and after a 412 inside a transaction, or two
    transactions at once, it stops answering transactions (4.5.2; searches still work).
    """
    if request.param == "server":
        yield request.getfixturevalue("live_server")
        return
    request.getfixturevalue("medplum_server")  # Node present (or skipped/failed as there)
    with running_medplum() as base_url:
        yield base_url


class Api:
    """The sync API (``FhirClient``, ``push``, ``pull``) or the async one
    (``AsyncFhirClient``, ``apush``, ``apull``) run to completion on an event loop: every
    test below that takes ``api`` runs unchanged on both (``[sync]`` / ``[async]``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.loop = asyncio.new_event_loop() if kind == "async" else None

    def _run(self, coroutine: Any) -> Any:
        assert self.loop is not None
        return self.loop.run_until_complete(coroutine)

    @contextmanager
    def client(self, base_url: str) -> Iterator[Any]:
        if self.loop is None:
            with FhirClient(base_url, timeout=LIVE_TIMEOUT) as client:
                yield client
            return
        aclient = AsyncFhirClient(base_url, timeout=LIVE_TIMEOUT)
        try:
            yield Blocking(aclient, self.loop)
        finally:
            self._run(aclient.close())

    def push(self, client: Any, source: Any, **kwargs: Any) -> Any:
        if self.loop is None:
            return push(client, source, **kwargs)
        return self._run(apush(client._target, source, **kwargs))

    def pull(self, client: Any, ident: tuple[str, str], since: str | None = None) -> Any:
        if self.loop is None:
            return pull(client, ident, since)
        return self._run(apull(client._target, ident, since))

    def hook(self, client: Any, before: Callable[[Request], None]) -> None:
        """Run ``before(request)`` ahead of every exchange of ``client`` (it may raise)."""
        if self.loop is None:
            client.transport = Hooked(client.transport, before)
        else:
            client._target.transport = AsyncHooked(client._target.transport, before)

    def unhook(self, client: Any) -> None:
        target = client if self.loop is None else client._target
        target.transport = target.transport.inner

    def close(self) -> None:
        if self.loop is not None:
            self.loop.close()


class Hooked:
    """A transport that calls ``before(request)`` ahead of each exchange."""

    def __init__(self, inner: Transport, before: Callable[[Request], None]) -> None:
        self.inner, self.before = inner, before

    def handle(self, request: Request, *, timeout: Timeout) -> Response:
        self.before(request)
        return self.inner.handle(request, timeout=timeout)

    def close(self) -> None:
        self.inner.close()


class AsyncHooked:
    """:class:`Hooked` for an async transport."""

    def __init__(self, inner: AsyncTransport, before: Callable[[Request], None]) -> None:
        self.inner, self.before = inner, before

    async def handle(self, request: Request, *, timeout: Timeout) -> Response:
        self.before(request)
        return await self.inner.handle(request, timeout=timeout)

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture(params=["sync", "async"])
def api(request) -> Iterator[Api]:
    kind = Api(request.param)
    try:
        yield kind
    finally:
        kind.close()


def count_by_identifier(client: FhirClient, bundle: dict) -> dict[str, int]:
    out = {}
    for e in bundle["entry"]:
        r = e["resource"]
        if r["resourceType"] in ("Goal", "CareTeam", "QuestionnaireResponse", "RiskAssessment"):
            continue  # sekmet has no identifier search for these (written by derived id)
        if r["resourceType"] == "Provenance":
            continue  # no identifier in R4 (written by PUT to the id derived from its extension)
        system, value = business_identifier(r)
        n = len(client.search(r["resourceType"]).where(identifier=f"{system}|{value}").fetch_all())
        out[f"{r['resourceType']}|{value}"] = n
    return out


def test_push_twice_writes_nothing_the_second_time(fhir_server, api):
    episode = unique_episode()
    with api.client(fhir_server) as client:
        first = api.push(client, episode)
        assert first.created > 150 and first.failed == 0
        assert first.round_trips <= 3
        time.sleep(1.1)
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        second = api.push(client, episode)
        assert second.summary()["created"] == second.summary()["updated"] == 0
        # staff and organizations shared with episodes other tests pushed may exist already
        assert first.created + first.updated + first.unchanged == first.total
        assert second.unchanged == second.total == first.total
        assert second.round_trips <= 2
        written = {f"{t}/{i}" for t, i in first.written}
        history = client.history(since=since, count=1000)
        touched = {
            f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in history.get("entry") or []
            if isinstance(e.get("resource"), dict)
        }
        assert not (written & touched)
        patient_id = next(i for t, i in first.written if t == "Patient")
        versions = client.history("Patient", patient_id).get("entry") or []
        assert len(versions) == 1


def test_concurrent_pushes_from_two_processes_make_no_duplicates(fhir_server, tmp_path):
    episode = unique_episode("co-occurring-sud-iop")
    path = tmp_path / "episode.yaml"
    path.write_text(yaml.safe_dump(dump_episode(episode)))
    cmd = [sys.executable, "-m", "tests.sync._worker", fhir_server, str(path)]
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-2000:] for r in results]
    with FhirClient(fhir_server, timeout=LIVE_TIMEOUT) as client:
        counts = count_by_identifier(client, transaction_bundle([episode]))
        assert set(counts.values()) == {1}
        assert push(client, episode, disclosure=OWN).writes == 0


def _bundle_with(episode, **changes):
    bundle = transaction_bundle([episode])
    entry = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan")
    entry["resource"] = {**entry["resource"], **changes}
    return bundle, entry["resource"]["identifier"][0]


class BeforeFirstWrite:
    """A hook (:meth:`Api.hook`) that runs ``action`` once, just before the first write."""

    def __init__(self, action) -> None:
        self.action, self.done = action, False

    def __call__(self, request: Request) -> None:
        body = request.body or b""
        if not self.done and request.method == "POST" and b'"transaction"' in body:
            self.done = True
            self.action()


def _other_writer(fhir_server, ident, change):
    def act():
        with FhirClient(fhir_server, timeout=LIVE_TIMEOUT) as other:
            plan = (
                other.search("CarePlan")
                .where(identifier=f"{ident['system']}|{ident['value']}")
                .fetch_all()[0]
            )
            other.update({**plan, **change}, if_match=plan["meta"]["versionId"])

    return act


def test_concurrent_change_to_other_elements_is_merged(fhir_server, api):
    episode = unique_episode()
    with api.client(fhir_server) as client:
        api.push(client, episode)
        bundle, ident = _bundle_with(episode, title="Revised treatment plan")
        note = [{"text": "added by another client"}]
        api.hook(client, BeforeFirstWrite(_other_writer(fhir_server, ident, {"note": note})))
        report = api.push(client, bundle)
        assert report.updated == 1 and report.merged
        plan = (
            client.search("CarePlan")
            .where(identifier=f"{ident['system']}|{ident['value']}")
            .fetch_all()[0]
        )
        assert plan["title"] == "Revised treatment plan"
        assert plan["note"] == note  # the other client's change survived


def test_concurrent_change_to_the_same_element_is_a_conflict(fhir_server, api):
    episode = unique_episode()
    with api.client(fhir_server) as client:
        api.push(client, episode)
        bundle, ident = _bundle_with(episode, title="Ours")
        api.hook(client, BeforeFirstWrite(_other_writer(fhir_server, ident, {"title": "Theirs"})))
        with pytest.raises(SyncConflict) as info:
            api.push(client, bundle)
        assert info.value.report.conflicts[0].elements == ("title",)
        plan = (
            client.search("CarePlan")
            .where(identifier=f"{ident['system']}|{ident['value']}")
            .fetch_all()[0]
        )
        assert plan["title"] == "Theirs"  # nothing overwritten


class FailAfterChunks:
    """A hook (:meth:`Api.hook`): the connection breaks on every transaction after ``k``."""

    def __init__(self, k: int) -> None:
        self.k, self.seen = k, 0

    def __call__(self, request: Request) -> None:
        if request.method == "POST" and b'"transaction"' in (request.body or b""):
            self.seen += 1
            if self.seen > self.k:
                raise TransportError("connection reset (test)", method="POST", url=request.url)


def test_interrupted_push_then_rerun_completes_without_duplicates(fhir_server, api):
    episode = unique_episode()
    n = len(transaction_bundle([episode])["entry"])
    with api.client(fhir_server) as client:
        api.hook(client, FailAfterChunks(2))
        with pytest.raises(SyncError) as info:
            api.push(client, episode, chunk_size=30)
        report = info.value.report
        # Shared resources (same NPI as earlier tests) may already exist: not in any chunk.
        assert report.writes == 60 and report.chunks_written == 2
        assert report.failed == n - 60 - report.unchanged
        api.unhook(client)
        rerun = api.push(client, episode, chunk_size=30)
        assert rerun.writes == report.failed and rerun.failed == 0
        assert rerun.unchanged == n - report.failed
        assert set(count_by_identifier(client, transaction_bundle([episode])).values()) == {1}


def _normal(value):
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_normal(v) for v in value]
        if items and all(isinstance(v, dict) and "key" in v for v in items):
            items.sort(key=lambda v: v["key"])
        return items
    return value


def test_pull_round_trip_co_occurring_example_is_equal(fhir_server, api):
    original = load_episodes(EXAMPLES / "co-occurring-sud-iop.yaml")[0]
    with api.client(fhir_server) as client:
        api.push(client, original, disclosure=OWN)
        ident = original.patient.identifiers[0]
        result = api.pull(client, (ident.system, ident.value))
    assert len(result.episodes) == 1
    # Lists come back in server order; compared by key they are equal.
    assert _normal(result.episodes[0].model_dump(mode="json")) == _normal(
        original.model_dump(mode="json")
    )


def test_pull_round_trip_mental_health_example(fhir_server, api):
    original = load_episodes(EXAMPLES / "mental-health-iop.yaml")[0]
    with api.client(fhir_server) as client:
        api.push(client, original)
        ident = original.patient.identifiers[0]
        result = api.pull(client, (ident.system, ident.value))
    back = _normal(result.episodes[0].model_dump(mode="json"))
    want = _normal(original.model_dump(mode="json"))
    # The one difference: the crisis-line Organization is referenced by no resource (the
    # builder writes crisis contacts as contained resources), so nothing on the server leads
    # from the patient to it. Everything else round-trips.
    assert [o["key"] for o in want["organizations"]] == [
        "crisis-line",
        "lakeside-iop",
        "mercy-general",
    ]
    want["organizations"] = [o for o in want["organizations"] if o["key"] != "crisis-line"]
    assert back == want


def test_incremental_pull_since_a_time_after_the_push(fhir_server, api):
    episode = unique_episode("co-occurring-sud-iop")
    with api.client(fhir_server) as client:
        api.push(client, episode, disclosure=OWN)
        ident = episode.patient.identifiers[0]
        full = api.pull(client, (ident.system, ident.value))
        assert len(full.episodes) == 1
        later = "2100-01-01T00:00:00Z"
        empty = api.pull(client, (ident.system, ident.value), since=later)
        assert len(empty.episodes) <= 1
        assert not empty.episodes or not empty.episodes[0].sessions


def test_cli_push_summary_and_pull(fhir_server, tmp_path):
    root = Path(__file__).resolve().parents[2]
    episode = unique_episode("co-occurring-sud-iop")
    src = tmp_path / "e.yaml"
    src.write_text(yaml.safe_dump(dump_episode(episode)))
    run = [sys.executable, "-m", "iopfhir"]
    p = subprocess.run(
        [*run, "push", str(src), "--server", fhir_server, "--summary", "--own-system"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["created"] > 0
    ident = episode.patient.identifiers[0]
    out = tmp_path / "back.yaml"
    p = subprocess.run(
        [
            *run,
            "pull",
            "--server",
            fhir_server,
            "--patient",
            f"{ident.system}|{ident.value}",
            "-o",
            str(out),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    back = load_episodes(out)[0]
    assert _normal(back.model_dump(mode="json")) == _normal(episode.model_dump(mode="json"))


def test_episodes_sharing_staff_pushed_one_by_one_settle(fhir_server, api):
    """Two episodes that share an organization and clinicians (same NPIs), pushed one after
    the other and then again: the shared resources gather both episodes' identifiers once,
    and the third round writes nothing (no flip-flop between the episodes)."""
    from iopfhir.synth import synth_episodes

    seed = int(time.time() * 1000) % 100_000
    a, b = list(synth_episodes(2, seed=seed))
    shared = {p.identifiers[0].value for p in a.practitioners} & {
        p.identifiers[0].value for p in b.practitioners
    }
    with api.client(fhir_server) as client:
        # the program's own record system: a synthetic SUD program's data is Part 2
        api.push(client, a, disclosure=OWN)
        api.push(client, b, disclosure=OWN)
        again_a = api.push(client, a, disclosure=OWN)
        again_b = api.push(client, b, disclosure=OWN)
        assert again_a.writes == 0, again_a.summary()
        assert again_b.writes == 0, again_b.summary()
        org_npi = a.organizations[0].identifiers[0]
        (org,) = (
            client.search("Organization")
            .where(identifier=f"{org_npi.system}|{org_npi.value}")
            .fetch_all()
        )
        values = [i["value"] for i in org["identifier"]]
        assert f"{a.key}/program-site" in values
        assert f"{b.key}/program-site" in values
    assert shared or a.organizations[0].identifiers == b.organizations[0].identifiers


@pytest.mark.parametrize("mode", ["batch", "single"])
def test_push_in_a_lesser_write_mode_then_again_writes_nothing(fhir_server, mode, api):
    """The modes a server without transactions (or without batch) gets, on real servers."""
    episode = unique_episode("co-occurring-sud-iop")
    with api.client(fhir_server) as client:
        first = api.push(client, episode, mode=mode, disclosure=OWN)
        assert first.mode == mode and first.failed == 0
        # shared staff and organizations may exist from other tests (unchanged or merged)
        assert first.created + first.updated + first.unchanged == first.total
        assert first.created > 100
        again = api.push(client, episode, mode=mode, disclosure=OWN)
        assert again.writes == 0, again.summary()
        assert set(count_by_identifier(client, transaction_bundle([episode])).values()) == {1}
