"""Benchmark: every outcome measure over a synthetic cohort's NDJSON.

Run:  python benchmarks/bench_outcomes.py [--patients 1000 10000] [--seed 7]
                                          [--cache DIR] [--no-spark]

For each cohort size (generated once with ``iopfhir synth`` + ``convert --format ndjson``
and cached under ``--cache``, default ``/tmp/iopfhir-bench-outcomes``), each variant in a
fresh process so that peak memory is its own:

- ``duckdb``: every measure (:func:`iopfhir.outcomes.compute`), first run (schema inference
  over every line + the queries) and a second run on the same engine;
- ``spark``: the same on Spark ``local[*]`` (session start reported apart); peak memory is
  the JVM's resident set, read from ``/proc`` after the runs (the Python side is small);
- ``duckdb-scan``: a bare DuckDB scan of the same files (one JSON parse of every line of the
  resource types the measures read, ``resourceType`` and ``id`` only): the floor;
- ``python``: a plain Python loop (orjson, ``tests/outcomes/reference.py``) computing the
  same overall figures; the benchmark checks that they equal DuckDB's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TYPES = ("Patient", "Encounter", "Observation", "EpisodeOfCare", "ServiceRequest", "Appointment")


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


def _overall(outcomes: Any) -> dict[str, Any]:
    return {m.id: outcomes.summary(m.id).overall.score for m in outcomes.measures}


def _variant(name: str, nd: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"variant": name}
    if name in ("duckdb", "spark"):
        from iopfhir.outcomes import compute
        from iopfhir.views import Source, get_engine

        t = time.perf_counter()
        engine = get_engine(name)
        out["start_s"] = time.perf_counter() - t
        with Source.from_path(nd) as source:
            for run in (1, 2):
                t = time.perf_counter()
                outcomes = compute(source, engine)
                out[f"run{run}_s"] = time.perf_counter() - t
        out["scores"] = _overall(outcomes)
        out["episodes"] = len(outcomes.subjects["iop-attendance"])
        if name == "spark":
            peaks = []
            for p in [os.getpid(), *_descendants(os.getpid())]:
                try:
                    peaks.append(_peak_mb(p))
                except OSError:
                    continue
            out["peak_mb"] = max(peaks)
    elif name == "duckdb-scan":
        import duckdb

        con = duckdb.connect()
        for run in (1, 2):
            t = time.perf_counter()
            total = 0
            for rtype in TYPES:
                files = sorted(str(p) for p in nd.glob(f"{rtype}*.ndjson"))
                if files:
                    total += con.sql(
                        f"SELECT count(*), count(DISTINCT id) FROM read_json({files}, "
                        "format='newline_delimited', "
                        "columns={'resourceType': 'VARCHAR', 'id': 'VARCHAR'})"
                    ).fetchall()[0][0]
            out[f"run{run}_s"] = time.perf_counter() - t
        out["resources"] = total
    else:
        import orjson

        sys.path.insert(0, str(ROOT))
        from tests.outcomes.reference import compute as reference

        def resources() -> Any:
            for rtype in TYPES:
                for path in sorted(nd.glob(f"{rtype}*.ndjson")):
                    with path.open("rb") as fh:
                        for line in fh:
                            yield orjson.loads(line)

        t = time.perf_counter()
        ref = reference(resources())
        out["run1_s"] = time.perf_counter() - t
        out["scores"] = {k: v["score"] for k, v in ref.items()}
    out.setdefault("peak_mb", _peak_mb())
    return out


def _child(name: str, nd: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", name, "--data", str(nd)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/iopfhir-bench-outcomes"))
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_variant(args.child, args.data)))
        return 0
    variants = ["duckdb-scan", "duckdb", "python"] + ([] if args.no_spark else ["spark"])
    print(f"{'patients':>8} {'variant':<12} {'1st run s':>9} {'2nd run s':>9} "
          f"{'peak MB':>8}  note")  # fmt: skip
    for patients in args.patients:
        nd = _make_cohort(patients, args.seed, args.cache)
        size = sum(p.stat().st_size for p in nd.glob("*.ndjson")) / 1e6
        results = {v: _child(v, nd) for v in variants}
        scan = min(results["duckdb-scan"]["run1_s"], results["duckdb-scan"]["run2_s"])
        duck_best = min(results["duckdb"]["run1_s"], results["duckdb"]["run2_s"])
        for v in variants:
            r = results[v]
            best = min(r.get("run1_s", 1e9), r.get("run2_s", 1e9))
            note = f"{best / scan:.1f}x the scan"
            if v == "duckdb-scan":
                note = f"the floor: {r['resources']:,} resources, {size:.0f} MB"
            elif v == "duckdb":
                note += f"; {r['episodes']:,} episodes"
            elif v == "python":
                note += f"; {best / duck_best:.2f}x the time of DuckDB"
                same = r["scores"] == {k: results["duckdb"]["scores"][k] for k in r["scores"]}
                note += "; same figures" if same else "; FIGURES DIFFER"
            elif v == "spark":
                same = r["scores"] == results["duckdb"]["scores"]
                note += f"; session start {r['start_s']:.0f} s"
                note += "; same figures" if same else "; FIGURES DIFFER"
            second = f"{r['run2_s']:9.2f}" if "run2_s" in r else f"{'-':>9}"
            print(f"{patients:>8} {v:<12} {r['run1_s']:9.2f} {second} {r['peak_mb']:8.0f}  {note}",
                  flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
