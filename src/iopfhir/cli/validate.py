"""``iopfhir validate``: validate FHIR JSON / NDJSON files against R4 and profiles.

``register(subparsers)`` adds the subcommand; ``run(args)`` executes it and returns the exit
code: 0 when no file has errors, 1 when any has, 2 when an input cannot be read (missing file,
not JSON, not a FHIR resource), a profile cannot be loaded or the ``--server`` cannot be
reached.

``--server URL`` also runs the server's ``$validate`` (``POST [base]/[type]/$validate``) on
every resource and merges the issues of its OperationOutcome into the report, each marked
with its source (:func:`server_report`; the validation package itself never talks to a
server - the client sits above it in the layer order).

Imports :mod:`iopfhir.validation`, :mod:`iopfhir.client` and :mod:`iopfhir.errors`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from iopfhir.client import FhirClient
from iopfhir.errors import ClientError, InputError, Issue, ServerError
from iopfhir.validation import (
    IOP_PROFILES,
    ValidationReport,
    Validator,
    read_resources,
    validate_file,
)

__all__ = ["SOURCE_EXTENSION", "register", "run", "server_report"]

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
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON or NDJSON files")
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
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)
    return p


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
    client: FhirClient | None = None
    if getattr(args, "server", None):
        try:
            client = FhirClient(args.server)
        except InputError as exc:
            print(f"error: --server: {exc}", file=err)
            return 2
    reports: list[tuple[str, ValidationReport]] = []
    unreadable = False
    try:
        for name in args.files:
            try:
                report = validate_file(name, validator=validator, profile=urls or None)
                if client is not None:
                    report = _mark(report, LOCAL_SOURCE).merge(_server_file(client, name))
            except ClientError as exc:
                print(f"error: {name}: the server's $validate failed: {exc}", file=err)
                return 2
            except InputError as exc:
                unreadable = True
                print(f"error: {exc}", file=err)
                continue
            reports.append((name, report))
    finally:
        if client is not None:
            client.close()
    if args.format == "json":
        outcomes = [_outcome(r) for _, r in reports]
        payload: Any = outcomes[0] if len(args.files) == 1 and len(outcomes) == 1 else outcomes
        json.dump(payload, out, indent=2)
        out.write("\n")
    else:
        for name, r in reports:
            n_err, n_warn = len(r.errors), len(r.warnings)
            status = "OK" if r.ok else "FAILED"
            print(f"{name}: {status} ({n_err} errors, {n_warn} warnings)", file=out)
            for issue in r.issues:
                if issue.severity != "information":
                    tag = f"[{issue.source}] " if client is not None and issue.source else ""
                    print(f"  {tag}{issue}", file=out)
    if unreadable:
        return 2
    return 0 if all(r.ok for _, r in reports) else 1


def server_report(client: FhirClient, resource: dict[str, Any]) -> ValidationReport:
    """The server's ``$validate`` verdict on ``resource`` as a report; every issue's
    ``source`` is ``server <base url>``. A 4xx answer carrying an OperationOutcome (how
    some servers reject invalid content) is read the same way as a 200."""
    source = f"server {client.base_url}"
    try:
        outcome = client.validate(resource)
        raw = outcome.get("issue") if isinstance(outcome, dict) else None
        issues = [Issue.from_fhir(i) for i in raw or () if isinstance(i, dict)]
    except ServerError as exc:
        if exc.status >= 500 or exc.status in (401, 403, 404, 405):
            raise
        issues = list(exc.issues)
    return ValidationReport.from_issues(replace(i, source=source) for i in issues)


def _server_file(client: FhirClient, path: str) -> ValidationReport:
    report = ValidationReport()
    for label, res in read_resources(path):
        r = server_report(client, res)
        if label is not None:
            r = ValidationReport(
                tuple(replace(i, message=f"{i.message} ({label})") for i in r.issues)
            )
        report = report.merge(r)
    return report


def _mark(report: ValidationReport, source: str) -> ValidationReport:
    return ValidationReport(
        tuple(i if i.source else replace(i, source=source) for i in report.issues),
        report.skipped_invariants,
    )


def _outcome(report: ValidationReport) -> dict[str, Any]:
    """The report as an OperationOutcome; issues with a source carry it in the standard
    operationoutcome-issue-source extension."""
    outcome = report.to_operation_outcome()
    for issue, element in zip(report.issues, outcome["issue"], strict=False):
        if issue.source:
            element["extension"] = [{"url": SOURCE_EXTENSION, "valueString": issue.source}]
    return outcome


def _is_resource_profile(validator: Validator, url: str) -> bool:
    sd = validator.definitions.structure_definition(url) or {}
    return sd.get("kind") == "resource"
