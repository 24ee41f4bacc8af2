"""The streaming reader's store, its parts on disk: temporary files written once and read
back by position (:class:`Spill`), the input's own plain files read again by position
(:class:`SourceFiles`), the names other than ``Type/id`` a reference may use
(:class:`NameFiles`: spilled as the input is read, put in the database and indexed only
when a lookup needs one), a cache whose memory does not follow the input
(:class:`Bounded`), and the runs of consecutive resources a patient's members are kept as
(:func:`seq_runs`, :func:`seq_spans`).

Imports: :mod:`iopfhir.errors` (``sqlite3``, ``orjson``).
"""

from __future__ import annotations

import heapq
import os
import sqlite3
import stat
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any, Final, TypeVar

import orjson

from iopfhir.errors import FhirInputError

__all__ = [
    "BUFFER",
    "Bounded",
    "Identified",
    "IdentifierNames",
    "NameFiles",
    "SourceFiles",
    "Spill",
    "number",
    "seq_runs",
    "seq_spans",
]


def _pread_seek(fd: int, size: int, pos: int) -> bytes:
    """``os.pread`` where the platform has none (Windows): the reader reads from one
    thread, so a seek and a read are the same."""
    os.lseek(fd, pos, os.SEEK_SET)
    return os.read(fd, size)


_pread: Callable[[int, int, int], bytes] = getattr(os, "pread", _pread_seek)
#: the files are read as bytes (Windows would otherwise translate line ends)
_READ_FLAGS: Final = os.O_RDONLY | getattr(os, "O_BINARY", 0)

_K = TypeVar("_K")
_V = TypeVar("_V")

#: bytes of a file kept in memory before they are written
BUFFER: Final = 1 << 20
#: rows written to the database at once
_BATCH: Final = 2000
#: the kind of a name (its first letter) → its names file: urls (``fullUrl``, canonical)
#: and identifiers (typed and untyped) are indexed separately, each when first needed
_NAMESPACE: Final = {"u": "u", "c": "u", "i": "i", "a": "i"}

#: ``(resource type, identifier element)`` → the names of those identifiers (worked out
#: only when a lookup needs them; see :meth:`NameFiles.identify`)
IdentifierNames = Callable[[str, Any], list[str]]
#: ``(seq, resource type, identifier element)`` of every resource flagged by
#: :meth:`NameFiles.identify`, in input order (read back from the store)
Identified = Callable[[], Iterator[tuple[int, str, Any]]]


def _first(item: tuple[int, list[str]]) -> int:
    return item[0]


class Spill:
    """An unnamed temporary file, appended to in large writes, read back by position."""

    def __init__(self, directory: str | None) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115 (closed by close())
            prefix="iopfhir-spill-", dir=directory
        )
        self.fd = self.file.fileno()
        self.end = 0
        self._buffer: list[bytes] = []
        self._buffered = 0

    def append(self, data: bytes) -> int:
        """Add ``data`` at the end; return where it starts."""
        pos = self.end
        self._buffer.append(data)
        self.end += len(data)
        self._buffered += len(data)
        if self._buffered >= BUFFER:
            self.flush()
        return pos

    def flush(self) -> None:
        if self._buffer:
            self.file.write(b"".join(self._buffer))
            self._buffer.clear()
            self._buffered = 0
        self.file.flush()

    def read(self, pos: int, size: int) -> bytes:
        return _pread(self.fd, size, pos)

    def lines(self) -> Iterator[bytes]:
        """Every line written, in order (the file is read from the start)."""
        self.flush()
        self.file.seek(0)
        yield from self.file


#: input files kept open at once by :class:`SourceFiles` (a folder may hold thousands)
_OPEN_FILES: Final = 64


class SourceFiles:
    """The input's plain files, read again by position: an NDJSON line read in pass 1 is
    not copied to the store, only where it is (the file is as the reader saw it: a file
    changed between the passes is refused, not misread)."""

    def __init__(self) -> None:
        #: each file's identity when first noted: device, inode, size, modification time
        self._seen: dict[str, tuple[int, int, int, int]] = {}
        self._open: dict[str, int] = {}

    def note(self, path: str) -> bool:
        """Remember ``path`` as pass 1 reads it; ``False``: it is no regular file (a pipe,
        a device) and cannot be read again."""
        if path in self._seen:
            return True
        try:
            st = os.stat(path)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        self._seen[path] = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        return True

    def read(self, path: str, pos: int, size: int) -> bytes:
        fd = self._open.get(path)
        if fd is None:
            fd = self._reopen(path)
        return _pread(fd, size, pos)

    def _reopen(self, path: str) -> int:
        if len(self._open) >= _OPEN_FILES:  # the oldest closed (reopened when needed)
            os.close(self._open.pop(next(iter(self._open))))
        try:
            fd = os.open(path, _READ_FLAGS)
        except OSError as exc:
            raise FhirInputError(
                f"cannot read the file again ({exc.strerror})", path=path
            ) from None
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != self._seen.get(path):
            os.close(fd)
            raise FhirInputError("the file changed while it was read: read it again", path=path)
        self._open[path] = fd
        return fd

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()


