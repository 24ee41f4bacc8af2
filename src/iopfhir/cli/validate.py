"""``iopfhir validate``: validate FHIR JSON / NDJSON files against R4 and profiles.

``register(subparsers)`` adds the subcommand; ``run(args)`` executes it and returns the exit
code: 0 when no file has errors, 1 when any has, 2 when an input cannot be read (missing file,
not JSON, not a FHIR resource) or a profile cannot be loaded.

Imports :mod:`iopfhir.validation` and :mod:`iopfhir.errors` only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from iopfhir.errors import InputError
from iopfhir.validation import IOP_PROFILES, ValidationReport, Validator, validate_file

__all__ = ["register", "run"]


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
    reports: list[tuple[str, ValidationReport]] = []
    unreadable = False
    for name in args.files:
        try:
            report = validate_file(name, validator=validator, profile=urls or None)
        except InputError as exc:
            unreadable = True
            print(f"error: {exc}", file=err)
            continue
        reports.append((name, report))
    if args.format == "json":
        outcomes = [r.to_operation_outcome() for _, r in reports]
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
                    print(f"  {issue}", file=out)
    if unreadable:
        return 2
    return 0 if all(r.ok for _, r in reports) else 1


def _is_resource_profile(validator: Validator, url: str) -> bool:
    sd = validator.definitions.structure_definition(url) or {}
    return sd.get("kind") == "resource"
