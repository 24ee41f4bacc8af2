"""The checks of what a resource holds beyond the elements its reader reads, from one
survey of its JSON: modifier extensions anywhere
(:mod:`~iopfhir.fhir.read.modifiers`), extensions inside held elements
(:mod:`~iopfhir.fhir.read.nested_extensions`) and a coding's version or
``userSelected`` (:mod:`~iopfhir.fhir.read.nested_codings`).

Each check needs to know whether the resource names a key at all (almost none does: the
resource is then not walked). One regular expression finds every such key in one pass
over the resource's JSON (its NDJSON line when there is one): about a third cheaper
than a byte search per key, which each check made before, and it is the one per-resource
cost of the checks on data that holds none of them.

Both readers call :func:`note_nested` at the same point of their grouping (a resource of
a type the domain takes, not one counted as ignored), so their counts agree.

Imports: the reader's ``modifiers``, ``nested_extensions``, ``nested_codings`` and
``source``.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Final

from iopfhir.fhir.read.modifiers import MODIFIER_BYTES, entry_bytes, note_modifiers
from iopfhir.fhir.read.nested_codings import CODING_BYTES, note_coding_parts
from iopfhir.fhir.read.nested_extensions import EXTENSION_BYTES, note_nested_extensions
from iopfhir.fhir.read.source import Entry

__all__ = ["note_nested", "surveyed_keys"]

#: every key one of the checks looks for, as its JSON names it (with its quotes)
_SURVEY: Final = re.compile(
    b"|".join(re.escape(k) for k in (MODIFIER_BYTES, EXTENSION_BYTES, *CODING_BYTES))
)


def surveyed_keys(raw: bytes | None) -> list[bytes] | None:
    """Each occurrence in ``raw`` of a key the checks look for (``None`` when there are no
    bytes to survey: the checks then walk the resource)."""
    return None if raw is None else _SURVEY.findall(raw)


def note_nested(entry: Entry, unmapped: Counter[str]) -> None:
    """Count in ``unmapped`` what ``entry``'s resource holds that its reader does not read
    inside its elements: each check on the survey of its JSON."""
    keys = surveyed_keys(entry_bytes(entry))
    if keys is None or keys:  # (a resource that names none of the keys holds none)
        note_modifiers(entry, unmapped, keys)
        note_nested_extensions(entry, unmapped, keys)
        note_coding_parts(entry, unmapped, keys)
