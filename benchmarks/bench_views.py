"""Benchmark: one ViewDefinition (iop-observation-score) over a synthetic cohort's NDJSON.

Run:  python benchmarks/bench_views.py [--patients 1000] [--seed 7] [--data DIR] [--no-spark]

Prints, for the same Observation NDJSON in the same run (each variant in a fresh process,
so peak memory is its own):
- ``duckdb``: the view compiled to DuckDB SQL, first run (the files read with the R4 types
  of the elements the view uses: nothing inferred) and a second run on the same engine;
- ``spark``: the same view on Spark ``local[*]`` (session start reported apart), first and
  second run; peak memory is the JVM's (the Python side is small);
- ``duckdb-scan``: a bare DuckDB scan of the same files (one JSON parse of every line,
  reading ``resourceType`` and ``id``: the floor any DuckDB view pays), twice (the first run
  also warms the file cache). Measured aside: ``columns={'id': ...}`` alone ran 5x slower
  here than with ``resourceType`` added, so the floor takes the faster form;
- ``python``: a plain Python loop (orjson) computing the same rows.
Rows/s counts Observation resources read per second, from each variant's best run; the
ratio column compares that best run with the scan's. Every variant must produce the same
number of rows (checked here); the rows themselves are checked by tests/views.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

VIEW = "iop-observation-score"


def _peak_mb(pid: int | str = "self") -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def _make_cohort(patients: int, seed: int, root: Path) -> Path:
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


def _python_rows(path: Path) -> int:
    import orjson

    rows = []
    with path.open("rb") as fh:
        for line in fh:
            obs = orjson.loads(line)
            q = obs.get("valueQuantity")
            if not q or q.get("value") is None:
                continue
            coding = obs.get("code", {}).get("coding", [{}])
            loinc = [c.get("code") for c in coding if c.get("system") == "http://loinc.org"]
            subject = (obs.get("subject") or {}).get("reference")
            encounter = (obs.get("encounter") or {}).get("reference")
            rows.append((
                f"Observation/{obs['id']}", subject, encounter, obs.get("status"),
                coding[0].get("system"), coding[0].get("code"), loinc[0] if loinc else None,
                float(q["value"]), q.get("code"), obs.get("effectiveDateTime"),
            ))  # fmt: skip
    return len(rows)


def _child(variant: str, data: str) -> None:
    """Run one variant in this process; print a JSON line."""
    from iopfhir.views import Source, get_engine, iop_view

    nd = Path(data)
    obs = nd / "Observation.ndjson"
    out: dict[str, Any] = {"variant": variant}
    if variant == "python":
        t = time.perf_counter()
        out["rows"] = _python_rows(obs)
        out["seconds"] = [time.perf_counter() - t]
        out["peak_mb"] = _peak_mb()
    elif variant == "duckdb-scan":
        import duckdb

        con = duckdb.connect()
        times = []
        for _ in range(2):
            t = time.perf_counter()
            n = con.sql(
                f"SELECT count(id) FROM read_json('{obs}', format='newline_delimited', "
                "columns={'resourceType': 'VARCHAR', 'id': 'VARCHAR'}) "
                "WHERE resourceType = 'Observation'"
            ).fetchall()[0]
            times.append(time.perf_counter() - t)
        out["seconds"] = times
        out["rows"] = n[0]
        out["peak_mb"] = _peak_mb()
    else:
        t = time.perf_counter()
        engine: Any = get_engine(variant)
        out["start_seconds"] = time.perf_counter() - t
        source = Source({"Observation": [obs]})
        times = []
        for _ in range(2):
            t = time.perf_counter()
            result = engine.run(iop_view(VIEW), source)
            times.append(time.perf_counter() - t)
        out["seconds"] = times
        out["rows"] = len(result)
        if variant == "spark":
            pid = engine.session.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
            out["peak_mb"] = _peak_mb(pid)
        else:
            out["peak_mb"] = _peak_mb()
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", help="folder for the cohort (kept, reused when present)")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    tmp = None
    if args.data:
        root = Path(args.data)
        root.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory()
        root = Path(tmp.name)
    t = time.perf_counter()
    nd = _make_cohort(args.patients, args.seed, root)
    obs = nd / "Observation.ndjson"
    with obs.open("rb") as fh:
        resources = sum(1 for _ in fh)
    size_mb = obs.stat().st_size / 1e6
    print(f"cohort: {args.patients} patients, {resources} Observations ({size_mb:.0f} MB) "
          f"ready in {time.perf_counter() - t:.1f} s; view {VIEW}")  # fmt: skip
    variants = ["duckdb-scan", "duckdb", "python"] + ([] if args.no_spark else ["spark"])
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")
    results = {}
    for variant in variants:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", variant, str(nd)],
            check=False, capture_output=True, text=True, env=env,
        )  # fmt: skip
        if proc.returncode:
            raise SystemExit(f"{variant} failed:\n{proc.stderr[-2000:]}")
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{'variant':<12} {'rows':>7} {'1st run s':>10} {'2nd run s':>10} "
          f"{'Obs/s (best)':>13} {'peak MB':>8}  note")  # fmt: skip
    floor = min(results["duckdb-scan"]["seconds"])
    for variant, r in results.items():
        secs = r["seconds"]
        best = min(secs)
        second = f"{secs[1]:.2f}" if len(secs) > 1 else "-"
        note = f"{best / floor:.1f}x the scan" if variant != "duckdb-scan" else "the floor"
        if "start_seconds" in r and r["start_seconds"] > 1:
            note += f"; session start {r['start_seconds']:.0f} s"
        print(f"{variant:<12} {r['rows']:>7} {secs[0]:>10.2f} {second:>10} "
              f"{resources / best:>13,.0f} {r['peak_mb']:>8.0f}  {note}")  # fmt: skip
    view_rows = {v: r["rows"] for v, r in results.items() if v != "duckdb-scan"}
    if len(set(view_rows.values())) != 1:
        raise SystemExit(f"row counts differ: {view_rows}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
