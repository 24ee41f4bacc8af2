"""Push and pull of FHIR documents (issue 12, point 5): the ToC document of each example
stored as a Bundle and as a DocumentReference on the real test servers (sekmet, Medplum),
twice (the second push writes nothing: resources and versions counted on the server),
pulled back and compared; error paths with ``responses`` fault injection only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
import responses
from tests.servers.fixtures import LIVE_TIMEOUT

from iopfhir.cli import main
from iopfhir.client import FhirClient, Retry
from iopfhir.domain import Episode
from iopfhir.errors import (
    DisclosureRefused,
    InputError,
    SyncConflict,
    UnsupportedByServer,
    ValidationFailed,
)
from iopfhir.fhir.document import (
    document_reference,
    render_html,
    toc_disclosure,
    toc_document,
)
from iopfhir.sync import DisclosureTerms, DocumentPullReport, pull_documents, push_document
from iopfhir.sync.documents._common import find_by_identifier
from iopfhir.validation import Validator

from .conftest import unique_episode

EXAMPLE_NAMES = ("mental-health-iop", "co-occurring-sud-iop")
LOINC = "http://loinc.org"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator.with_iop_profiles()


@pytest.fixture(params=["sekmet", "medplum"])
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each live test runs on both servers the suite starts (one session each)."""
    if request.param == "sekmet":
        yield request.getfixturevalue("live_server")
    else:
        yield request.getfixturevalue("medplum_server")


def _patient_key(episode: Episode) -> tuple[str, str]:
    ident = episode.patient.identifiers[0]
    return str(ident.system), str(ident.value)


def _entry(doc: dict[str, Any], rtype: str) -> dict[str, Any]:
    return next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == rtype)


def _store_patient(client: FhirClient, doc: dict[str, Any]) -> str:
    patient = _entry(doc, "Patient")
    ident = patient["identifier"][0]
    result = client.create(
        patient, if_none_exist={"identifier": f"{ident['system']}|{ident['value']}"}
    )
    assert result.id
    return result.id


def _state(client: FhirClient, rtype: str, system: str, value: str) -> list[tuple[str, str, int]]:
    """(id, versionId, number of versions) of every resource with that identifier."""
    out = []
    for r in find_by_identifier(client, rtype, system, value):
        history = client.history(rtype, r["id"])
        out.append((r["id"], r["meta"]["versionId"], len(history.get("entry") or [])))
    return out


def _as_values(resource: Any) -> Any:
    """JSON values (Medplum writes a decimal 9.0 back as 9): compare as Python values."""
    return json.loads(json.dumps(resource))


@pytest.mark.integration
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_document_pushed_twice_then_pulled_back(
    server: str, name: str, validator: Validator
) -> None:
    episode = unique_episode(name)
    doc = toc_document(episode, at="discharge")
    system, value = doc["identifier"]["system"], doc["identifier"]["value"]
    dr_ident = document_reference(doc)["identifier"][0]
    with FhirClient(server, timeout=LIVE_TIMEOUT) as client:
        assert _state(client, "Bundle", system, value) == []
        patient_id = _store_patient(client, doc)

        # Part 2 data (the SUD example) goes only to the program's own record system
        own = DisclosureTerms(own_system=True) if episode.part2 else None
        first = push_document(client, doc, as_="both", validator=validator, disclosure=own)
        assert first.actions == {"Bundle": "created", "DocumentReference": "created"}
        assert first.resolved >= 1  # the subject: the server's Patient
        bundles = _state(client, "Bundle", system, value)
        refs = _state(client, "DocumentReference", dr_ident["system"], dr_ident["value"])
        assert len(bundles) == 1 and len(refs) == 1

        second = push_document(client, doc, as_="both", validator=validator, disclosure=own)
        assert second.written == 0
        assert second.actions == {"Bundle": "unchanged", "DocumentReference": "unchanged"}
        assert _state(client, "Bundle", system, value) == bundles
        assert _state(client, "DocumentReference", dr_ident["system"], dr_ident["value"]) == refs

        stored_dr = client.read("DocumentReference", refs[0][0])
        assert stored_dr["subject"]["reference"] == f"Patient/{patient_id}"
        assert stored_dr["subject"]["identifier"] == _entry(doc, "Patient")["identifier"][0]

        # the stored Bundle is the document: same Composition, same entries
        stored = client.read("Bundle", bundles[0][0])
        assert stored["type"] == "document"
        assert _as_values(stored["entry"]) == _as_values(doc["entry"])

        report = DocumentPullReport()
        pulled = pull_documents(client, _patient_key(episode), report=report)
        assert [(d.system, d.value) for d in pulled] == [(system, value)]
        assert report.patient_id == patient_id
        got = pulled[0]
        assert got.source == f"DocumentReference/{refs[0][0]}"
        assert got.raw is not None and orjson.loads(got.raw) == doc  # the exact bytes
        assert got.bundle["entry"][0]["resource"] == doc["entry"][0]["resource"]
        assert [e["fullUrl"] for e in got.bundle["entry"]] == [e["fullUrl"] for e in doc["entry"]]


