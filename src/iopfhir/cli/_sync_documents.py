"""The document halves of ``iopfhir push`` and ``iopfhir pull`` (FHIR documents: the ToC document).

* ``push doc.json --server URL [--as auto|bundle|document-reference|both]
  [--document-reference dr.json] [--dry-run] [--summary] [--no-validate]``: ``doc.json`` is
  a document Bundle (``type`` document). It is stored as a Bundle and/or a
  DocumentReference (:func:`iopfhir.sync.push_document`); prints one JSON object (forms,
  what was done to each, writes, references resolved, round trips).
* ``pull --server URL --patient SYSTEM|VALUE --documents -o DIR``: the patient's ToC
  documents (:func:`iopfhir.sync.pull_documents`), one file each in ``DIR`` (created 0700
  when missing; each file written atomically, 0600; other files in ``DIR`` are left
  alone), named after the document's identifier value; a summary line on stdout, what
  was skipped and why on stderr.

Called by :mod:`iopfhir.cli.sync`, which owns the options; heavy imports are in the lazy
table below, so the CLI starts without them.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from iopfhir.cli._errors import print_error
from iopfhir.cli._lazy import LazyImports

if TYPE_CHECKING:
    import orjson

    from iopfhir.cli._output import check_dir_target, write_bytes
    from iopfhir.client import FhirClient
    from iopfhir.errors import InputError, ValidationFailed
    from iopfhir.loading import load_json
    from iopfhir.sync import (
        DocumentPullReport,
        DocumentPushReport,
        PulledDocument,
        pull_documents,
        push_document,
    )
    from iopfhir.sync.push.part2 import DisclosureTerms
    from iopfhir.validation import Validator

__all__ = ["document_file_names", "is_document", "run_pull_documents", "run_push_document"]

_lazy = LazyImports(
    globals(),
    {
        "orjson": "orjson",
        "check_dir_target": "iopfhir.cli._output:check_dir_target",
        "write_bytes": "iopfhir.cli._output:write_bytes",
        "InputError": "iopfhir.errors:InputError",
        "ValidationFailed": "iopfhir.errors:ValidationFailed",
        "load_json": "iopfhir.loading:load_json",
        **{
            name: f"iopfhir.sync:{name}"
            for name in (
                "DocumentPullReport",
                "DocumentPushReport",
                "PulledDocument",
                "pull_documents",
                "push_document",
            )
        },
        "Validator": "iopfhir.validation:Validator",
    },
)
__getattr__ = _lazy.attribute

ClientFactory = Callable[[argparse.Namespace], "FhirClient"]
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def is_document(source: Any) -> bool:
    """True for a Bundle of type ``document`` (the rest is checked by the push)."""
    return (
        isinstance(source, dict)
        and source.get("resourceType") == "Bundle"
        and source.get("type") == "document"
    )


@_lazy.needed
def run_push_document(
    args: argparse.Namespace,
    source: Any,
    build_client: ClientFactory,
    out: TextIO,
    err: TextIO,
    disclosure: DisclosureTerms | None = None,
) -> int:
    """``iopfhir push`` of a document (42 CFR Part 2 data under ``disclosure``); returns
    the exit code."""
    report: DocumentPushReport | None = None
    code = 0
    try:
        if not is_document(source):
            raise InputError(
                "--as and --document-reference push a FHIR document (a Bundle of type document)",
                path=f"{args.file}: Bundle.type",
            )
        given = None
        if getattr(args, "document_reference", None):
            try:
                raw = Path(args.document_reference).read_bytes()
            except OSError as exc:
                raise InputError(
                    f"cannot read the file ({exc.strerror})", path=args.document_reference
                ) from exc
            given = load_json(raw, args.document_reference)
        validator = None if args.no_validate else Validator.with_iop_profiles()
        with build_client(args) as client:
            report = push_document(
                client,
                source,
                as_=getattr(args, "store_as", None) or "auto",
                document_reference=given,
                validator=validator,
                dry_run=args.dry_run,
                disclosure=disclosure,
            )
        for issue in report.issues:  # what a disclosure withheld, in counts; warnings
            if issue.severity in ("information", "warning"):
                print(f"iopfhir: {issue.message}", file=err)
    except ValidationFailed as exc:
        print_error(exc, err)
        for issue in exc.issues[:10]:
            print(f"  {issue}", file=err)
        code = 2
    except Exception as exc:
        report = getattr(exc, "report", None) if report is None else report
        code = print_error(exc, err, verbose=bool(getattr(args, "verbose", False)))
    summary = (report if isinstance(report, DocumentPushReport) else None) or (
        DocumentPushReport(dry_run=bool(args.dry_run))
    )
    if code == 0 or args.summary:
        print(json.dumps(summary.summary()), file=out)
    return code


def document_file_names(docs: list[PulledDocument]) -> list[str]:
    """One file name per document: its identifier value made safe, unique in the list."""
    names: list[str] = []
    for doc in docs:
        stem = _UNSAFE.sub("_", doc.value).strip("._")[:120] or "document"
        name, n = f"{stem}.json", 1
        while name in names:
            n += 1
            name = f"{stem}-{n}.json"
        names.append(name)
    return names


@_lazy.needed
def run_pull_documents(
    args: argparse.Namespace, build_client: ClientFactory, out: TextIO, err: TextIO
) -> int:
    """``iopfhir pull --documents``; returns the exit code."""
    report = DocumentPullReport()
    try:
        if getattr(args, "since", None):
            raise InputError("--since does not apply to --documents", path="--since")
        check_dir_target(args.output)  # before the server is asked anything
        with build_client(args) as client:
            docs = pull_documents(client, _patient(args.patient), report=report)
        folder = Path(args.output)
        if docs:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for doc, name in zip(docs, document_file_names(docs), strict=True):
            data = doc.raw if doc.raw is not None else orjson.dumps(doc.bundle)
            write_bytes(folder / name, data)
    except Exception as exc:
        return print_error(exc, err, verbose=bool(getattr(args, "verbose", False)))
    for why, n in sorted(report.skipped.items()):
        print(f"skipped: {n} x {why}", file=err)
    for note in report.fallbacks:
        print(f"note: {note}", file=err)
    if not docs:
        print("iopfhir: error: the server holds no ToC document for that patient", file=err)
        return 1
    attached = sum(1 for d in docs if d.raw is not None)
    print(
        f"pulled {len(docs)} document(s) ({attached} from DocumentReference attachments, "
        f"{len(docs) - attached} stored Bundle(s)) from {report.document_references} "
        f"DocumentReference(s) in {report.round_trips} round trips",
        file=out,
    )
    return 0


def _patient(value: Any) -> tuple[str, str]:
    if isinstance(value, tuple):
        return str(value[0]), str(value[1])
    system, sep, ident = str(value).partition("|")
    if not sep or not system or not ident:
        raise InputError("--patient must be SYSTEM|VALUE", path="--patient")
    return system, ident
