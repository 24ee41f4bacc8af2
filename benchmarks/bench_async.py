"""Reading 100 synthetic patients' resources with AsyncFhirClient at concurrency 1, 4 and 16,
beside the sync FhirClient, against one local sekmet server, in one run.

    .venv/bin/python benchmarks/bench_async.py [--patients 100] [--seed 7] [--again 3]

A fresh server (iopfhir.sync.localserver) gets the cohort pushed once (as in
bench_export.py, whose settings and sync pull this reuses); then, ``--again`` times each
(the figures are noisy on a shared machine: each run is printed, the median is the row
to quote):

* read: every patient's resources, found by identifier (``Patient?identifier=``) and read
  with ``Patient/[id]/$everything`` across its pages: the sync client one patient after
  the other (on its default requests transport, and on the httpx one: the async client's
  default is httpx.AsyncClient, so that row separates the HTTP library from asyncio), the
  async client with at most 1, 4 and 16 patients in flight (``asyncio.Semaphore``);
* read +20ms: the same with 20 ms (``--latency``) added to every exchange, as for a
  server across a network: there waiting is what concurrency overlaps;
* pull: ``iopfhir.sync.pull`` of every patient one by one (bench_export's ``run_pull``),
  beside ``iopfhir.sync.apull_many`` at concurrency 1, 4 and 16.

Asserts that every way reads the same number of resources (and of episodes for pulls).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_export import TIMEOUT, run_pull

from iopfhir.client import (
    AsyncFhirClient,
    AsyncTransport,
    FhirClient,
    Request,
    Response,
    Timeout,
    Transport,
)
from iopfhir.sync import DisclosureTerms, apull_many, localserver, push
from iopfhir.synth import synth_episodes

LEVELS = (1, 4, 16)


def _patient_ids(client: FhirClient, identifiers: list[tuple[str, str]]) -> list[str]:
    ids = []
    for system, value in identifiers:
        (patient,) = client.search("Patient").where(identifier=f"{system}|{value}").fetch_all()
        ids.append(patient["id"])
    return ids


class Delayed:
    """A sync transport wrapper adding ``latency`` seconds to every exchange (a far server)."""

    def __init__(self, inner: Transport, latency: float) -> None:
        self.inner, self.latency = inner, latency

    def handle(self, request: Request, *, timeout: Timeout) -> Response:
        time.sleep(self.latency)
        return self.inner.handle(request, timeout=timeout)

    def close(self) -> None:
        self.inner.close()


class AsyncDelayed:
    """:class:`Delayed` for an async transport (the wait is awaited)."""

    def __init__(self, inner: AsyncTransport, latency: float) -> None:
        self.inner, self.latency = inner, latency

    async def handle(self, request: Request, *, timeout: Timeout) -> Response:
        await asyncio.sleep(self.latency)
        return await self.inner.handle(request, timeout=timeout)

    async def close(self) -> None:
        await self.inner.close()


def read_sync(
    base: str, ids: list[str], transport: str | None = None, latency: float = 0.0
) -> dict[str, float]:
    resources = 0
    with FhirClient(base, timeout=TIMEOUT, transport=transport) as client:
        if latency:
            client.transport = Delayed(client.transport, latency)
        t0 = time.perf_counter()
        for pid in ids:
            first = client.operation("$everything", resource_type="Patient", id=pid)
            resources += sum(len(page.get("entry") or []) for page in client.pages(first))
        elapsed = time.perf_counter() - t0
    return {"total_s": elapsed, "resources": resources}


async def _read_async(
    base: str, ids: list[str], concurrency: int, latency: float = 0.0
) -> dict[str, float]:
    gate = asyncio.Semaphore(concurrency)
    async with AsyncFhirClient(base, timeout=TIMEOUT) as client:
        if latency:
            client.transport = AsyncDelayed(client.transport, latency)

        async def one(pid: str) -> int:
            async with gate:
                first = await client.operation("$everything", resource_type="Patient", id=pid)
                return sum([len(page.get("entry") or []) async for page in client.pages(first)])

        t0 = time.perf_counter()
        counts = await asyncio.gather(*(one(pid) for pid in ids))
        elapsed = time.perf_counter() - t0
    return {"total_s": elapsed, "resources": sum(counts)}


async def _pull_async(
    base: str, identifiers: list[tuple[str, str]], concurrency: int
) -> dict[str, float]:
    async with AsyncFhirClient(base, timeout=TIMEOUT) as client:
        t0 = time.perf_counter()
        results = await apull_many(client, identifiers, concurrency=concurrency)
        elapsed = time.perf_counter() - t0
    return {"total_s": elapsed, "episodes": sum(len(r.episodes) for r in results)}


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def _timed(label: str, runs: dict[str, list[dict[str, float]]], fn: Callable[[], Any]) -> None:
    runs.setdefault(label, []).append(fn())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--again", type=int, default=3, help="runs of each (median quoted)")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.02,
        help="seconds added to every exchange in the extra 'read ... +Nms' rows (0: none)",
    )
    args = parser.parse_args()
    cohort = list(synth_episodes(args.patients, args.seed))
    identifiers = sorted(
        {
            (str(e.patient.identifiers[0].system), str(e.patient.identifiers[0].value))
            for e in cohort
        }
    )
    runs: dict[str, list[dict[str, float]]] = {}
    with localserver() as base:
        with FhirClient(base, timeout=TIMEOUT) as client:
            t0 = time.perf_counter()
            pushed = push(client, cohort, disclosure=DisclosureTerms(own_system=True))
            print(
                f"pushed {len(cohort)} episodes ({len(identifiers)} patients, "
                f"{pushed.total} resources) in {time.perf_counter() - t0:.1f} s"
            )
            ids = _patient_ids(client, identifiers)
        for n in range(args.again):
            _timed("read sync", runs, lambda: read_sync(base, ids))
            _timed("read sync httpx", runs, lambda: read_sync(base, ids, "httpx"))
            for c in LEVELS:
                _timed(
                    f"read async c={c}", runs, lambda c=c: asyncio.run(_read_async(base, ids, c))
                )
            if args.latency:
                ms = f"+{args.latency * 1000:.0f}ms"
                _timed(f"read sync {ms}", runs, lambda: read_sync(base, ids, None, args.latency))
                for c in LEVELS:
                    _timed(
                        f"read async c={c} {ms}",
                        runs,
                        lambda c=c: asyncio.run(_read_async(base, ids, c, args.latency)),
                    )
            _timed("pull sync", runs, lambda: run_pull(base, identifiers))
            for c in LEVELS:
                _timed(
                    f"pull async c={c}",
                    runs,
                    lambda c=c: asyncio.run(_pull_async(base, identifiers, c)),
                )
            line = ", ".join(f"{k} {v[-1]['total_s']:.2f} s" for k, v in runs.items())
            print(f"run {n + 1}: {line}")
    reads = {r["resources"] for k, v in runs.items() if k.startswith("read") for r in v}
    pulls = {r["episodes"] for k, v in runs.items() if k.startswith("pull") for r in v}
    assert len(reads) == 1, reads
    assert len(pulls) == 1, pulls
    print(
        f"median of {args.again} ({len(ids)} patients, {reads.pop():.0f} resources read, "
        f"{pulls.pop():.0f} episodes pulled):"
    )
    for label, rows in runs.items():
        median = _median(rows, "total_s")
        kind, *words = label.split()
        latency = f" {words[-1]}" if words[-1].endswith("ms") else ""
        ref = _median(runs[f"{kind} sync{latency}"], "total_s")  # the sync row alike
        print(f"  {label:<22} {median:7.2f} s  ({ref / median:.2f}x the sync client)")


if __name__ == "__main__":
    main()
