"""``iopfhir convert``: episode file(s) → FHIR R4 (transaction or collection Bundle, NDJSON).

Input: one episode file, a file of many episodes, or a directory of them (as ``iopfhir
synth`` writes). Every input is checked before anything is written; the output appears
only when the whole conversion succeeded.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from iopfhir.cli._output import atomic_dir, write_bytes
from iopfhir.domain.files import iter_episodes
from iopfhir.errors import InputError
from iopfhir.fhir.bundle import collection_bundle, dumps, transaction_bundle
from iopfhir.fhir.ndjson import write_ndjson

__all__ = ["register", "run"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``convert``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "convert",
        help="convert episode files to FHIR R4",
        description="Convert IOP episode files (YAML/JSON; a file, a file of many episodes, "
        "or a directory) to FHIR R4: a transaction Bundle (default), a collection Bundle, or "
        "NDJSON files per resource type. Exit 2 on bad input, with the file and path named.",
    )
    p.add_argument("input", metavar="INPUT", help="episode file or directory")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output Bundle file (default: stdout); with --format ndjson, the "
        "output directory (required)",
    )
    p.add_argument(
        "--format", choices=("transaction", "collection", "ndjson"), default="transaction"
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``convert``."""
    if args.format == "ndjson":
        if not args.output or args.output == "-":
            raise InputError("--format ndjson needs -o DIRECTORY")
        with atomic_dir(args.output) as tmp:
            counts = write_ndjson(iter_episodes(args.input), tmp)
        total = sum(counts.values())
        print(
            f"wrote {total} resources to {args.output}: "
            + ", ".join(f"{t} {n}" for t, n in counts.items()),
            file=sys.stderr,
        )
        return 0
    episodes = list(iter_episodes(args.input))
    if not episodes:
        raise InputError(f"{args.input}: no episodes found")
    build = transaction_bundle if args.format == "transaction" else collection_bundle
    bundle = build(episodes)
    write_bytes(args.output, dumps(bundle) + b"\n")
    if args.output not in (None, "-"):
        print(
            f"wrote a {args.format} Bundle of {len(bundle['entry'])} resources "
            f"({len(episodes)} episodes) to {args.output}",
            file=sys.stderr,
        )
    return 0
