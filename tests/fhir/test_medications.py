"""Medications, prescriptions and allergies in the FHIR that comes out (MedicationStatement,
MedicationRequest, AllergyIntolerance), read back losslessly, conforming to R4 and the IOP
profiles; foreign shapes the domain does not hold are counted, not kept."""

from __future__ import annotations

import copy
from datetime import date
from importlib import resources
from typing import Any

import pytest

from iopfhir.domain import (
    Allergy,
    Code,
    Diagnosis,
    Episode,
    Identifier,
    MedicationUse,
    Patient,
    Period,
    Practitioner,
    Prescription,
    Reaction,
    load_episodes,
)
from iopfhir.fhir.build import episode_entries, episode_to_resources
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.fhir.conventions import PROFILE, identifier_system
from iopfhir.fhir.ndjson import write_ndjson
from iopfhir.fhir.read import read_fhir
from iopfhir.terminology import codes
from iopfhir.validation import Validator

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"


def _example(name: str) -> Episode:
    ref = resources.files("iopfhir").joinpath(f"examples/{name}")
    with resources.as_file(ref) as path:
        (episode,) = load_episodes(path)
    return episode


@pytest.fixture(scope="module")
def mh() -> Episode:
    return _example("mental-health-iop.yaml")


@pytest.fixture(scope="module")
def sud() -> Episode:
    return _example("co-occurring-sud-iop.yaml")


def _of_type(resources_: list[dict[str, Any]], rtype: str) -> list[dict[str, Any]]:
    return [r for r in resources_ if r["resourceType"] == rtype]


def _ours(res: dict[str, Any], kind: str, value: str) -> bool:
    return {"system": identifier_system(kind), "value": value} in res.get("identifier", [])


def _full(key: str = "ep-med") -> Episode:
    """Every medication field set, plus an entered-in-error allergy and bare entries."""
    sulfa = Code(system=SNOMED, code="763875007", display="sulfonamide")
    rash = Code(system=SNOMED, code="271807003")
    sertraline = Code(system=RXNORM, code="312941", display="sertraline 50 MG Oral Tablet")
    return Episode(
        key=key,
        patient=Patient(identifiers=[Identifier(system="urn:x", value="p1")]),
        practitioners=[
            Practitioner(key="dr", name={"family": "Doc"}, roles=["psychiatrist"]),
        ],
        supports=[],
        diagnoses=[Diagnosis(key="mdd", code=Code(system=SNOMED, code="35489007"))],
        medications=[
            MedicationUse(
                key="m1",
                code=sertraline,
                status="stopped",
                period=Period(start=date(2026, 1, 2), end=date(2026, 2, 1)),
                asserted=date(2026, 2, 2),
                dosage="50 mg daily",
                reasons=["mdd"],
                source="dr",
            ),
            MedicationUse(key="m2", code=sertraline, source="patient"),
        ],
        prescriptions=[
            Prescription(
                key="rx1",
                code=sertraline,
                status="active",
                authored=date(2026, 2, 2),
                prescriber="dr",
                dosage="50 mg daily",
                reasons=["mdd"],
                refills=0,
            ),
            Prescription(key="rx2", code=sertraline, status="draft"),
        ],
        allergies=[
            Allergy(
                key="a1",
                code=sulfa,
                category="medication",
                criticality="high",
                clinical_status="resolved",
                verification_status="refuted",
                recorded=date(2026, 2, 2),
                recorder="dr",
                reactions=[
                    Reaction(manifestation=rash, severity="severe"),
                    Reaction(manifestation=rash),
                ],
            ),
            Allergy(key="a2", code=sulfa, verification_status="entered-in-error"),
            Allergy(key="a3", code=sulfa, verification_status=None),
        ],
    )


# -- what comes out --------------------------------------------------------------------------


def test_sertraline_statement_and_prescription(mh: Episode) -> None:
    entries = episode_entries(mh)
    url_of = {id(res): url for url, res in entries}
    out = [res for _url, res in entries]
    (patient,) = _of_type(out, "Patient")
    (statement,) = _of_type(out, "MedicationStatement")
    (request,) = _of_type(out, "MedicationRequest")
    sertraline = codes()["medications"]["sertraline-50mg-tablet"]
    assert sertraline["code"] == "312941"
    for res in (statement, request):
        coding = res["medicationCodeableConcept"]["coding"][0]
        assert (coding["system"], coding["code"]) == (RXNORM, "312941")
        assert res["subject"] == {"reference": url_of[id(patient)]}
    assert statement["meta"]["profile"] == [PROFILE.MEDICATION_STATEMENT]
    assert statement["status"] == "active"
    assert statement["effectivePeriod"] == {"start": "2026-02-20"}
    assert statement["dosage"] == [{"text": "50 mg by mouth once daily"}]
    assert statement["informationSource"] == {"reference": url_of[id(patient)]}
    (mdd,) = [c for c in _of_type(out, "Condition") if _ours(c, "condition", f"{mh.key}/mdd")]
    assert statement["reasonReference"] == [{"reference": url_of[id(mdd)]}]
    assert request["reasonReference"] == [{"reference": url_of[id(mdd)]}]
    assert request["meta"]["profile"] == [PROFILE.MEDICATION_REQUEST]
    assert request["intent"] == "order"
    assert request["authoredOn"] == "2026-03-02"
    assert request["dispenseRequest"] == {"numberOfRepeatsAllowed": 2}
    (patel_role,) = [
        r
        for r in _of_type(out, "PractitionerRole")
        if _ours(r, "practitionerrole", f"{mh.key}/dr-patel")
    ]
    assert request["requester"] == {"reference": url_of[id(patel_role)]}


