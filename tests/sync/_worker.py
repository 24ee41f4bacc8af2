"""Run in a separate process by the concurrency test: push one episode file once."""

from __future__ import annotations

import sys

from iopfhir.client import FhirClient, Retry, Timeout
from iopfhir.domain import load_episodes
from iopfhir.sync import DisclosureTerms, push

#: tests.servers.fixtures.LIVE_TIMEOUT (this runs as a script, outside the tests package)
_TIMEOUT = Timeout(connect=5.0, read=300.0, total=600.0)


def push_file(base_url: str, path: str) -> dict[str, int]:
    with FhirClient(base_url, retry=Retry(total=2), timeout=_TIMEOUT) as client:
        # the test server stands for the program's own record system (Part 2 data)
        own = DisclosureTerms(own_system=True)
        return push(client, load_episodes(path), disclosure=own).summary()


if __name__ == "__main__":
    print(push_file(sys.argv[1], sys.argv[2]))
