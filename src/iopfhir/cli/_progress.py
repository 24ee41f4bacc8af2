"""Progress bars for the long commands, shown only when stderr is a terminal.

API (the one way every command shows progress)::

    from iopfhir.cli._progress import progress

    with progress(total, "validate") as tick:   # total may be None (unknown)
        for item in work:
            ...
            tick()        # one more done; tick(n) for n more
        tick.total = n    # a total learnt on the way may be set at any time

    for episode in progress_iter(episodes, total, "convert"):   # the same, for a loop
        ...

The bar (``tqdm``) goes to stderr, and only when stderr is a terminal (or ``force``):
never into pipes, files, logs or test captures, so stdout stays the command's result and
stderr stays one error line when something fails. It disappears when the block ends and
prints no data, only counts. Without a terminal ``tick`` is a no-op costing one call.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

__all__ = ["Tick", "progress", "progress_iter"]

T = TypeVar("T")


class Tick:
    """Callable handed out by :func:`progress`: ``tick(n=1)`` counts ``n`` more done."""

    def __init__(self, bar: Any = None) -> None:
        self._bar = bar
        self.done = 0

    def __call__(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)

    def to(self, done: int) -> None:
        """Set the count done (for callbacks that report a position, not a step)."""
        self(done - self.done)

    @property
    def total(self) -> int | None:
        """The total shown (None: unknown)."""
        return self._bar.total if self._bar is not None else None

    @total.setter
    def total(self, value: int | None) -> None:
        if self._bar is not None:
            self._bar.total = value
            self._bar.refresh()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or a fake stream
        return False


@contextmanager
def progress(
    total: int | None,
    label: str,
    *,
    stream: TextIO | None = None,
    force: bool = False,
    unit: str = "it",
) -> Iterator[Tick]:
    """A progress bar named ``label`` on ``stream`` (default stderr) while the block runs.

    Shown when ``stream`` is a terminal or ``force`` is set; otherwise ``tick`` does
    nothing. ``unit`` names what is counted (``episodes``, ``resources``).
    """
    stream = stream if stream is not None else sys.stderr
    if not (force or _is_terminal(stream)):
        yield Tick()
        return
    from tqdm import tqdm  # imported only when a bar is shown: the import costs ~30 ms

    bar = tqdm(total=total, desc=label, unit=f" {unit}", file=stream, leave=False, delay=0.5)
    try:
        yield Tick(bar)
    finally:
        bar.close()


def progress_iter(
    items: Iterable[T],
    total: int | None,
    label: str,
    *,
    stream: TextIO | None = None,
    force: bool = False,
    unit: str = "it",
) -> Iterator[T]:
    """``items``, counting each one on a :func:`progress` bar."""
    with progress(total, label, stream=stream, force=force, unit=unit) as tick:
        for item in items:
            yield item
            tick()
