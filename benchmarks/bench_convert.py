"""Benchmark: a synthetic cohort → FHIR R4 NDJSON, beside the obvious alternatives.

Run:  python benchmarks/bench_convert.py [--patients 2000] [--seed 1]

Prints, for the same cohort in the same run:
- iopfhir ``convert`` end to end (episode files → checked input → NDJSON files), and the
  mapping alone (domain episodes → NDJSON lines), resources per second on one core;
- building the same resources through ``fhir.resources.R4B`` models (validate each
  resource dict into its model and serialise it), resources per second;
- a bare ``json`` round trip (``json.loads`` + ``json.dumps``) of every emitted line;
- peak resident memory of ``convert`` for growing cohorts (each in a fresh process), to
  show memory stays flat as the cohort grows.
Correctness of every emitted resource is proven by the tests, not here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _write_cohort(n: int, seed: int, folder: Path) -> None:
    from iopfhir.domain import dump_episode
    from iopfhir.synth import synth_episodes

    for i, episode in enumerate(synth_episodes(n, seed)):
        (folder / f"episode-{i:05d}.json").write_text(json.dumps(dump_episode(episode)))


def _convert(folder: Path, out: Path) -> tuple[int, float]:
    from iopfhir.domain.files import iter_episodes
    from iopfhir.fhir.ndjson import write_ndjson

    start = time.process_time()
    counts = write_ndjson(iter_episodes(folder), out)
    return sum(counts.values()), time.process_time() - start


def _child(folder: str) -> None:
    """Run convert in this fresh process and print resources and peak RSS (MB)."""
    with tempfile.TemporaryDirectory() as out:
        n, _ = _convert(Path(folder), Path(out))
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent
    status = Path("/proc/self/status").read_text()
    peak = (
        next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        / 1024
    )
    print(json.dumps({"resources": n, "peak_mb": round(peak, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return

    from iopfhir.fhir.ndjson import ndjson_lines
    from iopfhir.synth import synth_episodes

    print(f"cohort: {args.patients} synthetic patients, seed {args.seed}")
    with tempfile.TemporaryDirectory() as tmp:
        cohort = Path(tmp) / "cohort"
        cohort.mkdir()
        t0 = time.perf_counter()
        _write_cohort(args.patients, args.seed, cohort)
        print(f"  wrote the episode files in {time.perf_counter() - t0:.1f} s")

        n, cpu = _convert(cohort, Path(tmp) / "ndjson")
        print(
            f"iopfhir convert (files -> checked input -> NDJSON): {n:,} resources in "
            f"{cpu:.2f} s CPU = {n / cpu:,.0f} resources/s"
        )

        episodes = list(synth_episodes(args.patients, args.seed))
        start = time.process_time()
        lines = [line for _, line in ndjson_lines(episodes)]
        cpu_map = time.process_time() - start
        print(
            f"iopfhir mapping only (episodes -> NDJSON lines):    {len(lines):,} resources in "
            f"{cpu_map:.2f} s CPU = {len(lines) / cpu_map:,.0f} resources/s"
        )

        start = time.process_time()
        for line in lines:
            json.dumps(json.loads(line))
        cpu_json = time.process_time() - start
        print(
            f"bare json round trip of the output:                 {len(lines):,} resources in "
            f"{cpu_json:.2f} s CPU = {len(lines) / cpu_json:,.0f} resources/s"
        )

        try:
            from fhir.resources.R4B import get_fhir_model_class
        except ImportError:
            print("fhir.resources not installed: pip install -e '.[bench]' for that column")
        else:
            dicts = [json.loads(line) for line in lines]
            classes = {d["resourceType"]: get_fhir_model_class(d["resourceType"]) for d in dicts}
            start = time.process_time()
            for d in dicts:
                classes[d["resourceType"]].model_validate(d).model_dump_json()
            cpu_r4b = time.process_time() - start
            print(
                f"fhir.resources R4B models (validate + dump):        {len(dicts):,} resources "
                f"in {cpu_r4b:.2f} s CPU = {len(dicts) / cpu_r4b:,.0f} resources/s"
            )

        print("peak memory of convert as the cohort grows (fresh process each):")
        for size in sorted({max(1, args.patients // 4), max(1, args.patients // 2), args.patients}):
            part = Path(tmp) / f"part-{size}"
            part.mkdir()
            for f in sorted(cohort.iterdir())[:size]:
                (part / f.name).symlink_to(f)
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(part)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            figures = json.loads(out)
            print(
                f"  {size:>6} patients: {figures['resources']:>9,} resources, "
                f"peak RSS {figures['peak_mb']} MB"
            )


if __name__ == "__main__":
    main()
