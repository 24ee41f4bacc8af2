"""Instrument administrations: totals computed from QR items, ordinal extensions, numeric
answers, dedupe of QR + panel + total, recognition by canonical and by linkId."""

from __future__ import annotations

from typing import Any

import pytest

from iopfhir.fhir.read import read_fhir
from iopfhir.fhir.summary import summarize

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "pat",
    "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-7"}],
}
SUBJECT = {"reference": "Patient/pat"}
WHEN = "2024-02-01T10:00:00-05:00"
PHQ9_ITEMS = [
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
]
PHQ_ANSWERS = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
GAD7_ITEMS = ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]


def qr(
    items: list[dict[str, Any]], questionnaire: str | None = None, **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": "qr1",
        "status": "completed",
        "subject": SUBJECT,
        "authored": WHEN,
        "item": items,
        **extra,
    }
    if questionnaire:
        out["questionnaire"] = questionnaire
    return out


def coded(link: str, points: int) -> dict[str, Any]:
    return {
        "linkId": link,
        "answer": [{"valueCoding": {"system": "http://loinc.org", "code": PHQ_ANSWERS[points]}}],
    }


def test_total_computed_from_answer_codes_when_none_given() -> None:
    points = [1, 2, 3, 0, 1, 2, 3, 0, 1]
    items = [coded(f"/{code}", p) for code, p in zip(PHQ9_ITEMS, points, strict=True)]
    result = read_fhir([PATIENT, qr(items)])  # recognised by its item linkIds alone
    (measure,) = result.episodes[0].measures
    assert measure.instrument == "phq-9"
    assert measure.total is None
    assert measure.score == sum(points) == 13
    assert measure.band == "moderate"
    assert "self-harm-risk" in measure.flags


def test_total_from_ordinal_value_and_item_weight_extensions() -> None:
    def ordinal(link: str, url: str, value: float) -> dict[str, Any]:
        return {
            "linkId": link,
            "answer": [
                {
                    "valueCoding": {
                        "system": "http://example.org/answers",
                        "code": f"a{value}",
                        "extension": [{"url": url, "valueDecimal": value}],
                    }
                }
            ],
        }

    urls = [
        "http://hl7.org/fhir/StructureDefinition/ordinalValue",
        "http://hl7.org/fhir/StructureDefinition/itemWeight",
    ]
    items = [ordinal(code, urls[i % 2], 2) for i, code in enumerate(GAD7_ITEMS)]
    (measure,) = (
        read_fhir([PATIENT, qr(items, "http://example.org/Questionnaire/gad7")])
        .episodes[0]
        .measures
    )
    assert measure.instrument == "gad-7"
    assert measure.score == 14


def test_total_from_integer_and_decimal_answers() -> None:
    items = [
        {"linkId": "44250-9", "answer": [{"valueInteger": 3}]},
        {"linkId": "44255-8", "answer": [{"valueDecimal": 1.0}]},
    ]
    (measure,) = read_fhir([PATIENT, qr(items)]).episodes[0].measures
    assert measure.instrument == "phq-2"  # two PHQ items and nothing else: the PHQ-2
    assert measure.answers == {"q1": 3, "q2": 1}
    assert measure.score == 4


def test_given_total_item_wins_and_partial_answers_kept() -> None:
    items = [coded("/44250-9", 2), {"linkId": "/44261-6", "answer": [{"valueDecimal": 17}]}]
    (measure,) = (
        read_fhir([PATIENT, qr(items, "http://hl7.org/fhir/us/core/Questionnaire/phq-9-example")])
        .episodes[0]
        .measures
    )
    assert (measure.instrument, measure.total, measure.answers) == ("phq-9", 17, {"q1": 2})


def test_linkids_mapped_through_the_questionnaire() -> None:
    questionnaire = {
        "resourceType": "Questionnaire",
        "url": "http://example.org/Questionnaire/dep",
        "status": "active",
        "item": [
            {
                "linkId": f"q{i}",
                "type": "choice",
                "code": [{"system": "http://loinc.org", "code": code}],
            }
            for i, code in enumerate(PHQ9_ITEMS)
        ],
    }
    items = [coded(f"q{i}", 1) for i in range(9)]
    result = read_fhir(
        [PATIENT, questionnaire, qr(items, "http://example.org/Questionnaire/dep|1.0")]
    )
    (measure,) = result.episodes[0].measures
    assert (measure.instrument, measure.score) == ("phq-9", 9)
    assert result.ignored == {"Questionnaire": 1}


