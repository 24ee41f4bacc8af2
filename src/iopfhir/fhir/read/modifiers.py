"""Modifier extensions the reader meets: never ignored in silence (R4 rule).

R4 (Extensibility, "Modifier Extensions"): an application that processes a resource must
check for ``modifierExtension`` and, when it does not understand one, refuse the data or
say that it could not be processed safely. iopfhir understands none (it never writes one),
so each resource the reader takes that carries one anywhere (the resource, a backbone
element, a datatype, a contained resource) is still read, as if the modifier were absent,
and counted in ``unmapped`` once per FHIRPath that holds one:
``CarePlan.activity.modifierExtension: modifier extension not understood (read as if
absent)``. ``iopfhir import`` prints it as a warning and ``--strict`` refuses the input.
The url and the content of the extension are never repeated.

Both readers call :func:`note_modifiers` at the same point of their grouping (a resource
of a type the domain takes, not one counted as ignored), so their counts agree. The check
is a survey of the keys the resource's JSON names (the NDJSON line when there is one,
:mod:`~iopfhir.fhir.read.nested`); the resource is walked only when it names a modifier
extension.

Imports: the reader's ``source`` (the Entry).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, Final

import orjson

from iopfhir.fhir.read.source import Entry

__all__ = [
    "MODIFIER_BYTES",
    "MODIFIER_REASON",
    "element_objects",
    "entry_bytes",
    "modifier_paths",
    "note_modifiers",
]

#: the ``unmapped`` reason, after the FHIRPath of the element holding the modifier
MODIFIER_REASON: Final = "modifier extension not understood (read as if absent)"
#: what the JSON of a resource holding a modifier extension contains (a resource without
#: these bytes holds none: a caller that has the bytes may skip :func:`note_modifiers`)
MODIFIER_BYTES: Final = b'"modifierExtension"'
#: deeper than any R4 resource nests (a nesting input is refused long before)
_MAX_DEPTH: Final = 64


def entry_bytes(entry: Entry) -> bytes | None:
    """The JSON of ``entry``'s resource: its NDJSON line when there is one, else written
    (``None``: it cannot be, an integer beyond 64 bits; a caller then walks it all)."""
    if entry.raw is not None:
        return entry.raw
    try:
        return orjson.dumps(entry.resource)
    except orjson.JSONEncodeError:
        return None


def note_modifiers(entry: Entry, unmapped: Counter[str], keys: list[bytes] | None) -> None:
    """Count in ``unmapped`` each FHIRPath of ``entry`` that holds a modifier extension
    (``keys``: the survey of its JSON, :func:`~iopfhir.fhir.read.nested.surveyed_keys`;
    ``None``: walked)."""
    if keys is not None and MODIFIER_BYTES not in keys:
        return
    for path in modifier_paths(entry.resource):
        unmapped[f"{path}: {MODIFIER_REASON}"] += 1


def modifier_paths(resource: dict[str, Any]) -> list[str]:
    """The FHIRPaths (no indexes) of the elements of ``resource`` that hold a non-empty
    ``modifierExtension``, each once, in the order met."""
    found: dict[str, None] = {}
    for path, node in element_objects(resource, str(resource.get("resourceType") or "Resource")):
        if node.get("modifierExtension"):
            found.setdefault(f"{path}.modifierExtension", None)
    return list(found)


def element_objects(node: Any, path: str, depth: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON object within ``node`` (itself included) with its FHIRPath (``path`` for
    ``node``; no indexes; a primitive's ``_start`` as ``start``), in document order; its
    ``modifierExtension`` is not gone into."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, list):
        for item in node:
            yield from element_objects(item, path, depth + 1)
        return
    if not isinstance(node, dict):
        return
    yield path, node
    for key, value in node.items():
        if key != "modifierExtension" and isinstance(value, dict | list):
            name = key[1:] if key.startswith("_") else key
            yield from element_objects(value, f"{path}.{name}", depth + 1)