def number(names: list[str], numbers: dict[str, int], name: str) -> int:
    """The number of ``name`` in ``names`` (added at the end when new)."""
    found = numbers.get(name)
    if found is None:
        found = numbers[name] = len(names)
        names.append(name)
    return found


def seq_runs(rows: list[tuple[int, int]]) -> list[list[int]]:
    """``[group, first seq, count]`` runs of consecutive seqs of ``(group, seq)`` pairs (a
    pair given twice counts once)."""
    runs: list[list[int]] = []
    for group, seq in sorted(rows):
        if runs and runs[-1][0] == group:
            run = runs[-1]
            if seq < run[1] + run[2]:  # given twice
                continue
            if seq == run[1] + run[2]:
                run[2] += 1
                continue
        runs.append([group, seq, 1])
    return runs


def seq_spans(runs: list[tuple[int, int]]) -> list[list[int]]:
    """``[start, stop)`` spans of ``(first, count)`` runs sorted by ``first``: runs of two
    batches that overlap or meet are one."""
    spans: list[list[int]] = []
    for first, count in runs:
        if spans and first <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], first + count)
        else:
            spans.append([first, first + count])
    return spans


class Bounded(dict[_K, _V]):
    """A dict emptied whenever it is full: a cache whose memory does not follow the input."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def keep(self, key: _K, value: _V) -> _V:
        """Remember ``value`` under ``key`` (first forgetting everything when full)."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


class NameFiles:
    """The names other than ``Type/id`` a reference may use for a resource, in two files:
    ``fullUrl`` and canonical ``url`` (``u``, ``c``) in one, ``Type|system|value`` and
    ``|system|value`` of each identifier (``i``, ``a``) in the other, one line per
    resource, ``[seq, [names...]]``; and the resources whose ``identifier`` element is
    named only when needed (:meth:`identify`: nothing is written for them, their names
    are worked out by ``identifier_names`` from the resources ``identified`` gives back).
    A kind of name goes into the database, indexed, the first time a lookup needs one of
    its names; the first resource of a name wins."""

    def __init__(
        self,
        directory: str | None,
        identifier_names: IdentifierNames | None,
        identified: Identified | None = None,
    ) -> None:
        self.files = {"u": Spill(directory), "i": Spill(directory)}
        #: the files in the database (``names_u``, ``names_i``)
        self.indexed: set[str] = set()
        self._identifier_names = identifier_names
        self._identified = identified
        #: resources whose identifiers are named only when needed
        self.identifying = 0

    def add(self, seq: int, keys: list[str]) -> None:
        """Names of resource ``seq`` (one line per file they go to)."""
        spaces = {_NAMESPACE[key[0]] for key in keys}
        for space in spaces:
            mine = [key for key in keys if _NAMESPACE[key[0]] == space]
            self.files[space].append(orjson.dumps([seq, mine]) + b"\n")

    def identify(self) -> None:
        """One more resource (the store's, flagged) has an ``identifier`` element whose
        names are worked out only if a lookup needs one."""
        if self._identifier_names is None or self._identified is None:
            raise ValueError("a store given identifiers needs identifier_names")
        self.identifying += 1

    def find(self, db: sqlite3.Connection, key: str) -> int | None:
        """The seq of the first resource named ``key`` (not a ``Type/id`` name)."""
        space = _NAMESPACE.get(key[:1])
        if space is None or not (self.files[space].end or (space == "i" and self.identifying)):
            return None  # no resource has a name of this kind
        if space not in self.indexed:
            self._index(db, space)
        row = db.execute(
            f"SELECT seq FROM names_{space} WHERE k = ? ORDER BY rowid LIMIT 1",  # noqa: S608
            (key,),
        ).fetchone()
        return int(row[0]) if row else None

    def _named(self, space: str) -> Iterator[tuple[int, list[str]]]:
        """``(seq, names)`` of the kind ``space``, in input order: the lines of its file
        and, for identifiers, the names of the resources identified."""
        lines = ((item[0], item[1]) for item in map(orjson.loads, self.files[space].lines()))
        names, identified = self._identifier_names, self._identified
        if space != "i" or not self.identifying or names is None or identified is None:
            return lines
        worked_out = ((seq, names(rtype, element)) for seq, rtype, element in identified())
        return heapq.merge(lines, worked_out, key=_first)

    def _index(self, db: sqlite3.Connection, space: str) -> None:
        """A kind of name into the database, indexed (the first time one of its names is
        looked up)."""
        self.indexed.add(space)
        began = not db.in_transaction
        if began:
            db.execute("BEGIN")
        table = f"names_{space}"  # one of two fixed names
        db.execute(f"CREATE TABLE {table} (k TEXT, seq INTEGER)")
        insert = f"INSERT INTO {table} VALUES (?, ?)"  # noqa: S608
        batch: list[tuple[str, int]] = []
        for seq, keys in self._named(space):
            batch.extend((key, seq) for key in keys)
            if len(batch) >= _BATCH:
                db.executemany(insert, batch)
                batch.clear()
        db.executemany(insert, batch)
        db.execute(f"CREATE INDEX {table}_k ON {table} (k)")
        if began:
            db.execute("COMMIT")

    def flush(self) -> None:
        for spill in self.files.values():
            spill.flush()

    def close(self) -> None:
        for spill in self.files.values():
            spill.file.close()
