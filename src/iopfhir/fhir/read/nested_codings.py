"""A Coding's ``version`` and ``userSelected`` inside the elements a reader takes: counted,
never dropped in silence.

The model keeps a coding's system, code and display (a :class:`~iopfhir.domain.Code`, its
``also`` codings, or a status or category read as its code); the code system's version
and whether a user picked the coding have no place in it, and the writer writes the
coding back without them. Each FHIRPath of a held element with such a part is counted
once per resource: ``Observation.code.coding.version: not kept (dropped)``. A coding
inside an extension is the extension's (counted with it, where it is counted).

Both readers call :func:`note_coding_parts` through
:func:`~iopfhir.fhir.read.nested.note_nested`, so their counts agree. The check looks
for ``"version"`` and ``"userSelected"`` among the keys the resource's JSON names (its
NDJSON line when there is one), which iopfhir's writer never writes: the resource is
walked only when it names one.

Imports: the reader's ``nested_extensions`` (the walk of the held elements) and
``source`` (the Entry).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

from iopfhir.fhir.read.nested_extensions import held_objects
from iopfhir.fhir.read.source import Entry

__all__ = ["CODING_BYTES", "CODING_PARTS", "coding_part_paths", "note_coding_parts"]

#: the parts of a Coding the model does not keep
CODING_PARTS: Final = ("version", "userSelected")
#: what the JSON of a resource holding one of them contains
CODING_BYTES: Final = tuple(f'"{part}"'.encode() for part in CODING_PARTS)
#: why they are counted
_NOT_KEPT: Final = "not kept (dropped)"


def note_coding_parts(entry: Entry, unmapped: Counter[str], keys: list[bytes] | None) -> None:
    """Count in ``unmapped`` each FHIRPath of a coding's part the model does not keep in a
    held element of ``entry`` (``keys``: the survey of its JSON,
    :func:`~iopfhir.fhir.read.nested.surveyed_keys`; ``None``: walked)."""
    if keys is not None and CODING_BYTES[0] not in keys and CODING_BYTES[1] not in keys:
        return  # the common case
    for path in coding_part_paths(entry.resource, entry.type):
        unmapped[f"{path}: {_NOT_KEPT}"] += 1


def coding_part_paths(resource: dict[str, Any], rtype: str) -> list[str]:
    """The FHIRPaths (no indexes) of the ``version`` / ``userSelected`` of the codings
    inside the held elements of ``resource``, each once, in the order met."""
    found: dict[str, None] = {}
    for path, node in held_objects(resource, rtype):
        if ".extension" in path or not ("code" in node or "system" in node):
            continue
        for part in CODING_PARTS:
            if node.get(part) is not None:
                found.setdefault(f"{path}.{part}", None)
    return list(found)
