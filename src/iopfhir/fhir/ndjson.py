"""NDJSON (FHIR Bulk Data style: one resource a line), both ways.

Writing: :func:`ndjson_lines` streams ``(resource type, line)`` pairs episode by episode,
so memory stays (nearly) constant as the cohort grows; the only state kept across episodes
is a :class:`~iopfhir.fhir._ledger.Ledger`: shared resources (Patient, Practitioner,
Organization: the same MRN / NPI in several episodes) are written once, the same episode
given twice is merged (identical resources written once, counted in ``Ledger.merged``) or
refused (different content), and a time without a UTC offset is refused. Resources carry
an ``id`` (the uuid of their full URL) and reference each other as ``Type/id``.
:func:`to_ndjson` joins the lines (every type in one stream); :func:`write_ndjson` writes
one file per type, ``<Type>.ndjson``.

Reading: :func:`parse_ndjson` is the one line reader of the package: the FHIR reader
(:mod:`iopfhir.fhir.read`) and the validator's file reader (``iopfhir.validation.files``)
both use it; it reads through :mod:`iopfhir.loading`, so every NDJSON input follows one
rule (encoding, duplicate keys, limits).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.fhir.build`, :mod:`iopfhir.fhir._ledger`,
:mod:`iopfhir.errors`, :mod:`iopfhir.loading`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO, Final

import orjson

from iopfhir.domain import Episode
from iopfhir.errors import FhirInputError, LoadError
from iopfhir.fhir._ledger import SHARED_TYPES, Ledger
from iopfhir.fhir.build import episode_entries
from iopfhir.loading import DEFAULT_LIMITS, Limits, iter_json_lines

__all__ = [
    "FHIR_PATH_KEYS",
    "SHARED_TYPES",
    "Ledger",
    "ndjson_lines",
    "parse_ndjson",
    "to_ndjson",
    "write_ndjson",
]


def ndjson_lines(
    episodes: Iterable[Episode], *, ledger: Ledger | None = None
) -> Iterator[tuple[str, bytes]]:
    """``(resource type, JSON line with its newline)`` for every resource, shared ones once.

    ``ledger`` (a fresh one when not given) decides what is written: pass one to read
    :attr:`~iopfhir.fhir._ledger.Ledger.merged` afterwards. Raises
    :class:`~iopfhir.errors.EpisodeInputError` for an episode given twice with different
    content, or holding a time without a UTC offset."""
    book = ledger if ledger is not None else Ledger()
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    admit, admit_shared = book.admit, book.admit_shared
    for episode in episodes:
        book.begin(episode)
        for url, resource in episode_entries(episode, ndjson=True):
            rtype: str = resource["resourceType"]
            if rtype in SHARED_TYPES:
                if admit_shared(url):
                    yield rtype, dumps(resource, option=newline)
                continue
            line = dumps(resource, option=newline)
            if admit(url, rtype, line):
                yield rtype, line


def to_ndjson(episodes: Iterable[Episode], *, ledger: Ledger | None = None) -> bytes:
    """Every resource of ``episodes`` as one NDJSON document (all types mixed)."""
    return b"".join(line for _rtype, line in ndjson_lines(episodes, ledger=ledger))


def write_ndjson(
    episodes: Iterable[Episode], out_dir: str | PathLike[str], *, ledger: Ledger | None = None
) -> dict[str, int]:
    """Write every resource of ``episodes`` to ``out_dir/<Type>.ndjson``; return the number
    of resources written per type (types in name order). ``out_dir`` is created if needed;
    the files written are replaced. ``ledger``: as for :func:`ndjson_lines` (its
    ``merged`` says how many resources given again were written once)."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with ExitStack() as stack:
        files: dict[str, BinaryIO] = {}
        for rtype, line in ndjson_lines(episodes, ledger=ledger):
            handle = files.get(rtype)
            if handle is None:
                handle = stack.enter_context((root / f"{rtype}.ndjson").open("wb"))
                files[rtype] = handle
                counts[rtype] = 0
            handle.write(line)
            counts[rtype] += 1
    return dict(sorted(counts.items()))


#: Keys that error messages may show in a JSON path (Bundle framing and the elements that
#: nest resources); any other key is input and is shown by position (``<key 3>``).
FHIR_PATH_KEYS: Final = frozenset(
    {
        "resourceType", "id", "meta", "entry", "resource", "contained", "request",
        "response", "fullUrl", "search", "extension", "modifierExtension", "item",
        "answer", "component", "identifier", "code", "coding", "value", "valueString",
        "text", "name", "telecom", "address", "subject", "patient", "type", "status",
        "category", "participant", "activity", "detail", "member", "hasMember",
        "derivedFrom", "outcome", "issue", "parameter", "part", "link", "data",
    }
)  # fmt: skip


def parse_ndjson(
    data: bytes | bytearray | str, origin: str, *, limits: Limits = DEFAULT_LIMITS
) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed JSON)`` for every non-blank line of ``data``, lazily.

    One rule for every NDJSON reader, whatever the type of ``data`` (that of
    :func:`iopfhir.loading.iter_json_lines`): UTF-8 with or without a BOM at the start,
    lines split at ``\\n``, ``\\r\\n`` and ``\\r`` only (U+2028 inside a string is text),
    line numbers counting blank lines too, and each line read by
    :func:`iopfhir.loading.load_json` under ``limits`` (no duplicate keys, no ``NaN``,
    bounded nesting, numbers and strings).

    A line that cannot be read raises :class:`~iopfhir.errors.FhirInputError` with
    ``path`` = ``origin`` and a message naming the line (and column), never its content.
    """
    try:
        yield from iter_json_lines(data, origin, limits=limits, path_keys=FHIR_PATH_KEYS)
    except LoadError as exc:
        raise FhirInputError(exc.detail, path=origin) from None
