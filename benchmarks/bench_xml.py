"""Reading and writing FHIR XML: iopfhir beside ``fhir.resources`` and beside JSON.

Usage::

    .venv/bin/python benchmarks/bench_xml.py [--patients 20] [--repeat 5]

A synthetic cohort (``iopfhir synth``, one collection Bundle per patient, built by
``iopfhir.fhir.build``) is written as XML by ``fhir.resources`` (its R4B models'
``model_dump_xml``), then read back, every Bundle in turn:

- **iopfhir** ``load_fhir_xml``: XML to R4's JSON object (expat, the R4 definitions);
- **fhir.resources** ``Bundle.model_validate_xml``: the obvious alternative, XML parsed
  (lxml) into its typed models;
- **JSON** ``load_json`` of the same Bundles as JSON: what reading the JSON form costs
  (the floor XML is measured against).

And written: ``dump_fhir_xml`` (R4 JSON to XML) beside ``fhir.resources``'
``model_dump_xml`` of the same Bundles (as models already) and ``orjson.dumps`` (JSON).

Figures are resources per second of CPU time of this process (``time.process_time``), the
best of ``--repeat`` runs, and the megabytes of XML per second. No assertions: figures only.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class

from iopfhir.fhir.bundle import collection_bundle
from iopfhir.fhir.xml import load_fhir_xml
from iopfhir.fhir.xml_write import dump_fhir_xml
from iopfhir.loading import load_json
from iopfhir.synth import synth_episodes


def _best(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    bundle_model = get_fhir_model_class("Bundle")
    bundles = [collection_bundle([ep]) for ep in synth_episodes(args.patients, seed=7)]
    xml = [bundle_model.model_validate(b).model_dump_xml() for b in bundles]
    as_json = [json.dumps(b).encode() for b in bundles]
    resources = sum(len(b["entry"]) for b in bundles)
    megabytes = sum(map(len, xml)) / 1e6
    print(
        f"{len(bundles)} Bundles, {resources:,} resources, {megabytes:.1f} MB of XML "
        f"({sum(map(len, as_json)) / 1e6:.1f} MB as JSON); best of {args.repeat}, CPU time"
    )
    runs = {
        "iopfhir load_fhir_xml": lambda: [load_fhir_xml(x, "bench.xml") for x in xml],
        "fhir.resources model_validate_xml": lambda: [
            bundle_model.model_validate_xml(x) for x in xml
        ],
        "JSON load_json (the JSON form)": lambda: [load_json(j, "bench.json") for j in as_json],
    }
    models = [bundle_model.model_validate(b) for b in bundles]
    runs |= {
        "iopfhir dump_fhir_xml (writing)": lambda: [dump_fhir_xml(b) for b in bundles],
        "fhir.resources model_dump_xml (writing)": lambda: [m.model_dump_xml() for m in models],
        "JSON orjson.dumps (writing)": lambda: [orjson.dumps(b) for b in bundles],
    }
    # the inputs (and models) made above out of every run's garbage collections: each
    # reader's own allocations are what its figure measures
    gc.collect()
    gc.freeze()
    print(f"{'reader / writer':40} {'seconds':>8} {'resources/s':>12} {'MB/s':>7}")
    for name, run in runs.items():
        seconds = _best(run, args.repeat)
        print(f"{name:36} {seconds:8.3f} {resources / seconds:12,.0f} {megabytes / seconds:7.1f}")


if __name__ == "__main__":
    main()
