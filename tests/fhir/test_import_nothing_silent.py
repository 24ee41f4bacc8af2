"""Whatever R4 allows inside an element a reader takes is written back or counted (issue 11,
faithful import): a generic check over every resource of both examples, not one reader at
a time.

Each JSON object inside the held elements of every resource (a Reference, a Coding, a
CodeableConcept, a Period, a backbone element such as ``Appointment.participant`` or
``CarePlan.activity.detail``...) is given one more child: the first R4 element of its type
it lacks whose type is a string-like primitive (``string``, ``code``, ``uri``...), with a
value unique to that place. After the import, each value must be in the re-exported FHIR
or its FHIRPath counted under ``unmapped``. The R4 element table is the package's own
(:func:`iopfhir.terminology.r4.r4_definitions`).

Not counted, by design (they say how a thing is shown, not what it is; the writer shows it
from what the model holds): a Reference's ``type`` beside the literal reference that says
it, a CodeableConcept's ``text`` where the model holds the concept as a code, a HumanName's
``use``. Every other planted value found neither written nor counted fails the test, with
its FHIRPath.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from tests.fhir.both_readers import FORMS, read_both
from tests.fhir.example_resources import example_resources

from iopfhir.fhir.build import episode_entries
from iopfhir.fhir.read.nested_extensions import held_keys
from iopfhir.terminology.r4 import member_element, r4_definitions

#: primitive types a unique text value is valid for (as far as JSON goes)
STRINGY = {"string", "markdown", "code", "uri", "url", "id", "canonical"}
#: types not gone into: what a reader reads elsewhere or not at all
OPAQUE = {"Resource", "Extension", "Narrative", "Meta"}
#: (type of the object, child) not counted by design (see the module's docstring)
BY_DESIGN = {("Reference", "type"), ("CodeableConcept", "text"), ("HumanName", "use")}


def _plant(resources: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """Give each object inside the held elements one more string-like child; return
    ``(value, FHIRPath of the child, type of the object, child)`` of each."""
    elements, primitives, _ = r4_definitions()
    planted: list[tuple[str, str, str, str]] = []

    def visit(node: Any, rtype: str, path: str) -> None:
        kids = elements.get(rtype)
        if not isinstance(node, dict) or not kids:
            return
        for name, (many, types) in kids.items():
            if name == "id" or name.endswith("[x]") or name in node:
                continue
            if len(types) == 1 and types[0] in STRINGY:
                value = f"planted{len(planted):05d}x"
                node[name] = [value] if many else value
                planted.append((value, f"{path}.{name}", rtype, name))
                break
        for key, value in list(node.items()):
            if key in ("extension", "modifierExtension") or key.startswith("_"):
                continue
            found = member_element(kids, key)
            if found is None or found[1] in primitives or found[1] in OPAQUE:
                continue
            for item in value if isinstance(value, list) else [value]:
                visit(item, found[1], f"{path}.{key}")

    for resource in resources:
        rtype = resource["resourceType"]
        kids = elements[rtype]
        for key in [k for k in resource if k in held_keys(rtype)]:
            found = member_element(kids, key)
            if found is None or found[1] in primitives or found[1] in OPAQUE:
                continue
            value = resource[key]
            for item in value if isinstance(value, list) else [value]:
                visit(item, found[1], f"{rtype}.{key}")
    return planted


def _counted(path: str, counted: list[str]) -> bool:
    """Whether ``path`` (or an element holding it, or a part of it) is counted."""
    return any(
        path == c
        or path.startswith(f"{c}.")
        or c.startswith(f"{path}.")
        # a value[x] counted as ``Observation.value``
        or (c.endswith(".value") and path.startswith(c))
        for c in counted
    )


@FORMS
def test_every_planted_value_is_written_back_or_counted(tmp_path: Path, form: str) -> None:
    plain = example_resources()
    more = copy.deepcopy(plain)
    planted = _plant(more)
    before = read_both(plain, tmp_path / "plain", form)
    after = read_both(more, tmp_path / "more", form)
    assert not before.unmapped  # iopfhir's own FHIR: nothing counted
    written = b"\n".join(
        orjson.dumps(r) for ep in after.episodes for _u, r in episode_entries(ep, ndjson=True)
    )
    delta = after.unmapped - before.unmapped
    counted = [key.partition(": ")[0] for key in delta]
    silent: Counter[str] = Counter()
    designed: Counter[str] = Counter()
    for value, path, rtype, child in planted:
        if value.encode() in written or _counted(path, counted):
            continue
        (designed if (rtype, child) in BY_DESIGN else silent)[path] += 1
    assert len(planted) > 3000  # the examples give thousands of places
    assert not silent, sorted(silent.items())
    # the planted values never reach the counts (only FHIRPaths do)
    assert not any("planted" in key for key in delta)
    # and the by-design exceptions are what is left, on many places
    assert len(designed) > 50
