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

import gzip
import json
from functools import cache
from importlib import resources
from typing import Final

__all__ = ["ELEMENTS_FILE", "Elements", "r4_definitions"]

#: the name of the data file (under this package's ``data/``)
ELEMENTS_FILE: Final = "fhir-r4-elements.json.gz"

#: owner (a type or a backbone element's path) -> child name -> (repeats, type codes)
Elements = dict[str, dict[str, tuple[bool, tuple[str, ...]]]]


@cache
def r4_definitions() -> tuple[Elements, frozenset[str], frozenset[str]]:
    """The element table, the primitive type names and the resource type names of R4."""
    packed = resources.files("iopfhir.terminology").joinpath("data", ELEMENTS_FILE)
    raw = json.loads(gzip.decompress(packed.read_bytes()))
    elements = {
        owner: {name: (bool(many), tuple(types)) for name, (many, types) in kids.items()}
        for owner, kids in raw["elements"].items()
    }
    return elements, frozenset(raw["primitives"]), frozenset(raw["resources"])
