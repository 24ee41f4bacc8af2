"""``iopfhir export``: a FHIR Bulk Data ``$export`` into a folder.

``export --server URL [--patient | --group ID] [--type T,...] [--since INSTANT|last]
-o DIR [--delete-after] [--allow-file-host HOST] [--restart]`` runs
:func:`iopfhir.sync.export`: kick-off, polling (a progress line on a terminal; the
server's ``X-Progress`` in the log with ``-v``), every file streamed into DIR and checked.
A rerun with the same DIR and options resumes an unfinished export; Ctrl-C cancels it
(DELETE on the server, the folder's export files removed; exit 130). ``--since last``
exports what changed since the finished export in DIR (whose files it replaces).

Prints one JSON object of counts on stdout; the error files' issues on stderr, counted by
severity and code (their text stays in ``DIR/error/``: servers may quote data in it).
Auth options as for push and pull (:func:`iopfhir.cli._connection.build_client`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, TextIO

from iopfhir.cli._connection import build_client, connection_options
from iopfhir.cli._errors import print_error
from iopfhir.cli._lazy import LazyImports
from iopfhir.cli._options import fhir_instant_or_date
from iopfhir.cli._progress import Tick, progress

if TYPE_CHECKING:  # imported when the command runs (``_lazy``)
    from iopfhir.errors import R4_RESOURCE_TYPES, InputError
    from iopfhir.sync.export import ExportError, ExportProgress, ExportReport, export

__all__ = ["register", "run"]

_lazy = LazyImports(
    globals(),
    {
        "R4_RESOURCE_TYPES": "iopfhir.errors:R4_RESOURCE_TYPES",
        "InputError": "iopfhir.errors:InputError",
        "ExportError": "iopfhir.sync.export:ExportError",
        "ExportProgress": "iopfhir.sync.export:ExportProgress",
        "ExportReport": "iopfhir.sync.export:ExportReport",
        "export": "iopfhir.sync.export.run:export",
    },
)
__getattr__ = _lazy.attribute

log = logging.getLogger("iopfhir.export")


def _since(text: str) -> str:
    """``last``, a full date or an instant (``_since`` is a FHIR instant)."""
    if text == "last":
        return text
    if len(text) < 10:
        raise argparse.ArgumentTypeError("must be 'last', YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ")
    return fhir_instant_or_date(text)


def register(subparsers: Any) -> None:
    """Add ``export``."""
    p = subparsers.add_parser(
        "export",
        help="FHIR Bulk Data $export from a server into a folder of NDJSON files",
        description="Run a FHIR Bulk Data $export (system, all patients, or a Group) and "
        "download its files into DIR: streamed, size-checked, resumable by running the same "
        "command again; Ctrl-C cancels the export on the server. DIR can then be read by "
        "import, validate and outcomes as it is.",
    )
    level = p.add_mutually_exclusive_group()
    level.add_argument(
        "--patient", action="store_true", help="patient-level export (Patient/$export)"
    )
    level.add_argument("--group", metavar="ID", help="group-level export (Group/ID/$export)")
    p.add_argument(
        "--type", metavar="T,...", action="append", help="resource types to export (_type)"
    )
    p.add_argument("--type-filter", metavar="QUERY", action="append", help="a _typeFilter query")
    p.add_argument(
        "--since",
        type=_since,
        metavar="INSTANT|last",
        help="only resources changed after INSTANT (_since); 'last': after the finished "
        "export in DIR",
    )
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="the folder to write")
    p.add_argument(
        "--delete-after", action="store_true", help="delete the export job on the server at the end"
    )
    p.add_argument(
        "--allow-file-host",
        action="append",
        default=[],
        metavar="HOST",
        help="a host (or host:port) besides the server's that may receive the access token "
        "with file downloads",
    )
    p.add_argument(
        "--restart",
        action="store_true",
        help="drop an unfinished export in DIR (deleting its job) instead of resuming it",
    )
    p.add_argument(
        "--progress", action="store_true", help="progress line even when stderr is no terminal"
    )
    connection_options(p)
    p.set_defaults(func=run)


class _Shown:
    """The export's steps on a progress line: polls while the server works, then files."""

    def __init__(self, err: TextIO, force: bool) -> None:
        self.err, self.force = err, force
        self.stack = ExitStack()
        self.phase = ""
        self.tick: Tick | None = None
        self.note = ""

    def __call__(self, event: ExportProgress) -> None:
        if event.phase != self.phase:
            self.close()
            self.phase = event.phase
            label, unit = {
                "poll": ("export: server preparing", "polls"),
                "download": ("export: download", "files"),
            }.get(event.phase, ("", ""))
            if label:
                bar = progress(event.total, label, stream=self.err, force=self.force, unit=unit)
                self.tick = self.stack.enter_context(bar)
        if event.note and event.note != self.note:
            self.note = event.note
            log.info("export in progress: %s", event.note)
        if self.tick is not None:
            if event.total is not None:
                self.tick.total = event.total
            self.tick.to(event.done)

    def close(self) -> None:
        self.stack.close()
        self.stack = ExitStack()
        self.tick = None


def _types(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for value in args.type or []:
        for name in value.split(","):
            name = name.strip()
            if name and name not in R4_RESOURCE_TYPES:
                raise InputError(f"entry {len(out) + 1} is not an R4 resource type", path="--type")
            if name:
                out.append(name)
    return out


def _print_issues(report: ExportReport, err: TextIO) -> None:
    if not report.issues:
        return
    counts = Counter((i.severity, i.code) for i in report.issues)
    for (severity, code), n in sorted(counts.items()):
        print(f"iopfhir: export error file: {n} {severity} issue(s) [{code}]", file=err)
    print(f"iopfhir: the error files are in {report.out_dir / 'error'}", file=err)


@_lazy.needed
def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``iopfhir export``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    shown = _Shown(err, bool(args.progress))
    try:
        types = _types(args)
        with build_client(args) as client:
            try:
                report = export(
                    client,
                    args.output,
                    level="patient" if args.patient else "system",
                    group=args.group,
                    types=types,
                    since=args.since,
                    type_filters=args.type_filter or (),
                    delete_after=args.delete_after,
                    allow_file_hosts=args.allow_file_host,
                    restart=args.restart,
                    progress=shown,
                )
            finally:
                shown.close()
    except KeyboardInterrupt:
        print("iopfhir: export cancelled (the job was deleted on the server)", file=err)
        raise
    except ExportError as exc:
        if isinstance(exc.report, ExportReport):
            _print_issues(exc.report, err)
        return print_error(exc, err)
    except Exception as exc:
        return print_error(exc, err, verbose=bool(getattr(args, "verbose", False)))
    _print_issues(report, err)
    out.write(json.dumps(report.summary()) + "\n")
    return 0