def _urls(episode: Episode) -> dict[str, dict[str, Any]]:
    """Full URL → resource of one build."""
    return dict(episode_entries(episode))


def test_allergy_with_criticality_and_reaction(mh: Episode) -> None:
    entries = _urls(mh)
    (allergy,) = [r for r in entries.values() if r["resourceType"] == "AllergyIntolerance"]
    assert allergy["meta"]["profile"] == [PROFILE.ALLERGY]
    assert allergy["criticality"] == "low"
    assert allergy["category"] == ["medication"]
    assert allergy["clinicalStatus"]["coding"][0]["code"] == "active"
    assert allergy["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert allergy["code"]["coding"][0]["code"] == "763875007"
    (reaction,) = allergy["reaction"]
    assert reaction["manifestation"][0]["coding"][0] == {
        "system": SNOMED,
        "code": "271807003",
        "display": "Skin rash",
    }
    assert reaction["severity"] == "mild"
    recorder = entries[allergy["recorder"]["reference"]]
    assert recorder["resourceType"] == "PractitionerRole"


def test_naltrexone_for_the_co_occurring_program_is_part2(sud: Episode) -> None:
    out = episode_to_resources(sud)
    for rtype in ("MedicationStatement", "MedicationRequest"):
        (res,) = _of_type(out, rtype)
        assert res["medicationCodeableConcept"]["coding"][0]["code"] == "1483744"
        assert {s["code"] for s in res["meta"]["security"]} == {"R", "ETH", "42CFRPart2"}


def test_entered_in_error_allergy_has_no_clinical_status() -> None:
    out = episode_to_resources(_full())
    allergies = {r["identifier"][0]["value"]: r for r in _of_type(out, "AllergyIntolerance")}
    assert "clinicalStatus" not in allergies["ep-med/a2"]
    assert allergies["ep-med/a2"]["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    assert "verificationStatus" not in allergies["ep-med/a3"]
    assert [r.get("severity") for r in allergies["ep-med/a1"]["reaction"]] == ["severe", None]


# -- both ways ---------------------------------------------------------------------------------


def test_every_medication_field_round_trips_through_a_bundle() -> None:
    episode = _full()
    result = read_fhir(transaction_bundle([episode]))
    assert result.episodes == [episode]
    assert not result.unmapped and not result.ignored


def test_every_medication_field_round_trips_through_ndjson(tmp_path: Any) -> None:
    episode = _full()
    write_ndjson([episode], tmp_path)
    result = read_fhir(tmp_path)
    assert result.episodes == [episode]
    assert not result.unmapped


def test_examples_round_trip_with_their_medications(mh: Episode, sud: Episode) -> None:
    result = read_fhir(transaction_bundle([mh, sud]))
    assert [e.medications for e in result.episodes] == [mh.medications, sud.medications]
    assert [e.prescriptions for e in result.episodes] == [mh.prescriptions, sud.prescriptions]
    assert [e.allergies for e in result.episodes] == [mh.allergies, sud.allergies]


def _bundle_with(change: Any) -> dict[str, Any]:
    bundle = copy.deepcopy(transaction_bundle([_full()]))
    for entry in bundle["entry"]:
        change(entry["resource"])
    return bundle


def test_a_proposal_is_counted_not_read_as_a_prescription() -> None:
    def propose(res: dict[str, Any]) -> None:
        if res["resourceType"] == "MedicationRequest" and _ours(
            res, "medicationrequest", "ep-med/rx1"
        ):
            res["intent"] = "proposal"

    result = read_fhir(_bundle_with(propose))
    assert [p.key for p in result.episodes[0].prescriptions] == ["rx2"]
    assert result.unmapped["MedicationRequest: not an order"] == 1


def test_a_statement_without_a_coded_medication_is_counted() -> None:
    def uncode(res: dict[str, Any]) -> None:
        if res["resourceType"] == "MedicationStatement":
            res["medicationCodeableConcept"] = {"text": "something"}

    result = read_fhir(_bundle_with(uncode))
    assert result.episodes[0].medications == []
    assert result.unmapped["MedicationStatement: no coded medication"] == 2


# -- conformance ---------------------------------------------------------------------------------


def _errors(resource: dict[str, Any]) -> list[str]:
    report = Validator.with_iop_profiles().validate(resource)
    return [f"{i.path} {i.message}" for i in report.issues if i.severity in ("error", "fatal")]


def test_medications_conform_to_r4_and_the_profiles(mh: Episode, sud: Episode) -> None:
    assert _errors(transaction_bundle([mh, sud, _full()])) == []


@pytest.mark.parametrize(
    ("rtype", "break_it", "where"),
    [
        ("MedicationRequest", lambda r: r.update(intent="proposal"), "intent"),
        ("MedicationStatement", lambda r: r.pop("identifier"), "identifier"),
        ("AllergyIntolerance", lambda r: r.pop("code"), "code"),
        # R4 ait-2: an entered-in-error allergy with a clinical status
        (
            "AllergyIntolerance",
            lambda r: r.update(
                clinicalStatus={"coding": [{"system": "x", "code": "active"}]},
                verificationStatus={
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/"
                            "allergyintolerance-verification",
                            "code": "entered-in-error",
                        }
                    ]
                },
            ),
            "ait-2",
        ),
    ],
)
def test_broken_output_fails_validation(rtype: str, break_it: Any, where: str) -> None:
    (res,) = [
        copy.deepcopy(r)
        for r in episode_to_resources(_full())
        if r["resourceType"] == rtype
        and r["identifier"][0]["value"] in ("ep-med/rx1", "ep-med/m1", "ep-med/a1")
    ]
    assert _errors(res) == []
    break_it(res)
    assert any(where in e for e in _errors(res)), _errors(res)
