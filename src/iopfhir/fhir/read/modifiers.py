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
is a byte search in the resource's JSON (the NDJSON line when there is one); the
resource is walked only when the bytes name a modifier extension.

Imports: the reader's ``source`` (the Entry).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

import orjson

from iopfhir.fhir.read.source import Entry

__all__ = ["MODIFIER_BYTES", "MODIFIER_REASON", "modifier_paths", "note_modifiers"]

#: the ``unmapped`` reason, after the FHIRPath of the element holding the modifier
MODIFIER_REASON: Final = "modifier extension not understood (read as if absent)"
#: what the JSON of a resource holding a modifier extension contains (a resource without
#: these bytes holds none: a caller that has the bytes may skip :func:`note_modifiers`)
MODIFIER_BYTES: Final = b'"modifierExtension"'
#: deeper than any R4 resource nests (a nesting input is refused long before)
_MAX_DEPTH: Final = 64


def note_modifiers(entry: Entry, unmapped: Counter[str]) -> None:
    """Count in ``unmapped`` each FHIRPath of ``entry`` that holds a modifier extension."""
    raw = entry.raw
    if raw is None:
        try:
            raw = orjson.dumps(entry.resource)
        except orjson.JSONEncodeError:  # an integer beyond 64 bits: walk it all
            raw = MODIFIER_BYTES
    if MODIFIER_BYTES not in raw:
        return
    for path in modifier_paths(entry.resource):
        unmapped[f"{path}: {MODIFIER_REASON}"] += 1


def modifier_paths(resource: dict[str, Any]) -> list[str]:
    """The FHIRPaths (no indexes) of the elements of ``resource`` that hold a non-empty
    ``modifierExtension``, each once, in the order met."""
    found: dict[str, None] = {}
    _walk(resource, str(resource.get("resourceType") or "Resource"), found, 0)
    return list(found)


def _walk(node: Any, path: str, found: dict[str, None], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, list):
        for item in node:
            _walk(item, path, found, depth + 1)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "modifierExtension":
            if value:
                found.setdefault(f"{path}.modifierExtension", None)
            continue
        if isinstance(value, dict | list):
            name = key[1:] if key.startswith("_") else key
            _walk(value, f"{path}.{name}", found, depth + 1)
