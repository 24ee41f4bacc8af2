"""``import --summary`` counts DAST-10 administrations however they arrive (issue 10).

The data follow the published LOINC structure of the DAST-10: the panel 82666-9 "Drug
Abuse Screening Test-10 [DAST-10]" with ten yes/no items (answers LA33-6 yes / LA32-8 no;
item 3, "always able to stop", scores the other way round) and the total score 82667-7
(0-10, a member of that panel). EHRs and Synthea write a DiagnosticReport coded with the
panel whose ``result`` lists the item Observations and the total Observation: that is ONE
administration, as is a QuestionnaireResponse, a total Observation alone, or a panel
Observation with ``hasMember``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iopfhir.cli import main
from iopfhir.fhir.read import read_fhir
from iopfhir.fhir.summary import summarize
from iopfhir.terminology import instrument

LOINC = "http://loinc.org"
PANEL = "82666-9"
TOTAL = "82667-7"
YES, NO = "LA33-6", "LA32-8"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "male"}
SUBJECT = {"reference": "Patient/p1"}
#: what a report below holds that the model does not (its ``issued``)
ISSUED = "DiagnosticReport.issued: no place in the IOP model (dropped)"
DAY1 = "2026-05-04T09:00:00-07:00"
DAY2 = "2026-05-18T09:00:00-07:00"


def item_codes() -> list[str]:
    codes = [it.code for it in instrument("dast-10").items]
    assert len(codes) == 10
    return codes


def answers(yes_items: set[int]) -> list[str]:
    """Answer codes of items 1..10: yes for the items in ``yes_items``."""
    return [YES if n in yes_items else NO for n in range(1, 11)]


def expected_total(yes_items: set[int]) -> int:
    # one point per yes, except item 3 which scores one point for "no"
    return sum(1 for n in range(1, 11) if (n in yes_items) != (n == 3))


def obs(oid: str, code: str, when: str, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "survey",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": SUBJECT,
        "effectiveDateTime": when,
        **value,
    }


def items(prefix: str, yes_items: set[int], when: str) -> list[dict[str, Any]]:
    return [
        obs(
            f"{prefix}-i{n}",
            code,
            when,
            valueCodeableConcept={"coding": [{"system": LOINC, "code": answer}]},
        )
        for n, (code, answer) in enumerate(zip(item_codes(), answers(yes_items), strict=True), 1)
    ]


def total(oid: str, value: int, when: str) -> dict[str, Any]:
    quantity = {"value": value, "system": "http://unitsofmeasure.org", "code": "{score}"}
    return obs(oid, TOTAL, when, valueQuantity=quantity)


def report(rid: str, when: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": PANEL}]},
        "subject": SUBJECT,
        "effectiveDateTime": when,
        "issued": when,
        "result": [{"reference": f"Observation/{r['id']}"} for r in results],
    }


def questionnaire_response(qid: str, yes_items: set[int], when: str) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": qid,
        "questionnaire": f"http://loinc.org/q/{PANEL}",
        "status": "completed",
        "subject": SUBJECT,
        "authored": when,
        "item": [
            {"linkId": code, "answer": [{"valueCoding": {"system": LOINC, "code": answer}}]}
            for code, answer in zip(item_codes(), answers(yes_items), strict=True)
        ],
    }


def dast_measures(resources: list[dict[str, Any]]) -> list[Any]:
    result = read_fhir([PATIENT, *resources])
    return [m for e in result.episodes for m in e.measures if m.instrument == "dast-10"]


# -- one administration each --------------------------------------------------------------


def test_report_with_items_and_total_is_one_administration() -> None:
    yes = {1, 2, 5, 9}
    parts = [*items("a", yes, DAY1), total("a-total", expected_total(yes), DAY1)]
    resources = [report("r1", DAY1, parts), *parts]
    result = read_fhir([PATIENT, *resources])
    assert summarize(result)["measures"] == {"dast-10": 1}
    assert "DiagnosticReport" not in result.ignored
    assert result.unmapped == {ISSUED: 1}
    (measure,) = result.episodes[0].measures
    assert measure.score == expected_total(yes) == 5
    assert measure.band == "moderate"
    assert measure.definition.flags(measure.answers, measure.score) == ("drug-use-problems",)


def test_report_listed_before_or_after_its_results_counts_once() -> None:
    parts = [*items("a", {1}, DAY1), total("a-total", 2, DAY1)]
    assert len(dast_measures([*parts, report("r1", DAY1, parts)])) == 1


def test_report_with_items_only_is_one_administration_scored_from_them() -> None:
    yes = {1, 2, 3, 4}  # item 3 "yes" scores 0
    parts = items("a", yes, DAY1)
    (measure,) = dast_measures([report("r1", DAY1, parts), *parts])
    assert measure.score == 3


def test_report_results_at_other_times_still_belong_to_it() -> None:
    # the results are linked by the report, not by time
    parts = [*items("a", set(), "2026-05-04T09:05:00-07:00"), total("t", 1, DAY1)]
    (measure,) = dast_measures([report("r1", DAY1, parts), *parts])
    assert measure.score == 1


def test_questionnaire_response_is_one_administration() -> None:
    (measure,) = dast_measures([questionnaire_response("q1", {1, 6}, DAY1)])
    assert measure.score == 3


def test_total_observation_alone_is_one_administration() -> None:
    (measure,) = dast_measures([total("t", 7, DAY1)])
    assert (measure.total, measure.answers, measure.band) == (7, {}, "substantial")


def test_panel_observation_with_members_is_one_administration() -> None:
    parts = [*items("a", {2}, DAY1), total("a-total", 2, DAY1)]
    panel = obs(
        "panel", PANEL, DAY1, hasMember=[{"reference": f"Observation/{p['id']}"} for p in parts]
    )
    assert len(dast_measures([panel, *parts])) == 1


def test_report_and_questionnaire_response_of_one_sitting_are_one() -> None:
    yes = {4}
    parts = [*items("a", yes, DAY1), total("a-total", expected_total(yes), DAY1)]
    resources = [questionnaire_response("q1", yes, DAY1), report("r1", DAY1, parts), *parts]
    assert len(dast_measures(resources)) == 1


# -- counting several ----------------------------------------------------------------------


def test_each_shape_counts_and_two_dates_are_two() -> None:
    first = [*items("a", {1}, DAY1), total("a-total", 2, DAY1)]
    second = items("b", {1, 2}, DAY2)
    resources = [
        report("r1", DAY1, first),
        *first,
        report("r2", DAY2, second),
        *second,
        questionnaire_response("q1", set(), "2026-06-01T09:00:00-07:00"),
        total("t", 4, "2026-06-15T09:00:00-07:00"),
    ]
    result = read_fhir([PATIENT, *resources])
    assert summarize(result)["measures"] == {"dast-10": 4}


def test_a_report_of_something_else_stays_ignored() -> None:
    lab = report("lab", DAY1, [])
    lab["code"] = {"coding": [{"system": LOINC, "code": "24323-8"}]}
    result = read_fhir([PATIENT, lab])
    assert result.ignored["DiagnosticReport"] == 1
    assert summarize(result)["measures"] == {}


def test_total_disagreeing_with_the_items_is_computed_and_reported() -> None:
    yes = {1, 2}
    parts = [*items("a", yes, DAY1), total("a-total", 9, DAY1)]
    result = read_fhir([PATIENT, report("r1", DAY1, parts), *parts])
    (measure,) = result.episodes[0].measures
    # issue 11: the stated total is kept as written (and reported); the answers score it
    assert measure.total == 9 and measure.score == expected_total(yes) == 3
    key = "Observation.value: total disagrees with the answers (kept as stated; scored from them)"
    assert result.unmapped == {key: 1, ISSUED: 1}


@pytest.mark.parametrize("fmt", ["bundle", "ndjson"])
def test_cli_import_summary_counts_dast10(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    first = [*items("a", {1, 5}, DAY1), total("a-total", 3, DAY1)]
    resources = [
        PATIENT,
        report("r1", DAY1, first),
        *first,
        questionnaire_response("q1", {7}, DAY2),
    ]
    if fmt == "bundle":
        path = tmp_path / "dast.json"
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": f"http://example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r}
                for r in resources
            ],
        }
        path.write_text(json.dumps(bundle), encoding="utf-8")
    else:
        path = tmp_path / "dast.ndjson"
        path.write_text("\n".join(json.dumps(r) for r in resources) + "\n", encoding="utf-8")
    assert main(["import", str(path), "--summary"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["measures"] == {"dast-10": 2}
    assert "DiagnosticReport" not in summary["ignored"]


def test_a_foreign_flag_citing_the_total_is_consumed() -> None:
    yes = {1, 2, 4, 5}
    parts = [*items("a", yes, DAY1), total("a-total", expected_total(yes), DAY1)]
    flag = {
        "resourceType": "Flag",
        "id": "f1",
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/flag-detail",
                "valueReference": {"reference": "Observation/a-total"},
            }
        ],
        "status": "active",
        "code": {
            "coding": [
                {
                    "system": "https://iopfhir.org/fhir/CodeSystem/safety-flag",
                    "code": "drug-use-problems",
                }
            ]
        },
        "subject": SUBJECT,
    }
    result = read_fhir([PATIENT, report("r1", DAY1, parts), *parts, flag])
    assert result.unmapped == {ISSUED: 1}
    # the same flag on a negative screen is not kept
    low = [*items("b", {1}, DAY2), total("b-total", 2, DAY2)]
    flag_low = {
        **flag,
        "id": "f2",
        "extension": [
            {**flag["extension"][0], "valueReference": {"reference": "Observation/b-total"}}
        ],
    }
    result = read_fhir([PATIENT, report("r2", DAY2, low), *low, flag_low])
    assert result.unmapped == {"Flag: not raised by the answers (not kept)": 1, ISSUED: 1}
