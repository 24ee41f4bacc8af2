"""Honest push reports: the server's answer decides what counts as created; a summary on
failure too; errors name their request once; a dry run validates like a push."""

from __future__ import annotations

import io
import json
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest

from iopfhir.cli import main
from iopfhir.cli import sync as cli
from iopfhir.client import FhirClient, MemoryTransport, Request, Response
from iopfhir.errors import SyncError
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.sync import push

from .conftest import unique_episode
from .fake import BASE, FakeServer

DEAD = "http://127.0.0.1:9/fhir"  # nothing listens: any request is a connection error


class NoGoalSearch(FakeServer):
    """A server without identifier search for Goal: Goals are written by PUT to a derived id."""

    def statement(self) -> dict[str, Any]:
        statement = super().statement()
        for res in statement["rest"][0]["resource"]:
            if res["type"] == "Goal":
                res["searchParam"] = []
        return statement


class OtherPushFirst:
    """A transport that lets another client push ``episode`` just before our first write."""

    def __init__(self, server: FakeServer, episode: Any) -> None:
        self.server, self.episode, self.other = server, episode, None
        self.inner = MemoryTransport(server.handle)

    def handle(self, request: Request, *, timeout: Any) -> Response:
        if self.other is None and request.method == "POST" and b'"transaction"' in request.body:
            self.other = push(
                FhirClient(BASE, transport=MemoryTransport(self.server.handle)), self.episode
            )
        return self.inner.handle(request, timeout=timeout)

    def close(self) -> None:
        pass


def test_concurrent_pushes_count_each_resource_created_once() -> None:
    server = NoGoalSearch()
    episode = unique_episode()
    n = len(transaction_bundle([episode])["entry"])
    # written by PUT to a derived id: Goals (no identifier search here) and the reviews'
    # Provenance (no identifier in R4)
    puts = len([g for p in episode.care_plans for g in p.goals]) + len(episode.reviews)
    assert puts > len(episode.reviews) > 0
    transport = OtherPushFirst(server, episode)
    ours = push(FhirClient(BASE, transport=transport), episode)
    theirs = transport.other
    assert theirs is not None and theirs.created == n
    # Our look-up found nothing; the other push created everything before our write: the
    # conditional creates matched (200), the PUTs to derived ids updated (200).
    assert ours.created == 0
    assert ours.matched_existing == n - puts and ours.updated == puts
    assert len(server.store) == n


def test_a_put_answered_200_is_not_counted_as_created() -> None:
    class Always200(NoGoalSearch):
        def _write(self, *args: Any) -> tuple[int, dict[str, Any]]:
            status, res = super()._write(*args)
            return (200 if args[0] == "PUT" and status == 201 else status), res

    episode = unique_episode()
    n = len(transaction_bundle([episode])["entry"])
    puts = len([g for p in episode.care_plans for g in p.goals]) + len(episode.reviews)
    report = push(FhirClient(BASE, transport=MemoryTransport(Always200().handle)), episode)
    assert (report.created, report.updated) == (n - puts, puts)


def _args(file: str, **extra: Any) -> Namespace:
    base = {
        "file": file,
        "summary": True,
        "dry_run": False,
        "chunk_size": None,
        "progress": False,
        "unlisted": "attempt",
        "no_validate": True,
    }
    return Namespace(**{**base, **extra})


def test_summary_when_the_push_fails_before_writing(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["push", "examples/mental-health-iop.yaml", "--server", DEAD, "--summary"])
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.out.splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    n = len(transaction_bundle([unique_episode()])["entry"])
    assert summary["created"] == summary["updated"] == 0 and summary["failed"] == n
    errors = [line for line in captured.err.splitlines() if not line.startswith("iopfhir: warning")]
    assert len(errors) == 1


