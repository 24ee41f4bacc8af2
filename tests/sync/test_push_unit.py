"""Push against an in-memory server: capability adaptation, chunking, failures, dry run."""

from __future__ import annotations

import io
import json
from argparse import Namespace
from pathlib import Path

import pytest

from iopfhir.client import FhirClient, MemoryTransport
from iopfhir.domain import load_episodes
from iopfhir.errors import InputError, SyncError
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.sync import DisclosureTerms, PushReport, push, server_support
from iopfhir.sync.resources import references

from .conftest import unique_episode
from .fake import BASE, FakeServer


def client_for(server: FakeServer) -> tuple[FhirClient, MemoryTransport]:
    transport = MemoryTransport(server.handle)
    return FhirClient(BASE, transport=transport), transport


def total_resources(episode) -> int:
    return len(transaction_bundle([episode])["entry"])


def test_transaction_server_gets_transactions_and_second_push_writes_nothing():
    server = FakeServer()
    episode = unique_episode()
    client, _transport = client_for(server)
    report = push(client, episode)
    n = total_resources(episode)
    assert report.summary() == {
        "created": n,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
        "round_trips": 3,
    }
    kinds = [b.get("type") for b in server.bodies]
    assert kinds == ["batch", "transaction"]  # one look-up, one write chunk
    assert json.loads(report.to_json()) == report.summary()
    writes_before = server.writes
    again = push(FhirClient(BASE, transport=MemoryTransport(server.handle)), episode)
    assert (again.created, again.updated, again.unchanged) == (0, 0, n)
    assert again.round_trips == 2  # metadata + one look-up batch
    assert server.writes == writes_before


def test_without_transaction_uses_batches_in_reference_order():
    server = FakeServer(transaction=False)
    episode = unique_episode()
    report = push(client_for(server)[0], episode, chunk_size=50)
    assert report.mode == "batch"
    assert report.created == total_resources(episode)
    write_batches = [b for b in server.bodies if b["entry"][0]["request"]["method"] != "GET"]
    assert write_batches
    assert all(b["type"] == "batch" for b in server.bodies)
    for b in write_batches:  # batch entries cannot point at each other: all refs resolved
        for e in b["entry"]:
            assert not [r for r in references(e["resource"]) if r.startswith("urn:")]
    assert all(len(b["entry"]) <= 50 for b in write_batches)
    assert push(client_for(server)[0], episode).writes == 0


def test_without_batch_sends_one_request_per_resource():
    server = FakeServer(transaction=False, batch=False)
    episode = unique_episode("co-occurring-sud-iop")
    client, transport = client_for(server)
    own = DisclosureTerms(own_system=True)  # Part 2 data: the server is the program's own
    report = push(client, episode, disclosure=own)
    n = total_resources(episode)
    assert report.mode == "single"
    assert report.created == n
    posts = [r for r in transport.requests if r.method == "POST"]
    puts = [r for r in transport.requests if r.method == "PUT"]
    # the reviews' Provenance has no identifier in R4: PUT to the id derived from it
    assert len(puts) == len(episode.reviews) > 0
    assert all("/Provenance/" in r.url for r in puts)
    assert len(posts) == n - len(puts)
    assert all(r.url != BASE for r in posts)  # no Bundle posted to the base
    assert all("If-None-Exist" in r.headers for r in posts)
    second = push(client_for(server)[0], episode, disclosure=own)
    assert second.writes == 0 and second.unchanged == n


def test_read_only_careplan_is_reported_as_not_accepted():
    server = FakeServer(read_only=("CarePlan",))
    episode = unique_episode()
    report = push(client_for(server)[0], episode)
    # the three IOP plans and the hospital's discharge plan
    plans = [
        e
        for e in transaction_bundle([episode])["entry"]
        if e["resource"]["resourceType"] == "CarePlan"
    ]
    assert len(plans) == 4
    assert report.not_accepted["CarePlan"] == len(plans)
    assert "read-only" in report.not_accepted_reasons["CarePlan"]
    assert not [k for k in server.store if k[0] == "CarePlan"]
    for resource in server.store.values():
        assert not [r for r in references(resource) if r.startswith("urn:")]
    assert report.created == total_resources(episode) - len(plans)


def test_capability_summary_names_the_plan():
    support = server_support(FakeServer(read_only=("Goal",)).statement())
    described = support.describe()
    assert described["write_mode"] == "transaction"
    assert described["types"]["Goal"]["write"] == "skip"
    assert described["types"]["Patient"]["write"] == "identifier"
    unlisted = server_support({"resourceType": "CapabilityStatement", "rest": [{}]})
    assert unlisted.mode == "single"
    assert unlisted.write_strategy("Goal")[0] == "put-id"
    assert server_support({"rest": [{}]}, unlisted="skip").write_strategy("Goal")[0] == "skip"


@pytest.mark.parametrize("status", [500, 0])
def test_failure_in_the_middle_of_a_chunked_push_then_rerun(status):
    server = FakeServer(fail_on_write_call=2, fail_status=status)
    episode = unique_episode()
    n = total_resources(episode)
    with pytest.raises(SyncError) as info:
        push(client_for(server)[0], episode, chunk_size=40)
    report = info.value.report
    assert isinstance(report, PushReport)
    assert report.created == 40
    assert report.failed == n - 40
    assert report.chunks_written == 1
    assert len(report.not_written) == n - 40
    server.fail_on_write_call = None
    rerun = push(client_for(server)[0], episode, chunk_size=40)
    assert rerun.created == n - 40 and rerun.unchanged == 40 and rerun.failed == 0
    assert len(server.store) == n  # nothing twice
    assert push(client_for(server)[0], episode).writes == 0


def test_dry_run_writes_nothing_and_plans_requests():
    server = FakeServer()
    episode = unique_episode()
    report = push(client_for(server)[0], episode, dry_run=True, chunk_size=100)
    assert server.writes == 0
    assert report.dry_run and report.created == 0
    assert len(report.planned) == total_resources(episode)
    assert {p.chunk for p in report.planned} == set(range(-(-total_resources(episode) // 100)))
    assert all(
        p.method == "POST" or (p.method == "PUT" and p.url.startswith("Provenance/"))
        for p in report.planned
    )
    assert sum(p.method == "PUT" for p in report.planned) == len(episode.reviews)


def test_changed_resource_is_updated_with_if_match():
    server = FakeServer()
    episode = unique_episode()
    push(client_for(server)[0], episode)
    bundle = transaction_bundle([episode])
    plan = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan")
    plan["resource"] = {**plan["resource"], "title": "Revised plan"}
    client, _transport = client_for(server)
    report = push(client, bundle)
    assert (report.created, report.updated) == (0, 1)
    tx = server.bodies[-1]
    assert tx["type"] == "transaction"
    assert [e["request"]["ifMatch"] for e in tx["entry"]] == ['W/"1"']


def test_validator_errors_stop_the_push_before_sending():
    from iopfhir.errors import Issue, ValidationFailed

    class Rejecting:
        def validate(self, resource):
            return Namespace(errors=[Issue("error", "required", "missing", "Patient.name")])

    server = FakeServer()
    client, transport = client_for(server)
    with pytest.raises(ValidationFailed):
        push(client, unique_episode(), validator=Rejecting())
    assert transport.requests == []


def test_cli_dry_run_prints_no_bodies_and_no_patient_data(monkeypatch):
    from iopfhir.cli import sync as cli

    server = FakeServer()
    monkeypatch.setattr(cli, "build_client", lambda args: client_for(server)[0])
    out, err = io.StringIO(), io.StringIO()
    args = Namespace(
        file="examples/mental-health-iop.yaml",
        summary=False,
        dry_run=True,
        chunk_size=None,
        progress=False,
        unlisted="attempt",
    )
    assert cli.run_push(args, out, err) == 0
    text = out.getvalue()
    assert "POST Patient (If-None-Exist)" in text
    assert "{" not in text and "MRN-448812" not in text and "Rivera" not in text
    assert server.writes == 0


def test_cli_summary_is_one_json_object(monkeypatch):
    from iopfhir.cli import sync as cli

    server = FakeServer()
    monkeypatch.setattr(cli, "build_client", lambda args: client_for(server)[0])
    out = io.StringIO()
    args = Namespace(
        file="examples/mental-health-iop.yaml",
        summary=True,
        dry_run=False,
        chunk_size=None,
        progress=False,
        unlisted="attempt",
    )
    assert cli.run_push(args, out, io.StringIO()) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert set(json.loads(lines[0])) == {"created", "updated", "unchanged", "failed", "round_trips"}
    assert cli.run_push(Namespace(**{**vars(args), "file": "nope.yaml"}), out, io.StringIO()) == 2


def test_cli_push_validates_before_sending(tmp_path, capsys):
    """A Bundle that breaks a required binding is refused before any request: had anything
    been sent, the unreachable server would have given exit code 1, not 2."""
    from iopfhir.cli import main
    from iopfhir.fhir.bundle import transaction_bundle

    examples = Path(__file__).resolve().parents[2] / "examples"
    bundle = transaction_bundle(load_episodes(examples / "mental-health-iop.yaml"))
    plan = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan")
    plan["resource"]["status"] = "bogus"
    source = tmp_path / "bundle.json"
    source.write_text(json.dumps(bundle))
    code = main(["push", str(source), "--server", "http://127.0.0.1:9/fhir", "--summary"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "nothing was sent" in err
    assert "resource.status" in err


@pytest.mark.parametrize("method", ["DELETE", "GET"])
def test_a_transaction_entry_that_deletes_or_reads_is_refused_before_any_request(
    method: str,
) -> None:
    """R4 transactions may delete and read (HL7's example ``bundle-transaction`` does);
    push writes resources only, so such a Bundle is refused at that entry's method, before
    any request, and the message says what to use instead."""
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
                "resource": {"resourceType": "Patient", "active": True},
                "request": {"method": "POST", "url": "Patient"},
            },
            {"request": {"method": method, "url": "Patient/234"}},
        ],
    }
    server = FakeServer()
    client, transport = client_for(server)
    with pytest.raises(InputError) as refused:
        push(client, bundle)
    assert refused.value.path == "Bundle.entry[1].request.method"
    assert f"a {method} entry" in str(refused.value)
    assert "FhirClient.transaction" in str(refused.value)
    assert transport.requests == []
