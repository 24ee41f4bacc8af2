"""Extensions inside the elements a reader takes: counted, never dropped in silence.

An extension on the resource itself is counted by :func:`~iopfhir.fhir.read.held.note_unheld`
(``Encounter.extension: no place in the IOP model (dropped)``) unless its reader reads it.
One on an element inside (a Reference, a CodeableConcept or a Coding, a Period, a backbone
element such as ``CarePlan.activity.detail``, a primitive's ``_start``) was dropped without
a word: the model keeps the element's values, the writer writes them back without it.
Each FHIRPath of a held element holding such an extension is now counted once per
resource: ``Encounter.participant.individual.extension: no place in the IOP model
(dropped)``. Not counted: the extensions a reader reads there (a plan activity's delivery
setting and therapy modality, an answer's ordinal value, which scores it), and a
data-absent-reason (the value is absent either way; the writer gives one where an
element is required: a patient without a name, a session without a type).

Both readers call :func:`note_nested_extensions` through
:func:`~iopfhir.fhir.read.nested.note_nested`, so their counts agree. The check counts
``"extension"`` among the keys the resource's JSON names (its NDJSON line when there is
one): the resource is walked only when it names it more often than its own extensions do.

Imports: the reader's ``held`` tables and ``source`` (the Entry).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from functools import cache
from typing import Any, Final

from iopfhir.fhir.conventions import CORE_EXT, EXT
from iopfhir.fhir.read.held import HELD, NO_PLACE
from iopfhir.fhir.read.instruments import ORDINAL_URLS
from iopfhir.fhir.read.modifiers import element_objects
from iopfhir.fhir.read.source import Entry

__all__ = [
    "EXTENSION_BYTES",
    "held_keys",
    "held_objects",
    "nested_extension_paths",
    "note_nested_extensions",
]

#: what the JSON of a resource holding an extension anywhere contains
EXTENSION_BYTES: Final = b'"extension"'
#: the extensions a reader reads inside an element, by the element's FHIRPath
_READ: Final[dict[str, frozenset[str]]] = {
    "CarePlan.activity.detail": frozenset({EXT.DELIVERY_SETTING, EXT.THERAPY_MODALITY}),
}
#: not counted wherever they are: an answer's ordinal value gives its points; a
#: data-absent-reason says a value is absent, as it is either way (the writer gives one
#: where R4 or US Core needs the element: a patient without a name, a session without a
#: type)
_READ_ANYWHERE: Final = frozenset({*ORDINAL_URLS, CORE_EXT.DATA_ABSENT_REASON})


def note_nested_extensions(entry: Entry, unmapped: Counter[str], keys: list[bytes] | None) -> None:
    """Count in ``unmapped`` each FHIRPath of a held element of ``entry`` that holds an
    extension its reader does not read (``keys``: the survey of its JSON,
    :func:`~iopfhir.fhir.read.nested.surveyed_keys`; ``None``: walked)."""
    resource = entry.resource
    if keys is not None:
        named = keys.count(EXTENSION_BYTES)
        if not named or named <= _own(resource.get("extension")) + ("extension" in resource):
            return  # the common case: no extension, or only the resource's own
    for path in nested_extension_paths(resource, entry.type):
        unmapped[f"{path}: {NO_PLACE}"] += 1


def _own(extensions: Any) -> int:
    """How many ``extension`` keys the resource's own extensions hold (complex ones, their
    parts in turn; one in a value is not looked for: the resource is then walked, and its
    own extensions are not)."""
    if type(extensions) is not list:
        return 0
    count = 0
    for ext in extensions:
        if type(ext) is dict and "extension" in ext:
            count += 1 + _own(ext["extension"])
    return count


@cache
def held_keys(rtype: str) -> frozenset[str]:
    """The top-level elements some reading of ``rtype`` holds (the others are counted
    whole by :func:`~iopfhir.fhir.read.held.note_unheld`)."""
    out: set[str] = set()
    for reading, held in HELD.items():
        if reading.partition(":")[0] == rtype:
            out |= held
    out.discard("extension")  # the resource's own: note_unheld's
    return frozenset(out)


def held_objects(resource: dict[str, Any], rtype: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON object inside the held elements of ``resource`` (of type ``rtype``) with
    its FHIRPath (no indexes), in document order."""
    held = held_keys(rtype)
    for key, value in resource.items():
        if key in held:
            yield from element_objects(value, f"{rtype}.{key}")


def nested_extension_paths(resource: dict[str, Any], rtype: str) -> list[str]:
    """The FHIRPaths (no indexes) of the ``extension`` elements inside the held elements
    of ``resource`` that hold one its reader does not read, each once, in the order met."""
    found: dict[str, None] = {}
    for path, node in held_objects(resource, rtype):
        # an extension's own parts are the extension's (counted with it)
        ext = node.get("extension")
        if ext and not path.endswith(".extension") and _unread(ext, path):
            found.setdefault(f"{path}.extension", None)
    return list(found)


def _unread(extensions: Any, path: str) -> bool:
    """Whether one of ``extensions`` (of the element at ``path``) is none its reader reads."""
    read = _READ.get(path, frozenset())
    for ext in extensions if isinstance(extensions, list) else [extensions]:
        if ext is None:
            continue
        url = ext.get("url") if isinstance(ext, dict) else None
        if url not in read and url not in _READ_ANYWHERE:
            return True
    return False
