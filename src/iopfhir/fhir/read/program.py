"""The program type an EpisodeOfCare's ``type`` names, and what of ``type`` it leaves.

In order: iopfhir's own program type; else a local code of the EHR's own that the user
gave a program type for (:mod:`iopfhir.terminology.programs`, set for the read by
:func:`~iopfhir.fhir.read.values.noting`; the first given that the episode has); else an
IOP billing code (HCPCS per diem, NUBC revenue code: how an EHR or a payer types an IOP
episode; the first the episode has). The outcome measures read the same codes in the same
order. A program type read from a local or a billing code is written back as iopfhir's
coding, and that is counted in ``unmapped``, as is every other ``type`` concept or coding.

Imports: :mod:`iopfhir.terminology` and the reader's ``_context`` and ``values``.
"""

from __future__ import annotations

from typing import Any, Final

from iopfhir.fhir.read._context import Context
from iopfhir.fhir.read.values import as_list, codings, concept_key, program_codes
from iopfhir.terminology import code_system_url, program_type_of_billing

__all__ = ["ReadFrom", "count_other_types", "program_type_of"]

#: the coding of ``EpisodeOfCare.type`` a program type was read from, and the reason
#: counted for it (None: iopfhir's own program type)
ReadFrom = tuple[tuple[str | None, str], str]

_BILLED: Final = (
    "EpisodeOfCare.type.coding: an IOP billing code read as the program type (written as iopfhir's)"
)
_LOCAL: Final = (
    "EpisodeOfCare.type.coding: a program code given read as the program type "
    "(written as iopfhir's)"
)
_OTHER_TYPE: Final = "EpisodeOfCare.type: not the program type (dropped)"
_OTHER_TYPE_CODING: Final = "EpisodeOfCare.type.coding: not the program type (dropped)"
_TYPE_TEXT: Final = "EpisodeOfCare.type.text: of the program type's concept (dropped)"


def program_type_of(types: Any) -> tuple[str, ReadFrom | None] | None:
    """The program type ``EpisodeOfCare.type`` names, and the coding it was read from when
    not iopfhir's own; None when it names none."""
    if (ours := concept_key(types, "program-type")) is not None:
        return ours, None
    pairs = [pair for concept in as_list(types) for pair in codings(concept)]
    if not pairs:
        return None
    if local := program_codes():
        held = set(pairs)
        for (system, code), program_type in local.items():
            if (system, code) in held:
                return program_type, ((system, code), _LOCAL)
    for pair in pairs:
        if (found := program_type_of_billing(*pair)) is not None:
            return found, (pair, _BILLED)
    return None


def count_other_types(
    ctx: Context, types: Any, program_type: str, read_from: ReadFrom | None
) -> None:
    """Count what of ``EpisodeOfCare.type`` the program type (one coding) leaves: each
    CodeableConcept without that coding, each other coding of one with it (that coding
    written again is no other), its text. One concept of one coding (ours, most) and no
    text is looked at no further. A program type read from another coding (``read_from``)
    is counted too: iopfhir's coding is written in its place."""
    if read_from is not None:
        ctx.unmapped[read_from[1]] += 1
    if type(types) is list and len(types) == 1:
        one = types[0]
        if (
            type(one) is dict
            and type(items := one.get("coding")) is list
            and len(items) <= 1
            and "text" not in one
        ):
            return
    # the coding read as the program type is the one kept
    kept = (
        read_from[0] if read_from is not None else (code_system_url("program-type"), program_type)
    )
    for concept in as_list(types):
        pairs = codings(concept)
        if kept not in pairs:
            ctx.unmapped[_OTHER_TYPE] += 1
            continue
        if others := sum(1 for pair in pairs if pair != kept):
            ctx.unmapped[_OTHER_TYPE_CODING] += others
        if concept.get("text") is not None:
            ctx.unmapped[_TYPE_TEXT] += 1
