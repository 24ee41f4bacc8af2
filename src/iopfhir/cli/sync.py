"""``iopfhir push``, ``iopfhir pull``, ``iopfhir capabilities``: sync with a FHIR server.

* ``push FILE --server URL [--summary] [--dry-run] [--chunk-size N] [--progress]``: FILE is
  an episode file or folder, or a FHIR Bundle JSON. ``--summary`` prints exactly one JSON
  object (``created``, ``updated``, ``unchanged``, ``failed``, ``round_trips``), also when
  the push fails (before writing too: then nothing was written). ``--dry-run`` validates
  as a push does and prints the planned writes (method and URL path: no bodies, no query
  strings, no patient data). ``created`` counts what the server answered 201 to.
* 42 CFR Part 2 data (labelled resources) is pushed only with ``--own-system`` (or
  ``own_system = true`` in ``--config``: the server is the program's own record system)
  or ``--for RECIPIENT [--purpose CODE] [--on DATE] --audit FILE`` (disclosed under the
  patient's consent, AuditEvents appended to FILE first); otherwise refused before any
  request (docs/part2.md).
* ``pull --server URL --patient SYSTEM|VALUE -o FILE [--since DATE]``: writes an episode
  file (YAML for ``.yaml``/``.yml``, JSON otherwise; 0600, atomically; the path is checked
  before the server is asked).
* ``push doc.json [--as auto|bundle|document-reference|both] [--document-reference FILE]``
  and ``pull ... --documents -o DIR``: FHIR documents (the ToC document), stored as a
  Bundle and/or a DocumentReference and fetched back (:mod:`iopfhir.cli._sync_documents`).
* ``capabilities --server URL``: what the server supports for each IOP type and the write
  plan it implies.

Server and auth options, and ``--config``: :mod:`iopfhir.cli._connection`. Exit codes:
0 ok, 2 bad input, 1 any other failure (a conflict too). Errors are one line
(:func:`iopfhir.cli._errors.print_error`); progress bars (push, and the validation before
it) only on a terminal (:mod:`iopfhir.cli._progress`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from iopfhir.cli._connection import (
    build_client,
    connection_options,
    load_config,
    option,
)
from iopfhir.cli._disclosure import (
    add_disclosure_options,
    append_audit,
    disclosure_day,
)
from iopfhir.cli._errors import print_error
from iopfhir.cli._lazy import LazyImports
from iopfhir.cli._options import (
    add_program_code_option,
    add_time_zone_option,
    fhir_instant_or_date,
    patient_identifier,
    positive_int,
    program_codes,
)
from iopfhir.cli._progress import Tick, progress
from iopfhir.cli._sync_documents import is_document, run_pull_documents, run_push_document

if TYPE_CHECKING:  # imported when a command runs (``_lazy``): the CLI starts without them
    from datetime import tzinfo

    import yaml

    from iopfhir.cli._output import check_file_target, write_bytes
    from iopfhir.domain import dump_episodes, load_episodes
    from iopfhir.domain.times import with_time_zone
    from iopfhir.errors import (
        R4_RESOURCE_TYPES,
        InputError,
        SyncError,
        ValidationFailed,
    )
    from iopfhir.fhir.xml import load_fhir_data
    from iopfhir.loading import data_kind, read_data
    from iopfhir.sync import (
        IOP_TYPES,
        DisclosureTerms,
        PullReport,
        PushReport,
        pull,
        push,
        server_support,
    )
    from iopfhir.validation import Validator

__all__ = ["build_client", "register", "run", "run_capabilities", "run_pull", "run_push"]

_lazy = LazyImports(
    globals(),
    {
        "yaml": "yaml",
        "check_file_target": "iopfhir.cli._output:check_file_target",
        "write_bytes": "iopfhir.cli._output:write_bytes",
        "dump_episodes": "iopfhir.domain:dump_episodes",
        "load_episodes": "iopfhir.domain:load_episodes",
        "with_time_zone": "iopfhir.domain.times:with_time_zone",
        **{
            name: f"iopfhir.errors:{name}"
            for name in (
                "R4_RESOURCE_TYPES",
                "InputError",
                "SyncError",
                "ValidationFailed",
            )
        },
        "load_fhir_data": "iopfhir.fhir.xml:load_fhir_data",
        "data_kind": "iopfhir.loading:data_kind",
        "read_data": "iopfhir.loading:read_data",
        **{
            name: f"iopfhir.sync:{name}"
            for name in (
                "IOP_TYPES",
                "DisclosureTerms",
                "PullReport",
                "PushReport",
                "pull",
                "push",
                "server_support",
            )
        },
        "Validator": "iopfhir.validation:Validator",
    },
)
__getattr__ = _lazy.attribute


def register(subparsers: Any) -> None:
    """Add ``push``, ``pull`` and ``capabilities`` to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "push",
        help="write episodes or a FHIR Bundle to a server (idempotent)",
        description="Write episodes (file or folder), a FHIR Bundle JSON or one resource to a "
        "FHIR server: "
        "creates what is missing, updates what changed, nothing else. A FHIR document "
        "(Bundle of type document) is stored whole, as a Bundle and/or a DocumentReference.",
    )
    p.add_argument(
        "file",
        metavar="FILE",
        help="episode file/folder, a FHIR Bundle JSON or one FHIR resource (.json or .json.gz)",
    )
    p.add_argument("--summary", action="store_true", help="print one JSON object of counts")
    p.add_argument("--dry-run", action="store_true", help="print the planned writes only")
    p.add_argument(
        "--no-validate",
        action="store_true",
        help="do not validate against R4 and the IOP profiles before sending (servers often "
        "do not enforce required bindings, so validation is on by default)",
    )
    p.add_argument(
        "--chunk-size",
        type=positive_int,
        metavar="N",
        help="entries per chunk (a transaction or batch), at least 1 (default 250)",
    )
    p.add_argument(
        "--progress",
        action="store_true",
        help="progress bar on stderr even when it is not a terminal",
    )
    p.add_argument(
        "--unlisted",
        choices=("attempt", "skip"),
        default="attempt",
        help="types the CapabilityStatement does not list: send them or report them",
    )
    add_time_zone_option(p, "episode files")
    d = p.add_argument_group("documents (FILE is a Bundle of type document)")
    d.add_argument(
        "--as",
        dest="store_as",
        choices=("auto", "bundle", "document-reference", "both"),
        help="store the document as a Bundle, a DocumentReference or both (default auto: "
        "every form the server accepts)",
    )
    d.add_argument(
        "--document-reference",
        metavar="FILE",
        help="the document's DocumentReference (iopfhir toc --document-reference); "
        "built from the document when not given",
    )
    add_disclosure_options(p, own_system=True)
    connection_options(p)
    p.set_defaults(func=run_push)

    q = subparsers.add_parser(
        "pull",
        help="read one patient's IOP data from a server into an episode file",
        description="Fetch one patient's IOP data by identifier and write an episode file.",
    )
    q.add_argument(
        "--patient",
        required=True,
        type=patient_identifier,
        metavar="SYSTEM|VALUE",
        help="the patient's identifier: system and value",
    )
    q.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="episode file to write (with --documents: the folder to write documents in)",
    )
    q.add_argument(
        "--documents",
        action="store_true",
        help="fetch the patient's transition-of-care documents instead, one file each",
    )
    q.add_argument(
        "--since",
        type=fhir_instant_or_date,
        metavar="DATE",
        help="only what changed after DATE (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ; incremental)",
    )
    add_time_zone_option(q, "the server's resources")
    add_program_code_option(q, "the server")
    connection_options(q)
    q.set_defaults(func=run_pull)

    c = subparsers.add_parser(
        "capabilities",
        help="what a server supports for each IOP resource type, and the write plan",
        description="Read the server's CapabilityStatement and print the per-type support "
        "and the write plan a push would use.",
    )
    c.add_argument(
        "--format", choices=("text", "json"), default="text", help="a table, or one JSON object"
    )
    c.add_argument(
        "--unlisted",
        choices=("attempt", "skip"),
        default="attempt",
        help="plan types the CapabilityStatement does not list as sent anyway, or skipped",
    )
    connection_options(c)
    c.set_defaults(func=run_capabilities)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the subcommand's runner."""
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


