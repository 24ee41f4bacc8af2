"""An extension inside an element a reader takes (a Reference, a Coding, a Period, a
backbone element, a primitive's ``_start``) is counted once per resource and FHIRPath
(``Encounter.participant.individual.extension: no place in the IOP model (dropped)``):
it was dropped in silence. The extensions a reader reads there (a plan activity's delivery
setting and therapy modality, which the examples carry) and a data-absent-reason are not
counted. Read by both readers, from NDJSON and from a Bundle.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

from tests.fhir.both_readers import FORMS, read_both, unmapped_delta
from tests.fhir.example_resources import example_resources

from iopfhir.fhir.conventions import CORE_EXT

NO_PLACE = "no place in the IOP model (dropped)"
PROBE = [{"url": "https://example.org/fhir/StructureDefinition/probe", "valueString": "x"}]
ABSENT = [{"url": CORE_EXT.DATA_ABSENT_REASON, "valueCode": "unknown"}]

#: (resource type, the keys down to an element, where the extension goes there)
PLACES = [
    ("Encounter", ("participant", 0, "individual"), "extension"),
    ("Encounter", ("period",), "extension"),
    ("Encounter", ("period",), "_start"),
    ("CarePlan", ("activity", 0, "detail"), "extension"),
    ("Observation", ("code", "coding", 0), "extension"),
    ("Condition", ("code",), "extension"),
    ("QuestionnaireResponse", ("item", 0, "answer", 0), "extension"),
]


def _place(resource: dict[str, Any], keys: tuple[Any, ...]) -> dict[str, Any] | None:
    node: Any = resource
    for key in keys:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node if isinstance(node, dict) else None


def _path(rtype: str, keys: tuple[Any, ...], where: str) -> str:
    names = [k for k in keys if isinstance(k, str)]
    last = f"{where[1:]}.extension" if where.startswith("_") else "extension"
    return ".".join([rtype, *names, last])


def _with(extensions: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The examples with ``extensions`` at each of :data:`PLACES` (the first resource of
    its type that has the element), and the paths expected."""
    resources = copy.deepcopy(example_resources())
    expected: Counter[str] = Counter()
    for rtype, keys, where in PLACES:
        for resource in resources:
            if resource["resourceType"] != rtype:
                continue
            node = _place(resource, keys)
            # (a detail that carries the extensions its reader reads gets another beside)
            if node is None or (where == "_start" and "start" not in node):
                continue
            if where == "_start":
                node["_start"] = {"extension": extensions}
            else:
                node["extension"] = [*node.get("extension", []), *extensions]
            expected[f"{_path(rtype, keys, where)}: {NO_PLACE}"] += 1
            break
    assert len(expected) == len(PLACES)
    return resources, expected


@FORMS
def test_an_extension_inside_a_held_element_is_counted(tmp_path: Path, form: str) -> None:
    plain = example_resources()
    more, expected = _with(PROBE)
    delta, _after, before = unmapped_delta(plain, more, tmp_path, form)
    assert delta == expected
    # the examples' own (a plan activity's delivery setting and modality) are read
    assert not [k for k in before.unmapped if k.endswith(f"extension: {NO_PLACE}")]


@FORMS
def test_a_data_absent_reason_inside_is_not_counted(tmp_path: Path, form: str) -> None:
    plain = example_resources()
    absent, _expected = _with(ABSENT)
    delta, _after, _before = unmapped_delta(plain, absent, tmp_path, form)
    assert not [k for k in delta if "extension" in k]


@FORMS
def test_counted_once_per_resource_and_path(tmp_path: Path, form: str) -> None:
    resources = copy.deepcopy(example_resources())
    encounter = next(
        r for r in resources if r["resourceType"] == "Encounter" and len(r["participant"]) > 1
    )
    for participant in encounter["participant"]:  # two participants, one path
        participant["individual"]["extension"] = PROBE
    result = read_both(resources, tmp_path, form)
    key = f"Encounter.participant.individual.extension: {NO_PLACE}"
    assert result.unmapped[key] == 1
