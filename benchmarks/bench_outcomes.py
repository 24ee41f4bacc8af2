"""Benchmark: every outcome measure over a synthetic cohort's NDJSON.

Run:  python benchmarks/bench_outcomes.py [--patients 1000 10000] [--seed 7] [--repeat 3]
                                          [--cache DIR] [--no-spark]

For each cohort size (generated once with ``iopfhir synth`` + ``convert --format ndjson``
and cached under ``--cache``, default ``/tmp/iopfhir-bench-outcomes``), each variant in a
fresh process so that peak memory is its own, ``--repeat`` times, the variants taken in
turns (scan, duckdb, loop, scan, ...: a drift of the machine's speed falls on each alike;
Spark's runs after them), and the figures printed are the medians:

- ``duckdb``: every measure (:func:`iopfhir.outcomes.compute`), first run (the files read
  with the R4 types of the elements the views use: nothing inferred; one read per resource
  type computing the rows of all its views into a table, the per-subject statement into a
  table, the summaries summed from it on DuckDB, every measure's figures read as the loop
  gives them) and a second run on the same engine (the views registered again are the
  tables already there: only the queries run). Each subject's result per measure (the rows
  of the individual MeasureReports) is built in Python when first read: timed apart;
- ``duckdb-infer`` (only with ``--only duckdb-infer``): the same with the schema inferred
  from every line (``DuckDBEngine(types="infer")``, the engine before R4 types);
- ``spark``: the same on Spark ``local[*]`` (session start reported apart); peak memory is
  the JVM's resident set, read from ``/proc`` after the runs (the Python side is small);
- ``duckdb-scan``: a bare DuckDB scan of the same files (one JSON parse of every line of the
  resource types the measures' views read, ``resourceType`` and ``id`` kept): the floor;
- ``python``: a plain Python loop (orjson, ``tests/outcomes/reference.py``) over the lines of
  the same resource types, computing the same figures: every measure's population counts and
  score, overall and per stratum. The benchmark checks that every engine's figures equal the
  loop's (and DuckDB's). DuckDB returns more besides: each subject's result per measure
  (populations, observation, strata, evaluated resources: the individual MeasureReports).

CPU seconds (``cpu``: the process's user + system time over all its threads) are printed
beside wall-clock seconds, as other work on the machine moves the latter.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

GOAL_SCAN = 3.0  # every measure on DuckDB within 3x the bare scan
GOAL_LOOP = 5.0  # and at least 5x as fast as the Python loop


def _types() -> list[str]:
    """The resource types the measures' views read."""
    from iopfhir.outcomes.facts import VIEWS
    from iopfhir.views import iop_view

    return sorted({iop_view(name).resource for name in VIEWS.values()})


def _files(nd: Path, rtype: str) -> list[Path]:
    """The files of ``rtype`` the engines read (:class:`~iopfhir.views.Source`: the whole
    folder tree), so the scan and the loop read the same lines as the engines."""
    from iopfhir.views import Source

    with Source.from_path(nd) as source:
        return source.files_for(rtype)


def _peak_mb(pid: int | str = "self") -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except OSError:  # a thread that ended meanwhile
            continue
        for child in children:
            out += [int(child), *_descendants(int(child))]
    return out


def _make_cohort(patients: int, seed: int, cache: Path) -> Path:
    root = cache / f"p{patients}-s{seed}"
    nd = root / "nd"
    if (nd / "Observation.ndjson").exists():
        return nd
    run = [sys.executable, "-m", "iopfhir"]
    eps = root / "eps"
    synth = [*run, "synth", "--patients", str(patients), "--seed", str(seed), "-o", str(eps)]
    subprocess.run(synth, check=True, capture_output=True)
    subprocess.run([*run, "convert", str(eps), "--format", "ndjson", "-o", str(nd)],
                   check=True, capture_output=True)  # fmt: skip
    return nd


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {code: n for code, n in counts.items() if n}


def _figures(outcomes: Any) -> dict[str, Any]:
    """Every measure's populations and score, overall and per stratum (the loop's shape)."""
    out: dict[str, Any] = {}
    for m in outcomes.measures:
        summary = outcomes.summary(m.id)
        strata = {
            name: {
                value: {"populations": _nonzero(x.populations), "score": x.score}
                for value, x in values.items()
            }
            for name, values in summary.strata.items()
            if values
        }
        out[m.id] = {
            "populations": _nonzero(summary.overall.populations),
            "score": summary.overall.score,
            "strata": strata,
        }
    return out


def _with_figures(outcomes: Any) -> tuple[Any, dict[str, Any]]:
    return outcomes, _figures(outcomes)