# -- push -----------------------------------------------------------------------------------


def _read_source(path: str, zone: tzinfo | None = None) -> Any:
    file = Path(path)
    if not file.exists():
        raise InputError("no such file or folder", path=path)
    kind = data_kind(file) if file.is_file() else None
    if kind in ("json", "xml"):  # .json or FHIR .xml, or either gzip-compressed (.json.gz)
        try:
            data = load_fhir_data(read_data(file), path, xml=kind == "xml")
        except OSError as exc:
            raise InputError(f"cannot read the file ({exc.strerror})", path=path) from exc
        # A Bundle, or one resource on its own (pushed as a Bundle of one).
        if isinstance(data, dict) and data.get("resourceType") in R4_RESOURCE_TYPES:
            return data
    try:
        episodes = load_episodes(file)
    except InputError:
        if file.is_dir() and _holds_fhir(file):
            raise InputError(
                "a folder is pushed as episode files, and this one holds FHIR resources: "
                "push them as one Bundle, or import the folder into episodes first",
                path=path,
            ) from None
        raise
    if zone is not None:  # the times of the episodes written without an offset read in it
        episodes = [with_time_zone(e, zone) for e in episodes]
    return episodes


def _holds_fhir(folder: Path) -> bool:
    """Whether a ``.json`` file of ``folder`` is a FHIR resource (``resourceType``)."""
    for json_file in sorted(folder.glob("*.json")):
        try:
            data = json.loads(json_file.read_bytes())
        except (OSError, ValueError):  # (a JSON or UTF-8 error: not a resource)
            continue
        if isinstance(data, dict) and data.get("resourceType") in R4_RESOURCE_TYPES:
            return True
    return False


