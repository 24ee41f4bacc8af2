"""The two examples' FHIR as plain resources (ids and ``Type/id`` references in place of
the transaction's ``urn:uuid``), for tests that change them and read them again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from iopfhir.domain import load_episodes
from iopfhir.fhir.bundle import dumps, transaction_bundle

ROOT = Path(__file__).resolve().parents[2]


def example_resources() -> list[dict[str, Any]]:
    """Every resource of both examples, each with a plain id, references following."""
    episodes = [
        *load_episodes(ROOT / "examples/mental-health-iop.yaml"),
        *load_episodes(ROOT / "examples/co-occurring-sud-iop.yaml"),
    ]
    bundle = orjson.loads(dumps(transaction_bundle(episodes)))
    out = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        # a plain id for each (the readers' test Bundles give each a fullUrl of its own)
        resource["id"] = entry["fullUrl"].rsplit(":", 1)[-1]
        out.append(resource)
    text = orjson.dumps(out).decode()
    for entry in bundle["entry"]:  # the references follow
        text = text.replace(f'"{entry["fullUrl"]}"', f'"{entry["resource"]["resourceType"]}/'
                            f'{entry["fullUrl"].rsplit(":", 1)[-1]}"')  # fmt: skip
    resources: list[dict[str, Any]] = orjson.loads(text)
    return resources
