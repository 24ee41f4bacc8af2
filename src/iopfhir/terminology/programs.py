"""An EHR's own codes for its IOP programs, and the program types they stand for.

iopfhir knows an IOP episode by its own program type, or by an IOP billing code
(:func:`~iopfhir.terminology.codes.program_type_of_billing`). An EHR that types its episodes
with a code of its own (its program catalogue's ``urn:oid:1.2.3|IOP-MH``) says what each
code means: ``{(system, code): program type}``, given on the command line as
``SYSTEM|CODE=TYPE`` (FHIR's token syntax, then the type). The import and the outcome
measures read such a code as the program type given for it, after iopfhir's own program
type and before an IOP billing code. Codes are matched by system and code together, as
FHIR compares codings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from iopfhir.errors import TerminologyError
from iopfhir.terminology.codes import code_system

__all__ = ["ProgramCodes", "check_program_codes", "parse_program_code"]

#: (coding system, code) -> iopfhir program type (``mental-health``, ``substance-use``...)
ProgramCodes = Mapping[tuple[str, str], str]


def parse_program_code(text: str) -> tuple[tuple[str, str], str]:
    """``SYSTEM|CODE=TYPE`` as ``((system, code), type)``: the type follows the last
    ``=``, the code the first ``|`` (a code may hold either); the type is checked by
    :func:`check_program_codes`. Raises :class:`~iopfhir.errors.TerminologyError`."""
    coding, equals, program_type = text.rpartition("=")
    system, bar, code = coding.partition("|")
    if not equals or not bar or not system or not code or not program_type:
        raise TerminologyError(
            "a program code is SYSTEM|CODE=TYPE (urn:oid:1.2.3|IOP-MH=mental-health)"
        )
    return (system, code), program_type


def check_program_codes(
    given: ProgramCodes | Iterable[tuple[tuple[str, str], str]],
) -> dict[tuple[str, str], str]:
    """The program codes as a plain dict in the order given, each checked: a system and a
    code, both non-empty text without surrounding spaces, mapped to one of iopfhir's
    program types, and to one only. Raises :class:`~iopfhir.errors.TerminologyError`
    naming the code."""
    pairs = given.items() if isinstance(given, Mapping) else given
    types = sorted(code_system("program-type")["concepts"])
    out: dict[tuple[str, str], str] = {}
    for (system, code), program_type in pairs:
        for part, value in (("system", system), ("code", code)):
            if not isinstance(value, str) or not value or value.strip() != value:
                raise TerminologyError(
                    f"program code {system!r}|{code!r}: the {part} must be non-empty text "
                    "without surrounding spaces"
                )
        if program_type not in types:
            raise TerminologyError(
                f"program code {system}|{code}: {program_type!r} is not a program type "
                f"(known: {', '.join(types)})"
            )
        if out.get((system, code), program_type) != program_type:
            raise TerminologyError(
                f"program code {system}|{code} is given as two program types "
                f"({out[(system, code)]}, {program_type})"
            )
        out[(system, code)] = program_type
    return out
