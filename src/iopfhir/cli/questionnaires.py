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
from typing import TYPE_CHECKING, Any

from iopfhir.cli._lazy import LazyImports

if TYPE_CHECKING:  # imported when the command runs (``_lazy``): the CLI starts without them
    from iopfhir.cli._output import check_file_target, write_bytes
    from iopfhir.fhir.build import questionnaires

__all__ = ["register", "run"]

_lazy = LazyImports(
    globals(),
    {
        "check_file_target": "iopfhir.cli._output:check_file_target",
        "write_bytes": "iopfhir.cli._output:write_bytes",
        "questionnaires": "iopfhir.fhir.build:questionnaires",
    },
)
__getattr__ = _lazy.attribute


def _instrument_ids() -> list[str]:
    """The instrument ids, sorted (the terminology is read on the first call only)."""
    from iopfhir.terminology import instruments

    return sorted(instruments())


class _HelpFormatter(argparse.HelpFormatter):
    """Lists the instrument ids in the help of ``ID`` when the help is shown, so that
    building the parser does not read the terminology."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if text is not None and action.dest == "ids":
            text += ", ".join(_instrument_ids())
        return text


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``questionnaires``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "questionnaires",
        help="write the instruments' FHIR Questionnaires",
        description="Write the FHIR R4 Questionnaires of the scored instruments (LOINC- or "
        "project-coded items, answer options with their scores as ordinalValue), with the "
        "canonical URLs the QuestionnaireResponses of `iopfhir convert` claim.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument(
        "ids",
        nargs="*",
        metavar="ID",
        type=_instrument_id,
        help="instrument ids to write, in this order (default: every instrument): ",
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
    known = _instrument_ids()
    if text not in known:
        raise argparse.ArgumentTypeError("unknown instrument; expected one of " + ", ".join(known))
    return text


@_lazy.needed
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
