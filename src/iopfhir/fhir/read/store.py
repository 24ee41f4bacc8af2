"""The streaming reader's embedded store: every resource of one input in temporary files,
found again by reference or by patient.

Most of it is written once, in input order, and read back by position, so it goes to
plain files (unnamed temporary files, deleted by the system when closed; read with
``pread``, or a seek and a read where the platform has none):

- the **data** file: each resource's JSON, one after the other: the checked input line
  itself when the resource is a whole NDJSON line (none when that line is in a plain
  file: read again there, :class:`~iopfhir.fhir.read.spill.SourceFiles`), else compact
  JSON (text when it holds an integer beyond 64 bits, which only the standard library
  reads exactly). A resource is written at most once, never re-serialised;
- the **records** file: one fixed-size record per resource (``seq`` = its place in the
  input, duplicates left out): where its JSON is, its type, its origin (a file number and
  a line, the number as the reader counted it; the few file names in memory);
- the **pending** file: what pass 2 must resolve once the whole input is known (the
  patient reference of a resource, the targets of a review Provenance, the practitioner
  of a PractitionerRole), one line each, ``<seq> <kind> <value as compact JSON>``, read
  back in input order (the same value is the same bytes: answers are remembered by them);
- two **names** files: the names other than ``Type/id`` a reference may use for a
  resource: ``fullUrl`` and canonical ``url`` in one, ``Type|system|value`` and
  ``|system|value`` of each identifier in the other (an NDJSON resource's ``identifier``
  element is not written: a flag in its record; its names are worked out from the
  resource read back when the file is indexed). Data written by iopfhir or an EHR's Bulk
  Data export names resources by ``Type/id`` only, so each kind is put in the database,
  indexed, the first time a lookup needs one of its names (never, if none does).

What must be looked up by value is in a temporary SQLite database (the standard
library's ``sqlite3``; one file under the system's temp directory, deleted by
:meth:`ResourceStore.close`):

- ``keys``: each ``Type/id`` name (they tell a duplicate as the input is read), and
  ``names_u`` / ``names_i``: the other names, once needed; the first resource of a name
  wins, as in
  :class:`~iopfhir.fhir.read.index.Index`;
- ``extra``: the ``fullUrl`` of a resource that has one, and an origin that is not a file
  and a line number;
- ``shared``: the resources no patient owns (practitioners, organizations, locations), and
  ``used``: those an episode took;
- ``member``: the resources of each patient group, as runs of consecutive ones (a
  patient's resources follow each other in a file: a row per run, not per resource; runs
  of different batches may overlap, and are read as one set), ``roles``: the
  PractitionerRoles of each Practitioner, ``tags``: PractitionerRoles, Organizations... by
  the episode their own identifier names.

Rows are written in batches. The page cache is bounded and the files are read by
position, so memory does not grow with the input. Nothing here knows FHIR beyond the
names of a resource.

Imports: :mod:`iopfhir.fhir.read.source` (the Entry) and :mod:`iopfhir.fhir.read.spill`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import struct
import tempfile
from collections.abc import Iterator
from itertools import pairwise
from types import TracebackType
from typing import Any, Final

import orjson

from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.spill import (
    BUFFER,
    Bounded,
    IdentifierNames,
    NameFiles,
    SourceFiles,
    Spill,
    number,
    seq_runs,
    seq_spans,
)

__all__ = ["ResourceStore"]

_SCHEMA: Final = """
CREATE TABLE keys (k TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE extra (seq INTEGER PRIMARY KEY, full_url TEXT, origin TEXT);
CREATE TABLE member (grp INTEGER, first INTEGER, n INTEGER, PRIMARY KEY (grp, first, n))
  WITHOUT ROWID;
CREATE TABLE roles (prac INTEGER, role INTEGER, PRIMARY KEY (prac, role)) WITHOUT ROWID;
CREATE TABLE tags (tag TEXT, seq INTEGER, PRIMARY KEY (tag, seq)) WITHOUT ROWID;
CREATE TABLE shared (seq INTEGER PRIMARY KEY, type TEXT);
CREATE TABLE used (seq INTEGER PRIMARY KEY);
"""
#: rows kept in memory before they are written
_BATCH: Final = 2000
#: ``Type/id`` claims kept in memory before they are written (in key order)
_CLAIMS: Final = 8192
#: bits of the filter of claimed ``Type/id`` names (4 MiB whatever the input: a false
#: positive only costs a database lookup, so the answers never depend on it)
_BLOOM_BITS: Final = 1 << 25
_BLOOM_MASK: Final = _BLOOM_BITS - 1
#: a resource's record: where its JSON is (offset, size), its origin (file number, line)
#: and type (number), and flags
_RECORD: Final = struct.Struct("<QIIIIB")
#: flags: the JSON needs the exact reader; ``extra`` has its fullUrl or origin; the origin
#: is the file alone (no line); the JSON is the input file's own line, where the record
#: says in that file (not copied to the data file)
_EXACT: Final = 1
_EXTRA: Final = 2
_NO_LINE: Final = 4
_SOURCED: Final = 8
#: the resource has an ``identifier`` element, named only if a lookup needs it
_IDENTIFIED: Final = 16
#: the flags that tell how a record's JSON is read
_HOW: Final = _EXACT | _EXTRA | _SOURCED
#: resource types numbered (R4 has 146; input that names more is not FHIR's), and the
#: number of any other type (found again from the resource itself)
_TYPES_KEPT: Final = 4096
_OTHER_TYPE: Final = 0xFFFFFFFF
#: the most resources read at once by :meth:`ResourceStore.members`
_RUN: Final = 512
#: lookups remembered by :meth:`ResourceStore.find` and resources by
#: :meth:`ResourceStore.entry` (the practitioners, organizations... that every patient
#: names are asked for again and again); each cache is emptied when full, so memory stays
#: bounded whatever the input
_FOUND_CACHE: Final = 16384
_ENTRY_CACHE: Final = 256
#: the longest line number kept in a record (more digits: kept in ``extra``)
_LINE_DIGITS: Final = 9
_POW10: Final = tuple(10**k for k in range(_LINE_DIGITS + 1))


class ResourceStore:
    """Resources of one input in temporary files; a context manager that deletes them
    (``identifier_names``: what :meth:`add` needs to take a resource ``identified``)."""

    def __init__(
        self, directory: str | None = None, *, identifier_names: IdentifierNames | None = None
    ) -> None:
        fd, self.path = tempfile.mkstemp(prefix="iopfhir-read-", suffix=".sqlite", dir=directory)
        os.close(fd)
        self._data = Spill(directory)
        self._records = Spill(directory)
        self._pending = Spill(directory)
        #: names other than ``Type/id``: urls (``u``, ``c``) and identifiers (``i``, ``a``)
        self._names = NameFiles(directory, identifier_names, self._identified)
        #: deferred kinds as bytes (a few: one per resource type at most)
        self._kind_bytes: dict[str, bytes] = {}
        #: origin files and resource types by number (as many as the input has files and
        #: types, not resources)
        self._origins = _Origins()
        self._sources = self._origins.names
        self._types: list[str] = []
        self._type_of: dict[str, int] = {}
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "page_size=16384",  # fewer, larger pages
            "journal_mode=OFF",
            "synchronous=OFF",
            "locking_mode=EXCLUSIVE",
            "temp_store=FILE",
            "cache_size=-16384",  # 16 MiB of pages, whatever the input size
        ):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(_SCHEMA)
        self._db.execute("BEGIN")
        #: ``Type/id`` claims not yet written, and a Bloom filter of every claim made
        self._claims: dict[str, int] = {}
        self._bloom = bytearray(_BLOOM_BITS >> 3)
        self._extra: list[tuple[int, str | None, str | None]] = []
        self._tags: list[tuple[str, int]] = []
        self._shared: list[tuple[int, str]] = []
        self.count = 0
        #: the server bases of the input's RESTful ``fullUrl``s (``index.elsewhere``)
        self.bases: set[str] = set()
        #: answers of :meth:`find` and :meth:`entry` after pass 1 (bounded; see above)
        self._found: Bounded[str, int | None] = Bounded(_FOUND_CACHE)
        self._sealed = False
        self._entries: Bounded[int, Entry] = Bounded(_ENTRY_CACHE)
        #: shared resources already marked used, and each practitioner's first role (every
        #: patient names the same few: not written, not asked again while remembered)
        self._marked: Bounded[int, bool] = Bounded(_FOUND_CACHE)
        self._first_role: Bounded[int, int | None] = Bounded(_FOUND_CACHE)

    # -- pass 1: writing ----------------------------------------------------------------

    def claim(self, key: str, seq: int) -> int | None:
        """Give ``key`` to ``seq`` unless another resource has it; return that one's seq.

        Only ``Type/id`` names are claimed (they tell a duplicate); the other names go to
        the names file, and none of them is a ``Type/id``. A claim is batched; when the
        filter of names already claimed does not prove the name new (rarely), the batch
        and then the database are asked, exactly (the batch is not written for it)."""
        h = hash(key)
        a = h & _BLOOM_MASK
        b = (h >> 27) & _BLOOM_MASK
        bloom = self._bloom
        if bloom[a >> 3] & (1 << (a & 7)) and bloom[b >> 3] & (1 << (b & 7)):
            first = self._claims.get(key)
            if first is None:
                row = self._db.execute("SELECT seq FROM keys WHERE k = ?", (key,)).fetchone()
                first = int(row[0]) if row else None
            if first is not None:
                return first
        bloom[a >> 3] |= 1 << (a & 7)
        bloom[b >> 3] |= 1 << (b & 7)
        self._claims[key] = seq
        if len(self._claims) >= _CLAIMS:
            self._flush_claims()
        return None

    def add(self, entry: Entry, seq: int, keys: list[str], *, identified: bool = False) -> None:
        """Store resource ``seq`` (the next one: seqs count from 0 without gaps) and the
        names other than ``Type/id`` it may be referenced by (first name wins).

        The resource is kept as its checked input line when it has one (``entry.raw``),
        else written as compact JSON. ``identified`` (with ``identifier_names`` given to
        the store): the resource has an ``identifier`` element, whose names come after
        ``keys``; nothing is written for them: they are worked out from the resource
        read back only if a lookup needs a name of their kind."""
        if seq != self.count:
            raise ValueError("resources are added in order")
        flags = 0
        if entry.raw is not None:
            data = entry.raw
        else:
            try:
                data = orjson.dumps(entry.resource)
            except orjson.JSONEncodeError:  # an integer beyond 64 bits: kept exact as text
                text = json.dumps(entry.resource, ensure_ascii=False, separators=(",", ":"))
                data, flags = text.encode("utf-8"), _EXACT
        source, line, placed = self._origins.place(entry)
        flags |= placed
        if entry.full_url is not None:
            flags |= _EXTRA
        if flags & _EXTRA:
            self._extra.append((seq, entry.full_url, entry.origin))
            if len(self._extra) >= _BATCH:
                self._flush_rows()
        rtype = self._type_of.get(entry.type)
        if rtype is None:
            rtype = (
                number(self._types, self._type_of, entry.type)
                if len(self._types) < _TYPES_KEPT
                else _OTHER_TYPE
            )
        if identified:
            self._names.identify()
            flags |= _IDENTIFIED
        pos = entry.at if flags & _SOURCED else self._data.append(data)
        self._records.append(_RECORD.pack(pos, len(data), source, line, rtype, flags))
        if keys:
            self._names.add(seq, keys)
        self.count += 1

    def alias(self, key: str, seq: int) -> None:
        """Another name for ``seq`` (kept only if nothing has it yet)."""
        self._names.add(seq, [key])

    def defer(self, seq: int, kind: str, ref: Any) -> None:
        """Something of resource ``seq`` to resolve after pass 1 (``kind``: what it is, a
        word without spaces); deferred in input order, one line each:
        ``<seq> <kind> <ref as compact JSON>``."""
        tag = self._kind_bytes.get(kind)
        if tag is None:
            if not kind or " " in kind or "\n" in kind:
                raise ValueError("a deferred kind is one word")
            tag = self._kind_bytes[kind] = kind.encode("utf-8")
        self._pending.append(b"%d %b %b\n" % (seq, tag, orjson.dumps(ref)))

    def share(self, seq: int, rtype: str) -> None:
        """Resource ``seq`` (of type ``rtype``) belongs to no patient: several may take it."""
        self._shared.append((seq, rtype))
        if len(self._shared) >= _BATCH:
            self._flush_rows()

    def tag(self, tag: str, seq: int) -> None:
        """Resource ``seq`` carries iopfhir's own identifier of episode ``tag``."""
        self._tags.append((tag, seq))
        if len(self._tags) >= _BATCH:
            self._flush_rows()

    def _flush_claims(self) -> None:
        if self._claims:
            # in key order: the B-tree is written page after page (a batch holds no name
            # twice, and none the database has: the order changes nothing else)
            rows = sorted(self._claims.items())
            self._db.executemany("INSERT OR IGNORE INTO keys VALUES (?, ?)", rows)
            self._claims.clear()

    def _flush_rows(self) -> None:
        for sql, rows in (
            ("INSERT INTO extra VALUES (?, ?, ?)", self._extra),
            ("INSERT OR IGNORE INTO tags VALUES (?, ?)", self._tags),
            ("INSERT INTO shared VALUES (?, ?)", self._shared),
        ):
            if rows:
                self._db.executemany(sql, rows)
                rows.clear()

    def seal(self) -> None:
        """End of pass 1: write what is batched."""
        self._sealed = True
        self._flush_claims()
        self._flush_rows()
        for spill in (self._data, self._records):
            spill.flush()
        self._names.flush()

    # -- after pass 1: grouping ---------------------------------------------------------

    def pending(self) -> Iterator[tuple[int, str, Any]]:
        """``(seq, kind, value)`` of everything deferred, in input order."""
        loads = orjson.loads
        for seq, kind, raw in self.pending_raw():
            yield seq, kind, loads(raw)

    def pending_raw(self) -> Iterator[tuple[int, str, bytes]]:
        """``(seq, kind, value as compact JSON)`` of everything deferred, in input order
        (the same value's JSON is the same bytes: a reader may remember its answers by
        them, without parsing)."""
        kinds = {tag: kind for kind, tag in self._kind_bytes.items()}
        for line in self._pending.lines():
            seq, kind, raw = line.split(b" ", 2)
            yield int(seq), kinds[kind], raw[:-1]

    def add_members(self, rows: list[tuple[int, int]]) -> None:
        """``(group, seq)`` pairs: the resources of each patient group (a pair given twice
        counts once)."""
        self._db.executemany("INSERT OR IGNORE INTO member VALUES (?, ?, ?)", seq_runs(rows))

    def add_roles(self, rows: list[tuple[int, int]]) -> None:
        """``(practitioner seq, role seq)`` pairs."""
        self._db.executemany("INSERT OR IGNORE INTO roles VALUES (?, ?)", rows)

    def commit(self) -> None:
        """End of the grouping: make what was written durable for the reads, and open the
        transaction of pass 2 (the few rows it writes, the shared resources taken, are
        then not a transaction, and a write of pages, per patient)."""
        self._db.execute("COMMIT")
        self._db.execute("BEGIN")

    # -- reading --------------------------------------------------------------------------

    def find(self, key: str) -> int | None:
        """The seq of the first resource named ``key``.

        After pass 1 (:meth:`seal`) the answer never changes: it is remembered."""
        if key in self._found:
            return self._found[key]
        seq = self._find(key)
        if self._sealed:
            self._found.keep(key, seq)
        return seq

    def _find(self, key: str) -> int | None:
        if key[:1] != "t":
            return self._names.find(self._db, key)
        row = self._db.execute("SELECT seq FROM keys WHERE k = ?", (key,)).fetchone()
        return int(row[0]) if row else None

    def _record(self, seq: int) -> tuple[int, int, int, int, int, int] | None:
        if not 0 <= seq < self.count:
            return None
        size = _RECORD.size
        found: tuple[int, int, int, int, int, int] = _RECORD.unpack(
            self._records.read(seq * size, size)
        )
        return found

    def type_of(self, seq: int) -> str:
        """The resource type of ``seq``."""
        record = self._record(seq)
        if record is None:
            return ""
        if record[4] == _OTHER_TYPE:  # one of too many types (not FHIR's): read the resource
            return self._entry(seq, record).type
        return self._types[record[4]]

    def entry(self, seq: int, *, keep: bool = True) -> Entry | None:
        """The resource ``seq`` as an Entry (the same one while it is remembered: the
        readers never change a resource); ``keep=False``: not remembered."""
        found = self._entries.get(seq)
        if found is None and (record := self._record(seq)) is not None:
            found = self._entry(seq, record)
            if keep:
                self._entries.keep(seq, found)
        return found

    def _entry(self, seq: int, record: tuple[int, int, int, int, int, int]) -> Entry:
        pos, size, source, line, _rtype, flags = record
        data = self._read(source, flags, pos, size)
        resource = json.loads(data) if flags & _EXACT else orjson.loads(data)
        if flags & _EXTRA:
            full_url, origin = self._db.execute(
                "SELECT full_url, origin FROM extra WHERE seq = ?", (seq,)
            ).fetchone()
            return Entry(resource, full_url, origin)
        name = self._sources[source]
        return Entry(resource, None, name if flags & _NO_LINE else f"{name}{line}")

    def _identified(self) -> Iterator[tuple[int, str, Any]]:
        """``(seq, type, identifier element)`` of the resources added ``identified``, in
        input order (each read back: only when a lookup needs an identifier's name)."""
        self._records.flush()
        size = _RECORD.size
        for start in range(0, self.count, _RUN):
            block = self._records.read(start * size, (min(self.count, start + _RUN) - start) * size)
            records = list(_RECORD.iter_unpack(block))
            if not any(r[5] & _IDENTIFIED for r in records):
                continue
            for seq, entry in _run(self, start, records):
                if records[seq - start][5] & _IDENTIFIED:
                    yield seq, entry.type, entry.resource.get("identifier")

    def _read(self, source: int, flags: int, pos: int, size: int) -> bytes:
        """The JSON of a record: in the data file, or its input file's line."""
        if flags & _SOURCED:
            return self._origins.files.read(self._sources[source][:-1], pos, size)
        return self._data.read(pos, size)

    def members(self, group: int) -> Iterator[tuple[int, Entry]]:
        """``(seq, entry)`` of the resources of ``group``, in input order, each once.

        A patient's resources often follow each other in a file (an export writes them so):
        each run of consecutive resources (up to ``_RUN``) is read at once, its records and
        its JSON."""
        cur = self._db.execute(
            "SELECT first, n FROM member WHERE grp = ? ORDER BY first, n", (group,)
        )
        size = _RECORD.size
        for start, stop in seq_spans(cur.fetchall()):
            while start < stop:
                end = min(stop, start + _RUN)
                block = self._records.read(start * size, (end - start) * size)
                yield from _run(self, start, list(_RECORD.iter_unpack(block)))
                start = end

    def roles(self, practitioner: int, tags: set[str]) -> list[int]:
        """The seqs of the first PractitionerRole of ``practitioner`` and of those tagged
        with one of ``tags``, in input order."""
        if practitioner not in self._first_role:
            row = self._db.execute("SELECT min(role) FROM roles WHERE prac = ?", (practitioner,))
            least = row.fetchone()[0]
            self._first_role.keep(practitioner, None if least is None else int(least))
        first = self._first_role[practitioner]
        if first is None:
            return []
        found = {first}
        for tag in tags:
            # the episode's few tagged resources first, each looked up among the roles (a
            # practitioner of a large input has roles in many episodes: not scanned)
            cur = self._db.execute(
                "SELECT t.seq FROM tags t CROSS JOIN roles r "
                "WHERE t.tag = ? AND r.prac = ? AND r.role = t.seq",
                (tag, practitioner),
            )
            found.update(int(r[0]) for r in cur)
        return sorted(found)

    def mark_used(self, seqs: list[int]) -> None:
        """Shared resources ``seqs`` were taken by an episode."""
        marked = self._marked
        rows = [(s,) for s in seqs if s not in marked]
        if rows:
            self._db.executemany("INSERT OR IGNORE INTO used VALUES (?)", rows)
            for (seq,) in rows:
                marked.keep(seq, True)

    def unused_shared(self) -> Iterator[str]:
        """The type of every shared resource no episode took, in input order."""
        cur = self._db.execute(
            "SELECT type FROM shared WHERE seq NOT IN (SELECT seq FROM used) ORDER BY seq"
        )
        for (rtype,) in cur:
            yield str(rtype)

    def tagged(self, tag: str) -> list[int]:
        """The seqs of the resources tagged with episode ``tag``, in input order."""
        cur = self._db.execute("SELECT seq FROM tags WHERE tag = ? ORDER BY seq", (tag,))
        return [int(r[0]) for r in cur]

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database and the files, and delete the database's file."""
        try:
            self._db.close()
            for spill in (self._data, self._records, self._pending):
                spill.file.close()
            self._names.close()
            self._origins.files.close()
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def __enter__(self) -> ResourceStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Origins:
    """Where the resources of a store come from: origins numbered (a file's ``<file>:``
    prefix when it is the file and a line number, else the whole origin), and the input's
    plain files, read again for their lines."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._number_of: dict[str, int] = {}
        self.files = SourceFiles()
        #: the ``file:`` prefix of the last origin, its number, and whether its file is plain
        self._prefix = ""
        self._prefix_number = 0
        self._prefix_plain = False

    def place(self, entry: Entry) -> tuple[int, int, int]:
        """``(origin number, line, flags)`` of ``entry``'s record (flags ``_SOURCED``: its
        line is read again from its file, ``_EXTRA``: its origin is kept whole, ``_NO_LINE``:
        the origin is the number's name alone)."""
        origin = entry.origin
        prefix = self._prefix
        if not (prefix and origin.startswith(prefix)):  # not the file of the last one
            prefix = self._new_prefix(origin)
        line = entry.line
        digits = len(origin) - len(prefix)
        if (
            line
            and prefix
            and 0 < digits <= _LINE_DIGITS
            and _POW10[digits - 1] <= line < _POW10[digits]
        ):
            # an NDJSON line: the origin is ``<file>:<line>``, and what follows the prefix
            # has as many digits as the line number: it is the number (not read again)
            if entry.at >= 0 and entry.raw is not None and self._prefix_plain:
                return self._prefix_number, line, _SOURCED  # read again there: not copied
            return self._prefix_number, line, 0
        if prefix:
            tail = origin[len(prefix) :]
            if (
                tail.isascii()
                and tail.isdigit()
                and len(tail) <= _LINE_DIGITS
                and (tail[0] != "0" or tail == "0")
            ):
                return self._prefix_number, int(tail), 0
            return 0, 0, _EXTRA
        return number(self.names, self._number_of, origin), 0, _NO_LINE

    def _new_prefix(self, origin: str) -> str:
        """The origin's ``file:`` prefix (``""``: none), remembered with its number."""
        head, sep, _tail = origin.rpartition(":")
        if not sep:
            return ""
        self._prefix = head + sep
        self._prefix_number = number(self.names, self._number_of, self._prefix)
        self._prefix_plain = self.files.note(head)
        return self._prefix


def _run(
    store: ResourceStore, first: int, records: list[tuple[int, int, int, int, int, int]]
) -> Iterator[tuple[int, Entry]]:
    """The entries of consecutive resources ``first``, ``first + 1``... of ``store`` (their
    JSON read at once when it is consecutive in the data file, as it is when written in
    order, or lines of one input file one after the other, as a file lists them)."""
    begin = records[0][0]
    stop = records[-1][0] + records[-1][1]
    size = sum(r[1] for r in records)
    source, flags = records[0][2], records[0][5]
    if flags & _SOURCED:
        # lines of one file in order, a line end (or a few blank lines) apart
        together = (
            stop - begin <= size + 4 * len(records)
            and all(r[5] & _HOW == _SOURCED and r[2] == source for r in records)
            and all(r[0] >= p[0] + p[1] for p, r in pairwise(records))
        )
    else:
        together = stop - begin == size and not any(r[5] & _SOURCED for r in records)
    if not together or stop - begin > BUFFER:
        for i, record in enumerate(records):
            yield first + i, store._entry(first + i, record)
        return
    chunk = memoryview(store._read(source, flags, begin, stop - begin))
    sources, loads = store._sources, orjson.loads
    for i, (pos, size, source, line, _rtype, flags) in enumerate(records):
        seq = first + i
        if flags & (_EXACT | _EXTRA):
            yield seq, store._entry(seq, (pos, size, source, line, _rtype, flags))
            continue
        name = sources[source]
        data = chunk[pos - begin : pos - begin + size]
        yield seq, Entry(loads(data), None, name if flags & _NO_LINE else f"{name}{line}")