@pytest.mark.integration
def test_part2_document_is_stored_only_under_disclosure_terms(live_server: str) -> None:
    """A document holding 42 CFR Part 2 data: refused before any request without terms,
    and for a recipient no consent covers; stored as it is in the program's own record
    system; the document made for a consented recipient (``toc_disclosure``) is stored with
    the no-redisclosure label, its AuditEvents recorded first."""
    episode = unique_episode("co-occurring-sud-iop")
    assert episode.part2
    doc = toc_document(episode, at="discharge")
    system, value = doc["identifier"]["system"], doc["identifier"]["value"]
    day = date(2026, 6, 1)  # inside the example's consent period
    events: list[dict[str, Any]] = []
    with FhirClient(live_server, timeout=LIVE_TIMEOUT) as client:
        with pytest.raises(DisclosureRefused):
            push_document(client, doc, as_="bundle")
        other = DisclosureTerms(recipient="no-such-recipient", at=day, audit=events.extend)
        with pytest.raises(DisclosureRefused):
            push_document(client, doc, as_="bundle", disclosure=other)
        assert _state(client, "Bundle", system, value) == []
        assert events == []

        terms = DisclosureTerms(recipient="valley-withdrawal", at=day, audit=events.extend)
        made = toc_disclosure(episode, terms).bundle
        assert made is not None
        audited = len(events)
        report = push_document(client, made, as_="bundle", disclosure=terms)
        assert report.actions == {"Bundle": "created"}
        assert len(events) == 2 * audited  # the push recorded its own disclosure first
        made_ident = made["identifier"]
        (row,) = _state(client, "Bundle", made_ident["system"], made_ident["value"])
        stored = client.read("Bundle", row[0])
        labels = {c.get("code") for c in stored["entry"][0]["resource"]["meta"]["security"]}
        assert "NORDSCLCD" in labels

        own = push_document(client, doc, as_="bundle", disclosure=DisclosureTerms(own_system=True))
        assert own.actions == {"Bundle": "created"}
        (row,) = _state(client, "Bundle", system, value)
        assert len(client.read("Bundle", row[0])["entry"]) == len(doc["entry"])


