"""Where a view's resources come from: NDJSON files, a directory of them, or a list in memory.

A :class:`Source` maps resource types to NDJSON files. A file named after a resource type
(``Patient.ndjson``, ``Patient.000.ndjson``, ``Observation-1.ndjson.gz``: the Bulk Data
export and ``iopfhir convert --format ndjson`` conventions) holds that type only; any other
file is *mixed* and is read for every type (the query filters on ``resourceType``).
:meth:`Source.from_resources` writes a list of resources to a private temporary directory
(one file per type, in the order given) so that the engines read it the same way; close the
source (or use it as a context manager) to remove it.

:meth:`Source.without_repeats` is the same source with each resource (``Type/id``) once, the
first in file order, as the import reads it: for NDJSON exports that overlap (a resource given
twice would count twice in every view's rows).

A source whose files it wrote itself keeps where each of their lines came from
(:class:`LineOrigins`: ``[3]``, the fourth resource given; ``bundle-07.json entry[12].resource``
for a Bundle read by :func:`iopfhir.outcomes.open_source`), so that an error naming such a
file and line names the user's input instead (:func:`line_origin`), never the temporary file.
"""

from __future__ import annotations

import gzip
import re
import tempfile
import weakref
from array import array
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from iopfhir.errors import R4_RESOURCE_TYPES
from iopfhir.views.errors import ViewError

__all__ = ["MIXED", "LineOrigins", "Source", "is_mixed", "line_origin"]

MIXED = "*"
_SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
_TYPE_PREFIX = re.compile(r"^([A-Z][A-Za-z]+)(?:[._-].*)?$")


def _file_type(path: Path) -> str:
    name = path.name
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    m = _TYPE_PREFIX.match(name)
    if m and m.group(1) in R4_RESOURCE_TYPES:
        return m.group(1)
    return MIXED


def is_mixed(path: Path) -> bool:
    """Whether ``path`` is a mixed file (its name is not a resource type's)."""
    return _file_type(path) == MIXED


class LineOrigins:
    """Where each line of files written from the user's input came from: an input (a file
    name, or ``""``) and a place in it, a template with at most one ``{}`` and a number
    (``entry[{}].resource`` and 12: ``entry[12].resource``; ``[{}]`` and 3: the resource
    ``[3]`` of those given; ``""``: the whole input). Three small numbers a line: an export
    of millions of resources costs 12 bytes a line."""

    def __init__(self) -> None:
        self._inputs: dict[str, int] = {}
        self._templates: dict[str, int] = {}
        self._lines: dict[Path, array[int]] = {}

    def add(self, path: Path, source: str, template: str = "", number: int = 0) -> None:
        """The next line of ``path`` came from ``template.format(number)`` in ``source``."""
        lines = self._lines.get(path)
        if lines is None:
            lines = self._lines[path] = array("I")
        lines.append(self._inputs.setdefault(source, len(self._inputs)))
        lines.append(self._templates.setdefault(template, len(self._templates)))
        lines.append(number)

    def paths(self) -> list[Path]:
        """The files whose lines are known."""
        return list(self._lines)

    def of(self, path: Path, line: int) -> str | None:
        """Where line ``line`` (from 1) of ``path`` came from (``None``: not known)."""
        lines = self._lines.get(path)
        if lines is None or not 0 < line <= len(lines) // 3:
            return None
        source, template, number = lines[3 * line - 3 : 3 * line]
        place = _key_of(self._templates, template).format(number)
        return " ".join(part for part in (_key_of(self._inputs, source), place) if part) or None


def _key_of(index: Mapping[str, int], number: int) -> str:
    # messages only (an error is being raised): a scan of the interned names is cheap enough
    return next(key for key, value in index.items() if value == number)


#: the line origins of the temporary files of the open sources (see :func:`line_origin`)
_ORIGINS: dict[Path, LineOrigins] = {}


def line_origin(path: Path, line: int) -> str | None:
    """Where line ``line`` (from 1) of ``path`` came from, when an open :class:`Source`
    wrote that file from the user's input (a Bundle's entry, a resource given in memory);
    ``None`` for any other file (the user's own NDJSON)."""
    origins = _ORIGINS.get(Path(path))
    return None if origins is None else origins.of(Path(path), line)


def _forget(paths: list[Path]) -> None:
    for path in paths:
        _ORIGINS.pop(path, None)


class Source:
    """NDJSON files by resource type (``MIXED`` for files of several types); ``origins``:
    where the lines of files written from the user's input came from (see the module)."""

    def __init__(
        self,
        files: Mapping[str, Iterable[Path]],
        *,
        tmp: Any = None,
        origins: LineOrigins | None = None,
    ) -> None:
        self.files: dict[str, list[Path]] = {k: sorted(v) for k, v in files.items()}
        self._tmp = tmp
        self._once: Source | None = None  # without_repeats(), closed with this source
        #: lines left out as repeats of a resource read before (:meth:`without_repeats`)
        self.repeated = 0
        known = origins.paths() if origins is not None else []
        if origins is not None:
            _ORIGINS.update(dict.fromkeys(known, origins))
        # forgotten when closed, or when the source is dropped unclosed
        self._forget = weakref.finalize(self, _forget, known)

    @classmethod
    def from_path(cls, path: str | Path) -> Source:
        """An NDJSON file, or every NDJSON file under a directory (recursively)."""
        root = Path(path)
        if root.is_dir():
            found = sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(_SUFFIXES))
        elif root.is_file():
            found = [root]
        else:
            raise ViewError(f"no such file or directory: {root.name}")
        if not found:
            raise ViewError(f"no NDJSON files (*.ndjson, *.jsonl) under {root.name}")
        return cls.from_files(found)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path]) -> Source:
        """NDJSON files, each of the type its name gives (else mixed; see the module)."""
        files: dict[str, list[Path]] = {}
        for p in map(Path, paths):
            files.setdefault(_file_type(p), []).append(p.resolve())
        return cls(files)

    @classmethod
    def from_resources(cls, resources: Iterable[Mapping[str, Any]]) -> Source:
        """Resources held in memory (written to a temporary NDJSON file per type)."""
        by_type: dict[str, list[tuple[int, bytes]]] = {}
        for i, res in enumerate(resources):
            rtype = res.get("resourceType")
            if not isinstance(rtype, str) or rtype not in R4_RESOURCE_TYPES:
                raise ViewError("resource without a known resourceType", path=f"[{i}]")
            by_type.setdefault(rtype, []).append((i, orjson.dumps(res)))
        tmp = tempfile.TemporaryDirectory(prefix="iopfhir-views-")
        files: dict[str, list[Path]] = {}
        origins = LineOrigins()
        for rtype, lines in by_type.items():
            path = Path(tmp.name) / f"{rtype}.ndjson"
            path.write_bytes(b"\n".join(line for _, line in lines) + b"\n")
            for i, _ in lines:
                origins.add(path, "", "[{}]", i)
            files[rtype] = [path]
        return cls(files, tmp=tmp, origins=origins)

    def files_for(self, resource_type: str) -> list[Path]:
        """The files that may hold ``resource_type`` (its own, then the mixed ones)."""
        return self.files.get(resource_type, []) + self.files.get(MIXED, [])

    def without_repeats(self) -> Source:
        """This source with each resource once: the first line of each ``Type/id`` in the
        order of the files (sorted by path) and of their lines; a line that is no resource
        with a type and an id is kept as it is (the engine names what is wrong with it).
        Written to temporary files (kept until this source is closed; made once), whose
        lines keep where they came from (``Observation.ndjson line 12``). Memory: the
        names of the resources read."""
        if self._once is None:
            self._once = _write_once(self)
        return self._once

    def close(self) -> None:
        """Remove the temporary files of :meth:`from_resources` and
        :meth:`without_repeats` (no-op otherwise)."""
        if self._once is not None:
            self._once.close()
            self._once = None
        self._forget()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _lines(path: Path) -> Iterable[bytes]:
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        yield from handle


def _write_once(source: Source) -> Source:
    """:meth:`Source.without_repeats` of ``source``."""
    tmp = tempfile.TemporaryDirectory(prefix="iopfhir-once-")
    files: dict[str, list[Path]] = {}
    origins = LineOrigins()
    seen: set[str] = set()
    repeated = 0
    paths = sorted({p for found in source.files.values() for p in found})
    try:
        for number, path in enumerate(paths):
            name = path.name[:-3] if path.name.endswith(".gz") else path.name
            out = Path(tmp.name) / str(number) / name
            out.parent.mkdir()
            with out.open("wb") as sink:
                for line_no, line in enumerate(_lines(path), start=1):
                    if not line.strip():
                        continue
                    key = _resource_name(line)
                    if key is not None:
                        if key in seen:
                            repeated += 1
                            continue
                        seen.add(key)
                    sink.write(line if line.endswith(b"\n") else line + b"\n")
                    known = line_origin(path, line_no)
                    if known is not None:
                        origins.add(out, known)
                    else:
                        origins.add(out, path.name, "line {}", line_no)
            files.setdefault(_file_type(out), []).append(out)
    except BaseException:
        tmp.cleanup()
        raise
    once = Source(files, tmp=tmp, origins=origins)
    once.repeated = repeated
    return once


def _resource_name(line: bytes) -> str | None:
    """``Type/id`` of an NDJSON line (``None``: no JSON object with a type and an id)."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    rtype, rid = value.get("resourceType"), value.get("id")
    if isinstance(rtype, str) and isinstance(rid, str):
        return f"{rtype}/{rid}"
    return None
