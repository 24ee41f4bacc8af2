"""The shape of the compiled SQL where it matters for speed (the rows themselves are checked by
the SQL-on-FHIR conformance tests on both engines):

- a select's own columns beside a nested ``forEach`` are computed once per resource
  (``lead``), not inside the per-row lambda;
- a chain of steps over a list maps and filters it once;
- DuckDB's ``flatten`` takes NULL lists as it is, Spark's gets them coalesced;
- a typed reference test escapes the type name for the regular expression.
- ``repeat`` over several paths whose elements are of one type (``item`` and
  ``answer.item``) walks them as one list: the walk below is written once per level, not once
  per path (which grew as 2^depth).
"""

from __future__ import annotations

from typing import Any

import duckdb

from iopfhir.views import Source, get_engine, iop_view
from iopfhir.views.compile_view import compile_view
from iopfhir.views.dialect import DuckDBDialect, SparkDialect
from iopfhir.views.fhir_types import MAX_NESTING, view_schema
from iopfhir.views.model import parse_view


def _compiled(view: Any, dialect: Any = None) -> Any:
    schema = view_schema(view)
    return compile_view(view, dialect or DuckDBDialect(), schema, "t")


def test_root_columns_beside_a_for_each_are_lead_columns() -> None:
    c = _compiled(iop_view("iop-encounter-participant"))
    lead = dict(c.lead)
    assert c.single is None and c.many is not None
    assert {"encounter_key", "episode_key"} <= set(lead)
    assert "individual_key" not in lead  # one per participant: in the rows
    # the per-row lambda does not compute the resource's columns again
    assert "EpisodeOfCare" not in c.many
    assert '"_l0"' in c.sql and c.columns[0] in lead


def test_a_view_without_for_each_has_no_lead() -> None:
    c = _compiled(iop_view("iop-patient"))
    assert c.single is not None and c.lead == ()


def test_a_chain_over_a_list_maps_once() -> None:
    view = parse_view(
        {
            "resourceType": "ViewDefinition",
            "resource": "Appointment",
            "select": [{"column": [{"name": "r", "path": "participant.actor.reference.first()"}]}],
        }
    )
    c = _compiled(view)
    assert c.single is not None
    assert c.single[0].count("list_transform") == 1
    assert c.single[0].count("list_filter") == 1


def test_flat_map_spelling() -> None:
    assert "coalesce" not in DuckDBDialect().flat_map("l", "v", "v.x")
    assert "coalesce(v.x, array())" in SparkDialect().flat_map("l", "v", "v.x")
    con = duckdb.connect()
    sql = DuckDBDialect().flat_map("[{'x': [1]}, {'x': NULL}, {'x': [2, 3]}]", "v", "v.x")
    assert con.sql(f"SELECT {sql}").fetchall() == [([1, 2, 3],)]


def test_relative_reference_escapes_the_type() -> None:
    con = duckdb.connect()
    check = DuckDBDialect().relative_reference("r", "A.B")
    for ref, want in [("A.B/1", True), ("AxB/1", False), ("A.B/", False), ("A.B/x y", False)]:
        assert con.execute(f"SELECT {check} FROM (SELECT ? AS r)", [ref]).fetchall() == [(want,)], (
            ref
        )


def _answers_view(repeat: list[str]) -> Any:
    return parse_view(
        {
            "resource": "QuestionnaireResponse",
            "select": [
                {
                    "repeat": repeat,
                    "column": [
                        {"name": "link_id", "path": "linkId", "type": "string"},
                        {"name": "code", "path": "answer.value.ofType(Coding).code.first()",
                         "type": "code"},
                    ],
                }
            ],
        }
    )  # fmt: skip


def test_repeat_over_paths_of_one_type_walks_them_once_per_level() -> None:
    c = _compiled(_answers_view(["item", "answer.item"]))
    assert c.many is not None
    # the children of both paths are one list at each level: an element's row is written
    # at most twice per level read (for a leaf, and beside its children), not once for
    # each sequence of paths that reaches it (2^depth)
    assert MAX_NESTING <= c.many.count('."linkId"') <= 2 * MAX_NESTING


def test_repeat_over_paths_of_one_type_keeps_depth_first_order() -> None:
    resource = {
        "resourceType": "QuestionnaireResponse",
        "id": "r",
        "item": [
            {
                "linkId": "a",
                "answer": [{"valueCoding": {"code": "yes"}, "item": [{"linkId": "a.1"}]}],
                "item": [{"linkId": "a.2"}],
            },
            {"linkId": "b", "answer": [{"valueCoding": {"code": "no"}}]},
        ],
    }
    engine = get_engine("duckdb")
    with Source.from_resources([resource]) as src:
        rows = engine.run(_answers_view(["item", "answer.item"]), src).rows
    # pre-order: the element, then the children of each path, in the order of the paths
    assert rows == [("a", "yes"), ("a.2", None), ("a.1", None), ("b", "no")]
