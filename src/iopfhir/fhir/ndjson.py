"""Write IOP episodes as FHIR NDJSON files: ``<Type>.ndjson``, one resource per line.

Streaming: episodes are converted and written one at a time, so memory stays constant as
the cohort grows (apart from the set of shared resources already written). Resources
carry an ``id`` (the uuid of their full URL) and reference each other as ``Type/id``.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.fhir.build`.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import ExitStack
from os import PathLike
from pathlib import Path
from typing import BinaryIO

from iopfhir.domain import Episode
from iopfhir.fhir.build.ndjson import ndjson_lines

__all__ = ["write_ndjson"]


def write_ndjson(episodes: Iterable[Episode], out_dir: str | PathLike[str]) -> dict[str, int]:
    """Write every resource of ``episodes`` to ``out_dir/<Type>.ndjson``; return the number
    of resources written per type (types in name order). ``out_dir`` is created if needed;
    the files written are replaced."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with ExitStack() as stack:
        files: dict[str, BinaryIO] = {}
        for rtype, line in ndjson_lines(episodes):
            handle = files.get(rtype)
            if handle is None:
                handle = stack.enter_context((root / f"{rtype}.ndjson").open("wb"))
                files[rtype] = handle
                counts[rtype] = 0
            handle.write(line)
            counts[rtype] += 1
    return dict(sorted(counts.items()))
