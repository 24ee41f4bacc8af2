"""Import rate and peak memory of ``iopfhir import --summary`` on NDJSON cohorts of growing
size, beside a ``fhir.resources`` parse of the same lines.

For every size (default 250, 1,000 and 4,000 patients) a synthetic cohort is generated
(``iopfhir synth --seed 7`` then ``iopfhir convert --format ndjson``: one file per type)
and cached under ``$TMPDIR/iopfhir-bench-import/seed<S>-<N>`` (generating 4,000 patients
takes minutes; delete the folder to regenerate). Each figure is measured in a fresh Python
process (the import ``--repeat`` times, default 3: the run of median CPU time is shown, as
one run on a shared machine may be 10 % off), which reports its CPU time
(``time.process_time``) and peak resident memory (``VmHWM`` of ``/proc/self/status``):

- ``iopfhir import``: ``iopfhir import DIR --summary`` run in the child process (the
  library, and the modules of the command line's parser, loaded before the clock starts;
  the parser itself is built again inside it), that is the streaming reader
  (``read_fhir_stream``) and the summary of counts. Beside the rate, its CPU time per
  resource in microseconds (``us/res``: less noisy than a rate on a busy machine), and
  that time split by stage: ``read`` (pass 1: parse, check, store), ``group`` (references
  to patients resolved) and ``map`` (pass 2: each patient loaded and mapped);
- ``fhir.resources``: every line parsed into its ``fhir.resources.R4B`` model
  (``model_validate_json``), one at a time, nothing kept: the obvious alternative, which
  checks the structure but maps nothing.

Acceptance (issue 11), printed at the end: at least 20,000 resources/s CPU at every size,
the rate at the largest size within 20 % of the rate at the smallest, and peak memory at
the largest size under twice that at the smallest. Exit status 1 when one fails.

    .venv/bin/python benchmarks/bench_import.py
    .venv/bin/python benchmarks/bench_import.py --patients 100 400 --skip-alternative
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

#: goals from the issue
MIN_RATE = 20_000
RATE_DRIFT = 0.20
MEMORY_GROWTH = 2.0


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: the best there is

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(job: str, folder: str) -> None:
    """Run one job in this fresh process; print one JSON line of figures."""
    if job == "import":
        import contextlib
        import importlib
        import io

        from iopfhir.cli import build_parser, main

        for module in ("iopfhir.fhir.read", "iopfhir.fhir.summary", "iopfhir.cli.import_"):
            importlib.import_module(module)  # before the clock: the rate is per resource
        # and the modules of every subcommand, which building the parser imports (with no
        # bytecode cache, PYTHONDONTWRITEBYTECODE, compiling them is ~20 ms of each run)
        build_parser()
        stages = _time_stages()

        start = time.process_time()
        with contextlib.redirect_stdout(io.StringIO()) as out:
            code = main(["import", folder, "--summary"])
        seconds = time.process_time() - start
        counts = json.loads(out.getvalue())
        assert code == 0, code
        figures = {"patients": counts["patients"], "sessions": counts["sessions"], **stages}
    else:
        from fhir.resources.R4B import get_fhir_model_class

        start = time.process_time()
        parsed = 0
        for path in sorted(Path(folder).glob("*.ndjson")):
            model = get_fhir_model_class(path.stem)
            with path.open("rb") as handle:
                for line in handle:
                    if line.strip():
                        model.model_validate_json(line)
                        parsed += 1
        seconds = time.process_time() - start
        figures = {"parsed": parsed}
    print(json.dumps({"cpu": seconds, "peak_mb": _peak_mb(), **figures}))


#: the streaming reader's stages: pass 1 (read, check, store), grouping, pass 2 (map)
STAGES = {"_pass1": "read", "_group": "group", "_read_group": "map"}


def _time_stages() -> dict[str, float]:
    """CPU seconds spent in each of :data:`STAGES` (filled as the import runs): each stage
    function of ``iopfhir.fhir.read.stream`` is wrapped in a timer (a few calls per
    patient, so the wrapping costs nothing measurable)."""
    from iopfhir.fhir.read import stream

    spent = dict.fromkeys(STAGES.values(), 0.0)

    def timed(name: str, label: str) -> None:
        inner = getattr(stream, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            start = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[label] += time.process_time() - start

        setattr(stream, name, wrapper)

    for name, label in STAGES.items():
        timed(name, label)
    return spent


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run of median CPU time (its stages and peak memory with it: one real run)."""
    return sorted(runs, key=lambda r: r["cpu"])[len(runs) // 2]


def _run(job: str, folder: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", job, str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def _cohort(n: int, seed: int, cache: Path) -> Path:
    """The NDJSON folder of ``n`` synthetic patients (generated once, then cached)."""
    home = cache / f"seed{seed}-{n}"
    ndjson = home / "ndjson"
    if (home / "done").exists():
        return ndjson
    home.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "iopfhir"]
    episodes = home / "episodes"
    print(f"generating {n} patients (cached in {home}) ...", file=sys.stderr)
    synth = ["synth", "--patients", str(n), "--seed", str(seed), "-o", str(episodes)]
    for step in (synth, ["convert", str(episodes), "--format", "ndjson", "-o", str(ndjson)]):
        done = subprocess.run([*cli, *step], capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{step[0]} failed: {done.stderr.strip()}")
    (home / "done").write_text("ok\n")
    return ndjson


def _lines(folder: Path) -> int:
    total = 0
    for path in folder.glob("*.ndjson"):
        with path.open("rb") as handle:
            total += sum(1 for line in handle if line.strip())
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[250, 1000, 4000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-alternative", action="store_true", help="no fhir.resources run")
    parser.add_argument(
        "--repeat", type=int, default=3, help="import runs per size (fresh processes; median)"
    )
    parser.add_argument(
        "--cache",
        default=os.path.join(tempfile.gettempdir(), "iopfhir-bench-import"),
        help="where generated cohorts are kept",
    )
    args = parser.parse_args()
    sizes = sorted(args.patients)
    rows = []
    head = (
        f"{'patients':>8} {'resources':>10} | {'import CPU s':>12} {'res/s':>8} {'us/res':>6}"
        f" {'read':>5} {'group':>5} {'map':>5} {'peak MB':>8}"
        f" | {'fhir.resources CPU s':>20} {'res/s':>7} {'peak MB':>8}"
    )
    print(head)
    print("-" * len(head))
    for n in sizes:
        folder = _cohort(n, args.seed, Path(args.cache))
        lines = _lines(folder)
        ours = _median([_run("import", folder) for _ in range(args.repeat)])
        rate = lines / ours["cpu"]
        alt = "" if args.skip_alternative else None
        if alt is None:
            theirs = _run("fhir.resources", folder)
            alt = f"{theirs['cpu']:>20.2f} {lines / theirs['cpu']:>7.0f} {theirs['peak_mb']:>8.0f}"
        per = [ours[k] / lines * 1e6 for k in ("cpu", *STAGES.values())]
        mine = (
            f"{ours['cpu']:>12.2f} {rate:>8.0f} {per[0]:>6.1f}"
            f" {per[1]:>5.1f} {per[2]:>5.1f} {per[3]:>5.1f} {ours['peak_mb']:>8.0f}"
        )
        print(f"{n:>8} {lines:>10} | {mine} | {alt}", flush=True)
        rows.append((n, rate, ours["peak_mb"]))
    ok = True
    low = min(r[1] for r in rows)
    first, last = rows[0], rows[-1]
    checks = [
        (f"rate >= {MIN_RATE:,} resources/s at every size (lowest {low:,.0f})", low >= MIN_RATE),
        (
            f"rate at {last[0]} within {RATE_DRIFT:.0%} of the rate at {first[0]} "
            f"({last[1] / first[1] - 1:+.1%})",
            last[1] >= first[1] * (1 - RATE_DRIFT),
        ),
        (
            f"peak memory at {last[0]} < {MEMORY_GROWTH:g}x that at {first[0]} "
            f"({last[2] / first[2]:.2f}x)",
            last[2] < first[2] * MEMORY_GROWTH,
        ),
    ]
    for text, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {text}")
        ok = ok and passed
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
