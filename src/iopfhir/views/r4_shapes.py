"""Where a resource breaks R4's JSON shapes: the element whose JSON kind is not the one R4
gives it (a string where R4 has a decimal, an object where it has an array...).

The engines read NDJSON with the R4 types (:mod:`.fhir_types`), so such a value makes the
read fail; the engine's own message quotes the value (patient data, never shown). This
module finds the element again from the file and line the engine names (or, when the
engine's line is not the one, the first such line of the file), and says where it is and
what R4 expects, never what the value is: ``Observation.ndjson line 2:
Observation.valueQuantity.value: a string where R4 has a decimal``; a whole number beyond
R4's 32-bit integers is named so too. A line of a file a
:class:`~iopfhir.views.Source` wrote from the user's input is named by where it came from
instead (:func:`~iopfhir.views.source.line_origin`: ``bundle-07.json entry[12].resource:
...``, ``[3]: ...``), never by the temporary file.

Imports: :mod:`.fhir_types` (the R4 element definitions), :mod:`.source` (line origins) and
:func:`iopfhir.loading.json_values.json_kind`.
"""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from iopfhir.loading.json_values import json_kind
from iopfhir.terminology.r4 import member_element
from iopfhir.views.fhir_types import r4_elements
from iopfhir.views.source import line_origin

__all__ = ["describe_line", "first_bad_line", "first_mismatch"]

_NUMBERS = {"integer": "an integer", "positiveInt": "an integer", "unsignedInt": "an integer",
            "decimal": "a decimal"}  # fmt: skip
#: R4's integers are 32-bit: a larger whole number (which the engines' 64-bit read may not
#: take) is named as out of that range, not passed as fitting
_INT32 = (-(2**31), 2**31 - 1)
#: elements nested this deep are not looked at (R4 data is far shallower)
_MAX_DEPTH = 32


def _fits(value: Any, code: str, primitives: frozenset[str]) -> str:
    """``""`` when ``value`` has the JSON kind of type ``code``, else what R4 has there."""
    if code in _NUMBERS:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and code != "decimal":
            ok = isinstance(value, int) or float(value).is_integer()
            if ok and not _INT32[0] <= value <= _INT32[1]:
                return f"an integer from {_INT32[0]} to {_INT32[1]}"
        return "" if ok else _NUMBERS[code]
    if code == "boolean":
        return "" if isinstance(value, bool) else "a boolean"
    if code in primitives or code.startswith("http://hl7.org/fhirpath/System."):
        return "" if isinstance(value, str) else "a string"
    return "" if isinstance(value, dict) else f"an object ({code})"


def first_mismatch(resource: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """``(FHIRPath, JSON kind found, what R4 has)`` of the first element of ``resource``
    whose JSON kind is not R4's; ``None`` when every element R4 defines fits (elements R4
    does not define are not looked at: the engines do not read them)."""
    rtype = resource.get("resourceType")
    elements, primitives = r4_elements()
    if not isinstance(rtype, str) or rtype not in elements:
        return None
    return next(_walk(resource, rtype, rtype, elements, primitives, 0), None)


def _walk(
    node: Mapping[str, Any],
    owner: str,
    path: str,
    elements: Mapping[str, Any],
    primitives: frozenset[str],
    depth: int,
) -> Iterator[tuple[str, str, str]]:
    kids = elements.get(owner)
    if kids is None or depth > _MAX_DEPTH:
        return
    for key, value in node.items():
        if key == "resourceType" or key.startswith("_") or value is None:
            continue
        found = member_element(kids, key)
        if found is None:
            continue
        many, code = found
        here = f"{path}.{key}"
        if many != isinstance(value, list):
            yield here, json_kind(value), "an array" if many else "a single value"
            return
        for item in value if many else [value]:
            wanted = _fits(item, code, primitives)
            if wanted:
                yield here, json_kind(item), wanted
                return
            if isinstance(item, dict):
                inner = item.get("resourceType") if code == "Resource" else code
                if isinstance(inner, str):
                    yield from _walk(item, inner, here, elements, primitives, depth + 1)


def describe_line(path: Path, line: int) -> str | None:
    """What is wrong with line ``line`` (from 1) of NDJSON file ``path``, named by the file
    name and the line (or where a source's own file got the line: see the module) and the
    FHIRPath of the element; ``None`` when nothing is found there."""
    try:
        with _open(path) as handle:
            raw = next(itertools.islice(handle, line - 1, None), None)
    except (OSError, ValueError):
        return None
    return None if raw is None or not raw.strip() else _describe(path, line, raw)


def first_bad_line(path: Path) -> str | None:
    """:func:`describe_line` of the first line of ``path`` that is not UTF-8 JSON or breaks
    R4's JSON shapes (the whole file is read: for error messages only)."""
    try:
        with _open(path) as handle:
            for number, raw in enumerate(handle, 1):
                if raw.strip():
                    found = _describe(path, number, raw)
                    if found is not None:
                        return found
    except OSError:
        return None
    return None


def _open(path: Path) -> Any:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def _describe(path: Path, line: int, raw: bytes) -> str | None:
    where = line_origin(path, line) or f"{path.name} line {line}"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"{where}: not UTF-8"
    try:
        resource = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return f"{where}: not JSON"
    if not isinstance(resource, dict):
        return f"{where}: not a JSON object"
    found = first_mismatch(resource)
    if found is None:
        return None
    element, kind, wanted = found
    return f"{where}: {element}: {kind} where R4 has {wanted}"
