"""Push and pull with :class:`~iopfhir.client.AsyncFhirClient`.

Layout::

    bridge.py  the sync push/pull code's requests, from a worker thread, on the loop
    push.py    apush(): the sync push's plan and decisions, writes awaited, bounded
               concurrency where the write mode allows it, cancellation-safe
    pull.py    apull(), apull_many(): the sync pull in worker threads
    export.py  aexport(): the Bulk Data export in a worker thread; cancel = Ctrl-C

Imports :mod:`iopfhir.client`, :mod:`iopfhir.sync.push`, :mod:`iopfhir.sync.pull`.
"""

from .export import aexport
from .pull import apull, apull_many
from .push import DEFAULT_CONCURRENCY, apush

__all__ = ["DEFAULT_CONCURRENCY", "aexport", "apull", "apull_many", "apush"]
