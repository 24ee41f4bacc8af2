"""42 CFR Part 2 on a real server (issue 12, point 6): what reached the sekmet server the
tests start is searched after each push, not only the requests counted. No consent,
expired, revoked, other recipient, other purpose: nothing labelled is stored. A permitting
consent: it is stored with the obligation label, and one AuditEvent records it. Withheld
data leaves no dangling reference on the server."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from tests.servers.fixtures import LIVE_TIMEOUT

from iopfhir.client import FhirClient
from iopfhir.domain import Consent, Episode
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.fhir.disclosure import DisclosureRefused, is_part2
from iopfhir.sync import DisclosureTerms, push

from .conftest import unique_episode

VALLEY = "http://hl7.org/fhir/sid/us-npi|1720945836"
DAY = date(2026, 7, 1)

pytestmark = pytest.mark.integration


def changed(episode: Episode, **fields: Any) -> Episode:
    return Episode.model_validate({**episode.model_dump(), **fields})


def consent_with(episode: Episode, **changes: Any) -> Episode:
    data = episode.consents[0].model_dump()
    data.update(changes)
    return changed(episode, consents=[Consent.model_validate(data)])


def stored(client: FhirClient, episode: Episode) -> dict[str, list[dict[str, Any]]]:
    """Per type, what the server holds of the episode's labelled resources (searched by
    their business identifiers)."""
    wanted: dict[str, list[str]] = {}
    for entry in transaction_bundle([episode])["entry"]:
        res = entry["resource"]
        idents = res.get("identifier")
        ident = idents[0] if isinstance(idents, list) and idents else idents
        if is_part2(res) and isinstance(ident, dict):
            wanted.setdefault(res["resourceType"], []).append(f"{ident['system']}|{ident['value']}")
    out: dict[str, list[dict[str, Any]]] = {}
    for rtype, tokens in wanted.items():
        found: list[dict[str, Any]] = []
        for n in range(0, len(tokens), 40):
            query = client.search(rtype).where(identifier=",".join(tokens[n : n + 40]))
            found += query.fetch_all()
        # a server that ignores a search parameter answers with everything of the type:
        # keep only what carries one of the identifiers searched for
        out[rtype] = [r for r in found if _tokens(r) & set(tokens)]
    return out


def _tokens(resource: dict[str, Any]) -> set[str]:
    idents = resource.get("identifier")
    items = idents if isinstance(idents, list) else [idents] if isinstance(idents, dict) else []
    return {f"{i.get('system')}|{i.get('value')}" for i in items}


CASES = [
    ("no consent", lambda e: changed(e, consents=[]), VALLEY, "TREAT", DAY),
    ("expired", lambda e: e, VALLEY, "TREAT", date(2027, 6, 1)),
    (
        "revoked",
        lambda e: consent_with(e, status="inactive", revoked=date(2026, 6, 1)),
        VALLEY,
        "TREAT",
        DAY,
    ),
    ("other recipient", lambda e: e, "http://hl7.org/fhir/sid/us-npi|1386640211", "TREAT", DAY),
    ("other purpose", lambda e: e, VALLEY, "HPAYMT", DAY),
]


@pytest.mark.parametrize(("case", "make", "recipient", "purpose", "day"), CASES)
def test_nothing_labelled_reaches_the_server_without_a_covering_consent(
    live_server: str, case: str, make: Any, recipient: str, purpose: str, day: date
) -> None:
    episode = make(unique_episode("co-occurring-sud-iop"))
    recorded: list[dict[str, Any]] = []
    terms = DisclosureTerms(recipient=recipient, purpose=purpose, at=day, audit=recorded.extend)
    with FhirClient(live_server, timeout=LIVE_TIMEOUT) as client:
        report = push(client, episode, disclosure=terms)
        assert report.failed == 0, case
        assert 0 < report.total < 20  # organizations and staff only
        on_server = stored(client, episode)
        orgs = client.search("Organization").where(identifier=VALLEY).fetch_all()
    assert orgs, "the push reached the server"
    assert {t: len(v) for t, v in on_server.items() if v} == {}, case
    assert recorded == []  # nothing disclosed, nothing to account for


def test_push_without_a_disclosure_is_refused_and_nothing_reaches_the_server(
    live_server: str,
) -> None:
    episode = unique_episode("co-occurring-sud-iop")
    ident = episode.patient.identifiers[0]
    with FhirClient(live_server, timeout=LIVE_TIMEOUT) as client:
        with pytest.raises(DisclosureRefused):
            push(client, episode)
        with pytest.raises(DisclosureRefused):  # a recipient, but no record of it
            push(client, episode, disclosure=DisclosureTerms(recipient=VALLEY, at=DAY))
        patients = client.search("Patient").where(identifier=f"{ident.system}|{ident.value}")
        assert patients.fetch_all() == []


def test_a_permitting_consent_stores_everything_with_the_obligation_and_one_audit_event(
    live_server: str,
) -> None:
    episode = unique_episode("co-occurring-sud-iop")
    recorded: list[dict[str, Any]] = []
    terms = DisclosureTerms(recipient=VALLEY, purpose="TREAT", at=DAY, audit=recorded.extend)
    labelled = sum(1 for e in transaction_bundle([episode])["entry"] if is_part2(e["resource"]))
    # R4 Provenance has no identifier: the reviews are not searched for by one
    searchable = labelled - len(episode.reviews)
    with FhirClient(live_server, timeout=LIVE_TIMEOUT) as client:
        report = push(client, episode, disclosure=terms)
        assert report.failed == 0
        on_server = stored(client, episode)
    assert sum(len(v) for v in on_server.values()) == searchable
    for rtype, resources in on_server.items():
        for res in resources:
            codes = {c["code"] for c in res["meta"]["security"]}
            assert {"R", "ETH", "42CFRPart2", "NORDSCLCD"} <= codes, rtype
    (event,) = recorded
    assert len(event["entity"]) == labelled + 1  # each resource, and the consent


def test_withheld_data_leaves_no_dangling_reference_on_the_server(live_server: str) -> None:
    sud = unique_episode("co-occurring-sud-iop")
    permit = sud.consents[0].provisions[0].model_copy(update={"data": ["substance-use"]})
    episode = consent_with(sud, provisions=[permit.model_dump()])
    recorded: list[dict[str, Any]] = []
    terms = DisclosureTerms(recipient=VALLEY, purpose="TREAT", at=DAY, audit=recorded.extend)
    with FhirClient(live_server, timeout=LIVE_TIMEOUT) as client:
        report = push(client, episode, disclosure=terms)
        assert report.failed == 0
        on_server = stored(client, episode)
        everything = [r for resources in on_server.values() for r in resources]
        assert on_server["Patient"] and on_server["Observation"]
        psy = [
            (r["resourceType"], r.get("identifier"))
            for r in everything
            if "PSY" in {c["code"] for c in r["meta"]["security"]}
        ]
        assert psy == []
        assert not on_server.get("Condition") or all(
            c["code"]["coding"][0]["code"] != "F32.1" for c in on_server["Condition"]
        )
        # every reference a stored resource holds resolves on the server
        checked = 0
        for res in everything:
            for ref in _references(res):
                rtype, _, rid = ref.partition("/")
                if "?" in ref or not rid:
                    continue
                assert client.read(rtype, rid)["id"] == rid
                checked += 1
        assert checked > 50
    assert len(recorded) == 1


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return own + [r for k, v in value.items() if k != "reference" for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []
