"""Input files: which names hold JSON, NDJSON or XML, and their bytes, gzip-compressed or not.

Lives here: :func:`data_kind` (``json``, ``ndjson``, ``xml`` or None, from the name:
``.json``, ``.ndjson``, ``.jsonl``, ``.xml``, each also as ``.gz``; FHIR XML is read by
:mod:`iopfhir.fhir.xml`), :func:`data_files` (those under a folder),
:func:`open_data` (a binary stream of the content, inflated when compressed) and
:func:`read_data` (the whole content, bounded). Bulk Data exports and the tools around them
write ``Observation.ndjson.gz`` as often as ``Observation.ndjson``; every reader of FHIR
files (import, validate, push, outcomes) takes both through here.

Every failure is a :class:`~iopfhir.errors.LoadError` naming the file, never its content.
Imports :mod:`iopfhir.errors` only.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Final, Literal

from iopfhir.errors import LoadError

__all__ = [
    "COMPRESSED_SUFFIX",
    "MAX_INFLATED_BYTES",
    "data_files",
    "data_kind",
    "is_compressed",
    "open_data",
    "read_data",
]

DataKind = Literal["json", "ndjson", "xml"]

#: the suffix of a gzip-compressed file (``Patient.ndjson.gz``)
COMPRESSED_SUFFIX: Final = ".gz"
_KINDS: Final[dict[str, DataKind]] = {
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".xml": "xml",
}

#: the most a compressed JSON document read whole may inflate to: a small file must not
#: fill the memory (NDJSON is read line by line, so its size is not bounded)
MAX_INFLATED_BYTES: Final = 2 << 30

#: what a broken compressed file raises while it is read (a truncated stream raises
#: EOFError, a corrupt one BadGzipFile or zlib.error)
_INFLATE_ERRORS: Final = (gzip.BadGzipFile, zlib.error, EOFError)


def data_kind(path: Path) -> DataKind | None:
    """``json``, ``ndjson`` or ``xml`` by the name of ``path`` (``.gz`` looked through),
    else None."""
    name = path.name.lower()
    if name.endswith(COMPRESSED_SUFFIX):
        name = name[: -len(COMPRESSED_SUFFIX)]
    dot = name.rfind(".")
    return _KINDS.get(name[dot:]) if dot > 0 else None


def data_files(root: Path) -> list[Path]:
    """The JSON, NDJSON and XML files under ``root`` (compressed or not), in name order."""
    return sorted(p for p in root.rglob("*") if data_kind(p) is not None and p.is_file())


def is_compressed(path: Path) -> bool:
    """Whether ``path`` is gzip-compressed (by its name): its content is not its bytes."""
    return path.name.lower().endswith(COMPRESSED_SUFFIX)


@contextmanager
def open_data(path: Path) -> Iterator[BinaryIO]:
    """The content of ``path`` as a binary stream, inflated when the file is compressed.
    A compressed file that breaks while it is read raises :class:`LoadError` (an
    ``OSError`` opening the file is the caller's to report)."""
    if not is_compressed(path):
        with path.open("rb") as handle:
            yield handle
        return
    try:
        with gzip.open(path, "rb") as inflated:
            yield inflated  # type: ignore[misc]
    except _INFLATE_ERRORS as exc:
        raise LoadError(f"not a readable gzip file ({_reason(exc)})", origin=str(path)) from None


def read_data(path: Path, limit: int = MAX_INFLATED_BYTES) -> bytes:
    """The whole content of ``path``, inflated when compressed (at most ``limit`` bytes
    inflated, else :class:`LoadError`)."""
    if not is_compressed(path):
        return path.read_bytes()
    with open_data(path) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise LoadError(
            f"inflates to more than {limit >> 20} MiB: too large to read whole "
            "(write it as NDJSON, which is read line by line)",
            origin=str(path),
        )
    return data


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "it ends before its last block"
    return "its content is not gzip data"