def test_summary_when_the_push_fails_on_bad_input(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert cli.run_push(_args(str(tmp_path / "nope.yaml")), out, err) == 2
    assert json.loads(out.getvalue())["failed"] == 0 and len(out.getvalue().splitlines()) == 1
    assert len(err.getvalue().splitlines()) == 1


def test_summary_when_a_write_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer(fail_on_write_call=1)
    monkeypatch.setattr(
        cli, "build_client", lambda args: FhirClient(BASE, transport=MemoryTransport(server.handle))
    )
    out, err = io.StringIO(), io.StringIO()
    assert cli.run_push(_args("examples/mental-health-iop.yaml"), out, err) == 1
    summary = json.loads(out.getvalue())
    assert summary["failed"] > 0 and summary["created"] == 0


def test_an_error_names_its_request_once() -> None:
    episode = unique_episode()
    server = FakeServer(fail_on_write_call=1, fail_status=0)
    with pytest.raises(SyncError) as info:
        push(FhirClient(BASE, transport=MemoryTransport(server.handle)), episode)
    message = str(info.value)
    assert message.count("(POST") == 1, message
    with pytest.raises(SyncError) as info, FhirClient(DEAD) as client:
        push(client, episode)
    message = str(info.value)
    assert message.count("(GET") == 1 and info.value.report.failed > 0, message


def _dangling_bundle(tmp_path: Path) -> Path:
    bundle = transaction_bundle([unique_episode()])
    encounter = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    encounter["resource"]["subject"] = {
        "reference": "urn:uuid:00000000-0000-4000-8000-000000000000"
    }
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    return path


@pytest.mark.parametrize("dry_run", [["--dry-run"], []])
def test_dry_run_validates_like_a_push(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dry_run: list[str]
) -> None:
    """A transaction whose reference points nowhere is refused before any request (the
    server does not answer: had anything been sent, the exit code would be 1)."""
    path = _dangling_bundle(tmp_path)
    assert main(["validate", str(path)]) == 1  # what validate says of it
    capsys.readouterr()
    code = main(["push", str(path), "--server", DEAD, *dry_run])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "nothing was sent" in err


def test_dry_run_without_validation_plans_the_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = transaction_bundle([unique_episode()])
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    server = FakeServer()
    out = io.StringIO()
    args = _args(str(path), summary=False, dry_run=True)
    client = FhirClient(BASE, transport=MemoryTransport(server.handle))
    monkeypatch.setattr(cli, "build_client", lambda a: client)
    assert cli.run_push(args, out, io.StringIO()) == 0
    assert out.getvalue().startswith("# dry run:") and server.writes == 0


def test_dry_run_without_validation_still_names_a_reference_to_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without validation the reference check of a push still runs, before any write."""
    path = _dangling_bundle(tmp_path)
    server = FakeServer()
    err = io.StringIO()
    args = _args(str(path), summary=False, dry_run=True)
    client = FhirClient(BASE, transport=MemoryTransport(server.handle))
    monkeypatch.setattr(cli, "build_client", lambda a: client)
    out = io.StringIO()
    assert cli.run_push(args, out, err) == 1
    assert ".resource.subject.reference: a urn reference" in err.getvalue()
    # no plan printed that would look like a clean one ("0 write(s)")
    assert out.getvalue() == (
        "# dry run: no plan, the push would stop before any write (see the error)\n"
    )
    assert "00000000-0000-4000" not in err.getvalue() and server.writes == 0


def test_a_folder_of_fhir_resources_is_told_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder is pushed as episode files: one of FHIR resources gets a message saying
    so and what to do instead, not an episode file's parse error (nothing is sent)."""
    folder = tmp_path / "resources"
    folder.mkdir()
    patient = {"resourceType": "Patient", "id": "p", "gender": "female"}
    (folder / "Patient-p.json").write_text(json.dumps(patient))
    assert main(["push", str(folder), "--server", DEAD, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "holds FHIR resources: push them as one Bundle" in err, err
    assert "unknown key" not in err
