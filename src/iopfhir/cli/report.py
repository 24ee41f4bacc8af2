"""``iopfhir report``: the program outcomes as one self-contained HTML page.

SOURCE is what ``iopfhir outcomes`` reads (NDJSON files or a folder of them, or a Bundle
JSON file). Every shipped measure is computed on the engine (DuckDB by default, Spark with
``--engine spark``), the trajectories and program weeks are read from the same views, and
the page (:func:`iopfhir.outcomes.report.render_report`) is written with its charts'
JavaScript inline: it opens offline. Same source, same bytes (``--generated`` puts a date of
the caller's choosing on the page; no clock is read).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from iopfhir.cli._lazy import LazyImports
from iopfhir.cli._options import add_program_code_option, program_codes
from iopfhir.cli.outcomes import on_source

if TYPE_CHECKING:  # imported when the command runs (``_lazy``): the CLI starts without them
    from iopfhir.cli._output import check_file_target, write_bytes
    from iopfhir.outcomes.report import build_report

__all__ = ["register", "run"]

_lazy = LazyImports(
    globals(),
    {
        "check_file_target": "iopfhir.cli._output:check_file_target",
        "write_bytes": "iopfhir.cli._output:write_bytes",
        "InputError": "iopfhir.errors:InputError",
        "parse_period": "iopfhir.outcomes:parse_period",
        "build_report": "iopfhir.outcomes.report:build_report",
        "get_engine": "iopfhir.views:get_engine",
    },
)
__getattr__ = _lazy.attribute


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``report``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="write the program outcomes report: one self-contained HTML page",
        description="Compute the IOP outcome measures over a FHIR source (NDJSON files, "
        "Bundle JSON files, or a folder of either) and write one HTML page that works offline: "
        "headline figures, symptom trajectories, response and remission, attendance, hours "
        "per week, readmission, stratified tables, and optionally a section per patient. "
        "Exit 2 on bad input.",
    )
    p.add_argument(
        "source",
        metavar="SOURCE",
        help="NDJSON file, Bundle JSON file, or a folder of either (e.g. Synthea output/fhir)",
    )
    p.add_argument("-o", "--output", metavar="OUT", help="the HTML file (default: stdout)")
    p.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb", help="SQL engine")
    p.add_argument(
        "--period",
        metavar="START/END",
        help="only episodes (stays) whose index date (discharge, else admission) falls in it",
    )
    add_program_code_option(p, "the EHR")
    p.add_argument(
        "--patient-pages",
        action="store_true",
        help="add a section per patient (by patient key, not name), linked from the charts",
    )
    p.add_argument("--title", default="IOP outcomes report", help="the page's title")
    p.add_argument("--generated", metavar="TEXT", help="a date to show as when the report was made")
    p.set_defaults(func=run)
    return p


@_lazy.needed
def run(args: argparse.Namespace) -> int:
    """Compute the outcomes and write the page."""
    check_file_target(args.output)
    local = program_codes(args)
    page = on_source(
        args,
        lambda source, engine, period: build_report(
            source,
            engine,
            period=period,
            patient_pages=args.patient_pages,
            title=args.title,
            generated=args.generated,
            program_codes=local,
        ),
    )
    write_bytes(args.output, page.encode("utf-8"))
    return 0