def _timed(fn: Any) -> tuple[Any, float, float]:
    """``fn()``, its wall-clock seconds and the process's CPU seconds (every thread)."""
    t, c = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - t, time.process_time() - c


def _variant(name: str, nd: Path, memory_limit: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"variant": name}
    types = _types()
    if name in ("duckdb", "duckdb-infer", "spark"):
        from iopfhir.outcomes import compute
        from iopfhir.outcomes.facts import VIEWS
        from iopfhir.views import Source, get_engine, iop_view

        options: dict[str, Any] = {}
        if name != "spark" and memory_limit:
            options["memory_limit"] = memory_limit
        if name == "duckdb-infer":
            options["types"] = "infer"
        engine_name = "spark" if name == "spark" else "duckdb"
        engine, out["start_s"], _ = _timed(lambda: get_engine(engine_name, **options))
        with Source.from_path(nd) as source:
            if name == "duckdb-infer":  # the schema inference of the 1st run, timed apart
                wanted = [(iop_view(v).resource, source) for v in VIEWS.values()]
                _, out["schema_s"], out["schema_cpu_s"] = _timed(
                    lambda: engine.prepare_schemas(wanted)
                )
            for run in (1, 2):  # the figures made inside the clock, as the loop makes them
                (outcomes, figures), out[f"run{run}_s"], out[f"cpu{run}_s"] = _timed(
                    lambda: _with_figures(compute(source, engine))
                )
            # each subject's result per measure (the individual MeasureReports' rows) is
            # built when first read: timed apart
            _, out["subjects_s"], _ = _timed(
                lambda: sum(len(rows) for rows in outcomes.subjects.values())
            )
        if name == "duckdb-infer":
            out["run1_s"] += out["schema_s"]
            out["cpu1_s"] += out["schema_cpu_s"]
        out["figures"] = figures
        out["episodes"] = len(outcomes.subjects["iop-attendance"])
        if name == "spark":
            out.pop("cpu1_s"), out.pop("cpu2_s")  # the work is the JVM's, not counted here
            peaks = []
            for p in [os.getpid(), *_descendants(os.getpid())]:
                try:
                    peaks.append(_peak_mb(p))
                except (OSError, StopIteration):  # gone, or a zombie without memory figures
                    continue
            out["peak_mb"] = max(peaks)
    elif name == "duckdb-scan":
        import duckdb

        con = duckdb.connect()

        def scan() -> int:
            total = 0
            for rtype in types:
                files = [str(p) for p in _files(nd, rtype)]
                if files:
                    total += con.sql(
                        f"SELECT count(*), count(DISTINCT id) FROM read_json({files}, "
                        "format='newline_delimited', "
                        "columns={'resourceType': 'VARCHAR', 'id': 'VARCHAR'})"
                    ).fetchall()[0][0]
            return total

        for run in (1, 2):
            out["resources"], out[f"run{run}_s"], out[f"cpu{run}_s"] = _timed(scan)
    else:
        import orjson

        sys.path.insert(0, str(ROOT))
        from tests.outcomes.reference import compute as reference

        def resources() -> Any:
            # each file once (a file of several resource types is listed for each)
            for path in dict.fromkeys(p for rtype in types for p in _files(nd, rtype)):
                with path.open("rb") as fh:
                    for line in fh:
                        yield orjson.loads(line)

        ref, out["run1_s"], out["cpu1_s"] = _timed(lambda: reference(resources()))
        out["figures"] = {
            k: {"populations": _nonzero(v["populations"]), "score": v["score"],
                "strata": v["strata"]}
            for k, v in ref.items()
        }  # fmt: skip
    out.setdefault("peak_mb", _peak_mb())
    return out


