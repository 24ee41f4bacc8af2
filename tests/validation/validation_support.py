"""Helpers shared by the validation tests: running ``iopfhir validate`` in-process."""

from __future__ import annotations

import argparse
import io

from iopfhir.cli import validate as cli_validate


def run_validate(*argv: str) -> tuple[int, str, str]:
    """``iopfhir validate ARGV`` in-process: exit code, stdout, stderr."""
    parser = argparse.ArgumentParser()
    cli_validate.register(parser.add_subparsers())
    out, err = io.StringIO(), io.StringIO()
    code = cli_validate.run(parser.parse_args(["validate", *argv]), out, err)
    return code, out.getvalue(), err.getvalue()
