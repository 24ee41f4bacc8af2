"""Option values checked where they are parsed, and usage errors on one line.

The ``type=`` functions here reject a bad value while ``argparse`` parses it, so a bad
``--chunk-size`` or ``--since`` is a usage error (exit 2) before any work, never a silent
default. :class:`Parser` prints a usage error as one line that does not repeat the value
given (a value on the command line may be an identifier or a secret).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING, NoReturn

from ._errors import one_line

if TYPE_CHECKING:
    from datetime import tzinfo

__all__ = [
    "Parser",
    "add_program_code_option",
    "add_time_zone_option",
    "fhir_instant_or_date",
    "patient_identifier",
    "positive_int",
    "program_code",
    "program_codes",
    "time_zone",
]

# argparse's own messages quote the value given: keep what it says, drop what it quotes.
_QUOTED_VALUE = re.compile(r"(invalid (?:choice|[\w.]+ value)): '.*?'(?= \(|$)", re.S)
_UNRECOGNIZED = re.compile(r"(unrecognized arguments):.*", re.S)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line without the offending value."""

    def error(self, message: str) -> NoReturn:
        message = _QUOTED_VALUE.sub(r"\1", message)
        message = _UNRECOGNIZED.sub(r"\1", message)
        line = one_line(f"{self.prog}: error: {message} (see {self.prog} --help)")
        print(line, file=sys.stderr)
        sys.exit(2)


def positive_int(text: str) -> int:
    """An integer of at least 1 (``--chunk-size``, ``--patients``)."""
    try:
        value = int(text, 10) if len(text) <= 18 else None
    except ValueError:
        value = None
    if value is None:
        raise argparse.ArgumentTypeError("must be a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def seed_int(text: str) -> int:
    """An integer seed (any sign, at most 18 digits)."""
    try:
        if len(text) <= 19:
            return int(text, 10)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError("must be a whole number")


# FHIR date, dateTime or instant (a time needs a zone): the forms _lastUpdated accepts.
_FHIR_DATE = re.compile(
    r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])"
    r"(T([01]\d|2[0-3]):[0-5]\d(:([0-5]\d|60)(\.\d{1,9})?)?(Z|[+-](0\d|1[0-4]):[0-5]\d))?)?)?"
)


def fhir_instant_or_date(text: str) -> str:
    """A FHIR date (``2024``, ``2024-05``, ``2024-05-01``) or a dateTime with a time zone."""
    if len(text) > 40 or not _FHIR_DATE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            "must be a date (YYYY, YYYY-MM, YYYY-MM-DD) or a date and time with a time "
            "zone (YYYY-MM-DDThh:mm:ssZ)"
        )
    return text


def patient_identifier(text: str) -> tuple[str, str]:
    """``SYSTEM|VALUE``, both parts non-empty."""
    system, sep, value = text.partition("|")
    if not sep or not system or not value:
        raise argparse.ArgumentTypeError("must be SYSTEM|VALUE")
    return system, value


def time_zone(text: str) -> tzinfo:
    """An IANA time zone name (``America/New_York``), ``UTC``, ``Z`` or an offset
    (``-05:00``)."""
    if len(text) > 64:
        raise argparse.ArgumentTypeError("not a time zone")
    # loaded when the option is given: the parser is built without the domain model
    from iopfhir.domain.times import parse_time_zone

    try:
        return parse_time_zone(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_time_zone_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--time-zone ZONE``: the zone of the times in ``what`` written without an offset."""
    parser.add_argument(
        "--time-zone",
        type=time_zone,
        metavar="ZONE",
        help=f"the time zone of the times in {what} written without a UTC offset (FHIR R4 "
        "requires one): an IANA name (America/New_York; daylight saving applied per date), "
        "UTC, or an offset (--time-zone=-05:00). Such times are then read in it and written "
        "with its offset; without it they are kept as written, and convert and push refuse "
        "them",
    )


def program_code(text: str) -> tuple[tuple[str, str], str]:
    """``SYSTEM|CODE=TYPE``: an EHR's own code for its IOP program and the iopfhir program
    type it stands for (:mod:`iopfhir.terminology.programs`)."""
    # loaded when the option is given: the parser is built without the terminology
    from iopfhir.errors import TerminologyError
    from iopfhir.terminology.programs import check_program_codes, parse_program_code

    try:
        pair = parse_program_code(text)
        check_program_codes([pair])
    except TerminologyError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return pair


def add_program_code_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--program-code SYSTEM|CODE=TYPE`` (repeatable): how ``what`` types IOP episodes."""
    parser.add_argument(
        "--program-code",
        type=program_code,
        action="append",
        default=[],
        metavar="SYSTEM|CODE=TYPE",
        help=f"a code {what} types its IOP episodes with (EpisodeOfCare.type) and the "
        "iopfhir program type it stands for: mental-health, substance-use or co-occurring "
        "(urn:oid:1.2.3|IOP-MH=mental-health); repeatable, the first given that an episode "
        "has is read. iopfhir's own program type comes first, an IOP billing code "
        "(HCPCS S9480/H0015, NUBC 0905/0906) after",
    )


def program_codes(args: argparse.Namespace) -> dict[tuple[str, str], str]:
    """The ``--program-code`` options given, in order, checked together (one code given as
    two types is an error naming the option)."""
    from iopfhir.errors import InputError, TerminologyError
    from iopfhir.terminology.programs import check_program_codes

    try:
        return check_program_codes(getattr(args, "program_code", None) or [])
    except TerminologyError as exc:
        raise InputError(f"--program-code: {exc}") from None
