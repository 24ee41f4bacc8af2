"""Pause Python's cyclic garbage collector while a push works through its resources.

A push allocates millions of small dicts and lists (resources built, responses parsed,
copies compared). None of them form reference cycles, so reference counting frees them
as soon as they are dropped; but every allocation counts towards the collector's
thresholds, and every collection walks all live containers, including the large trees
of server responses held for the comparison. On a 100-patient push those collections
were about 40 % of the client's CPU time.

:func:`paused` turns the collector off for a block and restores it when the outermost
block ends, in whatever thread, even on an exception; a collector someone else had
disabled stays disabled. The cost to the rest of the process: cyclic garbage made by
other threads during a push waits until the push ends (reference counting goes on).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused"]

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """Run the block with the cyclic collector off (nests; restores on exit)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
        _depth += 1
        gc.disable()
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
