"""Peak memory of reading episode files and writing transaction Bundles as the cohort grows,
and ``validate`` time as an NDJSON file grows; each beside the obvious alternative.

Memory: a synthetic cohort (``iopfhir synth``) of the largest size is written once as JSON
and once as YAML episode files; for every size (the first N files) a fresh Python process
runs one job and reports its peak resident memory (``VmHWM`` of ``/proc/self/status``;
``ru_maxrss`` would carry the forking parent's peak over on Linux):

- ``read json`` / ``read yaml``: every episode of the folder read and checked, one at a time
  (``iter_episodes``);
- ``one file``: the same episodes in one file (``{"episodes": [...]}``), read item by item
  (``iter_episodes``: JSON scanned for item bounds, YAML composed node by node) beside the
  alternative, the whole document parsed at once and then checked (``read_structured``);
- ``bundle (stream)``: ``write_bundle`` of those episodes into a file, entry by entry (what
  ``iopfhir convert`` does);
- ``bundle (dict)``: the alternative, ``dumps(transaction_bundle(episodes))``: the whole
  Bundle built in memory, then serialised.

Validate: NDJSON files of 2,000 to 20,000 lines (resources of a synthetic cohort), each
validated in a fresh process by ``iopfhir validate --format json`` (streaming report,
output to ``/dev/null``) and by a plain loop of ``Validator().validate`` collecting the
reports into a list. Seconds of CPU and peak memory for both; a linear run keeps the
seconds per 1,000 lines flat.

Figures only, no assertions::

    .venv/bin/python benchmarks/bench_memory.py                      # 250, 1000, 3000
    .venv/bin/python benchmarks/bench_memory.py --patients 100 400 --lines 1000 2000
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


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: the best there is

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(job: str, source: str, target: str) -> None:
    """Run one job in this fresh process; print a JSON line of figures."""
    start = time.process_time()
    figures: dict[str, float] = {}
    if job == "read":
        from iopfhir.domain.files import iter_episodes

        figures["episodes"] = sum(1 for _ in iter_episodes(source))
    elif job == "read-whole":
        from iopfhir.domain.files import parse_episodes, read_structured

        figures["episodes"] = len(parse_episodes(read_structured(Path(source)), source=source))
    elif job == "bundle-stream":
        from iopfhir.domain.files import iter_episodes
        from iopfhir.fhir.bundle import write_bundle

        with open(target, "wb") as handle:
            figures["entries"] = write_bundle(iter_episodes(source), handle).entries
    elif job == "bundle-dict":
        from iopfhir.domain.files import iter_episodes
        from iopfhir.fhir.bundle import dumps, transaction_bundle

        bundle = transaction_bundle(list(iter_episodes(source)))
        Path(target).write_bytes(dumps(bundle))
        figures["entries"] = len(bundle["entry"])
    elif job == "validate-cli":
        from iopfhir.cli import main

        with open(os.devnull, "w") as sink:
            stdout, sys.stdout = sys.stdout, sink
            try:
                figures["exit"] = main(["validate", source, "--format", "json"])
            finally:
                sys.stdout = stdout
    elif job == "validate-loop":
        from iopfhir.validation import Validator

        validator = Validator()
        reports = []
        with open(source, "rb") as handle:
            for line in handle:
                if line.strip():
                    reports.append(validator.validate(json.loads(line)))
        figures["issues"] = sum(len(r.issues) for r in reports)
    else:
        raise SystemExit(f"unknown job {job}")
    figures["cpu_s"] = round(time.process_time() - start, 2)
    figures["peak_mb"] = round(_peak_mb(), 1)
    print(json.dumps(figures))


def _run(job: str, source: Path, target: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", job, str(source), str(target)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def _synth(n: int, folder: Path, fmt: str) -> None:
    cmd = [sys.executable, "-m", "iopfhir", "synth", "--patients", str(n), "--seed", "3"]
    subprocess.run([*cmd, "--format", fmt, "-o", str(folder)], check=True, capture_output=True)


def _subset(folder: Path, n: int, into: Path) -> Path:
    """A folder holding the first ``n`` episode files of ``folder`` (symlinks)."""
    into.mkdir()
    for path in sorted(p for p in folder.iterdir() if p.is_file())[:n]:
        (into / path.name).symlink_to(path)
    return into


def _one_file(folder: Path, n: int, fmt: str, target: Path) -> Path:
    """The first ``n`` episode files of ``folder`` as one file of episodes."""
    import yaml

    from iopfhir.domain.files import read_structured

    files = sorted(p for p in folder.iterdir() if p.is_file())[:n]
    with target.open("w", encoding="utf-8") as out:
        if fmt == "json":
            out.write('{"episodes": [\n')
            for i, path in enumerate(files):
                out.write((",\n" if i else "") + json.dumps(read_structured(path)))
            out.write("\n]}\n")
        else:
            out.write("episodes:\n")
            dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
            for path in files:
                out.write(yaml.dump([read_structured(path)], Dumper=dumper, sort_keys=False))
    return target


def _single_files(sizes: list[int], tmp: Path) -> None:
    print("peak memory (MB) and CPU s of one file holding the cohort, item by item vs whole:")
    head = "  {:>8}  {:>9}  {:>22}  {:>22}"
    print(head.format("patients", "format", "item by item", "whole document"))
    for n in sorted(sizes):
        for fmt in ("json", "yaml"):
            path = _one_file(tmp / f"cohort-{fmt}", n, fmt, tmp / f"one-{n}.{fmt}")
            cells = []
            for job in ("read", "read-whole"):
                f = _run(job, path, tmp / "none")
                cells.append(f"{f['peak_mb']:.1f} MB {f['cpu_s']:.1f} s")
            size = f"{path.stat().st_size / 1e6:.0f} MB {fmt}"
            print(head.format(n, size, *cells))
            path.unlink()


def _memory(sizes: list[int], tmp: Path) -> None:
    largest = max(sizes)
    t0 = time.perf_counter()
    for fmt in ("json", "yaml"):
        _synth(largest, tmp / f"cohort-{fmt}", fmt)
    print(f"synthesised {largest} patients as JSON and YAML in {time.perf_counter() - t0:.0f} s")
    print("peak memory (MB, fresh process each) as the cohort grows:")
    print(
        f"  {'patients':>8}  {'read json':>10}  {'read yaml':>10}  "
        f"{'bundle (stream)':>15}  {'bundle (dict)':>13}  {'entries':>9}"
    )
    for n in sorted(sizes):
        row: list[str] = []
        entries = 0.0
        for fmt in ("json", "yaml"):
            folder = _subset(tmp / f"cohort-{fmt}", n, tmp / f"part-{fmt}-{n}")
            row.append(f"{_run('read', folder, tmp / 'none')['peak_mb']:>10.1f}")
        json_part = tmp / f"part-json-{n}"
        for job in ("bundle-stream", "bundle-dict"):
            figures = _run(job, json_part, tmp / f"{job}-{n}.json")
            entries = figures["entries"]
            row.append(f"{figures['peak_mb']:>{15 if job == 'bundle-stream' else 13}.1f}")
            (tmp / f"{job}-{n}.json").unlink()
        print(f"  {n:>8}  {'  '.join(row)}  {int(entries):>9,}")
    _single_files(sizes, tmp)


def _validate(line_counts: list[int], tmp: Path) -> None:
    from iopfhir.fhir.ndjson import ndjson_lines
    from iopfhir.synth import synth_episodes

    largest = max(line_counts)
    lines: list[bytes] = []
    patients = max(1, largest // 150 + 1)
    for _rtype, line in ndjson_lines(synth_episodes(patients, 5)):
        lines.append(line)
        if len(lines) >= largest:
            break
    print("validate time as an NDJSON file grows (fresh process each; CPU s, peak MB):")
    print(f"  {'lines':>7}  {'validate CLI (stream)':>30}  {'Validator loop (list)':>30}")
    for n in sorted(line_counts):
        path = tmp / f"lines-{n}.ndjson"
        path.write_bytes(b"".join(lines[:n]))
        cells = []
        for job in ("validate-cli", "validate-loop"):
            f = _run(job, path, tmp / "none")
            per_k = f["cpu_s"] / n * 1000
            cells.append(f"{f['cpu_s']:.2f} s {f['peak_mb']:.1f} MB {per_k:.2f} s/1k")
        print(f"  {n:>7}  {cells[0]:>30}  {cells[1]:>30}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[250, 1000, 3000])
    parser.add_argument("--lines", type=int, nargs="+", default=[2000, 5000, 10000, 20000])
    parser.add_argument("--skip-memory", action="store_true", help="only the validate runs")
    parser.add_argument("--skip-validate", action="store_true", help="only the memory runs")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_memory:
            _memory(args.patients, Path(tmp))
        if not args.skip_validate:
            _validate(args.lines, Path(tmp))


if __name__ == "__main__":
    main()