@pytest.mark.integration
def test_attachment_by_url_and_stored_bundle_by_identifier(server: str) -> None:
    """A DocumentReference whose attachment is a url (``Bundle/<id>``) and one that holds
    only the page (the document found as a stored Bundle by its masterIdentifier)."""
    by_url = toc_document(unique_episode(), at="discharge")
    by_master = toc_document(unique_episode(), at="referral")
    with FhirClient(server, timeout=LIVE_TIMEOUT) as client:
        # one patient: give the second document the first one's patient
        key = _entry(by_url, "Patient")["identifier"][0]
        _entry(by_master, "Patient")["identifier"][0] = dict(key)
        _store_patient(client, by_url)
        stored = push_document(client, by_url, as_="bundle")
        assert stored.actions == {"Bundle": "created"}
        dr = document_reference(by_url)
        dr["content"] = [
            {
                "attachment": {
                    "contentType": "application/fhir+json",
                    "url": f"Bundle/{stored.ids['Bundle']}",
                }
            }
        ]
        push_document(client, by_url, as_="document-reference", document_reference=dr)

        push_document(client, by_master, as_="bundle")
        page = render_html(by_master)
        dr2 = document_reference(by_master, html=page)
        dr2["content"] = dr2["content"][1:]  # the page only
        push_document(client, by_master, as_="document-reference", document_reference=dr2)

        report = DocumentPullReport()
        pulled = pull_documents(client, (key["system"], key["value"]), report=report)
        got = {d.value: d for d in pulled}
        assert set(got) == {by_url["identifier"]["value"], by_master["identifier"]["value"]}
        assert _as_values(got[by_url["identifier"]["value"]].bundle["entry"]) == _as_values(
            by_url["entry"]
        )
        from_bundle = got[by_master["identifier"]["value"]]
        assert from_bundle.source.startswith("Bundle/") and from_bundle.raw is None
        assert _as_values(from_bundle.bundle) == _as_values(by_master)
        assert report.bundles == 1


@pytest.mark.integration
def test_cli_push_twice_and_pull_documents(live_server: str, tmp_path: Path) -> None:
    episode = unique_episode("co-occurring-sud-iop")
    doc = toc_document(episode, at="discharge")
    doc_file, dr_file = tmp_path / "doc.json", tmp_path / "dr.json"
    doc_file.write_bytes(orjson.dumps(doc))
    dr_file.write_bytes(orjson.dumps(document_reference(doc)))
    push_args = [
        "push",
        str(doc_file),
        "--document-reference",
        str(dr_file),
        "--server",
        live_server,
        "--summary",
        "--own-system",  # Part 2 data: the test server stands for the program's own
    ]
    summaries = []
    for _ in range(2):
        capture = tmp_path / "out.txt"
        code = _run(push_args, capture)
        assert code == 0
        summaries.append(json.loads(capture.read_text().strip().splitlines()[-1]))
    assert summaries[0]["written"] == 2
    assert summaries[1]["written"] == 0
    assert summaries[1]["actions"] == {"Bundle": "unchanged", "DocumentReference": "unchanged"}

    system, value = _patient_key(episode)
    out_dir = tmp_path / "docs"
    code = _run(
        [
            "pull",
            "--server",
            live_server,
            "--patient",
            f"{system}|{value}",
            "--documents",
            "-o",
            str(out_dir),
        ],
        tmp_path / "pull.txt",
    )
    assert code == 0
    files = sorted(out_dir.iterdir())
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
    assert orjson.loads(files[0].read_bytes()) == doc
    assert "pulled 1 document(s)" in (tmp_path / "pull.txt").read_text()


def _run(argv: list[str], capture: Path) -> int:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    capture.write_text(buf.getvalue())
    return code


# -- error paths: responses fault injection ---------------------------------------------

BASE = "https://fhir.example.test/r4"


def _statement(bundle: list[str], dr: list[str]) -> dict[str, Any]:
    def res(rtype: str, interactions: list[str]) -> dict[str, Any]:
        return {
            "type": rtype,
            "interaction": [{"code": c} for c in interactions],
            "searchParam": [
                {"name": "identifier", "type": "token"},
                {"name": "subject", "type": "reference"},
                {"name": "type", "type": "token"},
            ],
            "conditionalCreate": True,
        }

    return {
        "resourceType": "CapabilityStatement",
        "rest": [
            {
                "mode": "server",
                "interaction": [{"code": "transaction"}],
                "resource": [
                    res("Bundle", bundle),
                    res("DocumentReference", dr),
                    res("Patient", ["read", "search-type", "create"]),
                ],
            }
        ],
    }


def _searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


