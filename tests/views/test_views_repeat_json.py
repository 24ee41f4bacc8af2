"""``repeat`` over ``item`` and ``answer.item``: the items nested in an answer are read as
JSON text and parsed where present.

Typed as structs, every level of items would hold the answers' items as well (2^levels
structs, built for every resource, almost all empty). The typed read keeps ``answer.item``
as raw JSON text (DuckDB ``JSON``, Spark a string field), and the walk parses each such item
to the type the items of its level have: the rows are those of a fully typed walk, both
paths sharing the :data:`~iopfhir.views.fhir_types.MAX_NESTING` levels along any mix.
"""

from __future__ import annotations

from typing import Any

from iopfhir.views import Source
from iopfhir.views.compile_view import compile_view
from iopfhir.views.dialect import DuckDBDialect, SparkDialect
from iopfhir.views.fhir_types import MAX_NESTING, view_schema
from iopfhir.views.model import parse_view
from iopfhir.views.types import ListT, Prim, StructT


def _view(repeat: list[str]) -> Any:
    return parse_view(
        {
            "resource": "QuestionnaireResponse",
            "select": [
                {"column": [{"name": "id", "path": "id", "type": "id"}]},
                {
                    "repeat": repeat,
                    "column": [
                        {"name": "link_id", "path": "linkId", "type": "string"},
                        {"name": "code", "path": "answer.value.ofType(Coding).code.first()",
                         "type": "code"},
                    ],
                },
            ],
        }
    )  # fmt: skip


def _field(t: Any, *names: str) -> Any:
    for name in names:
        while isinstance(t, ListT):
            t = t.elem
        assert isinstance(t, StructT), name
        t = t.get(name)
    return t


def test_answer_items_are_json_text_at_every_level_only_beside_item() -> None:
    schema = view_schema(_view(["item", "answer.item"]))
    path: list[str] = []
    for _level in range(MAX_NESTING - 1):
        path.append("item")
        assert _field(schema, *path, "answer", "item") == ListT(Prim("other"))
    # the items' own struct is no larger than with ``item`` alone, but for that text field
    alone = view_schema(_view(["item"]))
    assert len(repr(schema)) < 1.5 * len(repr(alone))
    # only a path through another element, to the element a one-step path of the same
    # repeat names, is text: ``answer.item`` alone is typed
    view = parse_view(
        {
            "resource": "QuestionnaireResponse",
            "select": [
                {
                    "forEach": "item",
                    "select": [
                        {"repeat": ["answer.item"],
                         "column": [{"name": "link_id", "path": "linkId", "type": "string"}]}
                    ],
                }
            ],
        }
    )  # fmt: skip
    nested = _field(view_schema(view), "item", "answer", "item")
    assert isinstance(nested, ListT) and isinstance(nested.elem, StructT)
    # nor is it when a column reads into it
    raw = _view(["item", "answer.item"]).root.selects[1]
    column = {"name": "follow_up", "path": "answer.item.linkId.first()", "type": "string"}
    reading = parse_view(
        {
            "resource": "QuestionnaireResponse",
            "select": [{"repeat": ["item", "answer.item"], "column": [column]}],
        }
    )
    assert raw.repeat == reading.root.selects[0].repeat
    nested = _field(view_schema(reading), "item", "answer", "item")
    assert isinstance(nested, ListT) and isinstance(nested.elem, StructT)


def _chain() -> dict[str, Any]:
    """Items nested eight levels deep, in items and in answers mixed: item ``d`` holds
    item ``d + 1`` under its answer (coded ``a<d>``) where ``steps[d]`` says so."""
    steps = ["item", "answer", "item", "answer", "answer", "item", "answer", "item"]
    node: dict[str, Any] = {"linkId": str(len(steps))}
    for depth in range(len(steps) - 1, 0, -1):
        child = node
        node = {"linkId": str(depth)}
        if steps[depth] == "answer":
            node["answer"] = [{"valueCoding": {"code": f"a{depth}"}, "item": [child]}]
        else:
            node["item"] = [child]
    return {"resourceType": "QuestionnaireResponse", "id": "r", "item": [node]}


def test_the_walk_parses_them_in_order_to_the_shared_depth(engine: Any) -> None:
    resource = _chain()
    resource["item"].append(
        {"linkId": "b", "answer": [{"valueCoding": {"code": "no"}}], "item": [{"linkId": "b.1"}]}
    )
    view = _view(["item", "answer.item"])
    with Source.from_resources([resource]) as src:
        assert "from_json(" in engine.sql(view, src)
        rows = engine.run(view, src).rows
    # six levels, counted along items and answers alike (the 7th and 8th are not read)
    want = [("r", "1", "a1"), ("r", "2", None), ("r", "3", "a3"), ("r", "4", "a4"),
            ("r", "5", None), ("r", "6", "a6"), ("r", "b", "no"), ("r", "b.1", None)]  # fmt: skip
    assert sorted(rows) == sorted(want)
    assert [r[1] for r in rows] == [w[1] for w in want]  # depth-first, pre-order


def test_parsing_is_spelled_per_engine() -> None:
    view = _view(["item", "answer.item"])
    schema = view_schema(view)
    duck = compile_view(view, DuckDBDialect(), schema, "t").sql
    spark = compile_view(view, SparkDialect(), schema, "t").sql
    assert "from_json(" in duck and '"JSON"' in duck and "list_bool_and(" in duck
    assert "from_json(" in spark and "STRUCT<" in spark and "forall(" in spark


def test_responses_whose_items_are_all_leaves_give_the_walks_rows(engine: Any) -> None:
    """A response none of whose items holds items is its items' own rows (the walk is not
    run), beside one whose items nest: the same rows, in the same order, as the walk."""
    flat = {"resourceType": "QuestionnaireResponse", "id": "flat", "item": [
        {"linkId": "a"}, {"linkId": "b", "answer": [{"valueCoding": {"code": "x"}}]},
        {"linkId": "c", "answer": [{"valueCoding": {"code": "y"}}, {"valueInteger": 2}]},
    ]}  # fmt: skip
    nested = {"resourceType": "QuestionnaireResponse", "id": "nested", "item": [
        {"linkId": "d", "answer": [{"valueCoding": {"code": "z"}, "item": [{"linkId": "d.1"}]}]},
        {"linkId": "e", "item": [{"linkId": "e.1"}]}, {"linkId": "f"},
    ]}  # fmt: skip
    view = _view(["item", "answer.item"])
    with Source.from_resources([flat, nested]) as src:
        rows = engine.run(view, src).rows
    assert [r[1:] for r in rows if r[0] == "flat"] == [("a", None), ("b", "x"), ("c", "y")]
    assert [r[1] for r in rows if r[0] == "nested"] == ["d", "d.1", "e", "e.1", "f"]
