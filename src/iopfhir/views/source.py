"""Where a view's resources come from: NDJSON files, a directory of them, or a list in memory.

A :class:`Source` maps resource types to NDJSON files. A file named after a resource type
(``Patient.ndjson``, ``Patient.000.ndjson``, ``Observation-1.ndjson.gz``: the Bulk Data
export and ``iopfhir convert --format ndjson`` conventions) holds that type only; any other
file is *mixed* and is read for every type (the query filters on ``resourceType``).
:meth:`Source.from_resources` writes a list of resources to a private temporary directory
(one file per type, in the order given) so that the engines read it the same way; close the
source (or use it as a context manager) to remove it.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from iopfhir.errors import R4_RESOURCE_TYPES
from iopfhir.views.errors import ViewError

__all__ = ["MIXED", "Source", "is_mixed"]

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


class Source:
    """NDJSON files by resource type (``MIXED`` for files of several types)."""

    def __init__(self, files: Mapping[str, Iterable[Path]], *, tmp: Any = None) -> None:
        self.files: dict[str, list[Path]] = {k: sorted(v) for k, v in files.items()}
        self._tmp = tmp

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
        by_type: dict[str, list[bytes]] = {}
        for i, res in enumerate(resources):
            rtype = res.get("resourceType")
            if not isinstance(rtype, str) or rtype not in R4_RESOURCE_TYPES:
                raise ViewError("resource without a known resourceType", path=f"[{i}]")
            by_type.setdefault(rtype, []).append(orjson.dumps(res))
        tmp = tempfile.TemporaryDirectory(prefix="iopfhir-views-")
        files: dict[str, list[Path]] = {}
        for rtype, lines in by_type.items():
            path = Path(tmp.name) / f"{rtype}.ndjson"
            path.write_bytes(b"\n".join(lines) + b"\n")
            files[rtype] = [path]
        return cls(files, tmp=tmp)

    def files_for(self, resource_type: str) -> list[Path]:
        """The files that may hold ``resource_type`` (its own, then the mixed ones)."""
        return self.files.get(resource_type, []) + self.files.get(MIXED, [])

    def close(self) -> None:
        """Remove the temporary files of :meth:`from_resources` (no-op otherwise)."""
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