def _child(name: str, nd: Path, memory_limit: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", name, "--data", str(nd), "--memory-limit",
         memory_limit],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        return {"variant": name, "failed": last[:160]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every number over the runs (the rest from the first run)."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, float):
            out[key] = statistics.median(r[key] for r in runs)
    out["runs"] = len(runs)
    return out


def _agree(r: dict[str, Any], other: dict[str, Any], name: str) -> str:
    """Whether two variants' figures agree (every measure, overall and per stratum)."""
    a, b = r["figures"], other.get("figures")
    if b is None:
        return f"; not compared with {name}"
    if a == b:
        return f"; same figures as {name} ({len(a)} measures, overall and per stratum)"
    differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return f"; FIGURES DIFFER from {name}: {', '.join(differ[:4])}"


def _cell(r: dict[str, Any], key: str) -> str:
    return f"{r[key]:7.2f}" if key in r else f"{'-':>7}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per variant")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/iopfhir-bench-outcomes"))
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument(
        "--only", nargs="+",
        help="variants to run besides the scan and duckdb (python, spark, duckdb-infer)",
    )  # fmt: skip
    parser.add_argument("--spark-repeat", type=int, default=1, help="Spark runs (slow)")
    parser.add_argument(
        "--memory-limit", default="768MB",
        help="DuckDB memory_limit for the measures ('' for DuckDB's default, 80%% of RAM)",
    )  # fmt: skip
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_variant(args.child, args.data, args.memory_limit)))
        return 0
    variants = ["duckdb-scan", "duckdb", "python", "duckdb-infer"]
    variants += [] if args.no_spark else ["spark"]
    keep = ("duckdb-scan", "duckdb", *(args.only or ("python", "spark")))
    variants = [v for v in variants if v in keep]  # the scan and duckdb always run
    limit = args.memory_limit or "DuckDB's default"
    print(f"medians of {args.repeat} runs (Spark {args.spark_repeat}); s: wall-clock seconds, "
          f"cpu: CPU seconds of the process; DuckDB memory_limit {limit}")  # fmt: skip
    print(f"{'patients':>8} {'variant':<12} {'1st s':>7} {'cpu':>7} {'2nd s':>7} {'cpu':>7} "
          f"{'peak MB':>8}  note")  # fmt: skip
    for patients in args.patients:
        nd = _make_cohort(patients, args.seed, args.cache)
        size = sum(p.stat().st_size for t in _types() for p in _files(nd, t)) / 1e6
        results: dict[str, dict[str, Any]] = {}
        # the variants' runs taken in turns (scan, duckdb, loop, scan, ...): a machine
        # whose speed drifts (a shared host) slows each alike, not one variant's runs
        rounds: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        for _ in range(args.repeat):
            for v in variants:
                if v != "spark":
                    rounds[v].append(_child(v, nd, args.memory_limit))
        for v in variants:
            runs = rounds[v] or [_child(v, nd, args.memory_limit) for _ in range(args.spark_repeat)]
            failed = [r for r in runs if "failed" in r]
            if failed:
                print(f"{patients:>8} {v:<12} FAILED: {failed[0]['failed']}", flush=True)
                continue
            r = results[v] = _median_of(runs)
            scan, duck = results["duckdb-scan"], results.get("duckdb", {})
            note = f"{r['run1_s'] / scan['run1_s']:.1f}x the scan"
            if "cpu1_s" in r:
                note += f" (cpu {r['cpu1_s'] / scan['cpu1_s']:.1f}x)"
            if "run2_s" in r and v != "duckdb-scan":
                note += f", 2nd run {r['run2_s'] / scan['run2_s']:.1f}x"
            if "schema_s" in r:
                note += f"; schema inference {r['schema_s']:.1f} s (cpu {r['schema_cpu_s']:.1f})"
            if v == "duckdb-scan":
                note = f"the floor: {r['resources']:,} resources, {size:.0f} MB"
            elif v == "duckdb":
                ok = "met" if r["run1_s"] <= GOAL_SCAN * scan["run1_s"] else "NOT met"
                note += f" (goal <= {GOAL_SCAN:.0f}x: {ok}); {r['episodes']:,} episodes"
                note += f"; subjects built on first read {r['subjects_s']:.2f} s"
                note += f"; peak {'under' if r['peak_mb'] < 1000 else 'NOT under'} 1 GB"
            elif v == "duckdb-infer":
                note += _agree(r, duck, "duckdb")
            elif v == "python":
                speed = r["run1_s"] / duck["run1_s"]
                ok = "met" if speed >= GOAL_LOOP else "NOT met"
                note += (
                    f"; DuckDB is {speed:.1f}x as fast on its 1st run (goal >= "
                    f"{GOAL_LOOP:.0f}x: {ok}; cpu {r['cpu1_s'] / duck['cpu1_s']:.1f}x), "
                    f"{r['run1_s'] / duck['run2_s']:.1f}x on its 2nd "
                    f"(cpu {r['cpu1_s'] / duck['cpu2_s']:.1f}x)"
                )
                note += _agree(r, duck, "duckdb")
            elif v == "spark":
                note += f"; session start {r['start_s']:.0f} s"
                note += _agree(
                    r, results.get("python", duck), "the loop" if "python" in results else "duckdb"
                )
            print(f"{patients:>8} {v:<12} {r['run1_s']:7.2f} {_cell(r, 'cpu1_s')} "
                  f"{_cell(r, 'run2_s')} {_cell(r, 'cpu2_s')} {r['peak_mb']:8.0f}  {note}",
                  flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
