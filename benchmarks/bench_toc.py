"""Benchmark: transition-of-care documents of a synthetic cohort, beside ``convert``.

Run:  python benchmarks/bench_toc.py [--patients 200] [--seed 7] [--repeat 3]

For the same cohort (episode files written by the synthesizer), prints CPU time (one core,
best of ``--repeat``) for:
- ``convert``: episode files -> checked input -> one collection Bundle (the resources of
  every episode, serialised), resources per second;
- ``toc``: episode files -> checked input -> one discharge ToC document per episode
  (selection, narratives, closure, serialised), documents and resources per second;
- ``toc`` + page: the same, plus the HTML page of each document;
- the DocumentReference of each document (base64 + SHA-1 of the serialised document).
Both read the same files, so the difference is what a document costs beyond the mapping.
Correctness is proven by the tests, not here.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _write_cohort(n: int, seed: int, folder: Path) -> None:
    from iopfhir.domain import dump_episode
    from iopfhir.synth import synth_episodes

    for i, episode in enumerate(synth_episodes(n, seed)):
        (folder / f"episode-{i:05d}.json").write_text(json.dumps(dump_episode(episode)))


def _best(run: Callable[[], tuple[int, int]], repeat: int) -> tuple[int, int, float]:
    best = float("inf")
    docs = resources = 0
    for _ in range(repeat):
        start = time.process_time()
        docs, resources = run()
        best = min(best, time.process_time() - start)
    return docs, resources, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from iopfhir.domain.files import iter_episodes
    from iopfhir.fhir.bundle import dumps, write_bundle
    from iopfhir.fhir.document import document_reference, render_html, toc_document

    print(f"cohort: {args.patients} synthetic patients, seed {args.seed}, best of {args.repeat}")
    with tempfile.TemporaryDirectory() as tmp:
        cohort = Path(tmp) / "cohort"
        cohort.mkdir()
        _write_cohort(args.patients, args.seed, cohort)

        def convert() -> tuple[int, int]:
            written = write_bundle(iter_episodes(cohort), io.BytesIO(), kind="collection")
            return written.episodes, written.entries

        def toc(page: bool = False, reference: bool = False) -> Callable[[], tuple[int, int]]:
            def run() -> tuple[int, int]:
                docs = resources = 0
                for episode in iter_episodes(cohort):
                    document = toc_document(episode)
                    dumps(document)
                    if page:
                        render_html(document)
                    if reference:
                        dumps(document_reference(document))
                    docs += 1
                    resources += len(document["entry"])
                return docs, resources

            return run

        rows = [
            ("convert (collection Bundle)", convert),
            ("toc (one document each)", toc()),
            ("toc + HTML page", toc(page=True)),
            ("toc + DocumentReference", toc(reference=True)),
        ]
        for label, run in rows:
            docs, resources, cpu = _best(run, args.repeat)
            print(
                f"{label:30s} {docs:5d} episodes/documents, {resources:7,d} resources in "
                f"{cpu:6.2f} s CPU: {docs / cpu:8.1f} documents/s, {resources / cpu:10,.0f} "
                "resources/s"
            )


if __name__ == "__main__":
    main()
