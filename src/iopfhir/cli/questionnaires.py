"""``iopfhir questionnaires``: the instruments' FHIR R4 Questionnaires, emitted on request.

The Questionnaires our QuestionnaireResponses answer (:mod:`iopfhir.fhir.build.questionnaires`),
for loading into a server or a form filler: a collection Bundle (default; each entry's
``fullUrl`` is the Questionnaire's canonical) or NDJSON (one Questionnaire a line). The output
path is checked first and the file appears only when complete (0600); without ``-o`` the
output goes to stdout. Unknown instrument ids are a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from iopfhir.cli._output import check_file_target, write_bytes
from iopfhir.fhir.build import questionnaires
from iopfhir.terminology import instruments

__all__ = ["register", "run"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``questionnaires``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "questionnaires",
        help="write the instruments' FHIR Questionnaires",
        description="Write the FHIR R4 Questionnaires of the scored instruments (LOINC- or "
        "project-coded items, answer options with their scores as ordinalValue), with the "
        "canonical URLs the QuestionnaireResponses of `iopfhir convert` claim.",
    )
    p.add_argument(
        "ids",
        nargs="*",
        metavar="ID",
        type=_instrument_id,
        help="instrument ids to write, in this order (default: every instrument): "
        + ", ".join(sorted(instruments())),
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="output file (replaced when it exists; default: stdout)",
    )
    p.add_argument(
        "--format",
        choices=("collection", "ndjson"),
        default="collection",
        help="a collection Bundle (default) or NDJSON, one Questionnaire a line",
    )
    p.set_defaults(func=run)
    return p


def _instrument_id(text: str) -> str:
    if text not in instruments():
        raise argparse.ArgumentTypeError(
            "unknown instrument; expected one of " + ", ".join(sorted(instruments()))
        )
    return text


def run(args: argparse.Namespace) -> int:
    """Run ``questionnaires``."""
    check_file_target(args.output)
    resources = questionnaires(args.ids or None)
    if args.format == "ndjson":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in resources)
    else:
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"fullUrl": r["url"], "resource": r} for r in resources],
        }
        text = json.dumps(bundle, ensure_ascii=False, indent=2) + "\n"
    write_bytes(args.output, text.encode("utf-8"))
    if args.output not in (None, "-"):
        print(f"wrote {len(resources)} Questionnaires to {args.output}", file=sys.stderr)
    return 0
