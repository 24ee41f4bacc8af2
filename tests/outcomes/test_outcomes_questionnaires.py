"""Instrument scores sent only as QuestionnaireResponses count like total Observations.

A synthetic cohort is rewritten as a forms app would send it: every instrument total
Observation removed, and the answer Observations of the safety items (PHQ-9 item 9, C-SSRS),
its QuestionnaireResponse kept (the item answers), some responses with their items inside a
group, some with the total stated as an item (``linkId`` the total's LOINC code, with or
without a path) instead of the answers. Each administration is then a response alone, and
the measures must give the figures of the original on DuckDB, on Spark and in the
plain-Python reference (symptom scores and safety screens). A third layout keeps the
Observations without their ``derivedFrom``: a response and a total Observation of the same
patient and time are one administration, never two. A fourth layout is the responses alone
as a forms app whose linkIds are not codes sends them: every item's ``linkId`` opaque, the
codes in the Questionnaires the responses name (by canonical url, versioned url or
``Questionnaire/id``), which the source holds. Small hand-built cases pin the rules
(complete answers only, completed responses only, a stated total wins over the answers).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.engines import synth_ndjson
from tests.outcomes.figures import reference_figures
from tests.outcomes.reference import compute as reference

from iopfhir.fhir.read import read_fhir, read_fhir_streamed
from iopfhir.outcomes import compute
from iopfhir.views import Source

_TOTALS = {"44261-6", "70274-6", "75626-2", "82667-7", "gmh-raw", "simple-sum"}
#: the safety items (PHQ-9 item 9, C-SSRS ideation / intent / plan / behaviour): their answer
#: Observations go too, the responses hold the same answers (the C-SSRS risk level stays:
#: it is no item of the response)
_SAFETY_ITEMS = {"44260-8", "93247-5", "93249-1", "93250-9", "93269-9"}
_MEASURES = [
    "iop-phq9-baseline", "iop-phq9-last", "iop-phq9-change", "iop-phq9-response",
    "iop-phq9-remission", "iop-gad7-change", "iop-gad7-response", "iop-auditc-change",
    "iop-promis10-change", "iop-whodas12-change", "iop-safety-positive", "iop-safety-followup",
]  # fmt: skip


def _first_code(r: dict[str, Any]) -> Any:
    return (((r.get("code") or {}).get("coding") or [{}])[0]).get("code")


def _total_code(r: dict[str, Any]) -> str | None:
    code = _first_code(r)
    return code if code in _TOTALS else None


def _reshape_responses(lines: list[bytes], totals: dict[str, tuple[str, Any]],
                       seen: Counter[str]) -> list[bytes]:  # fmt: skip
    out = []
    for n, line in enumerate(lines):
        r = orjson.loads(line)
        key = "QuestionnaireResponse/" + r["id"]
        if key in totals and n % 3 == 0:  # the total stated, not the answers
            code, value = totals[key]
            link = code if n % 2 else f"/{code}"
            safety = [i for i in r["item"] if i["linkId"].split("/")[-1] in _SAFETY_ITEMS]
            r["item"] = [{"linkId": link, "answer": [{"valueInteger": int(value)}]}, *safety]
            seen["stated total"] += 1
        elif n % 3 == 1:  # the answers inside a group
            r["item"] = [{"linkId": "group", "item": r["item"]}]
            seen["group"] += 1
        out.append(orjson.dumps(r))
    return out


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Counter[str]]:
    root = tmp_path_factory.mktemp("qr")
    ours = synth_ndjson(root, patients=40, seed=12)
    only, unlinked = root / "responses-only", root / "unlinked"
    only.mkdir()
    unlinked.mkdir()
    seen: Counter[str] = Counter()
    observations = (ours / "Observation.ndjson").read_bytes().splitlines()
    totals: dict[str, tuple[str, Any]] = {}
    kept, bare = [], []
    for line in observations:
        r = orjson.loads(line)
        code = _total_code(r)
        if code is None:
            if _first_code(r) in _SAFETY_ITEMS:
                seen["safety answer removed"] += 1
            else:
                kept.append(line)
            bare.append(line)
            continue
        seen["total removed"] += 1
        for d in r.get("derivedFrom", []):
            totals[d["reference"]] = (code, r["valueQuantity"]["value"])
        r.pop("derivedFrom", None)
        bare.append(orjson.dumps(r))
    for path in sorted(ours.glob("*.ndjson")):
        if path.stem == "Observation":
            (only / path.name).write_bytes(b"\n".join(kept) + b"\n")
            (unlinked / path.name).write_bytes(b"\n".join(bare) + b"\n")
        elif path.stem in ("Flag", "RiskAssessment"):  # derived from the answers: gone
            seen[f"{path.stem} removed"] += len(path.read_bytes().splitlines())
            (only / path.name).write_bytes(b"")
            (unlinked / path.name).write_bytes(path.read_bytes())
        elif path.stem == "QuestionnaireResponse":
            lines = path.read_bytes().splitlines()
            (only / path.name).write_bytes(b"\n".join(_reshape_responses(lines, totals, seen)))
            (unlinked / path.name).write_bytes(path.read_bytes())
        else:
            (only / path.name).write_bytes(path.read_bytes())
            (unlinked / path.name).write_bytes(path.read_bytes())
    return ours, only, unlinked, seen


def _opaque_links(r: dict[str, Any], links: dict[str, str]) -> None:
    """Each item's ``linkId`` replaced by an opaque one (``links``: code -> opaque)."""
    for item in r.get("item", []):
        code = item["linkId"].split("/")[-1]
        if item.get("answer"):
            item["linkId"] = links.setdefault(code, f"q{len(links) + 1}")
        _opaque_links(item, links)


