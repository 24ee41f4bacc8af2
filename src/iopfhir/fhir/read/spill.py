"""The streaming reader's store, its parts on disk: temporary files written once and read
back by position (:class:`Spill`), the names other than ``Type/id`` a reference may use
(:class:`NameFiles`: spilled as the input is read, put in the database and indexed only
when a lookup needs one), and a cache whose memory does not follow the input
(:class:`Bounded`).

Imports: nothing of iopfhir (``sqlite3``, ``orjson``).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any, Final, TypeVar

import orjson

__all__ = ["BUFFER", "Bounded", "IdentifierNames", "NameFiles", "Spill", "number"]

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
#: only when a lookup needs them; see :meth:`NameFiles.add_identifiers`)
IdentifierNames = Callable[[str, Any], list[str]]


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
        return os.pread(self.fd, size, pos)

    def lines(self) -> Iterator[bytes]:
        """Every line written, in order (the file is read from the start)."""
        self.flush()
        self.file.seek(0)
        yield from self.file


def number(names: list[str], numbers: dict[str, int], name: str) -> int:
    """The number of ``name`` in ``names`` (added at the end when new)."""
    found = numbers.get(name)
    if found is None:
        found = numbers[name] = len(names)
        names.append(name)
    return found


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
    ``|system|value`` of each identifier (``i``, ``a``) in the other; one line per
    resource, ``[seq, [names...]]``, or ``[seq, type, identifier element]`` when the names
    are worked out later (by ``identifier_names``). A file goes into the database, indexed,
    the first time a lookup needs one of its names; the first resource of a name wins."""

    def __init__(self, directory: str | None, identifier_names: IdentifierNames | None) -> None:
        self.files = {"u": Spill(directory), "i": Spill(directory)}
        #: the files in the database (``names_u``, ``names_i``)
        self.indexed: set[str] = set()
        self._identifier_names = identifier_names

    def add(self, seq: int, keys: list[str]) -> None:
        """Names of resource ``seq`` (one line per file they go to)."""
        spaces = {_NAMESPACE[key[0]] for key in keys}
        for space in spaces:
            mine = [key for key in keys if _NAMESPACE[key[0]] == space]
            self.files[space].append(orjson.dumps([seq, mine]) + b"\n")

    def add_identifiers(self, seq: int, rtype: str, identifiers: Any) -> None:
        """The ``identifier`` element of resource ``seq`` (of type ``rtype``), kept as it
        is: its names are worked out when the file is indexed."""
        names = self._identifier_names
        if names is None:
            raise ValueError("a store given identifiers needs identifier_names")
        try:
            line = orjson.dumps([seq, rtype, identifiers])
        except orjson.JSONEncodeError:  # an integer beyond 64 bits: the names now
            mine = names(rtype, identifiers)
            if mine:
                self.files["i"].append(orjson.dumps([seq, mine]) + b"\n")
            return
        self.files["i"].append(line + b"\n")

    def find(self, db: sqlite3.Connection, key: str) -> int | None:
        """The seq of the first resource named ``key`` (not a ``Type/id`` name)."""
        space = _NAMESPACE.get(key[:1])
        if space is None or not self.files[space].end:
            return None  # no resource has a name of this kind
        if space not in self.indexed:
            self._index(db, space)
        row = db.execute(
            f"SELECT seq FROM names_{space} WHERE k = ? ORDER BY rowid LIMIT 1",  # noqa: S608
            (key,),
        ).fetchone()
        return int(row[0]) if row else None

    def _index(self, db: sqlite3.Connection, space: str) -> None:
        """A names file into the database, indexed (the first time one of its names is
        looked up)."""
        self.indexed.add(space)
        began = not db.in_transaction
        if began:
            db.execute("BEGIN")
        table = f"names_{space}"  # one of two fixed names
        db.execute(f"CREATE TABLE {table} (k TEXT, seq INTEGER)")
        insert = f"INSERT INTO {table} VALUES (?, ?)"  # noqa: S608
        batch: list[tuple[str, int]] = []
        loads = orjson.loads
        names = self._identifier_names
        for line in self.files[space].lines():
            item = loads(line)
            if len(item) == 3 and names is not None:  # [seq, type, identifier element]
                seq, keys = item[0], names(item[1], item[2])
            else:
                seq, keys = item
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