def _client() -> FhirClient:
    return FhirClient(BASE, retry=Retry.disabled())


def _doc() -> dict[str, Any]:
    return toc_document(unique_episode(), at="discharge")


def test_server_without_bundle_create_is_refused_before_any_write() -> None:
    doc = _doc()
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            f"{BASE}/metadata",
            json=_statement(["read", "search-type"], ["read", "search-type"]),
        )
        with pytest.raises(UnsupportedByServer, match="Bundle"):
            push_document(_client(), doc, as_="bundle")
        with pytest.raises(UnsupportedByServer, match="neither"):
            push_document(_client(), doc, as_="auto")
        assert all(c.request.method == "GET" for c in rsps.calls)
        assert {c.request.url.split("?")[0] for c in rsps.calls} == {f"{BASE}/metadata"}


def test_auto_stores_only_what_the_server_accepts() -> None:
    doc = _doc()
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            f"{BASE}/metadata",
            json=_statement(["read", "search-type"], ["create", "read", "search-type"]),
        )
        rsps.add(responses.GET, f"{BASE}/Patient", json=_searchset())
        rsps.add(responses.GET, f"{BASE}/DocumentReference", json=_searchset())
        rsps.add(
            responses.POST,
            f"{BASE}/DocumentReference",
            status=201,
            json={"resourceType": "DocumentReference", "id": "d1", "meta": {"versionId": "1"}},
            headers={"Location": f"{BASE}/DocumentReference/d1/_history/1"},
        )
        report = push_document(_client(), doc)
        assert report.forms == ["DocumentReference"]
        assert report.actions == {"DocumentReference": "created"}
        posts = [c for c in rsps.calls if c.request.method == "POST"]
        assert len(posts) == 1
        assert posts[0].request.headers["If-None-Exist"].startswith("identifier=")
        assert report.resolved == 0 and report.logical >= 1  # no Patient there: kept logical


def test_a_different_document_under_the_same_identifier_is_never_overwritten() -> None:
    doc = _doc()
    other = json.loads(json.dumps(doc))
    other["entry"][0]["resource"]["title"] = "changed"
    other["id"] = "b1"
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            f"{BASE}/metadata",
            json=_statement(["create", "read", "search-type"], []),
        )
        rsps.add(responses.GET, f"{BASE}/Bundle", json=_searchset(other))
        with pytest.raises(SyncConflict):
            push_document(_client(), doc, as_="bundle")
        assert not [c for c in rsps.calls if c.request.method != "GET"]


def test_non_document_bundles_are_refused() -> None:
    doc = _doc()
    collection = dict(doc, type="collection")
    with pytest.raises(InputError, match="document"):
        push_document(_client(), collection)  # before any request: no mock needed
    no_composition = dict(doc, entry=doc["entry"][1:])
    with pytest.raises(InputError) as info:
        push_document(_client(), no_composition)
    assert info.value.path == "Bundle.entry[0]"


def test_cli_push_of_a_transaction_with_document_options(tmp_path: Path) -> None:
    doc = _doc()
    tx = tmp_path / "tx.json"
    tx.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": []}))
    with responses.RequestsMock():  # any request would fail the test
        assert main(["push", str(tx), "--as", "bundle", "--server", BASE]) == 2
    bad_dr = tmp_path / "dr.json"
    dr = document_reference(doc)
    dr["masterIdentifier"] = {"system": "urn:x", "value": "other"}
    bad_dr.write_bytes(orjson.dumps(dr))
    doc_file = tmp_path / "doc.json"
    doc_file.write_bytes(orjson.dumps(doc))
    with responses.RequestsMock():
        assert (
            main(["push", str(doc_file), "--document-reference", str(bad_dr), "--server", BASE])
            == 2
        )


def test_invalid_document_is_not_sent(validator: Validator) -> None:
    doc = _doc()
    doc["entry"][0]["resource"]["status"] = "not-a-status"
    with responses.RequestsMock(), pytest.raises(ValidationFailed):
        push_document(_client(), doc, validator=validator)