@pytest.fixture(scope="module")
def forms(layouts: tuple[Path, Path, Path, Counter[str]], tmp_path_factory: pytest.TempPathFactory,
          ) -> tuple[Path, Counter[str]]:  # fmt: skip
    """The responses-only layout with opaque linkIds, the codes in Questionnaires."""
    _, only, _, _ = layouts
    root = tmp_path_factory.mktemp("forms")
    seen: Counter[str] = Counter()
    by_form: dict[str, dict[str, str]] = {}  # canonical -> code -> opaque linkId
    responses = []
    for n, line in enumerate((only / "QuestionnaireResponse.ndjson").read_bytes().splitlines()):
        r = orjson.loads(line)
        canonical = r["questionnaire"]
        links = by_form.setdefault(canonical, {})
        _opaque_links(r, links)
        form_id = f"form-{list(by_form).index(canonical)}"
        r["questionnaire"] = [canonical, f"{canonical}|2.0", f"Questionnaire/{form_id}"][n % 3]
        seen[["by url", "by versioned url", "by id"][n % 3]] += 1
        responses.append(orjson.dumps(r))
    questionnaires = []
    for i, (canonical, links) in enumerate(by_form.items()):
        items = []
        for code, link in links.items():
            coding = {"code": code}  # LOINC's codes with their system, the others without
            if re.fullmatch(r"\d+-\d", code):
                coding = {"system": "http://loinc.org", "code": code}
            other = {"system": "http://snomed.info/sct", "code": "0"}  # not an instrument's
            items.append({"linkId": link, "type": "choice", "code": [other, coding]})
        questionnaires.append(orjson.dumps({
            "resourceType": "Questionnaire", "id": f"form-{i}", "url": canonical,
            "version": "2.0", "status": "active", "item": items}))  # fmt: skip
    for path in only.glob("*.ndjson"):
        (root / path.name).write_bytes(path.read_bytes())
    (root / "QuestionnaireResponse.ndjson").write_bytes(b"\n".join(responses) + b"\n")
    (root / "Questionnaire.ndjson").write_bytes(b"\n".join(questionnaires) + b"\n")
    return root, seen


def _summaries(folder: Path, engine: Any) -> dict[str, Any]:
    with Source.from_path(folder) as src:
        outcomes = compute(src, engine)
    return {m.id: outcomes.summary(m.id) for m in outcomes.measures}


