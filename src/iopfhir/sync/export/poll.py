"""Polling the status endpoint until the manifest is there.

``202`` means in progress: ``X-Progress`` is reported (shortened, printable characters
only) and the next poll waits ``Retry-After`` (seconds or an HTTP date) when the server
sends it, else a backoff from 1 s doubling to 30 s. ``429``/``503`` are retried by the
client's own :class:`~iopfhir.client.Retry` (honouring ``Retry-After``); an error status
after that raises the client's mapped error (a 404: the job is gone or expired; a 5xx
with an OperationOutcome: the export failed). ``200`` carries the manifest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from iopfhir.client import FhirClient, parse_retry_after

from .kickoff import EXPORT_HEADERS
from .report import ExportError, ExportProgress, ProgressCallback

__all__ = ["DEFAULT_MAX_WAIT", "poll"]

#: Seconds an export may stay "in progress" before polling gives up (a day).
DEFAULT_MAX_WAIT = 86_400.0
_BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
_MIN_WAIT = 0.2
_MAX_WAIT_ONE = 300.0


def _note(text: str | None) -> str:
    if not text:
        return ""
    return "".join(c for c in text[:60] if c.isprintable())


def poll(
    client: FhirClient,
    status_url: str,
    *,
    progress: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    max_wait: float = DEFAULT_MAX_WAIT,
    on_poll: Callable[[], None] | None = None,
) -> Any:
    """The manifest JSON, once the status endpoint answers 200."""
    started = clock()
    n = 0
    while True:
        response = client.request("GET", status_url, headers=EXPORT_HEADERS)
        if on_poll is not None:
            on_poll()
        if response.status == 200:
            try:
                return orjson.loads(response.body)
            except orjson.JSONDecodeError:
                raise ExportError("the export manifest is not JSON") from None
        if response.status != 202:
            raise ExportError(f"the status endpoint answered HTTP {response.status}")
        if progress is not None:
            progress(ExportProgress("poll", n + 1, None, _note(response.headers.get("X-Progress"))))
        hint = parse_retry_after(response.headers.get("Retry-After"), now=time.time())
        wait = hint if hint is not None else _BACKOFF[min(n, len(_BACKOFF) - 1)]
        wait = min(max(wait, _MIN_WAIT), _MAX_WAIT_ONE)
        if clock() - started + wait > max_wait:
            raise ExportError(f"the export was not complete after {max_wait:g} s of polling")
        sleep(wait)
        n += 1
