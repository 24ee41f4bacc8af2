"""Run in a separate process by the concurrency test: push one episode file once."""

from __future__ import annotations

import sys

from iopfhir.client import FhirClient, Retry
from iopfhir.domain import load_episodes
from iopfhir.sync import push


def push_file(base_url: str, path: str) -> dict[str, int]:
    with FhirClient(base_url, retry=Retry(total=2)) as client:
        return push(client, load_episodes(path)).summary()


if __name__ == "__main__":
    print(push_file(sys.argv[1], sys.argv[2]))
