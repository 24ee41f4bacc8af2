"""Instrument scoring and code lookups from the terminology data."""

from __future__ import annotations

import re

import pytest

from iopfhir.errors import TerminologyError
from iopfhir.terminology import (
    code_system,
    codes,
    instrument,
    instrument_by_code,
    instruments,
    program_type_of_billing,
    role_coding,
    role_key,
    session_kinds_by_procedure,
)
from iopfhir.views.catalog import iop_view_json

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


def _loinc_check_digit(number: str) -> int:
    """LOINC's mod-10 check digit: from the right, odd positions doubled, digits summed."""
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit // 10 + digit % 10
    return (10 - total % 10) % 10


def test_loinc_check_digit_rule() -> None:
    # published codes (PHQ-9 total, DAST-10 total) pass; a one-digit typo does not
    assert _loinc_check_digit("44261") == 6
    assert _loinc_check_digit("82667") == 7
    assert _loinc_check_digit("44262") != 6


def test_every_loinc_code_in_the_data_has_a_valid_check_digit() -> None:
    """Catches a mistyped LOINC code anywhere in the instrument data (items, panels, totals)."""
    found: list[str] = []
    for inst in instruments().values():
        items = (*inst.items, *inst.extra_items)
        found += [c for c in (inst.total_code, inst.panel_code) if c and c[0].isdigit()]
        found += [item.code for item in items if item.system == "http://loinc.org"]
    assert len(found) > 40  # every instrument's items, not a handful
    bad = [c for c in found if _loinc_check_digit(c.split("-")[0]) != int(c.split("-")[1])]
    assert bad == []


def _codes_in_view(view_name: str, column: str) -> set[tuple[str, str]]:
    """(system, code) of every ``system = %constant and (code = '...' or ...)`` clause of
    the path of ``column`` in shipped view ``view_name``."""
    view = iop_view_json(view_name)
    constants = {c["name"]: c["valueUri"] for c in view["constant"]}
    path = next(c["path"] for c in view["select"][0]["column"] if c["name"] == column)
    return {
        (constants[name], code)
        for name, clause in re.findall(r"system = %(\w+) and \(([^)]*)\)", path)
        for code in re.findall(r"code = '([^']+)'", clause)
    }


def test_iop_billing_codes_name_program_types_and_the_episode_view_reads_each() -> None:
    """The IOP billing codes (HCPCS per diem, NUBC revenue codes) each name a program type;
    the ``iop-episode-of-care`` view keeps exactly those codes of their systems (its
    ``billing_code``), and no two systems share a code (the outcome SQL maps the code)."""
    entries = codes()["program_type_billing"]
    assert {e["type"] for e in entries} <= set(code_system("program-type")["concepts"])
    assert len({e["code"] for e in entries}) == len(entries)
    for e in entries:
        assert program_type_of_billing(e["system"], e["code"]) == e["type"]
    assert program_type_of_billing(entries[0]["system"], "T1017") is None
    in_view = _codes_in_view("iop-episode-of-care", "billing_code")
    assert in_view == {(e["system"], e["code"]) for e in entries}


def test_procedure_codes_name_session_kinds_and_the_encounter_view_reads_each() -> None:
    """The procedure codes of exactly one session kind (CPT, HCPCS) are session kinds; the
    ``iop-encounter`` view keeps exactly those codes of their systems (its
    ``procedure_code``), and no two systems share a code (the outcome SQL maps the code)."""
    by_code = session_kinds_by_procedure()
    kinds = set(code_system("session-kind")["concepts"])
    assert set(by_code.values()) <= kinds
    assert len({code for _system, code in by_code}) == len(by_code)
    listed = {
        (e["system"], e["code"]) for found in codes()["session_procedures"].values() for e in found
    }
    assert set(by_code) <= listed
    assert _codes_in_view("iop-encounter", "procedure_code") == set(by_code)
