"""``iopfhir import``: FHIR R4 JSON (any Bundle, resources, NDJSON) → episode file or summary.

Import is faithful or loud: every value the IOP model did not take as written is printed
on stderr as one warning line, its FHIRPath and the reason (``iopfhir: warning:
Patient.birthDate: not a valid date (dropped)``), never the value; ``--strict`` makes any
warning an error (exit 2, nothing written).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

from iopfhir.cli._output import check_file_target, write_bytes
from iopfhir.domain import dump_episodes
from iopfhir.errors import FhirInputError
from iopfhir.fhir.read import read_fhir
from iopfhir.fhir.summary import summarize

__all__ = ["register", "run"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``import``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "import",
        help="read FHIR R4 into episode files",
        description="Read FHIR R4 JSON (a Bundle of any type, resources, NDJSON, or a "
        "directory of them) into the IOP model. Writes an episode file (YAML when -o ends in "
        ".yaml/.yml, else JSON), or with --summary prints one JSON object of counts.",
    )
    p.add_argument("input", metavar="FHIR", help="JSON or NDJSON file, a directory, or - for stdin")
    p.add_argument("-o", "--output", metavar="FILE", help="episode file (default: stdout)")
    p.add_argument("--summary", action="store_true", help="print a JSON summary of counts")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 2, nothing written) when anything in the input could not be "
        "taken as written (each is printed as a warning with its FHIRPath)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``import``."""
    if args.output:
        check_file_target(args.output)  # before any input is read
    source: str | bytes = sys.stdin.buffer.read() if args.input == "-" else args.input
    result = read_fhir(source)
    warnings = result.warnings
    for warning in warnings:
        print(f"iopfhir: warning: {warning}", file=sys.stderr)
    if warnings and getattr(args, "strict", False):
        n = sum(w.count for w in warnings)
        raise FhirInputError(f"{n} values not taken as written (--strict); nothing written")
    if args.summary:
        print(json.dumps(summarize(result)))
        return 0
    data = dump_episodes(result.episodes) if result.episodes else {"episodes": []}
    if args.output and args.output.endswith((".yaml", ".yml")):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    write_bytes(args.output, text.encode("utf-8"))
    if result.ignored or result.unmapped:
        skipped = sum(result.ignored.values()) + sum(result.unmapped.values())
        print(
            f"read {len(result.episodes)} episodes; {skipped} resources or parts not "
            "mapped (see --summary)",
            file=sys.stderr,
        )
    return 0