def _given_dr(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "document_reference", None))


class _ShownValidator:
    """A validator whose run shows a progress line on a terminal (it can take a while)."""

    def __init__(self, inner: Validator, err: TextIO, force: bool) -> None:
        self.inner, self.err, self.force = inner, err, force

    def validate(self, resource: Any) -> Any:
        with progress(None, "validate before push", stream=self.err, force=self.force):
            return self.inner.validate(resource)


def _push_progress(tick: Tick) -> Callable[[int, int], None]:
    def update(done: int, total: int) -> None:
        tick.total = total
        tick.to(done)

    return update


#: Warning lines printed after a push (the rest are counted in one more line).
WARNINGS_SHOWN = 30


def _print_warnings(report: PushReport, err: TextIO) -> None:
    """The warnings the push collected (resources given an identifier, validation
    warnings), once each, on stderr: they name places and codes, never values."""
    seen: dict[str, None] = {}
    for issue in report.issues:
        if issue.severity in ("warning", "information"):
            seen.setdefault(f"{issue.path}: {issue.message}" if issue.path else issue.message)
    lines = list(seen)
    for line in lines[:WARNINGS_SHOWN]:
        print(f"iopfhir: warning: {line}", file=err)
    if len(lines) > WARNINGS_SHOWN:
        print(f"iopfhir: warning: and {len(lines) - WARNINGS_SHOWN} more", file=err)


def _print_summary(report: PushReport | None, out: TextIO) -> None:
    """Exactly one JSON object; all zeros when the push failed before it had any count."""
    out.write((report or PushReport()).to_json() + "\n")
    out.flush()


def _disclosure_terms(args: argparse.Namespace) -> DisclosureTerms:
    """The Part 2 terms of a push: ``--own-system`` (or ``own_system`` in ``--config``), or
    ``--for`` / ``--purpose`` / ``--on`` with the AuditEvents appended to ``--audit``."""
    config = load_config(args.config) if getattr(args, "config", None) else {}
    own = bool(option(args, config, "own_system"))
    audit_path = getattr(args, "audit", None)
    return DisclosureTerms(
        recipient=getattr(args, "recipient", None),
        purpose=getattr(args, "purpose", None) or "TREAT",
        at=disclosure_day(args),
        own_system=own,
        audit=(lambda events: append_audit(audit_path, events)) if audit_path else None,
    )


