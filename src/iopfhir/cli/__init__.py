"""The ``iopfhir`` command line.

Each subcommand lives in its own module with ``register(subparsers)`` (adds the parser and
``set_defaults(func=run)``) and ``run(args) -> int``. Exit codes: 0 success, 2 bad input
(the message names the file and path) or a bad option value, 1 any other failure, 130/143
when ended by SIGINT/SIGTERM (after cleaning up). Errors are printed as one line on stderr
without a traceback (:mod:`._errors`); they never contain patient data or credentials.

Helpers shared by the subcommands: :mod:`._output` (output paths, atomic writers, file
modes), :mod:`._options` (option value types, one-line usage errors), :mod:`._progress`
(progress bars on a terminal), :mod:`._signals` (SIGTERM/SIGINT as exceptions).

The CLI is the top of the import graph: nothing in the package imports it.

Starting is cheap: building the parser imports the command modules, which import only the
standard library and these helpers at the top; each loads what it needs when it runs
(:mod:`._lazy`). ``--version`` and ``--help`` load nothing else of the library, and
``--version`` alone not even the command modules.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from iopfhir import __version__

from ._errors import print_error
from ._options import Parser
from ._signals import signals_raise

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = (
    "convert",
    "import_",
    "validate",
    "synth",
    "sync",
    "export",
    "demo",
    "questionnaires",
    "toc",
    "outcomes",
    "report",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = Parser(
        prog="iopfhir",
        description="Intensive outpatient program (IOP) care as FHIR R4: convert, import, "
        "validate, synthesize, push and pull.",
    )
    parser.add_argument("--version", action="version", version=f"iopfhir {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"iopfhir.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"iopfhir.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
        # answered before the parser is built: that imports (and, without a bytecode
        # cache, compiles) the module of every command
        print(f"iopfhir {__version__}")
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    import logging  # after parsing: --help and --version end before it is needed

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        with signals_raise():
            code: int = args.func(args)
    except BrokenPipeError:
        # the reader went away (``| head``): not an error of ours
        sys.stderr.close()
        return 0
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        return print_error(exc, sys.stderr, verbose=args.verbose)
    return code
