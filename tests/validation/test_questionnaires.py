"""A QuestionnaireResponse against its Questionnaire: linkIds, answer types, required items,
answer options, repeats - with the Questionnaire from the same Bundle, from a loaded source,
or from the project's package; and nothing when the Questionnaire is not known."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from iopfhir.errors import Issue
from iopfhir.fhir.build import questionnaire_to_fhir
from iopfhir.validation import Validator

LOINC = "http://loinc.org"
SECRET = "ZQX-secret-7731"  # stands for patient data: never in a message


def _qr(
    answers: dict[str, str], *, status: str = "completed", url: str | None = None
) -> dict[str, Any]:
    """A PHQ-2 response; ``answers``: linkId -> LOINC answer code."""
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": url or questionnaire_to_fhir("phq-2")["url"],
        "status": status,
        "item": [
            {"linkId": link, "answer": [{"valueCoding": {"system": LOINC, "code": code}}]}
            for link, code in answers.items()
        ],
    }


GOOD = {"/44250-9": "LA6569-3", "/44255-8": "LA6568-5"}


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}", "resource": r}
            for i, r in enumerate(resources)
        ],
    }


def _qr_issues(report_issues: list[Issue]) -> list[Issue]:
    """The issues of the Questionnaire check (its messages name the Questionnaire)."""
    return [i for i in report_issues if "Questionnaire http" in i.message]


def _check(qr: dict[str, Any], validator: Validator | None = None) -> list[Issue]:
    v = validator or Validator()
    return _qr_issues(v.validate(qr).issues)


def test_a_good_response_has_no_issues() -> None:
    assert _check(_qr(GOOD)) == []


def test_unknown_link_id() -> None:
    qr = _qr({**GOOD, f"/{SECRET}": "LA6569-3"})
    (issue,) = _check(qr)
    assert issue.severity == "error"
    assert issue.path == "QuestionnaireResponse.item[2].linkId"
    assert SECRET not in issue.message


def test_answer_not_among_the_options() -> None:
    qr = _qr({"/44250-9": "LA6569-3", "/44255-8": "LA33-6"})
    (issue,) = _check(qr)
    assert issue.code == "code-invalid"
    assert issue.path == "QuestionnaireResponse.item[1].answer[0].valueCoding"
    # the same code in another system is not the option either
    qr = _qr(GOOD)
    qr["item"][0]["answer"][0]["valueCoding"]["system"] = "http://example.org/other"
    assert [i.path for i in _check(qr)] == ["QuestionnaireResponse.item[0].answer[0].valueCoding"]


def test_answer_type_must_fit_the_item_type() -> None:
    qr = _qr(GOOD)
    qr["item"][0]["answer"] = [{"valueString": SECRET}]
    (issue,) = _check(qr)
    assert issue.path == "QuestionnaireResponse.item[0].answer[0].valueString"
    assert "valueCoding" in issue.message and SECRET not in issue.message


def test_integer_total_item() -> None:
    qr = _qr(GOOD)
    qr["item"].append({"linkId": "/55758-7", "answer": [{"valueInteger": 1}]})
    assert _check(qr) == []
    qr["item"][-1]["answer"] = [{"valueDecimal": 1.5}]
    assert [i.path for i in _check(qr)] == ["QuestionnaireResponse.item[2].answer[0].valueDecimal"]


def test_required_items_only_for_completed_responses() -> None:
    partial = {"/44250-9": "LA6569-3"}
    (issue,) = _check(_qr(partial))
    assert issue.code == "required"
    assert issue.path == "QuestionnaireResponse"
    assert _check(_qr(partial, status="in-progress")) == []
    # an item present without an answer counts as not answered
    qr = _qr(GOOD)
    del qr["item"][1]["answer"]
    assert [i.code for i in _check(qr)] == ["required"]


def test_no_repeats() -> None:
    qr = _qr(GOOD)
    qr["item"][0]["answer"].append(copy.deepcopy(qr["item"][0]["answer"][0]))
    assert [i.path for i in _check(qr)] == ["QuestionnaireResponse.item[0].answer"]
    qr = _qr(GOOD)
    qr["item"].append(copy.deepcopy(qr["item"][0]))
    assert [i.path for i in _check(qr)] == ["QuestionnaireResponse.item[2]"]


def _nested_questionnaire() -> dict[str, Any]:
    return {
        "resourceType": "Questionnaire",
        "url": "http://example.org/Questionnaire/nested",
        "status": "active",
        "item": [
            {
                "linkId": "g",
                "type": "group",
                "required": True,
                "item": [
                    {"linkId": "g.1", "type": "boolean", "required": True},
                    {"linkId": "g.2", "type": "string", "repeats": True},
                ],
            },
            {"linkId": "note", "type": "display"},
        ],
    }


def test_groups_nest_and_hold_no_answers() -> None:
    q = _nested_questionnaire()
    good = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": q["url"],
        "status": "completed",
        "item": [
            {
                "linkId": "g",
                "item": [
                    {"linkId": "g.1", "answer": [{"valueBoolean": True}]},
                    {"linkId": "g.2", "answer": [{"valueString": "a"}, {"valueString": "b"}]},
                ],
            }
        ],
    }
    v = Validator([q])  # from a loaded source
    assert _check(good, v) == []
    bad = copy.deepcopy(good)
    bad["item"][0]["answer"] = [{"valueBoolean": True}]
    bad["item"][0]["item"][0]["linkId"] = "g.2.x"
    locations = {i.path for i in _check(bad, v)}
    assert locations == {
        "QuestionnaireResponse.item[0].answer",  # a group holds no answers
        "QuestionnaireResponse.item[0].item[0].linkId",  # not a child of the group
        "QuestionnaireResponse.item[0]",  # g.1 required within the group
    }
    # a top-level item placed under the group is not at its place
    moved = copy.deepcopy(good)
    moved["item"][0]["item"].append({"linkId": "note"})
    assert [i.path for i in _check(moved, v)] == ["QuestionnaireResponse.item[0].item[2].linkId"]


def test_questionnaire_from_the_same_bundle_wins() -> None:
    q = copy.deepcopy(questionnaire_to_fhir("phq-2"))
    q["url"] = "http://example.org/Questionnaire/phq-2-local"
    q["item"][0]["required"] = False
    qr = _qr({"/44255-8": "LA6568-5"}, url=q["url"])
    issues = _qr_issues(Validator().validate(_bundle(q, qr)).issues)
    assert issues == []
    # without the Questionnaire in the Bundle, the response is not checked against it
    assert _qr_issues(Validator().validate(_bundle(qr)).issues) == []
    # the versioned canonical resolves too
    qr["questionnaire"] = q["url"] + "|1.0"
    qr["item"][0]["linkId"] = "/nope"
    issues = _qr_issues(Validator().validate(_bundle(q, qr)).issues)
    assert [i.path for i in issues] == [
        "Bundle.entry[1].resource.item[0].linkId",
        "Bundle.entry[1].resource",  # its required item is now missing
    ]


def test_unknown_questionnaire_is_not_checked() -> None:
    qr = _qr({"/nope": "x"}, url="http://example.org/Questionnaire/unknown")
    assert _check(qr) == []


def test_project_questionnaires_need_the_iop_package() -> None:
    qr = _qr({"/nope": "LA6569-3"})
    assert _check(qr, Validator(auto_iop=False)) == []
    expected = ["structure", "required", "required"]  # the linkId, then both items unanswered
    assert [i.code for i in _check(qr, Validator(auto_iop=False, profiles="iop"))] == expected
    assert [i.code for i in _check(qr)] == expected  # auto_iop (the default) loads on demand


@pytest.mark.parametrize("example", ["mental-health-iop.yaml", "co-occurring-sud-iop.yaml"])
def test_example_responses_conform_to_the_shipped_questionnaires(example: str) -> None:
    from iopfhir.domain.files import iter_episodes
    from iopfhir.fhir.build import episode_entries

    path = Path(__file__).resolve().parents[2] / "src" / "iopfhir" / "examples" / example
    (episode,) = iter_episodes(path)
    responses = [
        r for _, r in episode_entries(episode) if r["resourceType"] == "QuestionnaireResponse"
    ]
    assert responses
    v = Validator()
    for qr in responses:
        assert _check(qr, v) == [], json.dumps(qr["questionnaire"])


def test_conditional_items_are_not_held_to_required() -> None:
    q = _nested_questionnaire()
    q["item"].append(
        {
            "linkId": "why",
            "type": "string",
            "required": True,
            "enableWhen": [{"question": "g.1", "operator": "=", "answerBoolean": True}],
        }
    )
    qr = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": q["url"],
        "status": "completed",
        "item": [{"linkId": "g", "item": [{"linkId": "g.1", "answer": [{"valueBoolean": False}]}]}],
    }
    assert _check(qr, Validator([q])) == []
    q["item"][-1].pop("enableWhen")
    assert [i.code for i in _check(qr, Validator([q]))] == ["required"]
