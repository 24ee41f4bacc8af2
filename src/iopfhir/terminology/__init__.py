"""Terminology as data: code systems, role codes and the scored instruments.

Everything here is read from the JSON files in ``data/`` (package data); the rest of
the package asks this layer for codes instead of spelling them out. Nothing in this
package imports from the rest of iopfhir except :mod:`iopfhir.errors`.
"""

from iopfhir.terminology.codes import (
    BASE_URL,
    Coding,
    code_system,
    code_system_url,
    codes,
    concept_display,
    lookup_concept,
    program_type_of_billing,
    relationship_coding,
    relationship_key,
    role_coding,
    role_key,
    session_kinds_by_procedure,
)
from iopfhir.terminology.instruments import (
    AnswerOption,
    Band,
    FlagRule,
    Instrument,
    Item,
    Score,
    Subscale,
    instrument,
    instrument_by_code,
    instruments,
)
from iopfhir.terminology.programs import ProgramCodes, check_program_codes, parse_program_code

__all__ = [
    "BASE_URL",
    "AnswerOption",
    "Band",
    "Coding",
    "FlagRule",
    "Instrument",
    "Item",
    "ProgramCodes",
    "Score",
    "Subscale",
    "check_program_codes",
    "code_system",
    "code_system_url",
    "codes",
    "concept_display",
    "instrument",
    "instrument_by_code",
    "instruments",
    "lookup_concept",
    "parse_program_code",
    "program_type_of_billing",
    "relationship_coding",
    "relationship_key",
    "role_coding",
    "role_key",
    "session_kinds_by_procedure",
]
