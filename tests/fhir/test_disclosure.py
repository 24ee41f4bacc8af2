"""The one disclosure function (issue 12, point 6): Part 2 data leaves only under a consent
that covers recipient, purpose and date; what is withheld leaves no reference behind;
disclosed Part 2 data carries the obligation label; a document says that information was
withheld and prohibits redisclosure; one AuditEvent per disclosure."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from iopfhir.domain import Consent, Episode, Provision, load_episodes
from iopfhir.errors import InputError, MappingError
from iopfhir.fhir.bundle import collection_bundle, transaction_bundle
from iopfhir.fhir.conventions import PROFILE
from iopfhir.fhir.disclosure import DisclosureRefused, DisclosureTerms, disclose, is_part2
from iopfhir.fhir.document import toc_disclosure, toc_document
from iopfhir.validation import Validator

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "iopfhir" / "examples"
NPI = "http://hl7.org/fhir/sid/us-npi"
VALLEY = "1720945836"  # the withdrawal unit the example's consent names
DAY = date(2026, 7, 1)
UNLABELLED = {"Organization", "Practitioner", "PractitionerRole", "Location"}


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator.with_iop_profiles()


@pytest.fixture(scope="module")
def sud() -> Episode:
    return load_episodes(EXAMPLES / "co-occurring-sud-iop.yaml")[0]


def security(resource: dict[str, Any]) -> set[str]:
    return {c["code"] for c in resource.get("meta", {}).get("security", [])}


def changed(episode: Episode, **fields: Any) -> Episode:
    return Episode.model_validate({**episode.model_dump(), **fields})


def consent_with(episode: Episode, **changes: Any) -> Episode:
    data = episode.consents[0].model_dump()
    data.update(changes)
    return changed(episode, consents=[Consent.model_validate(data)])


def references(value: Any) -> list[str]:
    if isinstance(value, dict):
        out = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return out + [r for k, v in value.items() if k != "reference" for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []


def dangling(bundle: dict[str, Any]) -> list[str]:
    """urn:uuid references that name no entry of the Bundle."""
    urls = {e["fullUrl"] for e in bundle["entry"]}
    return [
        r
        for e in bundle["entry"]
        for r in references(e["resource"])
        if r.startswith("urn:uuid:") and r not in urls
    ]


NOTHING_LEAVES = [
    ("no consent", lambda e: changed(e, consents=[]), VALLEY, "TREAT", DAY),
    ("expired", lambda e: e, VALLEY, "TREAT", date(2027, 6, 1)),
    (
        "revoked",
        lambda e: consent_with(e, status="inactive", revoked=date(2026, 6, 1)),
        VALLEY,
        "TREAT",
        DAY,
    ),
    ("other recipient", lambda e: e, f"{NPI}|1386640211", "TREAT", DAY),
    ("other purpose", lambda e: e, VALLEY, "HPAYMT", DAY),
]


@pytest.mark.parametrize(("case", "make", "recipient", "purpose", "day"), NOTHING_LEAVES)
def test_nothing_labelled_leaves_without_a_covering_consent(
    sud: Episode,
    validator: Validator,
    case: str,
    make: Any,
    recipient: str,
    purpose: str,
    day: date,
) -> None:
    bundle = transaction_bundle([make(sud)])
    before = copy.deepcopy(bundle)
    result = disclose(bundle, recipient=recipient, purpose=purpose, at=day)
    assert bundle == before  # the input is never changed
    assert result.entries, case
    assert {r["resourceType"] for _u, r in result.entries} <= UNLABELLED, case
    assert not any(is_part2(r) for _u, r in result.entries)
    assert result.audit_events == [] and result.consents == []
    labelled = sum(1 for e in before["entry"] if is_part2(e["resource"]))
    assert sum(result.withheld.values()) == labelled > 100
    assert result.bundle is not None and not dangling(result.bundle)
    assert not validator.validate(result.bundle).errors


def test_a_permitting_consent_lets_everything_leave_with_the_obligation(
    sud: Episode, validator: Validator
) -> None:
    bundle = transaction_bundle([sud])
    result = disclose(bundle, recipient=VALLEY, purpose="COC", at=DAY)
    assert not result.withheld and result.references_removed == 0
    assert len(result.entries) == len(bundle["entry"])
    for _url, res in result.entries:
        if res["resourceType"] in UNLABELLED:
            assert "NORDSCLCD" not in security(res)
        else:
            assert {"R", "ETH", "42CFRPart2", "NORDSCLCD"} <= security(res), res["resourceType"]
    assert result.consents == ["https://iopfhir.org/fhir/id/consent|sud-iop-0007/consent-valley"]
    assert result.bundle is not None
    assert not validator.validate(result.bundle).errors


def test_one_audit_event_per_disclosure_says_what_to_whom_why_and_under_which_consent(
    sud: Episode, validator: Validator
) -> None:
    # the recipient named by its key in the episode: the same organization
    result = disclose(collection_bundle([sud]), recipient="valley-withdrawal", at=DAY)
    (event,) = result.audit_events
    assert event["resourceType"] == "AuditEvent"
    assert event["type"]["code"] == "110106" and event["recorded"] == "2026-07-01T00:00:00Z"
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    source, destination = event["agent"]
    assert source["requestor"] is True and source["who"]["identifier"]["value"] == "1386640211"
    assert destination["who"]["identifier"] == {"system": NPI, "value": VALLEY}
    types = [e["type"]["code"] for e in event["entity"]]
    assert types[0] == "Patient" and types[-1] == "Consent"
    assert event["entity"][-1]["what"]["identifier"]["value"] == "sud-iop-0007/consent-valley"
    disclosed = sum(1 for _u, r in result.entries if is_part2(r))
    assert len(event["entity"]) == disclosed + 1  # the patient once, then the rest, the consent
    assert all("reference" not in e["what"] for e in event["entity"])  # by identifier
    assert "Whitaker" not in json.dumps(event)  # no patient data in the record itself
    assert event["meta"]["profile"] == [PROFILE.AUDIT_DISCLOSURE]
    assert not validator.validate(event).errors


def test_the_disclosure_profile_holds_an_audit_event_to_its_shape(
    sud: Episode, validator: Validator
) -> None:
    (event,) = disclose(
        collection_bundle([sud]), recipient="valley-withdrawal", at=DAY
    ).audit_events
    wrong = copy.deepcopy(event)
    wrong["agent"] = wrong["agent"][:1]  # no recipient
    wrong["entity"][0]["role"]["code"] = "99"  # not an object role
    del wrong["purposeOfEvent"]
    errors = validator.validate(wrong).errors
    paths = {issue.path for issue in errors}
    assert "AuditEvent.agent" in paths and "AuditEvent.entity[0].role" in paths, paths
    # a missing element is reported on its parent, and named in the message
    assert any("AuditEvent.purposeOfEvent" in issue.message for issue in errors)


def test_a_consent_for_substance_use_data_only_withholds_mental_health_data(
    sud: Episode, validator: Validator
) -> None:
    permit = sud.consents[0].provisions[0].model_copy(update={"data": ["substance-use"]})
    episode = consent_with(sud, provisions=[permit.model_dump()])
    bundle = transaction_bundle([episode])
    result = disclose(bundle, recipient=VALLEY, purpose="TREAT", at=DAY)
    assert result.withheld["Observation"] > 0 and result.withheld["Condition"] == 1
    assert result.references_removed > 0
    left = [r for _u, r in result.entries]
    assert not any("PSY" in security(r) for r in left)
    assert any(r["resourceType"] == "Patient" for r in left)
    assert result.bundle is not None and not dangling(result.bundle)
    report = validator.validate(result.bundle)
    assert not report.errors, report.errors[:5]
    # the depression diagnosis is gone, and so is every mention of it
    assert '"F32.1"' in json.dumps(bundle)
    assert '"F32.1"' not in json.dumps(result.bundle)
    assert "Major depressive disorder" not in json.dumps(result.bundle)
    assert len(result.audit_events) == 1


def test_the_rich_episode_partially_disclosed_still_validates(
    part2_episode: Episode, validator: Validator
) -> None:
    everyone = Consent(
        key="roi",
        date=date(2024, 1, 1),
        provisions=[Provision(type="permit"), Provision(type="deny", data=["mental-health"])],
    )
    episode = changed(part2_episode, consents=[everyone])
    bundle = transaction_bundle([episode])
    result = disclose(bundle, recipient="anyone", purpose="TREAT", at=date(2024, 6, 1))
    assert result.withheld and result.part2_disclosed > 0
    assert result.bundle is not None and not dangling(result.bundle)
    report = validator.validate(result.bundle)
    assert not report.errors, report.errors[:5]


def test_one_patients_consent_discloses_nothing_of_another(sud: Episode) -> None:
    other_patient = sud.patient.model_copy(
        update={"identifiers": [sud.patient.identifiers[0].model_copy(update={"value": "MRN-2"})]}
    )
    other = changed(sud, key="sud-iop-0008", patient=other_patient, consents=[])
    result = disclose(collection_bundle([sud, other]), recipient=VALLEY, at=DAY)
    assert len(result.audit_events) == 1
    patients = [r for _u, r in result.entries if r["resourceType"] == "Patient"]
    assert [p["identifier"][0]["value"] for p in patients] == ["MRN-902215"]
    assert result.withheld["Patient"] == 1


def test_the_own_record_system_gets_everything_unchanged(sud: Episode) -> None:
    bundle = transaction_bundle([sud])
    result = disclose(bundle, own_system=True)
    assert result.bundle == bundle and not result.audit_events and not result.withheld


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"purpose": "TREAT", "at": DAY}, "recipient"),
        ({"recipient": VALLEY, "purpose": "MARKETING", "at": DAY}, "purpose"),
        ({"recipient": VALLEY, "purpose": "TREAT"}, "at"),
    ],
)
def test_a_disclosure_named_badly_is_an_input_error(
    sud: Episode, kwargs: dict[str, Any], where: str
) -> None:
    with pytest.raises(InputError) as info:
        disclose(collection_bundle([sud]), **kwargs)
    assert where in str(info.value)


def test_the_disclosed_document_says_information_was_withheld_and_forbids_redisclosure(
    sud: Episode, validator: Validator
) -> None:
    recorded: list[dict[str, Any]] = []
    terms = DisclosureTerms(recipient=VALLEY, purpose="TREAT", at=DAY, audit=recorded.extend)
    full = toc_disclosure(sud, terms)
    assert full.bundle is not None
    titles = [s["title"] for s in full.bundle["entry"][0]["resource"]["section"]]
    assert (
        titles[-1].startswith("Prohibition on redisclosure")
        and "Information withheld" not in titles
    )
    assert "NORDSCLCD" in security(full.bundle["entry"][0]["resource"])
    assert "NORDSCLCD" in security(full.bundle)
    assert len(recorded) == 1
    assert not validator.validate(full.bundle).errors

    permit = sud.consents[0].provisions[0].model_copy(update={"data": ["substance-use"]})
    partial = toc_disclosure(consent_with(sud, provisions=[permit.model_dump()]), terms)
    doc = partial.bundle
    assert doc is not None
    sections = {s["title"]: s for s in doc["entry"][0]["resource"]["section"]}
    withheld = sections["Information withheld"]
    assert withheld["emptyReason"]["coding"][0]["code"] == "withheld"
    assert "not disclosed" in withheld["text"]["div"]
    # the withheld diagnosis is in no entry and no narrative: it says that, never what
    assert "Major depressive disorder" in json.dumps(toc_document(sud))
    text = json.dumps(doc)
    assert '"F32.1"' not in text and "Major depressive disorder" not in text
    assert len(doc["entry"]) < len(toc_document(sud)["entry"])
    assert not dangling(doc)
    report = validator.validate(doc)
    assert not report.errors, report.errors[:5]
    assert len(recorded) == 2


def test_no_document_when_the_patients_record_may_not_leave(sud: Episode) -> None:
    recorded: list[dict[str, Any]] = []
    terms = DisclosureTerms(recipient=VALLEY, purpose="HPAYMT", at=DAY, audit=recorded.extend)
    with pytest.raises(MappingError):
        toc_disclosure(sud, terms)
    assert recorded == []


def test_a_document_is_disclosed_whole_or_not_at_all(sud: Episode, validator: Validator) -> None:
    """A plain document holds no consent: its Composition may not leave, so nothing does.
    A document made for the recipient carries the consents it was disclosed under and
    can be checked again (``push doc.json --for``)."""
    with pytest.raises(DisclosureRefused):
        disclose(toc_document(sud), recipient=VALLEY, at=DAY)
    terms = DisclosureTerms(recipient=VALLEY, at=DAY, audit=lambda events: None)
    made = toc_disclosure(sud, terms).bundle
    assert made is not None and made["entry"][-1]["resource"]["resourceType"] == "Consent"
    again = disclose(made, recipient=VALLEY, at=DAY)
    assert not again.withheld and len(again.audit_events) == 1
    assert again.bundle is not None
    titles = [s["title"] for s in again.bundle["entry"][0]["resource"]["section"]]
    assert titles.count("Prohibition on redisclosure (42 CFR Part 2)") == 1  # not twice
    codes = [c["code"] for c in again.bundle["entry"][1]["resource"]["meta"].get("security", [])]
    assert codes.count("NORDSCLCD") <= 1
    assert not validator.validate(again.bundle).errors
    with pytest.raises(DisclosureRefused):
        disclose(made, recipient=VALLEY, purpose="HPAYMT", at=DAY)
