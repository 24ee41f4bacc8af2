"""Pushing FHIR that this project did not write, twice, to the real test servers.

The Synthea patient Bundles and the US Core examples of the shared corpus
(``IOPFHIR_CORPUS``) go to sekmet (every file) and to Medplum's FHIR router (the smaller
files: its in-memory repository scans per conditional create). What the server holds is
counted as ``(type, id) -> versionId`` of every resource of the types pushed, before and
after each push: the second push must change nothing in it. References that name nothing
must stop a push before any write, and the message must say where, not what. The CLI
prints the warnings the library collected. Transport faults are injected with
``responses``: only they earn the hint that a rerun writes the rest.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import os
from argparse import Namespace
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from tests.servers.fixtures import LIVE_TIMEOUT
from tests.servers.medplum import running_medplum
from tests.servers.sekmet import running_sekmet

from iopfhir.cli import sync as cli
from iopfhir.client import FhirClient, Retry
from iopfhir.errors import SyncError
from iopfhir.sync import PushReport, push
from iopfhir.sync.resources import reference_sites

#: Files small enough for Medplum's scanning repository within LIVE_TIMEOUT.
MEDPLUM_SYNTHEA = (
    "synthea/inferno-uscore-synthea-v2.6/uscore_bundle_patient_85.json",
    "synthea/synthea-v2.4-2019-smart/Trenton_Turner_54a45132-91fc-485e-b401-8c7644a0d517.json",
)
US_CORE_BASE = "http://hl7.org/fhir/us/core"


def _root() -> Path | None:
    value = os.environ.get("IOPFHIR_CORPUS")
    return Path(value) if value else None


@pytest.fixture
def corpus() -> Path:
    """The corpus folder; fails (never skips) when ``IOPFHIR_CORPUS`` is unset or wrong."""
    root = _root()
    if root is None or not (root / "synthea").is_dir():
        pytest.fail("IOPFHIR_CORPUS must name the shared corpus folder (e.g. ../shared/corpus)")
    return root


def _files(folder: str) -> list[str]:
    root = _root()
    if root is None or not (root / folder).is_dir():
        return ["<corpus missing>"]  # collected without the corpus: fails in the fixture
    return sorted(str(p.relative_to(root)) for p in (root / folder).rglob("*.json"))


@pytest.fixture(params=["server", "medplum"])
def fhir_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """``(kind, base URL)``: sekmet for the session, or a fresh Medplum for the test."""
    if request.param == "server":
        yield "server", request.getfixturevalue("live_server")
        return
    request.getfixturevalue("medplum_server")  # Node present (or skipped/failed as there)
    with running_medplum() as base_url:
        yield "medplum", base_url


@pytest.fixture(scope="module")
def own_sekmet() -> Iterator[str]:
    """A sekmet for the US Core files one by one: what other tests wrote is not in it
    (a Practitioner of the Synthea file carries the NPI of US Core's practitioner-1)."""
    with running_sekmet() as base_url:
        yield base_url


@pytest.fixture(params=["server", "medplum"])
def fresh_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """``(kind, base URL)`` of a server started for the test alone."""
    if request.param == "medplum":
        request.getfixturevalue("medplum_server")  # Node present (or skipped/failed as there)
        with running_medplum() as base_url:
            yield "medplum", base_url
        return
    with running_sekmet() as base_url:
        yield "server", base_url


def _client(base_url: str) -> FhirClient:
    return FhirClient(base_url, timeout=LIVE_TIMEOUT)


def _types(bundle: dict[str, Any]) -> set[str]:
    return {e["resource"]["resourceType"] for e in bundle.get("entry") or []}


def _held(client: FhirClient, types: set[str]) -> dict[tuple[str, str], str]:
    """``(type, id) -> versionId`` of everything the server holds of ``types``."""
    out: dict[tuple[str, str], str] = {}
    for rtype in sorted(types):
        for resource in client.search(rtype).count(1000).fetch_all():
            out[(rtype, resource["id"])] = str((resource.get("meta") or {}).get("versionId"))
    return out


def _us_core_bundle(resources: list[dict[str, Any]], base: str = US_CORE_BASE) -> dict[str, Any]:
    """Examples as a collection Bundle, each under its canonical URL in the IG (``base``)."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources
        ],
    }


def _twice(
    client: FhirClient, bundle: dict[str, Any], pushed: dict[str, Any] | None = None
) -> tuple[PushReport, PushReport]:
    """Push twice (``pushed``, a single resource, or else ``bundle``); the second push must
    leave every resource and version as it was."""
    types = _types(bundle)
    before = _held(client, types)
    first = push(client, pushed or bundle)
    after_first = _held(client, types)
    second = push(client, pushed or bundle)
    after_second = _held(client, types)
    assert second.writes == 0, second.summary()
    assert second.unchanged == second.total - sum(second.not_accepted.values())
    assert after_second == after_first
    new = Counter(t for t, _ in set(after_first) - set(before))
    written = Counter(t for t, _ in first.written)
    assert sum(new.values()) <= first.created + first.updated
    assert set(new) <= set(written)
    return first, second


# -- Synthea ---------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.corpus
@pytest.mark.parametrize("name", _files("synthea"))
def test_synthea_file_pushed_twice_writes_nothing_the_second_time(
    corpus: Path, name: str, live_server: str
) -> None:
    _synthea_twice(corpus / name, live_server)


@pytest.mark.integration
@pytest.mark.corpus
@pytest.mark.parametrize("name", MEDPLUM_SYNTHEA)
def test_synthea_file_pushed_twice_to_medplum(corpus: Path, name: str, medplum: str) -> None:
    _synthea_twice(corpus / name, medplum)


@pytest.fixture
def medplum(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh Medplum for the test."""
    request.getfixturevalue("medplum_server")  # Node present (or skipped/failed as there)
    with running_medplum() as base_url:
        yield base_url


def _synthea_twice(path: Path, base_url: str) -> None:
    bundle = json.loads(path.read_bytes())
    with _client(base_url) as client:
        before = _held(client, _types(bundle))
        first, _ = _twice(client, bundle)
        third = push(client, bundle)  # Goals 4 -> 8 -> 12 before: a third time, still none
        after = _held(client, _types(bundle))
    assert first.failed == 0
    assert third.writes == 0
    # each resource of the file is on the server once: new resources per type = the file's
    in_file = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    new = Counter(t for t, _ in set(after) - set(before))
    for rtype, n in new.items():
        assert n <= in_file[rtype], rtype
    assert new["Goal"] == in_file["Goal"]
    assert new["Observation"] == in_file["Observation"]


# -- US Core ---------------------------------------------------------------------------------


#: US Core examples that are not valid R4, which a server rightly refuses.
NOT_R4 = {"diagnosticreport-cbc.json": "text without div (Narrative.div is 1..1)"}


def _us_core(corpus: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((corpus / "ig-examples" / "us-core").glob("*.json")):
        if path.name in NOT_R4:
            continue
        resource = json.loads(path.read_bytes())
        if resource.get("resourceType") != "Bundle":  # searchset Bundles: not for pushing
            out.append(resource)
    return out


def _refs_outside(resources: list[dict[str, Any]]) -> set[int]:
    """Indexes of the examples with a relative reference to an example the corpus left out."""
    have = {f"{r['resourceType']}/{r['id']}" for r in resources}
    out = set()
    for n, resource in enumerate(resources):
        for _, ref in reference_sites(resource):
            if "/" in ref and "://" not in ref and "?" not in ref and ref not in have:
                out.add(n)
    return out


@pytest.mark.integration
@pytest.mark.corpus
def test_us_core_examples_as_one_bundle(corpus: Path, fhir_server: tuple[str, str]) -> None:
    """The examples reference each other: as one Bundle they resolve, except the few that
    name examples the corpus left out; those stop the push before any write, named by
    place. Without them the set is written once and the second push writes nothing."""
    _, base_url = fhir_server
    resources = _us_core(corpus)
    outside = _refs_outside(resources)
    assert outside, "the corpus leaves out some examples that others reference"
    bundle = _us_core_bundle(resources)
    with _client(base_url) as client:
        before = _held(client, _types(bundle))
        with pytest.raises(SyncError) as failed:
            push(client, bundle)
        assert _held(client, _types(bundle)) == before  # nothing written
        report = failed.value.report
        assert isinstance(report, PushReport) and report.writes == 0
        named = {int(i.path.split("[")[1].split("]")[0]) for i in failed.value.issues if i.path}
        assert named == outside
        assert "a rerun writes the rest" not in str(failed.value)
        kept = [r for n, r in enumerate(resources) if n not in outside]
        first, _ = _twice(client, _us_core_bundle(kept))
    assert first.failed == 0 and first.created > 0


@pytest.mark.integration
@pytest.mark.corpus
@pytest.mark.parametrize("name", _files("ig-examples/us-core"))
def test_us_core_example_file_alone(corpus: Path, name: str, own_sekmet: str) -> None:
    """Each example file pushed on its own (sekmet): either it stands alone and the second
    push writes nothing, or it references examples the server does not hold and the push
    stops before any write, naming each relative reference by place. A file holding one
    resource is pushed as it is (push takes a single resource)."""
    resource = json.loads((corpus / name).read_bytes())
    alone = None if resource.get("resourceType") == "Bundle" else resource
    bundle = resource if resource.get("resourceType") == "Bundle" else _us_core_bundle([resource])
    if bundle.get("type") == "searchset":
        bundle = {**bundle, "type": "collection"}
    own = {f"{e['resource']['resourceType']}/{e['resource'].get('id')}" for e in bundle["entry"]}
    relative = [
        ref
        for e in bundle["entry"]
        for _, ref in reference_sites(e["resource"])
        if "/" in ref
        and "://" not in ref
        and not ref.startswith(("urn:", "#"))
        and ref.split("/_history/")[0] not in own
    ]
    with _client(own_sekmet) as client:
        before = _held(client, _types(bundle))
        if not relative:  # stands alone
            first, _ = _twice(client, bundle, alone)
            assert first.failed == 0
            return
        with pytest.raises(SyncError) as failed:
            push(client, alone or bundle)
        assert _held(client, _types(bundle)) == before
    errors = [i for i in failed.value.issues if i.severity == "error"]
    assert len(errors) == len(relative)
    assert all("relative reference" in i.message for i in errors)
    for ref in relative:  # named by place, never by the id it holds
        assert ref.split("/", 1)[1] not in str(failed.value)
    # a lone resource may name one pushed before from another file: the way out is said,
    # and the places are its own FHIRPaths (the file holds no Bundle)
    message = str(failed.value)
    assert ("push the resources together as one Bundle" in message) == (alone is not None)
    if alone is not None:
        assert all(str(i.path).startswith(alone["resourceType"] + ".") for i in errors)


# -- conditional references ------------------------------------------------------------------


NPI = "http://hl7.org/fhir/sid/us-npi"


def _with_conditional_practitioners(
    corpus: Path, *, keep_practitioners: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Inferno Synthea Bundle with references to its Practitioners turned into
    conditional ones (``Practitioner?identifier=<NPI>``), as newer Synthea writes them;
    returns it and the Practitioner entries (left in or taken out)."""
    bundle = json.loads((corpus / MEDPLUM_SYNTHEA[0]).read_bytes())
    practitioners = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Practitioner"]
    assert practitioners
    conditional = {}
    for e in practitioners:
        npi = next(i["value"] for i in e["resource"]["identifier"] if i["system"] == NPI)
        conditional[e["fullUrl"]] = f"Practitioner?identifier={NPI}|{npi}"
    out = copy.deepcopy(bundle)
    out["entry"] = [
        e
        for e in out["entry"]
        if keep_practitioners or e["resource"]["resourceType"] != "Practitioner"
    ]
    for e in out["entry"]:
        _replace_refs(e["resource"], conditional)
    return out, practitioners


def _replace_refs(node: Any, mapping: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref in mapping:
            node["reference"] = mapping[ref]
        for value in node.values():
            _replace_refs(value, mapping)
    elif isinstance(node, list):
        for value in node:
            _replace_refs(value, mapping)


@pytest.mark.integration
@pytest.mark.corpus
def test_dangling_conditional_references_fail_before_any_write(
    corpus: Path, fresh_server: tuple[str, str]
) -> None:
    _, base_url = fresh_server
    bundle, practitioners = _with_conditional_practitioners(corpus, keep_practitioners=False)
    npis = [i["value"] for e in practitioners for i in e["resource"]["identifier"]]
    with _client(base_url) as client:
        before = _held(client, _types(bundle) | {"Practitioner"})
        with pytest.raises(SyncError) as failed:
            push(client, bundle)
        assert _held(client, _types(bundle) | {"Practitioner"}) == before
        message = str(failed.value)
        assert "conditional reference to a Practitioner" in message
        assert ".resource." in message and ".reference" in message  # the place
        assert not any(npi in message for npi in npis)  # never the identifier
        assert "a rerun writes the rest" not in message
        errors = [i for i in failed.value.issues if i.severity == "error"]
        assert errors and all(i.path and i.path.startswith("Bundle.entry[") for i in errors)
        # once the server holds them, the same file resolves them there: written once
        seed = {"resourceType": "Bundle", "type": "collection", "entry": practitioners}
        push(client, seed)
        first, _ = _twice(client, bundle)
    assert first.failed == 0


@pytest.mark.integration
@pytest.mark.corpus
def test_conditional_references_to_entries_of_the_file_resolve_in_it(
    corpus: Path, fresh_server: tuple[str, str]
) -> None:
    bundle, _ = _with_conditional_practitioners(corpus, keep_practitioners=True)
    with _client(fresh_server[1]) as client:
        first, _ = _twice(client, bundle)
    assert first.failed == 0


# -- the CLI ---------------------------------------------------------------------------------


def _push_args(file: Path, server: str, *, validate: bool) -> Namespace:
    """The parsed arguments of ``iopfhir push FILE --server SERVER --summary``."""
    return Namespace(
        file=str(file),
        summary=True,
        dry_run=False,
        chunk_size=None,
        progress=False,
        unlisted="attempt",
        no_validate=not validate,
        server=server,
        config=None,
        token=None,
        basic_user=None,
        smart_client_id=None,
        insecure_http=None,
    )


@pytest.mark.integration
@pytest.mark.corpus
def test_cli_prints_the_warnings_of_a_push(corpus: Path, live_server: str) -> None:
    args = _push_args(corpus / MEDPLUM_SYNTHEA[1], live_server, validate=False)
    out, err = io.StringIO(), io.StringIO()
    assert cli.run_push(args, out, err) == 0
    summary = json.loads(out.getvalue())
    assert summary["failed"] == 0
    warnings = [line for line in err.getvalue().splitlines() if "warning" in line]
    assert any("Encounter resource(s) without a business identifier" in w for w in warnings)
    assert all("urn:uuid" not in w for w in warnings)  # no input values
    out2, err2 = io.StringIO(), io.StringIO()
    assert cli.run_push(args, out2, err2) == 0
    assert json.loads(out2.getvalue())["created"] == 0
    assert "warning" in err2.getvalue()


@pytest.mark.integration
@pytest.mark.parametrize("suffix", [".json", ".json.gz", ".xml", ".xml.gz"])
def test_cli_pushes_a_file_holding_one_resource(
    tmp_path: Path, own_sekmet: str, suffix: str
) -> None:
    """A JSON file with one resource (not a Bundle) is pushed as it is, and a second push
    writes nothing; gzip-compressed (``.json.gz``) too, and FHIR XML."""
    value = f"one-resource-file{suffix}"  # each its own Organization on the server
    identifier = {"system": "urn:oid:2.16.840.1.113883.4.642.1.0", "value": value}
    file = tmp_path / f"organization{suffix}"
    if suffix.startswith(".xml"):
        body = (
            '<Organization xmlns="http://hl7.org/fhir"><identifier>'
            f'<system value="{identifier["system"]}"/><value value="{value}"/>'
            '</identifier><name value="X"/></Organization>'
        )
    else:
        body = json.dumps({"resourceType": "Organization", "identifier": [identifier], "name": "X"})
    file.write_bytes(gzip.compress(body.encode()) if suffix.endswith(".gz") else body.encode())
    args = _push_args(file, own_sekmet, validate=True)
    summaries = []
    for _ in range(2):
        out, err = io.StringIO(), io.StringIO()
        assert cli.run_push(args, out, err) == 0, err.getvalue()
        summaries.append(json.loads(out.getvalue()))
    assert (summaries[0]["created"], summaries[1]["created"]) == (1, 0)
    assert (summaries[1]["updated"], summaries[1]["unchanged"]) == (0, 1)
    with _client(own_sekmet) as client:
        held = client.search("Organization").where(identifier=value).fetch_all()
    assert [r["identifier"] for r in held] == [[identifier]]


# -- transport faults: the rerun hint only where it is true -----------------------------------


BASE = "https://fhir.example.org/fhir"
CAPABILITIES = {
    "resourceType": "CapabilityStatement",
    "rest": [
        {
            "mode": "server",
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
            "resource": [
                {
                    "type": t,
                    "interaction": [{"code": c} for c in ("create", "update", "search-type")],
                    "searchParam": [{"name": "identifier", "type": "token"}],
                }
                for t in ("Patient", "Goal")
            ],
        }
    ],
}
SMALL = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        {
            "fullUrl": "urn:uuid:0e9c3f52-6f1a-4d8e-9a51-3c7b2f1d0a11",
            "resource": {"resourceType": "Patient", "name": [{"family": "Test"}]},
        },
        {
            "fullUrl": "urn:uuid:1f2a3b4c-5d6e-4f70-8192-a3b4c5d6e7f8",
            "resource": {
                "resourceType": "Goal",
                "lifecycleStatus": "active",
                "description": {"text": "walk"},
                "subject": {"reference": "urn:uuid:0e9c3f52-6f1a-4d8e-9a51-3c7b2f1d0a11"},
            },
        },
    ],
}
EMPTY_BATCH = {
    "resourceType": "Bundle",
    "type": "batch-response",
    "entry": [
        {
            "response": {"status": "200 OK"},
            "resource": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        }
    ]
    * 2,
}


def _faulty(rsps: responses.RequestsMock, write: Any) -> FhirClient:
    rsps.add(responses.GET, f"{BASE}/metadata", json=CAPABILITIES)
    # the first POST is the look-up batch (nothing there); the second the transaction
    rsps.add(responses.POST, BASE, json=EMPTY_BATCH)
    rsps.add(responses.POST, BASE, **write)
    return FhirClient(BASE, retry=Retry.disabled())


@pytest.mark.parametrize(
    ("write", "rerun_helps"),
    [
        ({"body": requests.exceptions.ConnectionError("reset by peer")}, True),
        ({"status": 503, "json": {"resourceType": "OperationOutcome", "issue": []}}, True),
        (
            {
                "status": 400,
                "json": {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "invalid"}],
                },
            },
            False,
        ),
    ],
    ids=["connection-reset", "503", "400"],
)
def test_the_rerun_hint_only_where_a_rerun_helps(write: dict[str, Any], rerun_helps: bool) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        client = _faulty(rsps, write)
        with pytest.raises(SyncError) as failed:
            push(client, SMALL)
    message = str(failed.value)
    assert ("a rerun writes the rest" in message) is rerun_helps
    if not rerun_helps:
        assert "fails the same way" in message
    report = failed.value.report
    assert isinstance(report, PushReport) and report.writes == 0 and report.failed == 2


# -- plan and identity, without a server -----------------------------------------------------


def _observation(url: str, refs: list[str]) -> tuple[str, dict[str, Any]]:
    return url, {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "hasMember": [{"reference": r} for r in refs],
    }


def test_a_reference_cycle_is_kept_whole_in_one_chunk() -> None:
    """Inferno's Synthea file has two Observations naming each other: cut into chunks in
    file order, a transaction referenced what the next chunk would create."""
    from iopfhir.sync.capabilities import ServerSupport
    from iopfhir.sync.push.plan import chunks, classify
    from iopfhir.sync.push.report import PushReport as Report
    from iopfhir.sync.push.state import PushRun

    urls = [f"urn:uuid:00000000-0000-4000-8000-00000000000{n}" for n in range(6)]
    entries = [
        _observation(urls[0], [urls[5]]),
        _observation(urls[1], [urls[2]]),
        _observation(urls[2], [urls[1], urls[3]]),  # 1 <-> 2, both after 3
        _observation(urls[3], []),
        _observation(urls[4], [urls[0]]),
        _observation(urls[5], []),
    ]
    run = PushRun(FhirClient(BASE), ServerSupport(mode="transaction"), Report(), chunk_size=2)
    classify(run, entries)
    planned = chunks(run, run.items, "transaction")
    where = {item.full_url: n for n, chunk in enumerate(planned) for item in chunk}
    assert sorted(where) == sorted(urls)
    assert where[urls[1]] == where[urls[2]]
    for item in run.items:
        for ref in item.refs:
            assert where[ref] <= where[item.full_url]


def test_the_identity_given_is_stable_and_says_nothing_of_the_content() -> None:
    from iopfhir.sync.push.identity import SOURCE_RECORD_SYSTEM, source_identity, with_identity

    goal = {"resourceType": "Goal", "id": "g1", "description": {"text": "walk daily"}}
    changed = {**goal, "description": {"text": "walk twice a day"}}
    urn = "urn:uuid:4b14070a-2ef9-11ed-a261-0242ac120002"
    first = source_identity("Goal", urn, goal)
    assert first == source_identity("Goal", urn, copy.deepcopy(goal))
    assert first[0] == SOURCE_RECORD_SYSTEM and "walk" not in first[1]
    # a global fullUrl names the resource: a changed Goal is the same Goal (an update)
    assert source_identity("Goal", urn, changed) == first
    # a local id does not: the content decides
    assert source_identity("Goal", "Goal/g1", changed) != source_identity("Goal", "Goal/g1", goal)
    carried = with_identity(goal, first)
    assert carried is not None and carried["identifier"] == [
        {"system": first[0], "value": first[1]}
    ]
    assert "identifier" not in goal  # the input is not changed
    provenance = {"resourceType": "Provenance", "recorded": "2024-01-01T00:00:00Z"}
    assert with_identity(provenance, first) is None  # no identifier in R4: PUT to its id


@pytest.mark.corpus
def test_an_hl7_example_document_is_stored_twice_as_bundle_and_document_reference(
    corpus: Path, own_sekmet: str
) -> None:
    """HL7's own example document (``Bundle-father``: absolute fullUrls, the author named
    relatively, an Encounter identifier without a system, a Patient without identifier):
    stored as a Bundle and a plain R4 DocumentReference (no ToC profile it could not meet)
    whose logical references say what the document has; the second push writes nothing."""
    from iopfhir.fhir.document import TOC_DOCUMENT_REFERENCE_PROFILE, document_reference
    from iopfhir.sync import push_document
    from iopfhir.validation import Validator

    doc = json.loads((corpus / "hl7-examples/r4-core-examples/Bundle-father.json").read_text())
    dr = document_reference(doc)
    assert TOC_DOCUMENT_REFERENCE_PROFILE not in (dr.get("meta") or {}).get("profile", [])
    # Practitioner/example read against the Composition's server: the document's entry
    assert dr["author"] == [
        {
            "type": "Practitioner",
            "identifier": {"system": "http://www.acme.org/practitioners", "value": "23"},
        }
    ]
    assert dr["context"]["encounter"] == [{"type": "Encounter", "identifier": {"value": "S100"}}]
    assert dr["subject"] == {"type": "Patient", "display": "Eve Everywoman"}
    validator = Validator.with_iop_profiles()
    assert not validator.validate(dr).errors
    with _client(own_sekmet) as client:
        first = push_document(client, doc, as_="both", validator=validator)
        assert first.actions == {"Bundle": "created", "DocumentReference": "created"}
        second = push_document(client, doc, as_="both", validator=validator)
        assert second.written == 0
        assert second.actions == {"Bundle": "unchanged", "DocumentReference": "unchanged"}


def test_a_subscription_the_server_activated_is_not_written_again(own_sekmet: str) -> None:
    """R4: a client asks for a Subscription ``requested``; the server sets ``active`` (or
    ``error``) itself. HL7's example pushed twice: the second push writes nothing."""
    subscription = {
        "resourceType": "Subscription",
        "id": "example",
        "status": "requested",
        "reason": "Monitor new neonatal function",
        "criteria": "Observation?code=http://loinc.org|1975-2",
        "channel": {
            "type": "rest-hook",
            "endpoint": "https://example.org/on-result",
            "payload": "application/fhir+json",
        },
    }
    with _client(own_sekmet) as client:
        first = push(client, subscription)
        assert first.writes == 1
        held = client.search("Subscription").fetch_all()
        assert [s["status"] for s in held] == ["active"]  # what the server set
        second = push(client, subscription)
        assert second.writes == 0, second.summary()
        assert client.search("Subscription").fetch_all() == held
        # a Subscription switched off is written again (not a server's own change)
        off = push(client, {**subscription, "status": "off"})
        assert off.writes == 1


@pytest.mark.integration
@pytest.mark.corpus
def test_hl7_core_examples_as_one_bundle(corpus: Path, fhir_server: tuple[str, str]) -> None:
    """HL7's R4 examples of the corpus (patients, practitioners, organizations, encounters,
    observations, conditions, care plans, goals, a care team, responses, a Composition...)
    whose references resolve among them, as one Bundle under the spec's base: written
    once, the second push writes nothing on either server."""
    _, base_url = fhir_server
    folder = corpus / "hl7-examples/r4-core-examples"
    resources = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    resources = [
        r
        for r in resources
        if r.get("id")
        and r["resourceType"] not in ("Bundle", "Questionnaire")
        and r["resourceType"] not in ("PlanDefinition", "ActivityDefinition", "RequestGroup")
    ]
    while outside := _refs_outside(resources):  # drop what names an example left out
        resources = [r for n, r in enumerate(resources) if n not in outside]
    assert len({r["resourceType"] for r in resources}) >= 10 and len(resources) >= 100
    with _client(base_url) as client:
        first, _ = _twice(client, _us_core_bundle(resources, "http://hl7.org/fhir"))
    assert first.failed == 0 and first.created > 0