def _obs(oid: str, code: str, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "subject": SUBJECT,
        "effectiveDateTime": WHEN,
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        **value,
    }


def test_qr_panel_items_and_total_count_once() -> None:
    items = [coded(f"/{c}", 1) for c in PHQ9_ITEMS]
    item_obs = [
        _obs(
            f"i{n}",
            c,
            valueCodeableConcept={
                "coding": [{"system": "http://loinc.org", "code": PHQ_ANSWERS[1]}]
            },
        )
        for n, c in enumerate(PHQ9_ITEMS)
    ]
    total = _obs(
        "t",
        "44261-6",
        valueQuantity={"value": 9},
        derivedFrom=[{"reference": "QuestionnaireResponse/qr1"}],
    )
    panel = _obs(
        "p",
        "44249-1",
        hasMember=[{"reference": f"Observation/i{n}"} for n in range(9)]
        + [{"reference": "Observation/t"}],
    )
    result = read_fhir([PATIENT, qr(items), *item_obs, total, panel])
    assert summarize(result)["measures"] == {"phq-9": 1}
    assert result.episodes[0].measures[0].total == 9


def test_same_patient_instrument_and_time_count_once_without_links() -> None:
    total = _obs("t", "44261-6", valueInteger=9)
    panel = _obs("p", "44249-1", valueQuantity={"value": 9})
    later = _obs("t2", "44261-6", valueInteger=4) | {
        "effectiveDateTime": "2024-02-15T10:00:00-05:00"
    }
    gad = _obs("g", "70274-6", valueInteger=6)
    result = read_fhir([PATIENT, total, panel, later, gad])
    assert summarize(result)["measures"] == {"gad-7": 1, "phq-9": 2}


def test_item_observations_alone_are_not_an_administration() -> None:
    item = _obs(
        "i",
        "44250-9",
        valueCodeableConcept={"coding": [{"system": "http://loinc.org", "code": "LA6570-1"}]},
    )
    result = read_fhir([PATIENT, item])
    assert result.episodes[0].measures == []
    assert result.unmapped["Observation: instrument item without its instrument"] == 1


def test_c_ssrs_risk_level_total() -> None:
    total = _obs(
        "c",
        "93374-7",
        valueCodeableConcept={"coding": [{"system": "http://loinc.org", "code": "LA6751-7"}]},
    )
    (measure,) = read_fhir([PATIENT, total]).episodes[0].measures
    assert (measure.instrument, measure.total, measure.band) == ("c-ssrs", 2, "moderate")


@pytest.mark.parametrize(
    "value",
    [{"valueString": "not a number"}, {"valueQuantity": {"value": 99}}, {}],
)
def test_unusable_totals_are_counted(value: dict[str, Any]) -> None:
    result = read_fhir([PATIENT, _obs("t", "44261-6", **value)])
    assert result.episodes[0].measures == []
    assert sum(result.unmapped.values()) == 1


def test_disagreeing_total_is_kept_and_scored_from_the_answers() -> None:
    # issue 10: a total that disagrees with complete answers is not trusted; issue 11: it
    # is kept as stated (and reported), the score comes from the answers
    items = [coded(f"/{c}", 0) for c in PHQ9_ITEMS] + [
        {"linkId": "/44261-6", "answer": [{"valueInteger": 5}]}
    ]
    result = read_fhir([PATIENT, qr(items)])
    (measure,) = result.episodes[0].measures
    assert measure.total == 5
    assert measure.answers == {f"q{i}": 0 for i in range(1, 10)}
    assert measure.score == 0
    key = "QuestionnaireResponse.item.answer.value: total disagrees with the answers"
    assert result.unmapped[f"{key} (kept as stated; scored from them)"] == 1


def test_measure_links_session_and_performer() -> None:
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": SUBJECT,
        "period": {"start": WHEN, "end": "2024-02-01T12:00:00-05:00"},
    }
    doc = {"resourceType": "Practitioner", "id": "doc", "name": [{"family": "Nguyen"}]}
    total = _obs(
        "t",
        "44261-6",
        valueInteger=9,
        encounter={"reference": "Encounter/e1"},
        performer=[{"reference": "Practitioner/doc"}],
    )
    (measure,) = read_fhir([PATIENT, doc, encounter, total]).episodes[0].measures
    assert (measure.session, measure.performer) == ("e1", "doc")
