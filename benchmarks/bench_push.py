"""Push a synthetic 100-patient cohort to a local sekmet server; compare with naive clients.

    .venv/bin/python benchmarks/bench_push.py [--patients 100] [--seed 7] [--chunk-size 250]

Each run gets a fresh server (iopfhir.sync.localserver). Figures: wall time, HTTP round
trips, and this process's CPU time (``time.process_time()``; the server is another
process, so this is the client library's own work, I/O waits excluded):

* iopfhir push (first), then the same push again (must write nothing), three times
  by default (``--again``): the figures are noisy on a shared machine, so each run is
  printed and the median is the row to quote;
* (a) plain ``requests``: every resource POSTed one at a time, references rewritten;
* (b) ``fhirpy``: every resource created one at a time with ``resource(...).save()``.

Prints figures, with the client's CPU as a share of the wall time; asserts only that the
unchanged pushes write nothing.
"""

from __future__ import annotations

import argparse
import graphlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests

from iopfhir.client import FhirClient
from iopfhir.domain import Episode, load_episodes
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.sync import DisclosureTerms, localserver, push
from iopfhir.sync.resources import references, rewrite_references

#: the local server stands for the program's own record system (synthetic Part 2 episodes)
OWN = DisclosureTerms(own_system=True)


def cohort(n: int, seed: int) -> list[Episode]:
    try:
        from iopfhir.synth import synth_episodes
    except ImportError:
        base = load_episodes("examples/mental-health-iop.yaml")[0]
        out = []
        for i in range(n):
            ident = base.patient.identifiers[0].model_copy(update={"value": f"MRN-{seed}-{i}"})
            patient = base.patient.model_copy(update={"identifiers": [ident]})
            out.append(base.model_copy(update={"key": f"bench-{seed}-{i}", "patient": patient}))
        return out
    return list(synth_episodes(n, seed))


def ordered_entries(episodes: list[Episode]) -> list[tuple[str, dict[str, Any]]]:
    entries = [(e["fullUrl"], e["resource"]) for e in transaction_bundle(episodes)["entry"]]
    by_url = dict(entries)
    graph = {u: [r for r in references(res) if r in by_url] for u, res in entries}
    return [(u, by_url[u]) for u in graphlib.TopologicalSorter(graph).static_order()]


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def plain_requests(base: str, entries: list[tuple[str, dict[str, Any]]]) -> int:
    ids: dict[str, str] = {}
    trips = 0
    with requests.Session() as s:
        for url, resource in entries:
            body = rewrite_references(resource, ids)
            r = s.post(
                f"{base}/{body['resourceType']}",
                json=body,
                headers={"Content-Type": "application/fhir+json"},
                timeout=30,
            )
            trips += 1
            r.raise_for_status()
            ids[url] = f"{body['resourceType']}/{r.json()['id']}"
    return trips


def with_fhirpy(base: str, entries: list[tuple[str, dict[str, Any]]]) -> int:
    from fhirpy import SyncFHIRClient

    client = SyncFHIRClient(base)
    ids: dict[str, str] = {}
    for url, resource in entries:
        body = rewrite_references(resource, ids)
        rtype = body.pop("resourceType")
        saved = client.resource(rtype, **body)
        saved.save()
        ids[url] = f"{rtype}/{saved['id']}"
    return len(entries)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--chunk-size", type=int, default=250)
    ap.add_argument("--again", type=int, default=3, help="unchanged pushes to time")
    args = ap.parse_args()
    episodes, _, build_cpu = timed(lambda: cohort(args.patients, args.seed))
    print(f"cohort: {len(episodes)} episodes (synthesis {build_cpu:.2f} s CPU)")
    rows: list[tuple[str, int, int, float, float]] = []
    with localserver() as base, FhirClient(base) as client:
        report, wall, cpu = timed(
            lambda: push(client, episodes, chunk_size=args.chunk_size, disclosure=OWN)
        )
        rows.append(("iopfhir push (first)", report.writes, report.round_trips, wall, cpu))
        runs = []
        for n in range(args.again):
            again, wall, cpu = timed(
                lambda: push(client, episodes, chunk_size=args.chunk_size, disclosure=OWN)
            )
            assert again.writes == 0, again.summary()
            runs.append((again.writes, again.round_trips, wall, cpu))
            if args.again > 1:
                rows.append((f"  unchanged, run {n + 1}", *runs[-1]))
        if runs:
            by_share = sorted(runs, key=lambda r: r[3] / r[2])
            rows.append(("iopfhir push (again)*", *by_share[len(by_share) // 2]))
    entries = ordered_entries(episodes)  # the baselines' input, built outside any timing
    with localserver() as base:
        trips, wall, cpu = timed(lambda: plain_requests(base, entries))
        rows.append(("requests, one at a time", trips, trips, wall, cpu))
    with localserver() as base:
        trips, wall, cpu = timed(lambda: with_fhirpy(base, entries))
        rows.append(("fhirpy, one at a time", trips, trips, wall, cpu))
    print(f"{len(entries)} resources")
    print(f"{'client':<26}{'writes':>8}{'round trips':>13}{'wall s':>9}{'CPU s':>8}{'CPU %':>7}")
    for name, writes, trips, wall, cpu in rows:
        print(f"{name:<26}{writes:>8}{trips:>13}{wall:>9.2f}{cpu:>8.2f}{100 * cpu / wall:>7.1f}")
    if len(runs) > 1:
        print("* the unchanged run with the median CPU share")
    print(f"run id {uuid.uuid4().hex[:8]}")


if __name__ == "__main__":
    main()
