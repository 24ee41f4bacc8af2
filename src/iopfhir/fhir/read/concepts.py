"""A CodeableConcept read as one code of a project code system: what the writer gives back
is that code (and codings derived from it), so the rest of the concept is counted.

Lives here: :func:`read_code` (the code of such an element, counting each concept without
it, the other codings and the text of the one with it) and :func:`note_beside` (the count
alone, for a reader that found the code itself). A source that codes an aftercare service
in SNOMED CT beside iopfhir's code, or gives a discharge disposition a text, loses that on
re-export: ``--summary`` says so (``ServiceRequest.code.coding: beside the
aftercare-service code (dropped)``), as for session kinds and program types.

Imports the reader's ``values``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from iopfhir.fhir.read.values import as_list, codings, concept_key, note
from iopfhir.terminology import code_system_url

__all__ = ["note_beside", "read_code"]


def note_beside(concept: Any, at: str, written: Collection[tuple[str | None, str]]) -> None:
    """Count what of ``concept`` (one CodeableConcept at FHIRPath ``at``, read as a code) the
    writer does not give back, ``written`` being the ``(system, code)`` pairs it writes
    there: each other coding (``at.coding``) and the text (``at.text``)."""
    if type(concept) is not dict:
        return
    items = concept.get("coding")
    if "text" not in concept and type(items) is list and len(items) <= 1:
        return  # the common case: the one coding read (a coding without a code holds none)
    if others := sum(1 for pair in codings(concept) if pair not in written):
        note(f"{at}.coding", "a coding beside the code read (dropped)", others)
    if concept.get("text") is not None:
        note(f"{at}.text", "of a concept read as its code (dropped)")


def read_code(
    concepts: Any,
    system_name: str,
    at: str,
    *,
    derived: Callable[[str], Collection[tuple[str | None, str]]] | None = None,
    otherwise: str = "dropped",
) -> str | None:
    """The code of project code system ``system_name`` in ``concepts`` (a CodeableConcept
    or a list of them, at FHIRPath ``at``: :func:`~iopfhir.fhir.read.values.concept_key`),
    counting what the writer does not give back when it writes that code alone, with the
    codings it derives from it (``derived``: those of a code): each concept without the
    code, the other codings and the text of the one with it. None when there is none (each
    concept counted as ``otherwise``: what the reader makes of it)."""
    key = concept_key(concepts, system_name)
    if key is not None and _one_coding(concepts):
        return key  # the common case: the code's coding alone
    listed = as_list(concepts)
    if key is None:
        if listed:
            note(at, f"no {system_name} code ({otherwise})", len(listed))
        return None
    ours = (code_system_url(system_name), key)
    written = {ours, *(derived(key) if derived is not None else ())}
    found = False
    for concept in listed:
        if not found and ours in codings(concept):
            found = True
            note_beside(concept, at, written)
        else:
            note(at, f"a concept beside the {system_name} one (dropped)")
    return key


def _one_coding(concepts: Any) -> bool:
    """Whether ``concepts`` is one CodeableConcept (alone or in a list) of one coding and
    no text."""
    if type(concepts) is list:
        if len(concepts) != 1:
            return False
        concepts = concepts[0]
    if type(concepts) is not dict or "text" in concepts:
        return False
    items = concepts.get("coding")
    return type(items) is list and len(items) == 1
