"""The R4 4.0.1 element definitions, as data: what every type's children are.

``data/fhir-r4-elements.json.gz`` holds, for every R4 resource, complex data type and
backbone element, its child elements: whether each repeats and its type(s) (a backbone
element's type is its own path, ``Observation.component``; a ``contentReference`` points at
the element it repeats, ``QuestionnaireResponse.item``) in R4's order, with the names of
the primitive types and of the resource types. It is derived from the base StructureDefinitions the
validation package ships (rebuild: ``python -m iopfhir.views.fhir_types``). The views
type what they read with it; the FHIR XML reader knows from it which element repeats and
what each holds.

Imports nothing of iopfhir.
"""

from __future__ import annotations

import gc
import gzip
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Final

import orjson

__all__ = ["ELEMENTS_FILE", "Elements", "member_element", "r4_definitions"]

#: the name of the data file (under this package's ``data/``)
ELEMENTS_FILE: Final = "fhir-r4-elements.json.gz"

#: owner (a type or a backbone element's path) -> child name -> (repeats, type codes)
Elements = dict[str, dict[str, tuple[bool, tuple[str, ...]]]]


@cache
def r4_definitions() -> tuple[Elements, frozenset[str], frozenset[str]]:
    """The element table, the primitive type names and the resource type names of R4."""
    packed = resources.files("iopfhir.terminology").joinpath("data", ELEMENTS_FILE)
    # Made with the cyclic collector paused: the table's new containers would otherwise
    # start the full collection a freshly imported library has pending, here, before the
    # first view is compiled, while no other work runs (≈ 20 ms, four times the table's
    # own 5 ms); it comes at a later allocation instead. The 7,400 elements hold 634
    # distinct (repeats, types) pairs: each made once and shared (immutable).
    enabled = gc.isenabled()
    gc.disable()
    try:
        raw = orjson.loads(gzip.decompress(packed.read_bytes()))
        pairs: dict[tuple[bool, tuple[str, ...]], tuple[bool, tuple[str, ...]]] = {}
        elements: Elements = {}
        for owner, kids in raw["elements"].items():
            table = elements[owner] = {}
            for name, (many, types) in kids.items():
                pair = (bool(many), tuple(types))
                table[name] = pairs.setdefault(pair, pair)
    finally:
        if enabled:
            gc.enable()
    return elements, frozenset(raw["primitives"]), frozenset(raw["resources"])


def member_element(
    kids: Mapping[str, tuple[bool, tuple[str, ...]]], name: str
) -> tuple[bool, str] | None:
    """``(repeats, type code)`` of the JSON member (or XML element) ``name`` among an
    owner's children ``kids``: a choice element by its type suffix (``valueQuantity`` of
    ``value[x]``); ``None``: not an element of the owner."""
    found = kids.get(name)
    if found is not None:
        return found[0], found[1][0]
    for key, (repeats, types) in kids.items():
        if key.endswith("[x]") and name.startswith(key[:-3]):
            suffix = name[len(key) - 3 :]
            for kind in types:
                if kind[:1].upper() + kind[1:] == suffix:
                    return repeats, kind
    return None
