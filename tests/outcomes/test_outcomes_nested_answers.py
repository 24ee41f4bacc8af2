"""Instrument items nested in an answer count like items anywhere else.

R4 puts the children of a question item under its answer
(``QuestionnaireResponse.item.answer.item``): forms with follow-up questions (a C-SSRS
screener, LHC-Forms) send them so. Here a PHQ-9 has its item 9 under item 2's answer (inside
a group), another has it two answers deep, and a C-SSRS screen has its behaviour question
under the (negative) ideation answer. The scores and the safety screens must count those
items on DuckDB, on Spark and in the plain-Python reference; before the shipped view read
``answer.item`` none of them did (no PHQ-9 total without item 9, no positive screen).
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.outcomes.reference import compute as reference

from iopfhir.outcomes import compute
from iopfhir.views import Source

_LOINC = "http://loinc.org"
_NOT_AT_ALL, _SEVERAL_DAYS, _NEARLY_EVERY_DAY = "LA6568-5", "LA6569-3", "LA6571-9"
_NO, _YES = "LA32-8", "LA33-6"  # the C-SSRS answers
_PHQ9 = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5",
         "44253-3", "44260-8"]  # fmt: skip
_MEASURES = ["iop-phq9-baseline", "iop-phq9-last", "iop-safety-positive"]


def _item(code: str, answer: str, *nested: dict[str, Any]) -> dict[str, Any]:
    """An item answered with a LOINC answer, ``nested`` items under that answer."""
    value: dict[str, Any] = {"valueCoding": {"system": _LOINC, "code": answer}}
    if nested:
        value["item"] = list(nested)
    return {"linkId": f"/{code}", "answer": [value]}


def _response(rid: str, patient: str, when: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "QuestionnaireResponse", "id": rid, "status": "completed",
            "subject": {"reference": f"Patient/{patient}"}, "authored": when,
            "item": items}  # fmt: skip


def _episode(patient: str) -> list[dict[str, Any]]:
    return [
        {"resourceType": "Patient", "id": patient, "gender": "female"},
        {"resourceType": "EpisodeOfCare", "id": f"e-{patient}", "status": "finished",
         "patient": {"reference": f"Patient/{patient}"},
         "period": {"start": "2025-01-06", "end": "2025-03-28"}},
    ]  # fmt: skip


def _resources() -> list[dict[str, Any]]:
    # baseline: items 1-8 in a group, item 9 (several days: 1, positive) under item 2's
    # answer: 6 x 3 + 1 + 0 + 0 + 1 = 20
    first = [_NEARLY_EVERY_DAY] * 6 + [_SEVERAL_DAYS, _NOT_AT_ALL]
    group = [_item(code, answer) for code, answer in zip(_PHQ9[:8], first, strict=True)]
    group[1] = _item(_PHQ9[1], first[1], _item(_PHQ9[8], _SEVERAL_DAYS))
    base = _response("phq-base", "p", "2025-01-06T09:00:00Z", [{"linkId": "g", "item": group}])
    # last: item 9 two answers deep (item 1's answer > item 2's answer): 8 x 0 + 3 = 3
    last_items = [_item(code, _NOT_AT_ALL) for code in _PHQ9[2:8]]
    nine = _item(_PHQ9[8], _NEARLY_EVERY_DAY)
    last_items.insert(0, _item(_PHQ9[0], _NOT_AT_ALL, _item(_PHQ9[1], _NOT_AT_ALL, nine)))
    last = _response("phq-last", "p", "2025-03-03T09:00:00Z", last_items)
    # C-SSRS: no wish to die, no ideation; the behaviour question (yes) under the
    # ideation answer
    screen = _response("cssrs", "q", "2025-01-08T09:00:00Z", [
        _item("93246-7", _NO),
        _item("93247-5", _NO, _item("93267-3", _YES, _item("93269-9", _YES))),
    ])  # fmt: skip
    return [*_episode("p"), *_episode("q"), base, last, screen]


def _figures(summaries: dict[str, Any]) -> dict[str, Any]:
    return {
        "baseline": summaries["iop-phq9-baseline"].overall.score,
        "last": summaries["iop-phq9-last"].overall.score,
        "safety": (
            summaries["iop-safety-positive"].overall.populations.get("numerator"),
            summaries["iop-safety-positive"].overall.populations.get("denominator"),
        ),
    }


_WANT = {"baseline": 20, "last": 3, "safety": (2, 2)}


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_items_nested_in_answers_are_scored_and_screened(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine = request.getfixturevalue(f"{engine_name}_engine")
    with Source.from_resources(_resources()) as src:
        outcomes = compute(src, engine, measure_ids=_MEASURES)
    assert _figures({m: outcomes.summary(m) for m in _MEASURES}) == _WANT


def test_the_reference_reads_items_nested_in_answers() -> None:
    ref = reference(_resources())
    assert ref["iop-phq9-baseline"]["score"] == _WANT["baseline"]
    assert ref["iop-phq9-last"]["score"] == _WANT["last"]
    populations = ref["iop-safety-positive"]["populations"]
    assert (populations.get("numerator"), populations.get("denominator")) == _WANT["safety"]
