"""SIGTERM and SIGINT turned into exceptions, so every command cleans up on them.

Python's default SIGTERM action ends the process on the spot: no ``finally``, no
``except``, so a half-written temporary output stays on disk. :func:`signals_raise`
(installed by :func:`iopfhir.cli.main` around the command) raises :class:`Terminated` for
SIGTERM and ``KeyboardInterrupt`` for SIGINT instead; the atomic writers of
:mod:`iopfhir.cli._output` remove their temporaries on any ``BaseException``, and context
managers (a local server, a client) close as usual. Both derive from ``BaseException`` so
that no ``except Exception`` on the way can swallow them.

After the first signal, further ones are ignored while the command unwinds (the clean-up
is short; a second Ctrl-C must not interrupt it half-way).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["EXIT_SIGINT", "EXIT_SIGTERM", "Terminated", "signals_raise"]

#: Exit codes the shell convention gives a process ended by the signal (128 + number).
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM


class Terminated(BaseException):
    """The process received SIGTERM."""


def _raise(signum: int, frame: FrameType | None) -> None:
    # one signal is enough: the rest would only interrupt the clean-up
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if signum == signal.SIGTERM:
        raise Terminated
    raise KeyboardInterrupt


@contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` and SIGINT ``KeyboardInterrupt``.

    The previous handlers are restored afterwards (``main`` also runs inside test
    processes). Outside the main thread, where handlers cannot be installed, nothing
    changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # a signal the parent told us to ignore (``nohup``, a background job) stays ignored
    before = {
        s: h
        for s in (signal.SIGINT, signal.SIGTERM)
        if (h := signal.getsignal(s)) is not signal.SIG_IGN
    }
    for s in before:
        signal.signal(s, _raise)
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