@_lazy.needed
def run_push(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``iopfhir push``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    report: PushReport | None = None
    code = 0
    try:
        source = _read_source(args.file, getattr(args, "time_zone", None))
        if is_document(source) or getattr(args, "store_as", None) or _given_dr(args):
            return run_push_document(args, source, build_client, out, err, _disclosure_terms(args))
        client = build_client(args)
        chunk_size = args.chunk_size or 250
        shown = bool(args.progress) and not args.summary
        validator = (
            None
            if getattr(args, "no_validate", False)
            else _ShownValidator(Validator.with_iop_profiles(), err, shown)
        )
        with client, progress(None, "push", stream=err, force=shown, unit="resources") as tick:
            report = push(
                client,
                source,
                chunk_size=chunk_size,
                dry_run=args.dry_run,
                progress=_push_progress(tick),
                unlisted=args.unlisted,
                validator=validator,
                disclosure=_disclosure_terms(args),
            )
    except ValidationFailed as exc:
        report = exc.report if isinstance(exc.report, PushReport) else None
        code = print_error(exc, err)
        for issue in exc.issues[:10]:
            print(f"  {issue}", file=err)
        code = 2
    except SyncError as exc:
        report = exc.report if isinstance(exc.report, PushReport) else None
        code = print_error(exc, err)
    except Exception as exc:
        code = print_error(exc, err, verbose=bool(getattr(args, "verbose", False)))
    if report is not None:
        _print_warnings(report, err)
    if args.summary:
        _print_summary(report, out)
        return code
    if report is None:
        return code
    if args.dry_run and code != 0:  # no plan: not one that writes nothing
        print("# dry run: no plan, the push would stop before any write (see the error)", file=out)
    elif args.dry_run:
        print(
            f"# dry run: {len(report.planned)} write(s) in {report.chunks} chunk(s), "
            f"mode {report.mode}; {report.unchanged} unchanged",
            file=out,
        )
        for planned in report.planned:
            print(f"{planned.chunk}\t{planned}", file=out)
    else:
        print(json.dumps(report.summary()), file=out)
    for rtype, n in sorted(report.not_accepted.items()):
        reason = report.not_accepted_reasons.get(rtype, "")
        print(f"not accepted by the server: {n} {rtype} ({reason})", file=err)
    if report.dropped_references:
        print(
            f"references to not-accepted resources left out: {report.dropped_references}", file=err
        )
    for merged in report.merged:
        print(f"merged with a concurrent change: {merged}", file=err)
    return code


# -- pull -----------------------------------------------------------------------------------


@_lazy.needed
def run_pull(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``iopfhir pull``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    if getattr(args, "documents", False):
        return run_pull_documents(args, build_client, out, err)
    report = PullReport()
    try:
        check_file_target(args.output)  # before the server is asked anything
        local = program_codes(args)
        ident = args.patient if isinstance(args.patient, tuple) else _patient(args.patient)
        client = build_client(args)
        with client:
            result = pull(
                client,
                ident,
                since=args.since,
                report=report,
                time_zone=getattr(args, "time_zone", None),
                program_codes=local,
            )
        if not result.episodes:
            print("iopfhir: error: the server holds no IOP episode for that patient", file=err)
            return 1
        data = dump_episodes(result.episodes)
        if Path(args.output).suffix in (".yaml", ".yml"):
            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        else:
            text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        write_bytes(args.output, text.encode("utf-8"))
    except Exception as exc:
        return print_error(exc, err, verbose=bool(getattr(args, "verbose", False)))
    total = sum(report.resources.values())
    print(
        f"pulled {len(result.episodes)} episode(s) from {total} resources via {report.method} "
        f"in {report.round_trips} round trips",
        file=out,
    )
    for why, n in sorted(result.unmapped.items()):
        print(f"not mapped: {n} x {why}", file=err)
    for rtype, n in sorted(result.ignored.items()):
        print(f"ignored: {n} x {rtype} (not read into the IOP model)", file=err)
    for note in report.fallbacks:
        print(f"note: {note}", file=err)
    return 0


def _patient(value: str) -> tuple[str, str]:
    system, sep, ident = value.partition("|")
    if not sep or not system or not ident:
        raise InputError("--patient must be SYSTEM|VALUE")
    return system, ident


# -- capabilities ---------------------------------------------------------------------------


@_lazy.needed
def run_capabilities(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run ``iopfhir capabilities``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        with build_client(args) as client:
            support = server_support(client.capabilities(), unlisted=args.unlisted)
    except Exception as exc:
        return print_error(exc, err, verbose=bool(getattr(args, "verbose", False)))
    described = support.describe()
    described["lookup"] = "one batch round trip" if support.batch else "one request per search"
    described["pull"] = (
        "Patient/$everything + references"
        if support.has_operation("everything", "Patient")
        else "searches by patient + references"
    )
    if args.format == "json":
        out.write(json.dumps(described, indent=2) + "\n")
        return 0
    print(f"server: {described['software'] or '(unnamed)'}", file=out)
    print(
        f"writes: {support.mode}; look-ups: {described['lookup']}; pull: {described['pull']}",
        file=out,
    )
    print(f"{'type':<22} {'listed':<7} {'id-search':<10} {'write':<11} reason", file=out)
    for name in IOP_TYPES:
        t = described["types"][name]
        print(
            f"{name:<22} {'yes' if t['listed'] else 'no':<7} "
            f"{'yes' if t['identifier_search'] else 'no':<10} {t['write']:<11} {t['reason']}",
            file=out,
        )
    return 0
