"""42 CFR Part 2 in FHIR: the Consent both ways (profile iop-consent) and the security
labels per resource, decided by the program and the data (issue 12, point 6)."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from iopfhir.domain import Consent, Episode, Provision, load_episodes
from iopfhir.fhir.build import episode_to_resources
from iopfhir.fhir.bundle import collection_bundle, transaction_bundle
from iopfhir.fhir.read import read_fhir
from iopfhir.validation import Validator

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "iopfhir" / "examples"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
REVOKED = "https://iopfhir.org/fhir/StructureDefinition/consent-revoked"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator.with_iop_profiles()


@pytest.fixture(scope="module")
def sud() -> Episode:
    return load_episodes(EXAMPLES / "co-occurring-sud-iop.yaml")[0]


@pytest.fixture(scope="module")
def mh() -> Episode:
    return load_episodes(EXAMPLES / "mental-health-iop.yaml")[0]


def of_type(resources: list[dict[str, Any]], rtype: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["resourceType"] == rtype]


def codes(concept: Any) -> set[tuple[str, str]]:
    items = concept if isinstance(concept, list) else [concept]
    return {(c["system"], c["code"]) for i in items for c in i.get("coding", [i])}


def labels(resource: dict[str, Any]) -> set[str]:
    return {c["code"] for c in resource.get("meta", {}).get("security", [])}


def test_the_example_consent_in_fhir(sud: Episode) -> None:
    resources = episode_to_resources(sud)
    (consent,) = of_type(resources, "Consent")
    assert consent["status"] == "active" and consent["dateTime"] == "2026-05-04"
    assert codes(consent["scope"]) == {
        ("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy")
    }
    assert ("http://loinc.org", "64292-6") in codes(consent["category"])
    assert codes(consent["policyRule"]) == {(V3, "42CFRPart2")}
    (patient,) = of_type(resources, "Patient")
    assert consent["patient"]["reference"] == by_url(sud)[("Patient", "patient")]
    root = consent["provision"]
    assert root["type"] == "deny"
    assert root["period"] == {"start": "2026-05-04", "end": "2027-05-04"}
    permit, deny = root["provision"]
    assert permit["type"] == "permit" and deny["type"] == "deny"
    (actor,) = permit["actor"]
    assert codes(actor["role"]) == {
        ("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP")
    }
    recipient = urls(sud)[actor["reference"]["reference"]]
    assert recipient["resourceType"] == "Organization"
    assert {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1720945836"} in recipient[
        "identifier"
    ]
    reason = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
    assert codes(permit["purpose"]) == {(reason, "TREAT"), (reason, "COC")}
    assert codes(deny["purpose"]) == {(reason, "HPAYMT")}
    assert labels(consent) == {"R", "ETH", "42CFRPart2"}
    assert patient["meta"]["security"]


def urls(episode: Episode) -> dict[str, dict[str, Any]]:
    return {e["fullUrl"]: e["resource"] for e in collection_bundle([episode])["entry"]}


def by_url(episode: Episode) -> dict[tuple[str, str], str]:
    out = {}
    for url, res in urls(episode).items():
        for ident in res.get("identifier", []) if isinstance(res.get("identifier"), list) else []:
            out[(res["resourceType"], str(ident["value"]).rpartition("/")[2])] = url
    return out


def with_consents(episode: Episode, *consents: Consent) -> Episode:
    return Episode.model_validate({**episode.model_dump(), "consents": list(consents)})


def test_consents_round_trip_with_revocation_periods_and_data(sud: Episode) -> None:
    revoked = Consent(
        key="roi-old",
        status="inactive",
        date=date(2026, 5, 4),
        revoked=date(2026, 6, 1),
        provisions=[Provision(type="permit", recipients=["aa-district"], data=["substance-use"])],
    )
    narrow = Consent(
        key="roi-narrow",
        date=date(2026, 5, 10),
        provisions=[
            Provision(
                type="permit",
                recipients=["valley-withdrawal", "smart-recovery"],
                purposes=["CAREMGT", "TREAT"],
                period={"start": "2026-05-10", "end": "2026-08-01"},
                data=["substance-use", "mental-health"],
            ),
            Provision(type="deny", data=["mental-health"]),
        ],
    )
    episode = with_consents(sud, *sud.consents, revoked, narrow)
    bundle = collection_bundle([episode])
    stored = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Consent"]
    assert len(stored) == 3
    assert stored[1]["status"] == "inactive"
    assert stored[1]["extension"] == [{"url": REVOKED, "valueDate": "2026-06-01"}]
    result = read_fhir(bundle)
    assert result.episodes == [episode]
    assert not result.unmapped


def test_consents_validate_against_r4_and_the_profile(sud: Episode, validator: Validator) -> None:
    report = validator.validate(transaction_bundle([sud]))
    assert not report.errors, report.errors[:5]


def test_the_profile_catches_a_revoked_active_consent_and_a_wrong_policy(
    sud: Episode, validator: Validator
) -> None:
    (consent,) = of_type(episode_to_resources(sud), "Consent")
    bad = copy.deepcopy(consent)
    bad["extension"] = [{"url": REVOKED, "valueDate": "2026-06-01"}]  # yet still active
    bad["policyRule"] = {"coding": [{"system": V3, "code": "HIPAAAuth"}]}
    bad["provision"]["provision"][0]["purpose"] = [{"system": V3, "code": "NOPE"}]
    messages = " ".join(str(i) for i in validator.validate(bad).errors)
    assert "iop-consent-revoked" in messages
    assert "policyRule" in messages
    assert "purpose" in messages


def test_a_consent_that_is_not_a_part2_privacy_consent_is_not_read(sud: Episode) -> None:
    bundle = collection_bundle([sud])
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Consent":
            entry["resource"]["scope"] = {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": "treatment",
                    }
                ]
            }
    result = read_fhir(bundle)
    assert result.episodes[0].consents == []
    assert result.unmapped["Consent: not a 42 CFR Part 2 privacy consent"] == 1


# -- labels per resource ---------------------------------------------------------------------


def test_a_program_that_is_not_part2_labels_nothing(mh: Episode) -> None:
    resources = episode_to_resources(mh)
    assert all("security" not in r.get("meta", {}) for r in resources)
    assert read_fhir(collection_bundle([mh])).episodes[0].part2 is False


def test_part2_labels_by_the_data(sud: Episode) -> None:
    resources = episode_to_resources(sud)
    for res in resources:
        got = labels(res)
        rtype = res["resourceType"]
        if rtype in ("Organization", "Practitioner", "PractitionerRole", "Location"):
            assert got == set(), rtype
            continue
        assert {"R", "ETH", "42CFRPart2"} <= got, rtype
        assert got <= {"R", "ETH", "42CFRPart2", "PSY"}, rtype
    conditions = {
        r["code"]["coding"][0]["code"]: labels(r) for r in of_type(resources, "Condition")
    }
    assert "PSY" not in conditions["F10.20"]  # alcohol dependence: substance use only
    depression = [c for c in conditions if c.startswith("F3")]
    assert depression and all("PSY" in conditions[c] for c in depression)
    by_questionnaire = {
        r["questionnaire"].rpartition("/")[2]: labels(r)
        for r in of_type(resources, "QuestionnaireResponse")
    }
    assert "PSY" in by_questionnaire["phq-9"]
    assert "PSY" not in by_questionnaire["audit-c"]
    # every resource of a PHQ-9 administration (items, total, panel, flags) carries PSY
    phq = [m.key for m in sud.measures if m.instrument == "phq-9"]
    for res in resources:
        ident = res.get("identifier")
        value = (ident[0] if isinstance(ident, list) else ident or {}).get("value", "")
        if res["resourceType"] in ("Observation", "Flag", "RiskAssessment") and any(
            value.split("/")[1:2] == [k] for k in phq
        ):
            assert "PSY" in labels(res), value
    assert "PSY" not in labels(of_type(resources, "Patient")[0])
    assert read_fhir(collection_bundle([sud])).episodes[0].part2 is True
