"""The asyncio client: :class:`AsyncFhirClient`, its search builder and async transports.

Layout::

    transport.py   AsyncTransport / AsyncStreamingTransport protocols, AsyncMemoryTransport
    search.py      AsyncSearch (the shared SearchQuery builder, run awaited)
    client.py      AsyncFhirClient (the shared sans-IO calls and send flow, awaited)

The rules (URLs, retry, auth, redirects, errors, redaction) live once, below this package,
in :mod:`iopfhir.client._calls` and :mod:`iopfhir.client._flow`; ``FhirClient`` and
``AsyncFhirClient`` differ only in how they wait. The ``httpx`` async transport is a
plugin (:mod:`iopfhir.client_httpx`).
"""

from .client import AsyncFhirClient
from .search import AsyncSearch, AsyncSearchClient
from .transport import (
    AsyncMemoryTransport,
    AsyncStreamingTransport,
    AsyncTransport,
    aread_bounded,
    awrite_streamed,
)

__all__ = [
    "AsyncFhirClient",
    "AsyncMemoryTransport",
    "AsyncSearch",
    "AsyncSearchClient",
    "AsyncStreamingTransport",
    "AsyncTransport",
    "aread_bounded",
    "awrite_streamed",
]