def _dr_with(data: bytes, *, hash_ok: bool = True) -> dict[str, Any]:
    digest = hashlib.sha1(data if hash_ok else b"x", usedforsecurity=False).digest()
    return {
        "resourceType": "DocumentReference",
        "id": f"dr{len(data)}{hash_ok}",
        "status": "current",
        "type": {"coding": [{"system": LOINC, "code": "18842-5"}]},
        "content": [
            {
                "attachment": {
                    "contentType": "application/fhir+json",
                    "data": base64.b64encode(data).decode(),
                    "hash": base64.b64encode(digest).decode(),
                }
            }
        ],
    }


def test_pull_skips_what_is_not_the_patients_document() -> None:
    episode = unique_episode()
    doc = toc_document(episode, at="discharge")
    other_doc = toc_document(unique_episode(), at="discharge")  # another patient
    not_a_doc = dict(doc, type="collection")
    served = [
        _dr_with(orjson.dumps(not_a_doc)),
        _dr_with(orjson.dumps(other_doc)),
        _dr_with(orjson.dumps(doc), hash_ok=False),
        dict(_dr_with(orjson.dumps(doc)), type={"coding": [{"system": LOINC, "code": "11506-3"}]}),
    ]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(
            responses.GET,
            f"{BASE}/metadata",
            json=_statement(["read", "search-type"], ["read", "search-type"]),
        )
        rsps.add(
            responses.GET,
            f"{BASE}/Patient",
            json=_searchset({"resourceType": "Patient", "id": "p1"}),
        )
        rsps.add(responses.GET, f"{BASE}/DocumentReference", json=_searchset(*served))
        report = DocumentPullReport()
        assert pull_documents(_client(), _patient_key(episode), report=report) == []
    # both searches (subject:identifier, subject=Patient/p1) answer the four; each is
    # read once, the wrong type is seen by each search
    assert report.skipped == {
        "not a FHIR document (Bundle.type)": 1,
        "a document about another patient (Composition.subject)": 1,
        "DocumentReference.content[0].attachment.hash does not match the data": 1,
        "DocumentReference of another type": 2,
    }
    # nothing from the document is echoed in the reasons
    assert not any(episode.patient.identifiers[0].value in why for why in report.skipped)


def test_dry_run_reads_but_never_writes() -> None:
    doc = _doc()
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            f"{BASE}/metadata",
            json=_statement(["create", "read", "search-type"], ["create", "read", "search-type"]),
        )
        rsps.add(
            responses.GET,
            f"{BASE}/Patient",
            json=_searchset({"resourceType": "Patient", "id": "p9"}),
        )
        for rtype in ("Bundle", "DocumentReference"):
            rsps.add(responses.GET, f"{BASE}/{rtype}", json=_searchset())
        report = push_document(_client(), doc, dry_run=True)
        assert report.actions == {"Bundle": "planned", "DocumentReference": "planned"}
        assert report.written == 0 and report.resolved == 1
        assert {c.request.method for c in rsps.calls} == {"GET"}


def test_a_documents_validation_warnings_are_said(live_server: str, validator: Validator) -> None:
    """A document that validates with warnings (resources without a narrative: dom-6) is
    stored, and the push says how many warnings there were (the document's and its
    DocumentReference's), as a push of resources does."""

    def warnings(doc: dict[str, Any]) -> list[str]:
        with FhirClient(live_server, timeout=LIVE_TIMEOUT) as client:
            report = push_document(client, doc, validator=validator)
        assert report.written >= 1
        return [i.message for i in report.issues if i.severity == "warning"]

    doc = _doc()
    # the document's resources and the DocumentReference built have narratives: no warning
    assert warnings(doc) == []
    doc = _doc()
    stripped = 0
    for entry in doc["entry"][1:]:
        stripped += entry["resource"].pop("text", None) is not None
    assert stripped >= 3
    assert warnings(doc) == [f"validation found {stripped} warning(s); iopfhir validate lists them"]
