"""``iopfhir outcomes``: the program outcome measures over a FHIR source.

SOURCE is NDJSON (a file, or a folder of them: our ``convert --format ndjson`` output, a Bulk
Data export), a Bundle JSON file, or a folder of Bundles (and NDJSON). The measures (FHIR
``Measure`` resources shipped with :mod:`iopfhir.outcomes`) are computed in SQL on an engine
(DuckDB by default, Spark with ``--engine spark``) and written as summary ``MeasureReport``
resources in a collection Bundle (``--individual`` adds one per patient and measure), or as
flat rows (CSV, JSON, Parquet). Same source, same bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from iopfhir.cli._lazy import LazyImports
from iopfhir.cli._options import add_program_code_option, program_codes

if TYPE_CHECKING:  # imported when the command runs (``_lazy``): the CLI starts without them
    import orjson

    from iopfhir.cli._output import check_file_target, write_bytes
    from iopfhir.errors import InputError
    from iopfhir.outcomes import (
        Outcomes,
        OutcomesError,
        compute,
        parse_period,
        report_bundle,
        summary_rows,
    )
    from iopfhir.outcomes import open_source as open_outcome_source
    from iopfhir.terminology import codes
    from iopfhir.views import Engine, Source, get_engine

__all__ = ["on_source", "open_source", "register", "run"]

_lazy = LazyImports(
    globals(),
    {
        "orjson": "orjson",
        "check_file_target": "iopfhir.cli._output:check_file_target",
        "write_bytes": "iopfhir.cli._output:write_bytes",
        "InputError": "iopfhir.errors:InputError",
        "OutcomesError": "iopfhir.outcomes:OutcomesError",
        "open_outcome_source": "iopfhir.outcomes:open_source",
        "compute": "iopfhir.outcomes:compute",
        "parse_period": "iopfhir.outcomes:parse_period",
        "report_bundle": "iopfhir.outcomes:report_bundle",
        "summary_rows": "iopfhir.outcomes:summary_rows",
        "codes": "iopfhir.terminology:codes",
        "Source": "iopfhir.views:Source",
        "get_engine": "iopfhir.views:get_engine",
    },
)
__getattr__ = _lazy.attribute

T = TypeVar("T")

FORMATS = ("measurereport", "csv", "json", "parquet")


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``outcomes``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "outcomes",
        help="compute the program outcome measures (MeasureReports, CSV, JSON, Parquet)",
        description="Compute the IOP outcome measures (symptoms, attendance, intensity, "
        "readmission, aftercare follow-up, completion) from FHIR: NDJSON files, "
        "Bundle JSON files, or a folder of either. Measures are FHIR Measure resources "
        "computed in SQL on DuckDB (default) or Spark. Exit 2 on bad input.",
    )
    p.add_argument(
        "source",
        metavar="SOURCE",
        help="NDJSON file, Bundle JSON file, or a folder of either (e.g. Synthea output/fhir)",
    )
    p.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb", help="SQL engine")
    p.add_argument(
        "--period",
        metavar="START/END",
        help="only episodes (stays) whose index date (discharge, else admission) falls in it",
    )
    add_program_code_option(p, "the EHR")
    p.add_argument("--format", choices=FORMATS, default="measurereport", help="what to write")
    p.add_argument(
        "--individual",
        action="store_true",
        help="with measurereport: also one individual MeasureReport per patient and measure",
    )
    p.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")
    p.set_defaults(func=run)
    return p


@_lazy.needed
def open_source(path: str) -> Source:
    """SOURCE as the outcome commands (``outcomes``, ``report``) read it
    (:func:`iopfhir.outcomes.open_source`: NDJSON, Bundles, or a folder of either)."""
    return open_outcome_source(path)


def _csv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _parquet(columns: tuple[str, ...], rows: list[dict[str, Any]], target: str) -> None:
    import duckdb  # the analytics extra; parquet needs an output file

    con = duckdb.connect()
    try:
        types = ["VARCHAR"] * 3 + ["BIGINT"] * 5 + ["DOUBLE"]
        con.execute(
            "CREATE TABLE t ("
            + ", ".join(f'"{c}" {t}' for c, t in zip(columns, types, strict=True))
            + ")"
        )
        con.executemany(
            "INSERT INTO t VALUES (" + ", ".join("?" for _ in columns) + ")",  # noqa: S608
            [[row[c] for c in columns] for row in rows],
        )
        con.execute("COPY t TO ? (FORMAT parquet)", [target])
    finally:
        con.close()


@_lazy.needed
def on_source(args: argparse.Namespace, work: Callable[[Source, Engine, Any], T]) -> T:
    """``work(source, engine, period)`` on SOURCE, ``--engine`` and ``--period`` (as the
    outcome commands take them); the engine is closed after."""
    try:
        period = parse_period(args.period) if args.period else None
    except ValueError as exc:
        raise InputError(f"--period: {exc}") from None
    engine = get_engine(args.engine)
    try:
        with contextlib.closing(open_source(args.source)) as source:
            return work(source, engine, period)
    finally:
        engine.close()


def _stays_only(outcomes: Outcomes) -> bool:
    """Whether inpatient stays were read but no IOP episode (all the episode measures then
    count none: say why, rather than print empty figures silently)."""
    basis: dict[str, list[str]] = {}
    for m in outcomes.measures:
        basis.setdefault(m.basis, []).append(m.id)
    episodes = basis.get("EpisodeOfCare", [])
    stays = basis.get("Encounter", [])
    return bool(
        episodes and stays and not outcomes.subjects[episodes[0]] and outcomes.subjects[stays[0]]
    )


@_lazy.needed
def run(args: argparse.Namespace) -> int:
    """Compute and write the outcomes."""
    if args.format == "parquet" and args.output in (None, "-"):
        raise InputError("--format parquet needs -o OUT")
    check_file_target(args.output)
    local = program_codes(args)
    outcomes = on_source(
        args,
        lambda source, engine, period: compute(source, engine, period=period, program_codes=local),
    )
    if outcomes.repeated:
        print(
            f"note: {outcomes.repeated} resource(s) given more than once (the same Type/id)"
            " were counted once (the first copy)",
            file=sys.stderr,
        )
    if outcomes.undated:
        print(
            f"note: {outcomes.undated} episode(s), session(s) or score(s) dated with a year or"
            " a month only were left out (no measure can place them on a day)",
            file=sys.stderr,
        )
    if outcomes.unstarted:
        print(
            f"note: {outcomes.unstarted} episode(s) without a start are counted only where"
            " their discharge is enough (readmission, follow-up, completion, aftercare);"
            " their sessions and scores are placed in no measure",
            file=sys.stderr,
        )
    if outcomes.other_programs:
        billing = "/".join(c["code"] for c in codes()["program_type_billing"])
        print(
            f"note: {outcomes.other_programs} EpisodeOfCare resource(s) typed only as other"
            " programs were left out (an IOP episode has an iopfhir program type, an IOP"
            f" billing code - {billing} - or no type; --program-code SYSTEM|CODE=TYPE reads"
            " an EHR's own code for its program)",
            file=sys.stderr,
        )
    if _stays_only(outcomes):
        within = " in the period" if args.period else ""
        print(
            f"note: no IOP episode{within} (an EpisodeOfCare of a patient, of an IOP program"
            " or untyped): the episode measures count none, only the inpatient stay measures"
            " count (an EHR's own code for its IOP program: --program-code SYSTEM|CODE=TYPE)",
            file=sys.stderr,
        )
    if args.format == "measurereport":
        bundle = report_bundle(outcomes, individual=args.individual)
        write_bytes(args.output, orjson.dumps(bundle, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    columns, rows = summary_rows(outcomes)
    if args.format == "csv":
        write_bytes(args.output, _csv(columns, rows))
    elif args.format == "json":
        try:
            period_out: tuple[str, str] | None = outcomes.report_period()
        except OutcomesError:  # nothing read, no period asked: rows that count none
            period_out = None
        data = {"period": period_out, "rows": rows}
        write_bytes(args.output, orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        _parquet(columns, rows, args.output)
    return 0
