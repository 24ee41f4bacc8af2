"""FHIRPath ``toDecimal()`` in a view, on DuckDB and Spark alike: a decimal string is its
value (``(+|-)?digits(.digits)?``), other text is empty; an integer is itself, a boolean
1 or 0 (FHIRPath's conversion table)."""

from __future__ import annotations

from typing import Any

from iopfhir.views import Source

VIEW = {
    "resourceType": "ViewDefinition",
    "resource": "Observation",
    "status": "active",
    "select": [
        {
            "column": [
                {"name": "id", "path": "id", "type": "id"},
                {"name": "text", "path": "value.ofType(string).toDecimal()", "type": "decimal"},
                {"name": "int", "path": "value.ofType(integer).toDecimal()", "type": "decimal"},
                {"name": "bool", "path": "value.ofType(boolean).toDecimal()", "type": "decimal"},
            ]
        }
    ],
}

VALUES: list[tuple[str, dict[str, Any], float | None]] = [
    ("s12", {"valueString": "12"}, 12.0),
    ("plus", {"valueString": "+4"}, 4.0),
    ("minus", {"valueString": "-3.5"}, -3.5),
    ("zeros", {"valueString": "007.250"}, 7.25),
    ("word", {"valueString": "four"}, None),
    ("blank", {"valueString": " 4"}, None),
    ("exponent", {"valueString": "1e5"}, None),
    ("dot", {"valueString": "12."}, None),
    ("empty", {"valueString": ""}, None),
    ("int", {"valueInteger": -7}, -7.0),
    ("yes", {"valueBoolean": True}, 1.0),
    ("no", {"valueBoolean": False}, 0.0),
    ("none", {}, None),
]


def test_to_decimal_on_both_engines(engine: Any) -> None:
    resources = [
        {"resourceType": "Observation", "id": id_, "status": "final", "code": {"text": "x"}, **v}
        for id_, v, _ in VALUES
    ]
    with Source.from_resources(resources) as source:
        result = engine.run(VIEW, source)
    # one value[x] each: the other two columns are empty
    got = {row[0]: next((v for v in row[1:] if v is not None), None) for row in result.rows}
    assert got == {id_: want for id_, _, want in VALUES}
