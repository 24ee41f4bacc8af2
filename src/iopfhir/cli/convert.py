"""``iopfhir convert``: episode file(s) → FHIR R4 (transaction or collection Bundle, NDJSON).

Input: one episode file, a file of many episodes, or a directory of them (as ``iopfhir
synth`` writes). Every input is checked before anything is written; the output appears
only when the whole conversion succeeded; the output path is checked before any input is
read. A progress bar counts the episodes on a terminal.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from iopfhir.cli._disclosure import (
    add_disclosure_options,
    append_audit,
    disclosure_day,
    report_disclosure,
)
from iopfhir.cli._lazy import LazyImports
from iopfhir.cli._options import add_time_zone_option
from iopfhir.cli._progress import progress_iter

if TYPE_CHECKING:  # imported when the command runs (``_lazy``): the CLI starts without them
    from iopfhir.cli._output import (
        atomic_dir,
        atomic_file,
        check_dir_target,
        check_file_target,
        write_bytes,
    )
    from iopfhir.domain import Episode
    from iopfhir.domain.files import episode_files, iter_episodes
    from iopfhir.errors import EpisodeInputError, InputError
    from iopfhir.fhir.bundle import collection_bundle, dumps, transaction_bundle, write_bundle
    from iopfhir.fhir.disclosure import disclose
    from iopfhir.fhir.ndjson import Ledger, write_ndjson
    from iopfhir.fhir.xml_write import dump_fhir_xml

__all__ = ["register", "run"]

_lazy = LazyImports(
    globals(),
    {
        "atomic_dir": "iopfhir.cli._output:atomic_dir",
        "atomic_file": "iopfhir.cli._output:atomic_file",
        "check_dir_target": "iopfhir.cli._output:check_dir_target",
        "check_file_target": "iopfhir.cli._output:check_file_target",
        "episode_files": "iopfhir.domain.files:episode_files",
        "iter_episodes": "iopfhir.domain.files:iter_episodes",
        "EpisodeInputError": "iopfhir.errors:EpisodeInputError",
        "InputError": "iopfhir.errors:InputError",
        "write_bundle": "iopfhir.fhir.bundle:write_bundle",
        "write_bytes": "iopfhir.cli._output:write_bytes",
        "collection_bundle": "iopfhir.fhir.bundle:collection_bundle",
        "transaction_bundle": "iopfhir.fhir.bundle:transaction_bundle",
        "dumps": "iopfhir.fhir.bundle:dumps",
        "dump_fhir_xml": "iopfhir.fhir.xml_write:dump_fhir_xml",
        "disclose": "iopfhir.fhir.disclosure:disclose",
        "Ledger": "iopfhir.fhir.ndjson:Ledger",
        "write_ndjson": "iopfhir.fhir.ndjson:write_ndjson",
    },
)
__getattr__ = _lazy.attribute


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
        "--format",
        choices=("transaction", "collection", "ndjson"),
        default="transaction",
        help="what to write: a transaction Bundle (conditional creates, the default), a "
        "collection Bundle, or one NDJSON file per resource type",
    )
    p.add_argument(
        "--xml",
        action="store_true",
        help="write the Bundle as FHIR XML instead of JSON (for systems that take XML only)",
    )
    p.add_argument(
        "--derive",
        action="store_true",
        help="for episodes imported from FHIR, also write the resources derived from them "
        "that the source did not have (an Appointment per session, a QuestionnaireResponse, "
        "item / total Observations and panel per measure, interpretations, Flags, "
        "RiskAssessments); by default an imported episode is written in the forms its "
        "source had, and an authored one in full",
    )
    add_time_zone_option(p, "the episodes")
    add_disclosure_options(p)
    p.set_defaults(func=run)
    return p


@_lazy.needed
def run(args: argparse.Namespace) -> int:
    """Run ``convert``."""
    try:
        if getattr(args, "recipient", None):
            return _to_disclosed(args)
        if args.format == "ndjson":
            if args.xml:
                raise InputError("--xml writes a Bundle: use --format transaction or collection")
            return _to_ndjson(args)
        return _to_bundle(args)
    except EpisodeInputError as exc:
        if args.input in str(exc):
            raise
        # the writers know the episode's position and path, not the file it came from
        raise EpisodeInputError(f"{args.input}: {exc}") from None


def _to_ndjson(args: argparse.Namespace) -> int:
    if not args.output or args.output == "-":
        raise InputError("--format ndjson needs -o DIRECTORY")
    check_dir_target(args.output)
    ledger = Ledger()
    with atomic_dir(args.output) as tmp:
        counts = write_ndjson(_episodes(args), tmp, ledger=ledger)
    total = sum(counts.values())
    print(
        f"wrote {total} resources to {args.output}: "
        + ", ".join(f"{t} {n}" for t, n in counts.items())
        + _merged(ledger.merged),
        file=sys.stderr,
    )
    return 0


def _to_bundle(args: argparse.Namespace) -> int:
    """The Bundle is written as it is built, so memory stays flat as the cohort grows; it
    reaches its target (or stdout) only once it is complete."""
    check_file_target(args.output)
    to_stdout = args.output in (None, "-")
    with ExitStack() as stack:
        handle: BinaryIO = (
            stack.enter_context(tempfile.TemporaryFile())
            if to_stdout
            else stack.enter_context(atomic_file(args.output))
        )
        written = write_bundle(_episodes(args), handle, kind=args.format, xml=args.xml)
        if not written.episodes:
            raise InputError(f"{args.input}: no episodes found")
        if not args.xml:  # (the XML ends with its own line end)
            handle.write(b"\n")
        if to_stdout:
            handle.seek(0)
            shutil.copyfileobj(handle, sys.stdout.buffer)
            sys.stdout.buffer.flush()
    if not to_stdout:
        print(
            f"wrote a {args.format} Bundle{' (XML)' if args.xml else ''} of "
            f"{written.entries} resources "
            f"({written.episodes} episodes) to {args.output}" + _merged(written.merged),
            file=sys.stderr,
        )
    return 0


def _to_disclosed(args: argparse.Namespace) -> int:
    """``--for``: the Bundle of what may be disclosed to the recipient (docs/part2.md),
    built whole in memory; the AuditEvents are appended to ``--audit`` before the output
    is written."""
    if args.format == "ndjson":
        raise InputError("--for writes a Bundle: use --format transaction or collection")
    if not args.audit:
        raise InputError("--for needs --audit FILE: every disclosure is recorded")
    check_file_target(args.output)
    episodes = list(_episodes(args))
    if not episodes:
        raise InputError(f"{args.input}: no episodes found")
    build = transaction_bundle if args.format == "transaction" else collection_bundle
    disclosure = disclose(
        build(episodes), recipient=args.recipient, purpose=args.purpose, at=disclosure_day(args)
    )
    append_audit(args.audit, disclosure.audit_events)
    assert disclosure.bundle is not None
    if args.xml:
        write_bytes(args.output, dump_fhir_xml(disclosure.bundle))
    else:
        write_bytes(args.output, dumps(disclosure.bundle) + b"\n")
    print(report_disclosure(disclosure), file=sys.stderr)
    return 0


def _merged(n: int) -> str:
    return f"; {n} resources given again with the same content written once" if n else ""


def _episodes(args: argparse.Namespace) -> Iterator[Episode]:
    """The episodes of ``args.input``, counted on a progress bar; with ``--time-zone``,
    their times without an offset read in it; with ``--derive``, with their recorded FHIR
    forms forgotten (:func:`iopfhir.fhir.build.with_derived`).

    The total is the number of files of a folder (``synth`` writes one episode a file);
    unknown for one file, which may hold any number.
    """
    path: str = args.input
    episodes = _episodes_of(path)
    zone = getattr(args, "time_zone", None)
    if zone is not None:
        from iopfhir.domain.times import with_time_zone  # loaded when the command runs

        episodes = (with_time_zone(e, zone) for e in episodes)
    if getattr(args, "derive", False):
        from iopfhir.fhir.build import with_derived

        return (with_derived(e) for e in episodes)
    return episodes


def _episodes_of(path: str) -> Iterator[Episode]:
    total: int | None = None
    if Path(path).is_dir():
        try:
            total = len(episode_files(Path(path)))
        except (InputError, OSError):
            total = None  # iter_episodes raises the error that names the path
    return progress_iter(iter_episodes(path), total, "convert", unit="episodes")
