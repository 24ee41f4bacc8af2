"""Scores that travel (issue 10, point 1): the total's severity band as ``interpretation``,
a Flag per safety flag the answers raise (with ``flag-detail`` → the evidence), the C-SSRS
RiskAssessment, all conforming to the IOP profiles; and reading them back: ours are
consumed, foreign or contradicting ones are reported, a disagreeing total is computed."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from iopfhir.domain import Episode, Identifier, Measure, Patient
from iopfhir.fhir.build import episode_entries
from iopfhir.fhir.build.safety import risk_prediction
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.fhir.conventions import PROFILE, identifier_system
from iopfhir.fhir.ndjson import to_ndjson
from iopfhir.fhir.read import read_fhir
from iopfhir.terminology import instrument
from iopfhir.validation import Validator

WHEN = datetime(2026, 3, 2, 8, 40, tzinfo=timezone(timedelta(hours=-5)))
FLAG_DETAIL = "http://hl7.org/fhir/StructureDefinition/flag-detail"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
SAFETY_FLAG = "https://iopfhir.org/fhir/CodeSystem/safety-flag"
SEVERITY = "https://iopfhir.org/fhir/CodeSystem/severity-band"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def _episode(*measures: Measure, gender: str | None = None) -> Episode:
    patient = Patient(
        identifiers=[Identifier(system="urn:example:mrn", value="mrn-1")],
        gender=gender,
    )
    return Episode(key="ep", patient=patient, measures=list(measures))


def phq9(key: str = "m", q9: int = 0, rest: int = 1) -> Measure:
    answers = {f"q{i}": rest for i in range(1, 9)} | {"q9": q9}
    return Measure(key=key, instrument="phq-9", date=WHEN, answers=answers)


def cssrs(key: str = "c", **yes: int) -> Measure:
    items = ("q1", "q2", "q3", "q4", "q5", "q6", "q6b")
    return Measure(
        key=key, instrument="c-ssrs", date=WHEN, answers={i: yes.get(i, 0) for i in items}
    )


def audit_c(total: int, key: str = "a") -> Measure:
    return Measure(key=key, instrument="audit-c", date=WHEN, total=total)


def resources(episode: Episode) -> dict[str, dict[str, Any]]:
    return dict(episode_entries(episode))


def of_type(episode: Episode, rtype: str) -> list[tuple[str, dict[str, Any]]]:
    return [(u, r) for u, r in episode_entries(episode) if r["resourceType"] == rtype]


def by_identifier(episode: Episode, kind: str, value: str) -> tuple[str, dict[str, Any]]:
    for url, res in episode_entries(episode):
        idents = res.get("identifier")
        for ident in [idents] if isinstance(idents, dict) else idents or []:
            if ident == {"system": identifier_system(kind), "value": f"{episode.key}/{value}"}:
                return url, res
    raise AssertionError(f"no {kind} {value}")


def codes_of(concept: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept["coding"]}


# -- building -------------------------------------------------------------------------------


@pytest.mark.parametrize("q9", [1, 2, 3])
def test_positive_item_9_gives_a_flag_citing_the_item(q9: int) -> None:
    episode = _episode(phq9(q9=q9))
    item_url, _item = by_identifier(episode, "observation", "m/q9")
    ((_url, flag),) = of_type(episode, "Flag")
    assert flag["meta"]["profile"] == [PROFILE.FLAG]
    assert flag["status"] == "active"
    assert codes_of(flag["code"]) == {(SAFETY_FLAG, "self-harm-risk")}
    assert codes_of(flag["category"][0]) == {(FLAG_CATEGORY, "safety")}
    ((patient_url, _patient),) = of_type(episode, "Patient")
    assert flag["subject"] == {"reference": patient_url}
    assert flag["period"] == {"start": WHEN.isoformat()}
    assert flag["identifier"] == [
        {"system": identifier_system("flag"), "value": "ep/m/self-harm-risk"}
    ]
    assert flag["extension"] == [{"url": FLAG_DETAIL, "valueReference": {"reference": item_url}}]


def test_negative_item_9_gives_no_flag() -> None:
    episode = _episode(phq9(q9=0, rest=3))  # severe, but no thoughts of self-harm
    assert of_type(episode, "Flag") == []
    assert of_type(episode, "RiskAssessment") == []


def test_flag_subject_and_encounter_are_the_measures() -> None:
    episode = _episode(phq9(q9=1))
    (_url, total) = by_identifier(episode, "observation", "m")
    ((_u, flag),) = of_type(episode, "Flag")
    assert flag["subject"] == total["subject"]
    assert "encounter" not in flag  # the measure names no session


@pytest.mark.parametrize(
    ("rest", "band"),
    [(0, "minimal"), (1, "mild"), (2, "moderately-severe"), (3, "severe")],
)
def test_total_carries_its_band_as_interpretation(rest: int, band: str) -> None:
    episode = _episode(phq9(rest=rest))
    _url, total = by_identifier(episode, "observation", "m")
    assert total["valueQuantity"]["value"] == 8 * rest
    (concept,) = total["interpretation"]
    assert (SEVERITY, band) in codes_of(concept)


def test_screener_interpretation_has_pos_neg_and_depends_on_gender() -> None:
    def screen(total: int, gender: str | None) -> set[tuple[str, str]]:
        _url, obs = by_identifier(_episode(audit_c(total), gender=gender), "observation", "a")
        return codes_of(obs["interpretation"][0])

    assert (V3_INTERPRETATION, "POS") in screen(5, None)
    assert (V3_INTERPRETATION, "NEG") in screen(1, "male")
    assert (V3_INTERPRETATION, "POS") in screen(3, "female")
    assert (V3_INTERPRETATION, "NEG") in screen(3, "male")


@pytest.mark.parametrize(
    ("total", "gender", "flagged"),
    [(4, "male", True), (3, "male", False), (3, "female", True), (2, "female", False)],
)
def test_audit_c_over_threshold_flags_citing_the_total(
    total: int, gender: str, flagged: bool
) -> None:
    episode = _episode(audit_c(total), gender=gender)
    total_url, _obs = by_identifier(episode, "observation", "a")
    flags = [f for _u, f in of_type(episode, "Flag")]
    assert len(flags) == int(flagged)
    for flag in flags:
        assert codes_of(flag["category"][0]) == {(FLAG_CATEGORY, "clinical")}
        assert flag["extension"] == [
            {"url": FLAG_DETAIL, "valueReference": {"reference": total_url}}
        ]


def test_cssrs_risk_gives_flags_and_a_risk_assessment() -> None:
    episode = _episode(cssrs(q1=1, q2=1, q4=1))  # intent: high risk
    flags = {next(iter(codes_of(f["code"])))[1]: f for _u, f in of_type(episode, "Flag")}
    assert sorted(flags) == ["suicidal-ideation", "suicidal-intent"]
    q4_url, _ = by_identifier(episode, "observation", "c/q4")
    assert flags["suicidal-intent"]["extension"][0]["valueReference"] == {"reference": q4_url}
    ((_u, risk),) = of_type(episode, "RiskAssessment")
    total_url, _ = by_identifier(episode, "observation", "c")
    qr_url = by_identifier(episode, "questionnaireresponse", "c")[0]
    assert risk["meta"]["profile"] == [PROFILE.RISK_ASSESSMENT]
    assert risk["status"] == "final"
    assert risk["occurrenceDateTime"] == WHEN.isoformat()
    assert risk["basis"] == [{"reference": total_url}, {"reference": qr_url}]
    (prediction,) = risk["prediction"]
    assert codes_of(prediction["qualitativeRisk"]) == {(RISK_PROBABILITY, "high")}
    assert codes_of(prediction["outcome"]) == {("http://snomed.info/sct", "44301001")}


@pytest.mark.parametrize(
    ("yes", "level"),
    [({}, "negligible"), ({"q1": 1}, "low"), ({"q1": 1, "q3": 1}, "moderate")],
)
def test_cssrs_levels(yes: dict[str, int], level: str) -> None:
    episode = _episode(cssrs(**yes))
    ((_u, risk),) = of_type(episode, "RiskAssessment")
    assert codes_of(risk["prediction"][0]["qualitativeRisk"]) == {(RISK_PROBABILITY, level)}
    assert of_type(episode, "Flag") == []  # q1 / q3 alone raise no flag


def test_safety_resources_conform_to_r4_and_the_iop_profiles() -> None:
    audit = Measure(key="a", instrument="audit-c", date=WHEN, answers={"q1": 2, "q2": 1, "q3": 0})
    episode = _episode(phq9(q9=2), cssrs(q2=1, q5=1, q6=1, q6b=1), audit, gender="female")
    bundle = transaction_bundle([episode])
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Flag", "RiskAssessment"} <= kinds
    report = Validator.with_iop_profiles().validate(bundle)
    errors = [f"{i.path}: {i.message}" for i in report.issues if i.severity in ("error", "fatal")]
    assert errors == []


def test_part2_labels_reach_flags() -> None:
    episode = _episode(phq9(q9=1)).model_copy(update={"part2": True})
    ((_u, flag),) = of_type(episode, "Flag")
    # a PHQ-9 flag is mental-health data of a Part 2 program: PSY too (docs/part2.md)
    assert {s["code"] for s in flag["meta"]["security"]} == {"R", "ETH", "PSY", "42CFRPart2"}


# -- reading back ---------------------------------------------------------------------------


def _bundle(*measures: Measure, gender: str | None = "female") -> dict[str, Any]:
    # a copy: built resources share constant parts, and these tests change them
    return copy.deepcopy(transaction_bundle([_episode(*measures, gender=gender)]))


def _resource(bundle: dict[str, Any], rtype: str, ident: str) -> dict[str, Any]:
    for entry in bundle["entry"]:
        res = entry["resource"]
        idents = res.get("identifier")
        for i in [idents] if isinstance(idents, dict) else idents or []:
            if res["resourceType"] == rtype and i["value"] == f"ep/{ident}":
                return res
    raise AssertionError(ident)


def test_own_flags_and_risk_assessments_are_consumed() -> None:
    measures = (phq9(q9=3), cssrs(q4=1), audit_c(9))
    bundle = _bundle(*measures)
    result = read_fhir(bundle)
    assert result.unmapped == {}
    assert "Flag" not in result.ignored and "RiskAssessment" not in result.ignored
    (episode,) = result.episodes
    assert episode.measures == list(measures)
    assert transaction_bundle([episode]) == bundle


def test_a_flag_the_answers_do_not_raise_is_reported() -> None:
    bundle = _bundle(phq9(q9=1))
    flag = _resource(bundle, "Flag", "m/self-harm-risk")
    flag["code"]["coding"][0]["code"] = "suicidal-plan"
    result = read_fhir(bundle)
    assert result.unmapped == {"Flag: not raised by the answers (not kept)": 1}


def test_a_foreign_flag_is_counted_and_reported() -> None:
    bundle = _bundle(phq9(q9=0))
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:0b6c7d1e-7f0a-4c55-9a55-2f7c1d8e9a01",
            "resource": {
                "resourceType": "Flag",
                "status": "active",
                "code": {"text": "fall risk"},
                "subject": {"reference": patient["fullUrl"]},
            },
        }
    )
    result = read_fhir(bundle)
    assert result.unmapped == {"Flag: not derived from an instrument (not kept)": 1}
    assert [str(w) for w in result.warnings] == ["Flag: not derived from an instrument (not kept)"]


def test_a_foreign_flag_citing_our_evidence_is_consumed() -> None:
    bundle = _bundle(phq9(q9=2))
    flag = _resource(bundle, "Flag", "m/self-harm-risk")
    del flag["identifier"], flag["meta"]
    assert read_fhir(bundle).unmapped == {}


def test_risk_assessment_contradicting_the_answers_is_reported() -> None:
    bundle = _bundle(cssrs(q1=1))
    risk = _resource(bundle, "RiskAssessment", "c")
    risk["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] = "negligible"
    result = read_fhir(bundle)
    key = "RiskAssessment.prediction.qualitativeRisk: disagrees with the answers"
    assert result.unmapped == {f"{key} (computed from them)": 1}


def test_interpretation_contradicting_the_score_is_reported() -> None:
    bundle = _bundle(phq9(rest=1))  # total 8: mild
    total = _resource(bundle, "Observation", "m")
    total["interpretation"] = [{"coding": [{"system": SEVERITY, "code": "severe"}]}]
    result = read_fhir(bundle)
    key = "Observation.interpretation: disagrees with the score (band computed from it)"
    assert result.unmapped == {key: 1}
    assert result.episodes[0].measures[0].band == "mild"


def test_total_observation_disagreeing_with_items_is_computed() -> None:
    bundle = _bundle(phq9(rest=2, q9=0))  # total 16
    total = _resource(bundle, "Observation", "m")
    total["valueQuantity"]["value"] = 3
    result = read_fhir(bundle)
    (measure,) = result.episodes[0].measures
    assert measure.total is None and measure.score == 16
    key = "Observation.value: total disagrees with the answers (computed from them)"
    assert result.unmapped[key] == 1


def test_round_trip_keeps_flags_deterministic() -> None:
    episode = _episode(phq9(q9=1), cssrs(q2=1), gender="male")
    first = transaction_bundle([episode])
    again = transaction_bundle(read_fhir(copy.deepcopy(first)).episodes)
    assert again == first
    assert sum(e["resource"]["resourceType"] == "Flag" for e in first["entry"]) == 2


def test_instrument_flags_drive_the_builder() -> None:
    # the builder asks the terminology, not its own rules: every flag it can raise is a
    # safety-flag concept with a category
    inst = instrument("phq-9")
    assert inst.flags({"q9": 1}) == ("self-harm-risk",)


def test_ndjson_flags_reference_by_id_and_read_back() -> None:
    episode = _episode(phq9(q9=2), cssrs(q5=1), gender="female")
    data = to_ndjson([episode])
    lines = [json.loads(line) for line in data.decode().splitlines()]
    flags = [r for r in lines if r["resourceType"] == "Flag"]
    ids = {f"{r['resourceType']}/{r['id']}" for r in lines}
    assert len(flags) == 2
    for flag in flags:
        assert flag["extension"][0]["valueReference"]["reference"] in ids
    result = read_fhir(data)
    assert result.unmapped == {}
    assert result.episodes == [episode]


def test_audit_c_flag_depends_on_the_patients_gender_when_read() -> None:
    bundle = _bundle(audit_c(3), gender="female")
    assert read_fhir(copy.deepcopy(bundle)).unmapped == {}
    patient = next(e["resource"] for e in bundle["entry"] if "gender" in e["resource"])
    patient["gender"] = "male"  # 3 is below the men's threshold: neither flag nor POS holds
    result = read_fhir(bundle)
    assert result.unmapped == {
        "Flag: not raised by the answers (not kept)": 1,
        "Observation.interpretation: disagrees with the score (band computed from it)": 1,
    }


@pytest.mark.parametrize(
    ("rtype", "ident", "breaking"),
    [
        ("Flag", "m/self-harm-risk", "extension"),
        ("Flag", "m/self-harm-risk", "period"),
        ("Flag", "m/self-harm-risk", "category"),
        ("RiskAssessment", "c", "basis"),
        ("RiskAssessment", "c", "prediction"),
    ],
)
def test_profiles_require_what_the_builder_writes(rtype: str, ident: str, breaking: str) -> None:
    bundle = _bundle(phq9(q9=1), cssrs(q2=1))
    resource = _resource(bundle, rtype, ident)
    validator = Validator.with_iop_profiles()

    def errors() -> list[str]:
        issues = validator.validate(resource).issues
        return [i.message for i in issues if i.severity in ("error", "fatal")]

    assert errors() == []
    del resource[breaking]
    assert errors(), f"{rtype} without {breaking} passed its profile"


def test_each_risk_prediction_is_its_own() -> None:
    # the table is read once; a caller that changes one RiskAssessment changes no other
    first = risk_prediction("high")
    first["qualitativeRisk"]["coding"][0]["code"] = "changed"
    again = risk_prediction("high")
    assert again["qualitativeRisk"]["coding"][0]["code"] == "high"
    assert again["outcome"] is not first["outcome"]
