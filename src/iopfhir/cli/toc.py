"""``iopfhir toc``: an episode's transition-of-care document (FHIR document Bundle), its
DocumentReference, and a page (HTML, PDF) for the clinician who receives the patient.

Input: one episode file. Outputs (any together): ``-o`` the document Bundle (stdout when
no output is named), ``--document-reference`` the DocumentReference wrapping it (with the
HTML page as a second content under ``--attach-html``), ``--html`` the page, ``--pdf`` the
page printed by headless Chromium. ``--for RECIPIENT [--purpose CODE] --audit FILE``:
the document as disclosed under the patient's 42 CFR Part 2 consent (docs/part2.md).
Every output path is checked before the episode is
read; each file appears only when it is complete. Same episode, same bytes.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from iopfhir.cli._disclosure import (
    add_disclosure_options,
    append_audit,
    disclosure_day,
    report_disclosure,
)
from iopfhir.cli._lazy import LazyImports

if TYPE_CHECKING:  # imported when the command runs (``_lazy``): the CLI starts without them
    from iopfhir.cli._output import check_file_target, write_bytes
    from iopfhir.domain.files import load_episodes
    from iopfhir.errors import InputError, MappingError
    from iopfhir.fhir.bundle import dumps
    from iopfhir.fhir.disclosure import DisclosureTerms
    from iopfhir.fhir.document import toc_disclosure, toc_document
    from iopfhir.fhir.document.html import render_html
    from iopfhir.fhir.document.pdf import render_pdf
    from iopfhir.fhir.document.reference import document_reference

__all__ = ["register", "run"]

_lazy = LazyImports(
    globals(),
    {
        "check_file_target": "iopfhir.cli._output:check_file_target",
        "write_bytes": "iopfhir.cli._output:write_bytes",
        "load_episodes": "iopfhir.domain.files:load_episodes",
        "InputError": "iopfhir.errors:InputError",
        "MappingError": "iopfhir.errors:MappingError",
        "dumps": "iopfhir.fhir.bundle:dumps",
        "toc_document": "iopfhir.fhir.document:toc_document",
        "toc_disclosure": "iopfhir.fhir.document:toc_disclosure",
        "DisclosureTerms": "iopfhir.fhir.disclosure:DisclosureTerms",
        "render_html": "iopfhir.fhir.document.html:render_html",
        "render_pdf": "iopfhir.fhir.document.pdf:render_pdf",
        "document_reference": "iopfhir.fhir.document.reference:document_reference",
    },
)
__getattr__ = _lazy.attribute


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected an ISO 8601 date-time with offset") from None
    if value.utcoffset() is None:
        raise argparse.ArgumentTypeError("the timestamp needs a UTC offset (e.g. +00:00)")
    return value


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``toc``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "toc",
        help="write an episode's transition-of-care document (and its page)",
        description="Write the transition-of-care document of one IOP episode: a FHIR R4 "
        "document Bundle shaped like the PACIO Transitions of Care Composition, at discharge "
        "(to aftercare) or at referral (from the inpatient unit); optionally its "
        "DocumentReference, and a printable page (HTML, or PDF through headless Chromium). "
        "Exit 2 on bad input, with the file and path named.",
    )
    p.add_argument("input", metavar="EPISODE", help="episode file (one episode)")
    p.add_argument(
        "--at",
        choices=("discharge", "referral"),
        default="discharge",
        help="the moment the document speaks for (default: discharge)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="DOC",
        help="the document Bundle (default: stdout when no other output is named)",
    )
    p.add_argument(
        "--document-reference",
        metavar="FILE",
        help="also write a DocumentReference carrying the document",
    )
    p.add_argument(
        "--attach-html",
        action="store_true",
        help="put the HTML page into the DocumentReference as a second content",
    )
    p.add_argument("--html", metavar="FILE", help="also write the page as self-contained HTML")
    p.add_argument(
        "--pdf", metavar="FILE", help="also print the page to PDF (needs headless Chromium)"
    )
    p.add_argument(
        "--timestamp",
        type=_timestamp,
        metavar="DATETIME",
        help="date the document at this time (ISO 8601 with offset) instead of "
        "the discharge / referral day",
    )
    add_disclosure_options(p)
    p.set_defaults(func=run)
    return p


@_lazy.needed
def run(args: argparse.Namespace) -> int:
    """Run ``toc``."""
    targets = [args.output, args.document_reference, args.html, args.pdf]
    for target in targets:
        if target not in (None, "-"):
            check_file_target(target)
    episodes = load_episodes(args.input)
    if len(episodes) != 1:
        raise InputError(
            f"holds {len(episodes)} episodes; a transition-of-care document is of one",
            path=args.input,
        )
    disclosed = None
    try:
        if getattr(args, "recipient", None):
            if not args.audit:
                raise InputError("--for needs --audit FILE: every disclosure is recorded")
            terms = DisclosureTerms(
                recipient=args.recipient,
                purpose=args.purpose,
                at=disclosure_day(args),
                audit=lambda events: append_audit(args.audit, events),
            )
            disclosed = toc_disclosure(episodes[0], terms, at=args.at, timestamp=args.timestamp)
            assert disclosed.bundle is not None
            document = disclosed.bundle
        else:
            document = toc_document(episodes[0], at=args.at, timestamp=args.timestamp)
    except MappingError as exc:  # the episode lacks what the document needs: bad input
        raise InputError(f"{args.input}: {exc}") from None
    if disclosed is not None:
        print(report_disclosure(disclosed), file=sys.stderr)
    page = render_html(document) if (args.html or args.pdf or args.attach_html) else None
    written = []
    if args.output or not any(targets[1:]):
        write_bytes(args.output, dumps(document) + b"\n")
        if args.output not in (None, "-"):
            written.append(f"document ({len(document['entry'])} resources) to {args.output}")
    if args.document_reference:
        reference = document_reference(document, html=page if args.attach_html else None)
        write_bytes(args.document_reference, dumps(reference) + b"\n")
        written.append(f"DocumentReference to {args.document_reference}")
    if args.html and page is not None:
        write_bytes(args.html, page.encode("utf-8"))
        written.append(f"page to {args.html}")
    if args.pdf and page is not None:
        render_pdf(page, args.pdf)
        written.append(f"PDF to {args.pdf}")
    if written:
        print("wrote the " + args.at + " ToC " + "; ".join(written), file=sys.stderr)
    return 0
