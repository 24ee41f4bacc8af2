"""FHIRPath ``iif(criterion, true-result[, otherwise-result])`` in a view, on DuckDB and
Spark alike: the true result where the criterion is true, the otherwise result (or empty)
where it is false or empty; results of two types are an error naming the column."""

from __future__ import annotations

from typing import Any

import pytest

from iopfhir.views import Source, ViewError

VIEW = {
    "resourceType": "ViewDefinition",
    "resource": "Patient",
    "status": "active",
    "select": [
        {
            "column": [
                {"name": "id", "path": "id", "type": "id"},
                {"name": "two", "path": "iif(active, 'on', 'off')", "type": "string"},
                {"name": "one", "path": "iif(gender = 'female', 'f')", "type": "string"},
                {
                    "name": "chain",
                    "path": "(iif(name.family.exists(), name.family.first())"
                    " | iif(name.given.exists(), name.given.first())).first()",
                    "type": "string",
                },
                {"name": "number", "path": "iif(deceased.exists(), 1, 0)", "type": "integer"},
                {"name": "on_base", "path": "name.first().iif(use = 'official', 'o')",
                 "type": "string"},
            ]
        }
    ],
}  # fmt: skip

PATIENTS: list[tuple[dict[str, Any], tuple[Any, ...]]] = [
    (
        {"id": "a", "active": True, "gender": "female", "name": [{"family": "F", "given": ["G"]}]},
        ("on", "f", "F", 0, None),
    ),
    (
        {"id": "b", "active": False, "name": [{"given": ["G"], "use": "official"}]},
        ("off", None, "G", 0, "o"),
    ),
    # no criterion value: empty is false
    ({"id": "c", "deceasedBoolean": False}, ("off", None, None, 1, None)),
]  # fmt: skip


def test_iif_on_both_engines(engine: Any) -> None:
    resources = [{"resourceType": "Patient", **p} for p, _ in PATIENTS]
    with Source.from_resources(resources) as source:
        result = engine.run(VIEW, source)
    got = {row[0]: tuple(row[1:]) for row in result.rows}
    assert got == {p["id"]: want for p, want in PATIENTS}


def test_iif_results_of_two_types_named(engine: Any) -> None:
    view = {**VIEW, "select": [{"column": [{"name": "x", "path": "iif(active, 'y', 1)"}]}]}
    with (
        Source.from_resources([{"resourceType": "Patient", "id": "a"}]) as source,
        pytest.raises(ViewError, match=r"iif\(\).*one type") as err,
    ):
        engine.run(view, source)
    assert err.value.path == "select[0].column[0]"