def test_the_layouts_hold_every_shape(layouts: tuple[Path, Path, Path, Counter[str]]) -> None:
    *_, seen = layouts
    assert seen["total removed"] > 100 and seen["safety answer removed"] > 50
    assert seen["stated total"] > 10 and seen["group"] > 10


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_responses_alone_give_the_same_figures(
    layouts: tuple[Path, Path, Path, Counter[str]], engine_name: str,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    ours, only, unlinked, _ = layouts
    engine = request.getfixturevalue(f"{engine_name}_engine")
    want = _summaries(ours, engine)
    for mid in _MEASURES:  # each measure here has subjects whose figures must agree
        assert want[mid].overall.populations.get("initial-population"), mid
    assert _summaries(only, engine) == want
    assert _summaries(unlinked, engine) == want


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_responses_read_through_their_questionnaires(
    layouts: tuple[Path, Path, Path, Counter[str]], forms: tuple[Path, Counter[str]],
    engine_name: str, request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    ours = layouts[0]
    folder, seen = forms
    assert min(seen.values()) > 20 and len(seen) == 3
    engine = request.getfixturevalue(f"{engine_name}_engine")
    want = _summaries(ours, engine)
    assert _summaries(folder, engine) == want
    # without the Questionnaires, no opaque linkId names an instrument's item: the scores
    # and the screens of the responses are gone (the C-SSRS risk levels stay)
    bare = folder.parent / f"{folder.name}-bare"
    bare.mkdir(exist_ok=True)
    for path in folder.glob("*.ndjson"):
        if path.stem != "Questionnaire":
            (bare / path.name).write_bytes(path.read_bytes())
    lost = _summaries(bare, engine)
    assert not lost["iop-phq9-change"].overall.populations.get("denominator")
    positive = want["iop-safety-positive"].overall.populations["numerator"]
    assert lost["iop-safety-positive"].overall.populations["numerator"] < positive


def test_the_reference_reads_them_alike(layouts: tuple[Path, Path, Path, Counter[str]]) -> None:
    ours, only, unlinked, _ = layouts
    want = reference_figures(ours)
    assert want["iop-phq9-change"]["populations"]
    assert reference_figures(only) == want
    assert reference_figures(unlinked) == want


def test_the_reference_reads_questionnaires_alike(
    layouts: tuple[Path, Path, Path, Counter[str]], forms: tuple[Path, Counter[str]]
) -> None:
    assert reference_figures(forms[0]) == reference_figures(layouts[0])


# -- the rules, by hand ----------------------------------------------------------------------
_NOT_AT_ALL, _SEVERAL_DAYS, _NEARLY_EVERY_DAY = "LA6568-5", "LA6569-3", "LA6571-9"
_PHQ9_ITEMS = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5",
               "44253-3", "44260-8"]  # fmt: skip


def _response(rid: str, when: str, items: list[dict[str, Any]], status: str = "completed"):  # type: ignore[no-untyped-def]
    return {"resourceType": "QuestionnaireResponse", "id": rid, "status": status,
            "subject": {"reference": "Patient/p"}, "authored": when, "item": items}  # fmt: skip


def _answers(codes: list[str]) -> list[dict[str, Any]]:
    return [
        {"linkId": f"/{item}", "answer": [{"valueCoding": {"system": "http://loinc.org",
                                                             "code": code}}]}
        for item, code in zip(_PHQ9_ITEMS, codes, strict=False)
    ]  # fmt: skip


def _hand_cases() -> list[dict[str, Any]]:
    nine_twos = [_NEARLY_EVERY_DAY] * 6 + [_SEVERAL_DAYS, _NOT_AT_ALL, _NOT_AT_ALL]  # 19
    return [
        {"resourceType": "Patient", "id": "p", "gender": "female"},
        {"resourceType": "EpisodeOfCare", "id": "e", "status": "finished",
         "patient": {"reference": "Patient/p"},
         "period": {"start": "2025-01-06", "end": "2025-03-28"}},
        _response("base", "2025-01-06T09:00:00Z", _answers(nine_twos)),  # 19 from the answers
        # eight items of nine: no total (the ninth is required)
        _response("part", "2025-02-03T09:00:00Z", _answers([_NOT_AT_ALL] * 8)),
        # not completed: nothing
        _response("draft", "2025-03-20T09:00:00Z", _answers([_NOT_AT_ALL] * 9), "in-progress"),
        # the stated total wins over the answers (which would give 0)
        _response("last", "2025-03-03T09:00:00Z",
                  [{"linkId": "44249-1", "item": [
                      *_answers([_NOT_AT_ALL] * 9),
                      {"linkId": "/44249-1/44261-6", "answer": [{"valueInteger": 7}]}]}]),
        # a total Observation derived from a response records it (at another time: the
        # response, 5 from its answers, adds nothing)
        _response("src", "2025-03-10T10:05:00Z", _answers([_SEVERAL_DAYS] * 5 + [_NOT_AT_ALL] * 4)),
        {"resourceType": "Observation", "id": "obs", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
         "subject": {"reference": "Patient/p"}, "effectiveDateTime": "2025-03-10T10:00:00Z",
         "valueInteger": 10, "derivedFrom": [{"reference": "QuestionnaireResponse/src"}]},
    ]  # fmt: skip


def test_the_rules_by_hand(duckdb_engine: Any) -> None:
    resources = _hand_cases()
    with Source.from_resources(resources) as src:
        outcomes = compute(
            src,
            duckdb_engine,
            measure_ids=["iop-phq9-baseline", "iop-phq9-last", "iop-phq9-change"],
        )
    assert outcomes.summary("iop-phq9-baseline").overall.score == 19
    assert outcomes.summary("iop-phq9-last").overall.score == 10
    assert outcomes.summary("iop-phq9-change").overall.score == -9
    (row,) = outcomes.subjects["iop-phq9-change"]
    assert set(row.evaluated) == {"QuestionnaireResponse/base", "Observation/obs"}
    ref = reference(resources)
    assert ref["iop-phq9-baseline"]["score"] == 19
    assert ref["iop-phq9-last"]["score"] == 10
    assert ref["iop-phq9-change"]["score"] == -9
    # without the Observation and its response the stated total (7) is the last: the later
    # draft counts for nothing
    rest = [r for r in resources if r["id"] not in ("obs", "src")]
    with Source.from_resources(rest) as src:
        assert compute(src, duckdb_engine).summary("iop-phq9-last").overall.score == 7
    assert reference(rest)["iop-phq9-last"]["score"] == 7


def test_an_item_with_two_codes_is_read_by_its_first(duckdb_engine: Any) -> None:
    """A Questionnaire item coded twice in LOINC names the concept of its first code, as the
    import reads it: here the second code sorts first and is no PHQ-9 item (taking the least
    code, as before, left every answer unscored)."""
    url = "https://forms.example.org/Questionnaire/phq9-two-codes"
    nine_twos = [_NEARLY_EVERY_DAY] * 6 + [_SEVERAL_DAYS, _NOT_AT_ALL, _NOT_AT_ALL]  # 19
    loinc = "http://loinc.org"
    form = {"resourceType": "Questionnaire", "id": "two", "url": url, "status": "active",
            "item": [{"linkId": f"q{n}", "type": "choice",
                      "code": [{"system": loinc, "code": code}, {"system": loinc, "code": "1-8"}]}
                     for n, code in enumerate(_PHQ9_ITEMS)]}  # fmt: skip
    response = _response("two", "2025-01-06T09:00:00Z", [
        {"linkId": f"q{n}", "answer": [{"valueCoding": {"system": loinc, "code": code}}]}
        for n, code in enumerate(nine_twos)])  # fmt: skip
    response["questionnaire"] = url
    resources = [*_hand_cases()[:2], form, response]
    with Source.from_resources(resources) as src:
        outcomes = compute(src, duckdb_engine, measure_ids=["iop-phq9-baseline"])
    assert outcomes.summary("iop-phq9-baseline").overall.score == 19
    assert reference(resources)["iop-phq9-baseline"]["score"] == 19
    (episode,) = read_fhir(resources).episodes
    (measure,) = episode.measures
    assert (measure.instrument, measure.score) == ("phq-9", 19)


def test_a_response_is_read_through_the_version_it_names(duckdb_engine: Any) -> None:
    """Two versions of one form code the same linkId differently: a response naming
    ``url|1.0`` is read through version 1.0 (its ninth item PHQ-9 item 9: complete, 19),
    one naming ``url|2.0`` through 2.0 (whose ninth item is no PHQ-9 item: incomplete, no
    score). Before, both were read through the bare url, where the least code of the two
    versions named no PHQ-9 item: neither response was scored."""
    url = "https://forms.example.org/Questionnaire/phq9-versions"
    nine_twos = [_NEARLY_EVERY_DAY] * 6 + [_SEVERAL_DAYS, _NOT_AT_ALL, _NOT_AT_ALL]  # 19
    loinc = "http://loinc.org"

    def form(version: str, ninth: str) -> dict[str, Any]:
        codes = [*_PHQ9_ITEMS[:8], ninth]
        return {"resourceType": "Questionnaire", "id": f"v{version[0]}", "url": url,
                "version": version, "status": "active",
                "item": [{"linkId": f"q{n}", "type": "choice",
                          "code": [{"system": loinc, "code": code}]}
                         for n, code in enumerate(codes)]}  # fmt: skip

    def answered(rid: str, when: str, version: str) -> dict[str, Any]:
        response = _response(rid, when, [
            {"linkId": f"q{n}", "answer": [{"valueCoding": {"system": loinc, "code": code}}]}
            for n, code in enumerate(nine_twos)])  # fmt: skip
        response["questionnaire"] = f"{url}|{version}"
        return response

    resources = [
        *_hand_cases()[:2],
        form("1.0", _PHQ9_ITEMS[8]),
        form("2.0", "1-8"),
        answered("one", "2025-01-06T09:00:00Z", "1.0"),
        answered("two", "2025-01-07T09:00:00Z", "2.0"),
    ]
    with Source.from_resources(resources) as src:
        outcomes = compute(src, duckdb_engine, measure_ids=["iop-phq9-baseline"])
    (row,) = outcomes.subjects["iop-phq9-baseline"]
    assert outcomes.summary("iop-phq9-baseline").overall.score == 19
    assert set(row.evaluated) == {"QuestionnaireResponse/one"}
    assert reference(resources)["iop-phq9-baseline"]["score"] == 19
    for reader in (read_fhir, read_fhir_streamed):
        (episode,) = reader(resources).episodes
        scores = sorted((m.date, m.score) for m in episode.measures)
        assert [s for _, s in scores] == [19, None], reader
