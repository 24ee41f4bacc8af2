"""NDJSON (FHIR Bulk Data style: one resource a line), both ways.

Writing: :func:`ndjson_lines` streams ``(resource type, line)`` pairs episode by episode,
so memory stays constant as the cohort grows; the only state kept across episodes is the
set of full URLs of shared resources already written (Patient, Practitioner,
Organization: the same MRN / NPI in several episodes is written once). Resources carry an
``id`` (the uuid of their full URL) and reference each other as ``Type/id``.
:func:`to_ndjson` joins the lines (every type in one stream); :func:`write_ndjson` writes
one file per type, ``<Type>.ndjson``.

Reading: :func:`parse_ndjson` is the one line reader of the package: the FHIR reader
(:mod:`iopfhir.fhir.read`) and the validator's file reader (``iopfhir.validation.files``)
both use it, each with its own parser and error wording.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.fhir.build`, :mod:`iopfhir.errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from json import JSONDecodeError
from os import PathLike
from pathlib import Path
from typing import Any, AnyStr, BinaryIO, Final

import orjson

from iopfhir.domain import Episode
from iopfhir.errors import FhirInputError
from iopfhir.fhir.build import episode_entries

__all__ = ["SHARED_TYPES", "ndjson_lines", "parse_ndjson", "to_ndjson", "write_ndjson"]

#: Types whose resources may be the same in several episodes (found by own identifiers).
SHARED_TYPES: Final = frozenset({"Patient", "Practitioner", "Organization"})


def ndjson_lines(episodes: Iterable[Episode]) -> Iterator[tuple[str, bytes]]:
    """``(resource type, JSON line with its newline)`` for every resource, shared ones once."""
    seen: set[str] = set()
    dumps = orjson.dumps
    for episode in episodes:
        for url, resource in episode_entries(episode, ndjson=True):
            rtype: str = resource["resourceType"]
            if rtype in SHARED_TYPES:
                if url in seen:
                    continue
                seen.add(url)
            yield rtype, dumps(resource, option=orjson.OPT_APPEND_NEWLINE)


def to_ndjson(episodes: Iterable[Episode]) -> bytes:
    """Every resource of ``episodes`` as one NDJSON document (all types mixed)."""
    return b"".join(line for _rtype, line in ndjson_lines(episodes))


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


def parse_ndjson(
    data: AnyStr,
    origin: str,
    *,
    loads: Callable[[AnyStr], Any] = orjson.loads,
    explain: bool = False,
) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed JSON)`` for every non-blank line of ``data``, lazily.

    Line numbers count every line from 1, blank ones too. Lines split as ``data``'s type
    splits them (:meth:`bytes.splitlines`: ``\\n``, ``\\r``, ``\\r\\n``;
    :meth:`str.splitlines` also at the other Unicode line boundaries), and a line is blank
    by its type's ``strip``. ``loads`` parses one line (``json.loads`` accepts what orjson
    rejects: ``NaN``, integers beyond 64 bits...).

    A line that does not parse raises :class:`~iopfhir.errors.FhirInputError`: by default
    ``line N is not JSON`` with ``path`` = ``origin``; with ``explain``, the message
    ``<origin>: line N is not JSON (<the parser's reason>)`` and no path, chained to the
    parser's error.
    """
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = loads(line)
        except JSONDecodeError as exc:  # orjson's error is a subclass
            if explain:
                raise FhirInputError(f"{origin}: line {number} is not JSON ({exc.msg})") from exc
            raise FhirInputError(f"line {number} is not JSON", path=origin) from None
        yield number, doc
