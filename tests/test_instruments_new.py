"""The instruments as data: DAST-10, PROMIS-10, WHODAS 2.0 (12 items), severity bands as coded
interpretation, flag rules, and the Questionnaires built from the same data (and shipped in
the profiles package)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iopfhir.domain import Measure
from iopfhir.errors import TerminologyError
from iopfhir.fhir.build import questionnaire_to_fhir, questionnaires
from iopfhir.fhir.build.questionnaires import ORDINAL_VALUE
from iopfhir.terminology import code_system, code_system_url, codes, instrument, instruments
from iopfhir.terminology.instruments import LOINC

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "profiles" / "package"
SHIPPED = ROOT / "src" / "iopfhir" / "validation" / "data" / "iop-profiles"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
SEVERITY = "https://iopfhir.org/fhir/CodeSystem/severity-band"


def _dast(yes: set[int], stop_yes: bool = True) -> dict[str, int]:
    """DAST-10 answers as values: yes on the items in ``yes``; item 3 answered Yes/No."""
    inst = instrument("dast-10")
    out: dict[str, int] = {}
    for n, item in enumerate(inst.items, start=1):
        want = "LA33-6" if (stop_yes if n == 3 else n in yes) else "LA32-8"
        out[item.id] = next(a.score for a in item.answers if a.code == want)
    return out


# -- the data ---------------------------------------------------------------------------------


def test_new_instruments_are_in_the_vocabulary() -> None:
    assert {"dast-10", "promis-10", "whodas-12"} <= set(instruments())
    m = Measure(key="m", instrument="dast-10", date="2026-01-05T09:00:00Z", total=4)
    assert m.band == "moderate"


def test_dast10_codes_are_the_published_loinc_structure() -> None:
    inst = instrument("dast-10")
    assert inst.code_system == LOINC == "http://loinc.org"
    assert (inst.panel_code, inst.total_code) == ("82666-9", "82667-7")
    # LOINC's SAMHSA DAST-10 questions, in the published order (item 3: "always able to stop")
    assert [it.code for it in inst.items] == [
        "68525-5", "68526-3", "68527-1", "68528-9", "68529-7",
        "68530-5", "68531-3", "68532-1", "68533-9", "68534-7",
    ]  # fmt: skip
    for item in inst.items:
        assert {(a.system, a.code) for a in item.answers} == {(LOINC, "LA33-6"), (LOINC, "LA32-8")}


def test_dast10_item3_is_reverse_scored() -> None:
    inst = instrument("dast-10")
    assert inst.score(_dast(set(), stop_yes=True)).total == 0
    assert inst.score(_dast(set(), stop_yes=False)).total == 1
    assert inst.score(_dast({1, 2, 4, 5, 6, 7, 8, 9, 10}, stop_yes=False)).total == 10


@pytest.mark.parametrize(
    ("yes", "total", "band", "screen", "flags"),
    [
        (set(), 0, "none", "NEG", ()),
        ({1, 2}, 2, "low", "NEG", ()),
        ({1, 2, 4}, 3, "moderate", "POS", ("drug-use-problems",)),
        ({1, 2, 4, 5, 6, 7}, 6, "substantial", "POS", ("drug-use-problems",)),
        ({1, 2, 4, 5, 6, 7, 8, 9, 10}, 9, "severe", "POS", ("drug-use-problems",)),
    ],
)
def test_dast10_bands_screens_and_flags(
    yes: set[int], total: int, band: str, screen: str, flags: tuple[str, ...]
) -> None:
    inst = instrument("dast-10")
    score = inst.score(_dast(yes))
    assert (score.total, score.band, score.flags) == (total, band, flags)
    codings = inst.interpretation(band)
    assert [(c.system, c.code) for c in codings] == [(SEVERITY, band), (V3, screen)]


def test_flags_from_a_total_alone_and_never_from_a_contradicted_total() -> None:
    dast = instrument("dast-10")
    assert dast.flags({}, 3) == ("drug-use-problems",)
    assert dast.flags({}, 2) == ()
    assert dast.flags({}) == ()
    # complete answers win over a total that disagrees with them
    assert dast.flags(_dast(set()), 9) == ()
    assert dast.flags(_dast({1, 2, 4}), 0) == ("drug-use-problems",)


@pytest.mark.parametrize(
    ("total", "sex", "flags", "screen"),
    [
        (2, None, (), "NEG"),
        (3, "female", ("unhealthy-alcohol-use",), "POS"),
        (3, "male", (), "NEG"),
        (3, None, ("unhealthy-alcohol-use",), None),  # unknown: the lower threshold flags
        (4, "male", ("unhealthy-alcohol-use",), "POS"),
        (12, None, ("unhealthy-alcohol-use",), "POS"),
    ],
)
def test_audit_c_threshold_depends_on_sex(
    total: int, sex: str | None, flags: tuple[str, ...], screen: str | None
) -> None:
    inst = instrument("audit-c")
    assert inst.flags({}, total, sex=sex) == flags
    codings = inst.interpretation(inst.band(total) or "", sex=sex)
    assert codings[0].system == SEVERITY
    assert [c.code for c in codings[1:]] == ([screen] if screen else [])


def test_existing_item_rules_still_flag() -> None:
    phq9 = instrument("phq-9")
    answers = {f"q{i}": 0 for i in range(1, 10)}
    assert phq9.flags(answers) == ()
    answers["q9"] = 1
    assert phq9.flags(answers) == ("self-harm-risk",)
    assert phq9.flags({"q9": 2}) == ("self-harm-risk",)  # an item rule needs no total
    cssrs = instrument("c-ssrs")
    assert cssrs.flags({"q1": 1, "q2": 1, "q6": 0, "q4": 1}) == (
        "suicidal-ideation",
        "suicidal-intent",
    )


def test_severity_only_bands_have_no_screen() -> None:
    assert [c.code for c in instrument("phq-9").interpretation("moderate")] == ["moderate"]
    with pytest.raises(TerminologyError):
        instrument("phq-9").interpretation("positive")


def test_band_from_coding_reads_only_own_bands() -> None:
    inst = instrument("dast-10")
    assert inst.band_from_coding(SEVERITY, "substantial") == "substantial"
    assert inst.band_from_coding(SEVERITY, "moderately-severe") is None
    assert inst.band_from_coding(V3, "POS") is None


def test_promis10_raw_subscales_and_pain_recode() -> None:
    inst = instrument("promis-10")
    assert inst.code_system == "https://iopfhir.org/fhir/CodeSystem/promis-10"
    answers = {it.id: 5 for it in inst.items}
    answers["global07"] = 0  # no pain: 5 points
    assert inst.subscores(answers) == {"mental": 20, "physical": 20}
    assert inst.score(answers).total == 20  # the total is the raw mental health sum
    answers["global07"] = 10  # worst pain: 1 point
    assert inst.subscores(answers)["physical"] == 16
    for rating, points in [(1, 4), (3, 4), (4, 3), (6, 3), (7, 2), (9, 2)]:
        answers["global07"] = rating
        assert inst.subscores(answers)["physical"] == 15 + points
    assert inst.score(answers).band is None
    # global01 and global09 count in neither raw sum
    answers["global01"] = answers["global09"] = 1
    assert inst.score(answers).total == 20
    assert inst.subscores({"global02": 3}) == {}


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (12, "none"),
        (14, "none"),
        (15, "mild"),
        (23, "mild"),
        (24, "moderate"),
        (35, "moderate"),
        (36, "severe"),
        (57, "severe"),
        (58, "extreme"),
        (60, "extreme"),
    ],
)
def test_whodas12_bands(total: int, band: str) -> None:
    assert instrument("whodas-12").band(total) == band


def test_whodas12_simple_sum() -> None:
    inst = instrument("whodas-12")
    assert inst.score({it.id: 1 for it in inst.items}).total == 12
    assert inst.score({it.id: 5 for it in inst.items}).total == 60
    with pytest.raises(TerminologyError):
        inst.score({it.id: 0 for it in inst.items})


@pytest.mark.parametrize("inst_id", sorted(instruments()))
def test_instrument_data_is_consistent(inst_id: str) -> None:
    inst = instrument(inst_id)
    severity = code_system("severity")["concepts"]
    flags = code_system("safety-flag")["concepts"]
    v3 = codes()["observation_interpretation"]["concepts"]
    covered: list[int] = []
    for band in inst.band_specs:
        assert band.code in severity
        assert band.screen is None or band.screen in v3
        assert all(code in v3 for _, code in band.screen_by_sex)
        covered += range(band.low, band.high + 1)
    if inst.band_specs:  # bands cover min..max once each
        assert covered == list(range(inst.min_total, inst.max_total + 1))
    for rule in inst.flag_rules:
        assert rule.flag in flags
        assert rule.item is None or rule.item in {it.id for it in inst.all_items}
    for item in inst.all_items:
        scores = [a.score for a in item.answers]
        assert len(set(scores)) == len(scores), item.id  # a value maps to one answer
    for sub in inst.subscales:
        assert sum(inst.item(i).points(inst.item(i).max_score) for i in sub.items) <= sub.max_total


def test_code_system_urls_of_new_codes() -> None:
    assert code_system_url("severity") == SEVERITY
    assert {"substantial", "extreme"} <= set(code_system("severity")["concepts"])
    assert {"drug-use-problems", "unhealthy-alcohol-use"} <= set(
        code_system("safety-flag")["concepts"]
    )


# -- Questionnaires ----------------------------------------------------------------------------


def _options(item: dict[str, Any]) -> list[tuple[str, str, float]]:
    out = []
    for option in item.get("answerOption", []):
        coding = option["valueCoding"]
        (ext,) = [e for e in coding["extension"] if e["url"] == ORDINAL_VALUE]
        out.append((coding["system"], coding["code"], ext["valueDecimal"]))
    return out


@pytest.mark.parametrize("inst_id", sorted(instruments()))
def test_questionnaire_matches_the_instrument(inst_id: str) -> None:
    inst = instrument(inst_id)
    q = questionnaire_to_fhir(inst_id)
    assert q["resourceType"] == "Questionnaire"
    assert q["url"] == inst.questionnaire
    assert q["url"].endswith(f"/Questionnaire/{q['id']}")
    assert q["status"] == "active"
    items = {i["linkId"]: i for i in q["item"]}
    assert list(items) == [f"/{it.code}" for it in inst.all_items] + [f"/{inst.total_code}"]
    for it in inst.all_items:
        qi = items[f"/{it.code}"]
        assert qi["code"][0] == {"system": it.system, "code": it.code, "display": qi["text"]}
        assert qi["type"] == "choice"
        assert qi["required"] is it.required
        assert qi["repeats"] is False
        assert _options(qi) == [(a.system, a.code, a.score) for a in it.answers]
    total = items[f"/{inst.total_code}"]
    assert total["readOnly"] is True and total["required"] is False
    assert total["type"] == ("choice" if inst.scoring == "risk-level" else "integer")


def test_questionnaires_order_dedup_and_unknown_ids() -> None:
    assert [q["id"] for q in questionnaires(["phq-2", "dast-10", "phq-2"])] == ["phq-2", "dast-10"]
    assert len(questionnaires()) == len(instruments())
    with pytest.raises(TerminologyError):
        questionnaires(["dast-10", "no-such"])
    a = questionnaire_to_fhir("phq-9")
    a["item"].clear()  # a copy: the next caller is not affected
    assert questionnaire_to_fhir("phq-9")["item"]


def test_questionnaires_are_shipped_up_to_date() -> None:
    """profiles/package and the validator's package data hold what the builder makes now
    (rebuild with tools/build_profiles.sh when this fails)."""
    index = json.loads((PACKAGE / ".index.json").read_text("utf-8"))
    listed = {f["filename"] for f in index["files"] if f["resourceType"] == "Questionnaire"}
    for q in questionnaires():
        name = f"Questionnaire-{q['id']}.json"
        assert name in listed
        assert json.loads((PACKAGE / name).read_text("utf-8")) == q, name
        assert json.loads((SHIPPED / name).read_text("utf-8")) == q, name
    assert len(listed) == len(instruments())


def test_instrument_code_systems_are_in_the_package() -> None:
    for inst in instruments().values():
        if inst.code_system == LOINC:
            continue
        cs_id = inst.code_system.rsplit("/", 1)[1]
        cs = json.loads((PACKAGE / f"CodeSystem-{cs_id}.json").read_text("utf-8"))
        assert cs["url"] == inst.code_system
        concepts = {c["code"] for c in cs["concept"]}
        wanted = {inst.total_code, *(s.code for s in inst.subscales)}
        wanted |= {it.code for it in inst.all_items}
        wanted |= {a.code for it in inst.all_items for a in it.answers}
        if inst.panel_code:
            wanted.add(inst.panel_code)
        assert wanted <= concepts
