"""Instrument scoring and code lookups from the terminology data."""

from __future__ import annotations

import pytest

from iopfhir.errors import TerminologyError
from iopfhir.terminology import instrument, instrument_by_code, instruments, role_coding, role_key

BANDS = [
    ("phq-9", 4, "minimal"),
    ("phq-9", 5, "mild"),
    ("phq-9", 14, "moderate"),
    ("phq-9", 15, "moderately-severe"),
    ("phq-9", 27, "severe"),
    ("gad-7", 9, "mild"),
    ("gad-7", 15, "severe"),
    ("phq-2", 2, "negative"),
    ("phq-2", 3, "positive"),
    ("audit-c", 3, "positive-women"),
    ("audit-c", 4, "positive"),
]


@pytest.mark.parametrize(("inst", "total", "band"), BANDS)
def test_bands(inst: str, total: int, band: str) -> None:
    assert instrument(inst).band(total) == band


def test_phq9_item9_raises_a_safety_flag() -> None:
    answers = {f"q{i}": 0 for i in range(1, 10)}
    assert instrument("phq-9").score(answers).flags == ()
    answers["q9"] = 1
    score = instrument("phq-9").score(answers)
    assert score.total == 1 and score.flags == ("self-harm-risk",)


@pytest.mark.parametrize(
    ("answers", "level"),
    [
        ({"q1": 0, "q2": 0, "q6": 0}, 0),
        ({"q1": 1, "q2": 0, "q6": 0}, 1),
        ({"q1": 1, "q2": 1, "q3": 1, "q4": 0, "q5": 0, "q6": 0}, 2),
        ({"q1": 1, "q2": 1, "q3": 1, "q4": 1, "q5": 0, "q6": 0}, 3),
        ({"q1": 0, "q2": 0, "q6": 1, "q6b": 1}, 3),
    ],
)
def test_cssrs_risk_level(answers: dict[str, int], level: int) -> None:
    assert instrument("c-ssrs").score(answers).total == level


def test_out_of_range_and_missing_items() -> None:
    with pytest.raises(TerminologyError):
        instrument("gad-7").score({f"q{i}": 4 for i in range(1, 8)})
    with pytest.raises(TerminologyError):
        instrument("audit-c").score({"q1": 1})


def test_codes_are_unique_and_indexed() -> None:
    assert instrument_by_code("44261-6") == (instrument("phq-9"), "total")
    assert instrument_by_code("72109-2") == (instrument("audit-c"), "panel")
    totals = [i.total_code for i in instruments().values()]
    assert len(totals) == len(set(totals))
    coding = role_coding("peer-support")
    assert role_key(coding.system, coding.code) == "peer-support"
    with pytest.raises(TerminologyError):
        role_coding("wizard")
