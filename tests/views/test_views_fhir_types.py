"""Views read with the R4 types (nothing inferred) give what reading with inferred types gives.

- :func:`~iopfhir.views.fhir_types.view_schema` keeps only the elements a view's paths reach,
  choice elements as the ``valueX`` of the types named in ``ofType()``, typed as R4 says.
- The shipped data file is what the validation package's StructureDefinitions give.
- On a synthetic cohort every shipped view, run alone, registered (several views of one
  resource type share one read of its files) or through the measures, gives the rows and
  figures the engine gives with the schema inferred from the data (``types="infer"``).
- Data that is not valid R4 where a view reads it fails as a ViewError naming no value.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.engines import synth_ndjson, with_ehr_panels

from iopfhir.outcomes import compute
from iopfhir.outcomes.facts import VIEWS
from iopfhir.views import Source, ViewError, get_engine, iop_view, parse_view
from iopfhir.views.fhir_types import build_elements, is_r4_type, view_schema
from iopfhir.views.types import ListT, Prim, StructT

ROOT = Path(__file__).resolve().parents[2]


def _names(t: Any) -> list[str]:
    assert isinstance(t, StructT)
    return [n for n, _ in t.fields]


def test_the_schema_holds_the_elements_the_view_reaches_typed_as_r4() -> None:
    schema = view_schema(iop_view("iop-observation-score"))
    assert schema is not None
    assert sorted(_names(schema)) == sorted(
        ["resourceType", "id", "subject", "encounter", "status", "code", "valueQuantity",
         "derivedFrom", "valueInteger", "valueDateTime", "effectiveDateTime", "effectiveInstant",
         "effectivePeriod", "valueString"]
    )  # fmt: skip
    assert schema.get("valueInteger") == Prim("integer")
    assert schema.get("valueString") == Prim("string")  # a score given as text: toDecimal()
    assert schema.get("effectivePeriod") == StructT((("start", Prim("string")),))
    code = schema.get("code")
    assert isinstance(code, StructT)
    coding = code.get("coding")
    assert isinstance(coding, ListT)  # Coding repeats in CodeableConcept
    assert sorted(_names(coding.elem)) == ["code", "system"]
    quantity = schema.get("valueQuantity")
    assert isinstance(quantity, StructT)
    assert quantity.get("value") == Prim("decimal")
    assert quantity.get("unit") is None  # not used by the view
    assert schema.get("subject") == StructT((("reference", Prim("string")),))


def test_extensions_nest_as_far_as_the_view_goes() -> None:
    schema = view_schema(iop_view("iop-episode-of-care"))
    assert schema is not None
    ext = schema.get("extension")
    assert isinstance(ext, ListT) and isinstance(ext.elem, StructT)
    inner = ext.elem.get("extension")
    assert isinstance(inner, ListT) and isinstance(inner.elem, StructT)
    assert inner.elem.get("valueInteger") == Prim("integer")
    assert inner.elem.get("extension") is None  # the view stops at two levels
    assert schema.get("careManager") == StructT((("reference", Prim("string")),))


def test_a_choice_without_oftype_is_read_as_its_primitive_types() -> None:
    view = parse_view(
        {"resource": "Observation", "select": [{"column": [{"name": "v", "path": "value"}]}]}
    )
    schema = view_schema(view)
    assert schema is not None
    names = _names(schema)
    assert {"valueString", "valueBoolean", "valueInteger", "valueDateTime"} <= set(names)
    assert "valueQuantity" not in names  # a complex type: only when named in ofType()
    assert schema.get("valueBoolean") == Prim("boolean")


def test_presence_only_reads_the_primitive_children() -> None:
    view = parse_view({
        "resource": "Patient",
        "select": [{"column": [{"name": "named", "path": "name.exists()"}]}],
    })  # fmt: skip
    schema = view_schema(view)
    assert schema is not None
    name = schema.get("name")
    assert isinstance(name, ListT) and isinstance(name.elem, StructT)
    assert {"family", "text", "use"} <= set(_names(name.elem))
    assert name.elem.get("given") == ListT(Prim("string"))


def test_only_r4_resource_types() -> None:
    assert is_r4_type("Observation") and is_r4_type("EpisodeOfCare")
    assert not is_r4_type("Coding") and not is_r4_type("NotAType")


def test_the_data_file_is_built_from_the_validation_definitions() -> None:
    sds = ROOT / "src/iopfhir/validation/data/structuredefinitions.json.gz"
    shipped = ROOT / "src/iopfhir/terminology/data/fhir-r4-elements.json.gz"
    built = build_elements(json.loads(gzip.decompress(sds.read_bytes()))["structureDefinitions"])
    assert json.loads(gzip.decompress(shipped.read_bytes())) == built
    # each type's children in R4's order (FHIR XML is written in it)
    elements = json.loads(gzip.decompress(shipped.read_bytes()))["elements"]
    assert all(list(elements[t]) == list(built["elements"][t]) for t in built["elements"])
    assert list(elements["Patient"])[:4] == ["id", "meta", "implicitRules", "language"]
    assert built["elements"]["Observation"]["value[x]"][1][:2] == ["Quantity", "CodeableConcept"]
    assert built["elements"]["QuestionnaireResponse.item"]["item"] == [
        True,
        ["QuestionnaireResponse.item"],
    ]


# -- the same rows and figures as with inferred types ----------------------------------------
@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return with_ehr_panels(synth_ndjson(tmp_path_factory.mktemp("fhirtypes"), 60, 5))


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[Any, Any]]:
    typed, inferred = get_engine("duckdb"), get_engine("duckdb", types="infer")
    yield typed, inferred
    typed.close()
    inferred.close()


def _rows(result: Any) -> list[str]:
    def plain(v: Any) -> Any:
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v

    return sorted(repr(tuple(plain(v) for v in row)) for row in result.rows)


def test_every_shipped_view_reads_the_same_rows(cohort: Path, engines: Any) -> None:
    typed, inferred = engines
    assert typed.types == "fhir" and inferred.types == "infer"
    with Source.from_path(cohort) as source:
        for name in sorted(set(VIEWS.values()) | {"iop-goal"}):
            a, b = typed.run(iop_view(name), source), inferred.run(iop_view(name), source)
            assert a.columns == b.columns, name
            assert _rows(a) == _rows(b), name
            assert "sample_size" not in typed.sql(iop_view(name), source)


def test_registered_views_share_a_read_and_give_the_same_rows(cohort: Path, engines: Any) -> None:
    import duckdb

    _, inferred = engines
    con = duckdb.connect()
    typed = get_engine("duckdb", connection=con)
    statements: list[str] = []
    real = typed._create_table_raw

    def spy(name: str, sql: str) -> None:
        statements.append(sql)
        real(name, sql)

    def reads() -> list[str]:
        rows = con.sql("SELECT table_name FROM duckdb_tables()").fetchall()
        return sorted(r[0] for r in rows if r[0].startswith("_iopfhir_read_"))

    typed._create_table_raw = spy
    try:
        with Source.from_path(cohort) as source:
            for table, name in VIEWS.items():
                typed.register(f"ft_{table}", iop_view(name), source)
            for table, name in VIEWS.items():
                got = typed.query(f"SELECT * FROM ft_{table}")
                assert _rows(got) == _rows(inferred.run(iop_view(name), source)), name
            # Observation (three views), Encounter, Appointment, CarePlan (two each): one
            # read each;
            # QuestionnaireResponse: one view with a list of rows per resource (the answered
            # items), kept as its read (a row per response), unnested where it is queried
            assert len(statements) == 5
            assert all(s.count("read_json(") == 1 for s in statements)
            assert len(reads()) == 5
            assert any("QuestionnaireResponse" in r for r in reads())
            # a read goes with the last view of it
            typed.register("ft_score", iop_view("iop-patient"), source)
            typed.query("SELECT count(*) FROM ft_score")
            assert len(reads()) == 5
            typed.register("ft_answer", iop_view("iop-patient"), source)
            typed.query("SELECT count(*) FROM ft_answer")
            assert len(reads()) == 5
            typed.register("ft_component", iop_view("iop-patient"), source)
            patients = len(inferred.run(iop_view("iop-patient"), source))
            assert len(typed.query("SELECT * FROM ft_component")) == patients > 0
            assert len(reads()) == 4
    finally:
        typed.close()
    assert reads() == []
    names = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views()").fetchall()}
    names |= {r[0] for r in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert not any(n.startswith("ft_") for n in names)
    con.close()


def test_the_measures_are_the_same(cohort: Path, engines: Any) -> None:
    typed, inferred = engines
    with Source.from_path(cohort) as source:
        a, b = compute(source, typed), compute(source, inferred)
    assert sum(len(rows) for rows in a.subjects.values()) > 100
    assert a.subjects == b.subjects
    for m in a.measures:
        assert a.summary(m.id) == b.summary(m.id), m.id


def test_data_that_is_not_r4_fails_without_echoing_it(tmp_path: Path) -> None:
    line = {"resourceType": "Patient", "id": "p1", "deceasedBoolean": "secret-value"}
    (tmp_path / "Patient.ndjson").write_text(json.dumps(line) + "\n")
    engine = get_engine("duckdb")
    try:
        with Source.from_path(tmp_path) as source, pytest.raises(ViewError) as err:
            engine.run(iop_view("iop-patient"), source)
    finally:
        engine.close()
    assert "secret-value" not in str(err.value)


def test_types_must_be_fhir_or_infer() -> None:
    with pytest.raises(ViewError):
        get_engine("duckdb", types="guess")


def test_a_union_iterated_reads_both_sides_elements(duckdb_engine: Any) -> None:
    # forEach over a union (``item | item.item``): the typed read must hold the elements
    # both sides reach, else every column of the rows is NULL
    qr = {"resourceType": "QuestionnaireResponse", "id": "q", "status": "completed",
          "item": [{"linkId": "g", "item": [{"linkId": "a", "answer": [{"valueInteger": 2}]}]},
                   {"linkId": "b", "answer": [{"valueInteger": 1}]}]}  # fmt: skip
    view = {
        "resource": "QuestionnaireResponse",
        "select": [{"forEach": "item | item.item", "column": [
            {"name": "link", "path": "linkId", "type": "string"},
            {"name": "n", "path": "answer.value.ofType(integer).first()", "type": "integer"},
        ]}],
    }  # fmt: skip
    with Source.from_resources([qr]) as source:
        rows = duckdb_engine.run(view, source).rows
    assert sorted(rows, key=str) == sorted([("g", None), ("b", 1), ("a", 2)], key=str)
