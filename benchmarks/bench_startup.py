"""Start-up cost of the command line: ``iopfhir --version``, ``--help``, ``CMD --help``.

Usage::

    python benchmarks/bench_startup.py [-n 15]

Each case runs ``-n`` times in a fresh process; the median wall time and the median CPU
time (user + system of the child, from ``getrusage``) are printed in milliseconds. Cases:

* ``python -c pass`` - the interpreter alone, the floor;
* ``iopfhir --version``, ``iopfhir --help``, ``iopfhir convert --help`` (the console
  script next to this interpreter; ``python -m iopfhir`` when there is none);
* ``python -c "import iopfhir"`` - the package alone, what a library user pays first;
* ``python -c "import iopfhir.domain"`` and ``import iopfhir.validation`` - for scale, what
  a command that runs loads on top.

To compare with another checkout, set ``PYTHONPATH=/that/checkout/src`` (the package found
first is the one measured; the script prints its path). Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("iopfhir")
    found = str(script) if script.exists() else shutil.which("iopfhir")
    # a PYTHONPATH checkout is honoured by ``-m``; the console script may pin the installed one
    if found and not os.environ.get("PYTHONPATH"):
        return [found]
    return [sys.executable, "-m", "iopfhir"]


def _cases() -> list[tuple[str, list[str]]]:
    py, cli = sys.executable, _cli()
    return [
        ("python -c pass (floor)", [py, "-c", "pass"]),
        ("iopfhir --version", [*cli, "--version"]),
        ("iopfhir --help", [*cli, "--help"]),
        ("iopfhir convert --help", [*cli, "convert", "--help"]),
        ("iopfhir validate --help", [*cli, "validate", "--help"]),
        ('python -c "import iopfhir"', [py, "-c", "import iopfhir"]),
        ('python -c "import iopfhir.domain"', [py, "-c", "import iopfhir.domain"]),
        ('python -c "import iopfhir.validation"', [py, "-c", "import iopfhir.validation"]),
    ]


def _run_once(argv: list[str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", "--runs", type=int, default=15, help="runs per case (median)")
    args = parser.parse_args()
    where = subprocess.run(
        [sys.executable, "-c", "import iopfhir; print(iopfhir.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"iopfhir from {where}; {args.runs} runs per case, medians; {os.cpu_count()} CPUs")
    print(f"{'case':<42} {'wall ms':>9} {'cpu ms':>9}")
    for label, argv in _cases():
        _run_once(argv)  # warm the file cache
        runs = [_run_once(argv) for _ in range(args.runs)]
        wall = statistics.median(w for w, _ in runs) * 1000
        cpu = statistics.median(c for _, c in runs) * 1000
        print(f"{label:<42} {wall:>9.1f} {cpu:>9.1f}")


if __name__ == "__main__":
    main()
