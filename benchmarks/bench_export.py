"""Bulk Data $export + download + import of a synthetic cohort, beside pulling the same
patients one by one with ``pull``, against one local sekmet server, in one run.

    .venv/bin/python benchmarks/bench_export.py [--patients 100] [--seed 7] [--again 3]

A fresh server (iopfhir.sync.localserver) gets the cohort pushed once; then, ``--again``
times each (the figures are noisy on a shared machine: each run is printed, the median is
the row to quote):

* export: ``iopfhir.sync.export`` of the whole server into a temporary folder (kick-off,
  polls honouring the server's ``Retry-After: 1``, every file streamed to disk), then
  ``read_fhir`` of the folder: wall time of each step and HTTP round trips;
* pull: ``iopfhir.sync.pull`` of every patient of the cohort by identifier, one after the
  other: wall time and round trips.

Asserts only that both ways give the same number of episodes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from iopfhir.client import FhirClient, Request, Response, Timeout, Transport
from iopfhir.fhir.read import read_fhir
from iopfhir.sync import DisclosureTerms, PullReport, export, localserver, pull, push
from iopfhir.synth import synth_episodes

TIMEOUT = Timeout(connect=5.0, read=300.0, total=600.0)


class Counting:
    """Counts round trips, streaming ones too (``sync.CountingTransport`` has no stream)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.count = 0

    def handle(self, request: Request, *, timeout: Timeout) -> Response:
        self.count += 1
        return self.inner.handle(request, timeout=timeout)

    def stream(self, request: Request, *, timeout: Timeout, sink: Any) -> Response:
        self.count += 1
        return self.inner.stream(request, timeout=timeout, sink=sink)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.inner.close()


def run_export(base: str) -> dict[str, float]:
    with FhirClient(base, timeout=TIMEOUT) as client, tempfile.TemporaryDirectory() as tmp:
        counting = Counting(client.transport)
        client.transport = counting
        t0 = time.perf_counter()
        report = export(client, tmp, delete_after=True)
        t1 = time.perf_counter()
        result = read_fhir(tmp)
        t2 = time.perf_counter()
        size = sum(f.bytes for f in report.files)
    return {
        "export_s": t1 - t0,
        "import_s": t2 - t1,
        "total_s": t2 - t0,
        "round_trips": counting.count,
        "polls": report.polls,
        "files": len(report.files),
        "mib": size / 2**20,
        "episodes": len(result.episodes),
    }


def run_pull(base: str, identifiers: list[tuple[str, str]]) -> dict[str, float]:
    trips = 0
    episodes = 0
    with FhirClient(base, timeout=TIMEOUT) as client:
        t0 = time.perf_counter()
        for ident in identifiers:
            report = PullReport()
            episodes += len(pull(client, ident, report=report).episodes)
            trips += report.round_trips
        t1 = time.perf_counter()
    return {"total_s": t1 - t0, "round_trips": trips, "episodes": episodes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--again", type=int, default=3, help="runs of each (median quoted)")
    args = parser.parse_args()
    cohort = list(synth_episodes(args.patients, args.seed))
    identifiers = sorted(
        {
            (str(e.patient.identifiers[0].system), str(e.patient.identifiers[0].value))
            for e in cohort
        }
    )
    with localserver() as base:
        with FhirClient(base, timeout=TIMEOUT) as client:
            t0 = time.perf_counter()
            pushed = push(client, cohort, disclosure=DisclosureTerms(own_system=True))
            print(
                f"pushed {len(cohort)} episodes ({len(identifiers)} patients, "
                f"{pushed.total} resources) in {time.perf_counter() - t0:.1f} s"
            )
        exports, pulls = [], []
        for n in range(args.again):
            e = run_export(base)
            p = run_pull(base, identifiers)
            exports.append(e)
            pulls.append(p)
            print(
                f"run {n + 1}: export {e['export_s']:.2f} s ({e['round_trips']:.0f} round trips, "
                f"{e['polls']:.0f} polls, {e['files']:.0f} files, {e['mib']:.1f} MiB) + import "
                f"{e['import_s']:.2f} s = {e['total_s']:.2f} s, {e['episodes']:.0f} episodes | "
                f"pull one by one {p['total_s']:.2f} s ({p['round_trips']:.0f} round trips), "
                f"{p['episodes']:.0f} episodes"
            )
            assert e["episodes"] == p["episodes"], (e["episodes"], p["episodes"])
    med_e = {k: statistics.median(r[k] for r in exports) for k in exports[0]}
    med_p = {k: statistics.median(r[k] for r in pulls) for k in pulls[0]}
    print(
        f"median of {args.again}: export+download {med_e['export_s']:.2f} s + import "
        f"{med_e['import_s']:.2f} s = {med_e['total_s']:.2f} s in {med_e['round_trips']:.0f} "
        f"round trips; pull x{len(identifiers)} {med_p['total_s']:.2f} s in "
        f"{med_p['round_trips']:.0f} round trips ({med_p['total_s'] / med_e['total_s']:.1f}x)"
    )


if __name__ == "__main__":
    main()
