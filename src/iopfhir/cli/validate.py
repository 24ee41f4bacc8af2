"""``iopfhir validate``: validate FHIR JSON / NDJSON files against R4 and profiles.

``register(subparsers)`` adds the subcommand; ``run(args)`` executes it and returns the exit
code: 0 when no file has errors, 1 when any has, 2 when an input cannot be read (missing file,
not JSON, not a FHIR resource), a profile cannot be loaded or the ``--server`` cannot be
reached.

``--server URL`` also runs the server's ``$validate`` (``POST [base]/[type]/$validate``) on
every resource and merges the issues of its OperationOutcome into the report, each marked
with its source (:func:`server_report`; the validation package itself never talks to a
server - the client sits above it in the layer order).

The report streams: resources are validated one at a time and nothing grows with the
file but a set of issue hashes (for duplicates). Text output prints each issue as it is
found, then one status line per file (``FILE: OK (0 errors, 2 warnings)``, after that
file's issues). JSON output writes each file's OperationOutcome when the file is done,
its issues (ordered by severity, as :class:`~iopfhir.validation.ValidationReport` orders
them) kept meanwhile in spooled temporary files, not in memory: the document is the one a
report of the whole file gives, byte for byte. A progress bar counts resources on a
terminal.

Imports :mod:`iopfhir.validation`, :mod:`iopfhir.client` and :mod:`iopfhir.errors`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO

from iopfhir.cli._lazy import LazyImports
from iopfhir.cli._progress import Tick, progress

if TYPE_CHECKING:  # imported when the command runs (``_lazy``): the CLI starts without them
    import tempfile
    from dataclasses import replace

    from iopfhir.client import FhirClient
    from iopfhir.errors import ClientError, InputError, Issue, ServerError, request_label
    from iopfhir.fhir.read.source import bulk_export_files
    from iopfhir.loading import data_files
    from iopfhir.validation import IOP_PROFILES, ValidationReport, Validator, read_resources
    from iopfhir.validation.outcomes import SUMMARY, foreign_issues
    from iopfhir.validation.report import issue_key, severity_rank

__all__ = ["SOURCE_EXTENSION", "register", "run", "server_report"]

_lazy = LazyImports(
    globals(),
    {
        "tempfile": "tempfile",
        "replace": "dataclasses:replace",
        "FhirClient": "iopfhir.client:FhirClient",
        "ClientError": "iopfhir.errors:ClientError",
        "InputError": "iopfhir.errors:InputError",
        "Issue": "iopfhir.errors:Issue",
        "ServerError": "iopfhir.errors:ServerError",
        "request_label": "iopfhir.errors:request_label",
        "bulk_export_files": "iopfhir.fhir.read.source:bulk_export_files",
        "data_files": "iopfhir.loading:data_files",
        "IOP_PROFILES": "iopfhir.validation:IOP_PROFILES",
        "ValidationReport": "iopfhir.validation:ValidationReport",
        "Validator": "iopfhir.validation:Validator",
        "read_resources": "iopfhir.validation:read_resources",
        "SUMMARY": "iopfhir.validation.outcomes:SUMMARY",
        "foreign_issues": "iopfhir.validation.outcomes:foreign_issues",
        "issue_key": "iopfhir.validation.report:issue_key",
        "severity_rank": "iopfhir.validation.report:severity_rank",
    },
    deferred={"FhirClient"},  # the HTTP stack only for --server
)
__getattr__ = _lazy.attribute

#: OperationOutcome.issue extension naming where an issue comes from (JSON output).
SOURCE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-source"
LOCAL_SOURCE = "iopfhir"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``validate`` subcommand to an ``argparse`` subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help="validate FHIR R4 JSON/NDJSON files",
        description="Validate FHIR R4 resources (JSON, Bundles, NDJSON) against the base "
        "definitions and profiles. Exit code: 0 no errors, 1 errors, 2 unreadable input.",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="JSON or NDJSON files (or .gz of them), or folders of them (a Bulk Data export "
        "folder: its "
        "manifest and error files are not validated as data, nor a FHIR package's "
        "package.json and .index.json)",
    )
    p.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="URL-OR-FILE",
        help="a profile to validate against: a canonical url of a loaded profile, or a "
        "StructureDefinition file, a folder or a package tarball to load (repeatable); files "
        "given here are also checked against every loaded profile of the resource's type. "
        "'iop' loads the project's own profiles (shipped with iopfhir): each resource is "
        "then checked against the IOP profiles it claims in meta.profile (claimed IOP "
        "profiles are also loaded automatically without this option)",
    )
    p.add_argument(
        "--load",
        action="append",
        default=[],
        metavar="PATH",
        help="load conformance resources (folder, file, .tgz) without enforcing "
        "them; resources claiming them in meta.profile are checked",
    )
    p.add_argument(
        "--server",
        metavar="URL",
        help="also run the FHIR server's $validate on every resource (POST "
        "[URL]/[type]/$validate) and merge its issues, marked with their source",
    )
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="one line per issue, or OperationOutcome JSON",
    )
    p.set_defaults(func=run)
    return p


@_lazy.needed
def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``iopfhir validate`` for parsed ``args``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        validator = Validator([Path(p) for p in getattr(args, "load", [])])
        urls: list[str] = []
        for item in args.profile:
            path = Path(item)
            if item == IOP_PROFILES:
                validator.definitions.add_iop_profiles()
            elif path.exists():
                added = validator.definitions.add(path)
                urls.extend(u for u in added if _is_resource_profile(validator, u))
            else:
                urls.append(item)
        for url in urls:
            if not validator.definitions.has(url):
                raise InputError(f"profile {url} is not loaded (give its file or folder)")
            validator.definitions.tree(url)  # fail early on a broken profile
    except InputError as exc:
        print(f"error: {exc}", file=err)
        return 2
    args.files = _expand(args.files)
    client: FhirClient | None = None
    if getattr(args, "server", None):
        _lazy.load("FhirClient")
        try:
            client = FhirClient(args.server)
        except InputError as exc:
            print(f"error: --server: {exc}", file=err)
            return 2
    json_out = _JsonOut(out, single=len(args.files) == 1) if args.format == "json" else None
    unreadable = False
    failed = False
    try:
        with progress(None, "validate", unit="resources") as tick:
            for name in args.files:
                text_out = None if json_out is not None else out
                streamed = _FileReport(name, text_out=text_out, tagged=client is not None)
                try:
                    _validate_into(streamed, validator, urls, client, tick)
                except ClientError as exc:
                    print(f"error: {name}: the server's $validate failed: {exc}", file=err)
                    return 2
                except InputError as exc:
                    streamed.close()
                    unreadable = True
                    print(f"error: {exc}", file=err)
                    continue
                except BaseException:
                    streamed.close()
                    raise
                failed = failed or streamed.errors > 0
                if json_out is not None:
                    json_out.outcome(streamed)
                else:
                    counts = f"{streamed.errors} errors, {streamed.warnings} warnings"
                    print(f"{name}: {'FAILED' if streamed.errors else 'OK'} ({counts})", file=out)
                streamed.close()
    finally:
        if client is not None:
            client.close()
        if json_out is not None:
            json_out.close()
    if unreadable:
        return 2
    return 1 if failed else 0


#: the files of a FHIR package (NPM layout) that describe it and are no resources
_PACKAGE_FILES = frozenset({"package.json", ".index.json"})


def _expand(names: list[str]) -> list[str]:
    """Each folder replaced by its JSON/NDJSON files (recursively, in name order), without
    a Bulk Data export's manifest and error files, and without a FHIR package's
    ``package.json`` and ``.index.json`` (an unpacked IG or examples package); files stay
    as given."""
    out: list[str] = []
    for name in names:
        root = Path(name)
        if not root.is_dir():
            out.append(name)
            continue
        skip = bulk_export_files(root)
        found = [str(p) for p in data_files(root) if p not in skip and p.name not in _PACKAGE_FILES]
        out.extend(found or [name])  # an empty folder: reported as unreadable input
    return out


def _validate_into(
    streamed: _FileReport,
    validator: Validator,
    urls: list[str],
    client: FhirClient | None,
    tick: Tick,
) -> None:
    """Validate every resource of one file into ``streamed``: every local issue first,
    then (with a server) every server issue, as the merged report of the two orders them."""
    name = streamed.name
    for label, res in read_resources(name):
        rt = res.get("resourceType") if isinstance(res, dict) else None
        wanted = [u for u in urls if validator.definitions.sd_type(u) == rt]
        report = validator.validate(res, profile=wanted or None)
        issues: Iterator[Issue] = iter(report.issues)
        if label is not None:
            issues = (replace(i, message=f"{i.message} ({label})") for i in issues)
        if client is not None:
            issues = (i if i.source else replace(i, source=LOCAL_SOURCE) for i in issues)
        streamed.add(issues, server=False)
        tick()
    if client is not None:
        for label, res in read_resources(name):
            streamed.add(_server_issues(client, res, label), server=True)


class _FileReport:
    """One file's issues as they are found: counted, printed (text) or spooled by severity
    (JSON). Duplicates are dropped by a 64-bit hash of their key, so memory stays flat."""

    def __init__(self, name: str, *, text_out: TextIO | None, tagged: bool) -> None:
        self.name = name
        self.errors = 0
        self.warnings = 0
        self._text_out = text_out
        self._tagged = tagged
        self._seen: set[int] = set()
        #: (server pass, severity rank) → spooled issue elements, one per record
        self._spools: dict[tuple[bool, int], IO[str]] = {}

    def add(self, issues: Iterator[Issue] | list[Issue], *, server: bool) -> None:
        for issue in issues:
            key = hash(issue_key(issue))
            if key in self._seen:
                continue
            self._seen.add(key)
            if issue.severity in ("error", "fatal"):
                self.errors += 1
            elif issue.severity == "warning":
                self.warnings += 1
            if self._text_out is not None:
                if issue.severity != "information":
                    tag = f"[{issue.source}] " if self._tagged and issue.source else ""
                    print(f"  {tag}{issue}", file=self._text_out)
                continue
            slot = (server, severity_rank(issue.severity))
            spool = self._spools.get(slot)
            if spool is None:
                spool = self._spools[slot] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
                    max_size=1 << 20, mode="w+", encoding="utf-8"
                )
            spool.write(json.dumps(_element(issue), indent=2))
            spool.write(_RECORD)

    def elements(self) -> Iterator[str]:
        """Each issue element as indented JSON, in report order (severity, local first)."""
        for slot in sorted(self._spools, key=lambda s: (s[1], s[0])):
            spool = self._spools[slot]
            spool.seek(0)
            pending = ""
            while chunk := spool.read(1 << 16):
                *records, pending = (pending + chunk).split(_RECORD)
                yield from records

    def close(self) -> None:
        for spool in self._spools.values():
            spool.close()
        self._spools.clear()


#: separates spooled elements: never inside JSON text written with ensure_ascii
_RECORD = "\x1e"
_CLEAN = {
    "severity": "information",
    "code": "informational",
    "diagnostics": "No issues detected during validation",
}


class _JsonOut:
    """Writes the JSON document of ``iopfhir validate --format json`` a file at a time:
    the bytes ``json.dump(payload, indent=2)`` gives for the payload it used to build (one
    OperationOutcome for one FILE argument, else a list of them)."""

    def __init__(self, out: TextIO, *, single: bool) -> None:
        self._out = out
        self._single = single
        self._count = 0

    def outcome(self, streamed: _FileReport) -> None:
        out = self._out
        depth = 0 if self._single else 1
        if not self._single:
            out.write("[\n  " if self._count == 0 else ",\n  ")
        pad = "  " * depth
        out.write(f'{{\n{pad}  "resourceType": "OperationOutcome",\n{pad}  "issue": [\n')
        inner = "\n" + pad + "    "
        first = True
        for element in streamed.elements():
            out.write(("" if first else ",\n") + pad + "    " + element.replace("\n", inner))
            first = False
        if first:
            out.write(pad + "    " + json.dumps(_CLEAN, indent=2).replace("\n", inner))
        out.write(f"\n{pad}  ]\n{pad}}}")
        self._count += 1

    def close(self) -> None:
        """End the document (``[]`` when no file could be read)."""
        if self._single and self._count:
            self._out.write("\n")
        elif not self._single and self._count:
            self._out.write("\n]\n")
        else:
            self._out.write("[]\n")


def _element(issue: Issue) -> dict[str, Any]:
    element = issue.to_fhir()
    if issue.source:
        element["extension"] = [{"url": SOURCE_EXTENSION, "valueString": issue.source}]
    return element


@_lazy.needed
def server_report(client: FhirClient, resource: dict[str, Any]) -> ValidationReport:
    """The server's ``$validate`` verdict on ``resource`` as a report; every issue's
    ``source`` is ``server <base url>``. A 4xx answer carrying an OperationOutcome (how
    some servers reject invalid content) is read the same way as a 200.

    Server text may repeat the resource (a value, a name, an id), so each issue keeps its
    severity, its code and a FHIRPath location made of element names, and says only
    "reported by the server" (:func:`iopfhir.validation.outcomes.foreign_issue`)."""
    source = f"server {request_label(None, client.base_url)}"
    try:
        issues = foreign_issues(client.validate(resource))
    except ServerError as exc:
        if exc.status >= 500 or exc.status in (401, 403, 404, 405):
            raise
        issues = foreign_issues(exc.outcome) or [
            Issue("error", "invalid", f"{SUMMARY} (HTTP {exc.status}, no OperationOutcome)")
        ]
    return ValidationReport.from_issues(replace(i, source=source) for i in issues)


def _server_issues(client: FhirClient, resource: Any, label: str | None) -> list[Issue]:
    issues = list(server_report(client, resource).issues)
    if label is not None:
        issues = [replace(i, message=f"{i.message} ({label})") for i in issues]
    return issues


def _is_resource_profile(validator: Validator, url: str) -> bool:
    sd = validator.definitions.structure_definition(url) or {}
    return sd.get("kind") == "resource"
