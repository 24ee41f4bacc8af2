"""The shipped IOP views on a synthetic cohort: DuckDB and Spark give identical rows, and both
give what a plain Python reading of the same NDJSON gives.

The cohort is made here (``iopfhir synth --patients 50`` then ``iopfhir convert --format
ndjson``). The Python references below read the NDJSON with orjson and follow the FHIR
JSON directly, without the view compiler.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.engines import synth_ndjson, with_ehr_panels

from iopfhir.errors import PluginError
from iopfhir.fhir.build.questionnaires import questionnaires
from iopfhir.views import Source, ViewError, get_engine, iop_view, iop_view_json, iop_view_names


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = with_ehr_panels(synth_ndjson(tmp_path_factory.mktemp("cohort"), 50, 7))
    # the Questionnaires the responses answer, as a source holding them has them
    lines = b"\n".join(orjson.dumps(q) for q in questionnaires())
    (folder / "Questionnaire.ndjson").write_bytes(lines + b"\n")
    return folder


@pytest.fixture(scope="module")
def source(cohort: Path) -> Any:
    with Source.from_path(cohort) as src:
        yield src


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _sorted(rows: list[tuple[Any, ...]]) -> list[str]:
    return sorted(repr(r) for r in rows)


def _key(ref: dict[str, Any] | None) -> str | None:
    return ref["reference"] if ref else None


@pytest.mark.parametrize("name", iop_view_names())
def test_duckdb_and_spark_give_identical_rows(
    name: str, source: Source, duckdb_engine: Any, spark_engine: Any
) -> None:
    view = iop_view(name)
    on_duckdb = duckdb_engine.run(view, source)
    on_spark = spark_engine.run(view, source)
    assert on_duckdb.columns == on_spark.columns == view.columns
    assert len(on_duckdb) > 0
    assert _sorted(on_duckdb.rows) == _sorted(on_spark.rows)


def test_scores_match_a_python_reading(cohort: Path, source: Source, engine: Any) -> None:
    expected = []
    for obs in _lines(cohort / "Observation.ndjson"):
        q = obs.get("valueQuantity")
        if not q or q.get("value") is None:
            continue
        coding = obs["code"]["coding"]
        loinc = [c["code"] for c in coding if c.get("system") == "http://loinc.org"]
        expected.append((
            f"Observation/{obs['id']}", _key(obs.get("subject")), _key(obs.get("encounter")),
            obs["status"], coding[0].get("system"), coding[0].get("code"),
            loinc[0] if loinc else None, float(q["value"]), q.get("code"),
            obs.get("effectiveDateTime"),
            next((d["reference"] for d in obs.get("derivedFrom", [])
                  if d["reference"].startswith("QuestionnaireResponse/")), None),
        ))  # fmt: skip
    assert len(expected) > 50 and any(row[-1] for row in expected)
    got = engine.run(iop_view("iop-observation-score"), source)
    assert _sorted(got.rows) == _sorted(expected)


def _items(items: list[dict[str, Any]]) -> Any:
    for item in items:
        yield item
        yield from _items(item.get("item", []))


def test_questionnaire_answers_match_a_python_reading(
    cohort: Path, source: Source, engine: Any
) -> None:
    expected = []
    for qr in _lines(cohort / "QuestionnaireResponse.ndjson"):
        for item in _items(qr.get("item", [])):
            first = (item.get("answer") or [{}])[0]
            number = first.get("valueInteger", first.get("valueDecimal"))
            coding = first.get("valueCoding") or {}
            expected.append((
                f"QuestionnaireResponse/{qr['id']}", _key(qr.get("subject")), qr["status"],
                qr.get("questionnaire"), qr.get("authored"), item["linkId"],
                None if number is None else float(number), coding.get("system"),
                coding.get("code"),
            ))  # fmt: skip
    assert len(expected) > 100 and any(row[-1] for row in expected)
    got = engine.run(iop_view("iop-questionnaire-answer"), source)
    assert _sorted(got.rows) == _sorted(expected)


def test_encounters_match_a_python_reading(cohort: Path, source: Source, engine: Any) -> None:
    rows = {r[0]: r for r in engine.run(iop_view("iop-encounter"), source).rows}
    encounters = _lines(cohort / "Encounter.ndjson")
    assert len(rows) == len(encounters)
    inpatient = linked = 0
    for enc in encounters:
        row = dict(
            zip(iop_view("iop-encounter").columns, rows[f"Encounter/{enc['id']}"], strict=True)
        )
        assert row["patient_key"] == enc["subject"]["reference"]
        assert row["class_code"] == enc["class"]["code"]
        assert row["inpatient"] is (enc["class"]["code"] == "IMP")
        assert row["telehealth"] is (enc["class"]["code"] == "VR")
        assert row["start"] == enc["period"]["start"]
        episodes = enc.get("episodeOfCare") or [None]
        assert row["episode_key"] == _key(episodes[0])
        assert row["appointment_key"] == _key((enc.get("appointment") or [None])[0])
        inpatient += row["inpatient"]
        linked += row["appointment_key"] is not None
    assert inpatient > 0 and linked > 0


def test_goal_targets_or_null(cohort: Path, source: Source, engine: Any) -> None:
    goals = _lines(cohort / "Goal.ndjson")
    expected = sum(max(1, len(g.get("target", []))) for g in goals)
    rows = engine.run(iop_view("iop-goal"), source).to_dicts()
    assert len(rows) == expected
    without = [r for r in rows if r["target_code"] is None]
    assert len(without) == sum(1 for g in goals if not g.get("target"))


def test_registered_views_join(source: Source, engine: Any) -> None:
    engine.register("v_patient", iop_view("iop-patient"), source)
    engine.register("v_score", iop_view("iop-observation-score"), source)
    result = engine.query(
        "SELECT p.gender AS gender, count(*) AS n FROM v_score s "
        "JOIN v_patient p ON s.patient_key = p.patient_key GROUP BY p.gender ORDER BY gender"
    )
    assert result.columns == ["gender", "n"]
    total = engine.run(iop_view("iop-observation-score"), source)
    assert sum(n for _, n in result.rows) == len(total)


def test_shipped_views_are_viewdefinitions() -> None:
    for name in iop_view_names():
        raw = iop_view_json(name)
        assert raw["resourceType"] == "ViewDefinition"
        assert raw["url"].endswith("/" + name)
        assert raw["status"] == "active"
        assert iop_view(name).columns


def test_engine_plugins() -> None:
    with pytest.raises(PluginError):
        get_engine("no-such-engine")


def test_errors_name_the_place_not_the_data(duckdb_engine: Any) -> None:
    secret = "Zebulon-Secretname"
    resources = [
        {"resourceType": "Patient", "id": "p1", "name": [{"family": secret}, {"family": "B"}]}
    ]
    view = {"resource": "Patient", "select": [{"column": [{"name": "n", "path": "name.family"}]}]}
    with Source.from_resources(resources) as src, pytest.raises(ViewError) as info:
        duckdb_engine.run(view, src)
    assert "select[0].column[0]" in str(info.value)
    assert secret not in str(info.value)
    with pytest.raises(ViewError, match=r"select\[0\]\.column\[0\]\.path"):
        duckdb_engine.run(
            {"resource": "Patient", "select": [{"column": [{"name": "n", "path": "a..b"}]}]}, src
        )


def test_mixed_and_typed_files(tmp_path: Path, duckdb_engine: Any) -> None:
    (tmp_path / "Patient.000.ndjson").write_bytes(b'{"resourceType":"Patient","id":"a"}\n')
    (tmp_path / "export.ndjson").write_bytes(
        b'{"resourceType":"Patient","id":"b"}\n{"resourceType":"Observation","id":"o","status":"final"}\n'
    )
    src = Source.from_path(tmp_path)
    assert set(src.files) == {"Patient", "*"}
    view = {"resource": "Patient", "select": [{"column": [{"name": "id", "path": "id"}]}]}
    assert sorted(r[0] for r in duckdb_engine.run(view, src).rows) == ["a", "b"]
    view["resource"] = "Encounter"
    assert duckdb_engine.run(view, src).rows == []


STRING_VIEW = {
    "resourceType": "ViewDefinition",
    "resource": "Patient",
    "status": "active",
    "select": [
        {
            "column": [
                {"name": "id", "path": "getResourceKey()", "type": "string"},
                {
                    "name": "starts",
                    "path": "name.family.first().startsWith('Whit')",
                    "type": "boolean",
                },
                {"name": "ends", "path": "name.family.first().endsWith('aker')", "type": "boolean"},
                {"name": "has", "path": "name.family.first().contains('ita')", "type": "boolean"},
                {
                    "name": "empty_prefix",
                    "path": "name.family.first().startsWith('')",
                    "type": "boolean",
                },
            ]
        }
    ],
}


def test_string_functions_agree_on_both_engines(duckdb_engine: Any, spark_engine: Any) -> None:
    """startsWith / endsWith / contains compile to SQL both engines run, with one answer."""
    patients = [
        {"resourceType": "Patient", "id": "a", "name": [{"family": "Whitaker"}]},
        {"resourceType": "Patient", "id": "b", "name": [{"family": "Akerwhit"}]},
        {"resourceType": "Patient", "id": "c"},
    ]
    with Source.from_resources(patients) as src:
        on_duckdb = duckdb_engine.run(STRING_VIEW, src)
        on_spark = spark_engine.run(STRING_VIEW, src)
    want = [
        ("Patient/a", True, True, True, True),
        ("Patient/b", False, False, False, True),
        ("Patient/c", None, None, None, None),
    ]
    assert sorted(on_duckdb.rows) == want
    assert sorted(on_spark.rows) == want
