"""The shape of the compiled SQL where it matters for speed (the rows themselves are checked by
the SQL-on-FHIR conformance tests on both engines):

- a select's own columns beside a nested ``forEach`` are computed once per resource
  (``lead``), not inside the per-row lambda;
- a chain of steps over a list maps and filters it once;
- DuckDB's ``flatten`` takes NULL lists as it is, Spark's gets them coalesced;
- a typed reference test escapes the type name for the regular expression.
"""

from __future__ import annotations

from typing import Any

import duckdb

from iopfhir.views import iop_view
from iopfhir.views.compile_view import compile_view
from iopfhir.views.dialect import DuckDBDialect, SparkDialect
from iopfhir.views.fhir_types import view_schema
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
