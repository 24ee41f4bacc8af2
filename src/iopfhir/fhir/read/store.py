"""The streaming reader's embedded store: every resource of one input in a temporary SQLite
database (the standard library's ``sqlite3``), found again by reference or by patient.

Tables (one file under the system's temp directory, deleted by :meth:`ResourceStore.close`):

- ``res``: one row per resource (``seq`` = its place in the input, duplicates left out),
  its type, origin (file and line), ``fullUrl`` and the resource as JSON: the checked
  input line itself when the resource is a whole NDJSON line, else compact JSON (text when
  it holds an integer beyond 64 bits, which only the standard library reads exactly);
- ``keys``: every name a reference may use for a resource (``fullUrl``, ``Type/id``,
  ``Type|system|value`` and ``|system|value`` of each identifier, a canonical ``url``),
  the first resource of a name winning, as in :class:`~iopfhir.fhir.read.index.Index`;
- ``pending``: what pass 2 must resolve once the whole input is known (the patient
  reference of a resource, the targets of a review Provenance, the practitioner of a
  PractitionerRole), as compact JSON;
- ``shared``: the resources no patient owns (practitioners, organizations, locations), and
  ``used``: those an episode took;
- ``member``: the resources of each patient group, ``roles``: the PractitionerRoles of
  each Practitioner, ``tags``: PractitionerRoles, Organizations... by the episode their own
  identifier names.

Rows are written in batches; the indexes the lookups need are built once, after the input
has been read (:meth:`ResourceStore.seal`). The page cache is bounded, so memory does not
grow with the input. Nothing here knows FHIR beyond the names of a resource.

Imports: :mod:`iopfhir.fhir.read.source` (the Entry) only.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Final

import orjson

from iopfhir.fhir.read.source import Entry

__all__ = ["ResourceStore"]

_SCHEMA: Final = """
CREATE TABLE res (seq INTEGER PRIMARY KEY, type TEXT, origin TEXT, full_url TEXT, data BLOB);
CREATE TABLE keys (k TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE pending (seq INTEGER, kind TEXT, ref BLOB);
CREATE TABLE member (grp INTEGER, seq INTEGER, PRIMARY KEY (grp, seq)) WITHOUT ROWID;
CREATE TABLE roles (prac INTEGER, role INTEGER, PRIMARY KEY (prac, role)) WITHOUT ROWID;
CREATE TABLE tags (tag TEXT, seq INTEGER, PRIMARY KEY (tag, seq)) WITHOUT ROWID;
CREATE TABLE shared (seq INTEGER PRIMARY KEY, type TEXT);
CREATE TABLE used (seq INTEGER PRIMARY KEY);
"""
#: rows kept in memory before they are written
_BATCH: Final = 2000
#: bits of the filter of claimed ``Type/id`` names (4 MiB whatever the input: a false
#: positive only costs a database lookup, so the answers never depend on it)
_BLOOM_BITS: Final = 1 << 25
_BLOOM_MASK: Final = _BLOOM_BITS - 1


def _loads(data: bytes | str) -> Any:
    """A stored resource: bytes are checked JSON (orjson reads them as the checked reader
    did), text is JSON holding an integer beyond 64 bits (only the standard library keeps
    it exact)."""
    return orjson.loads(data) if isinstance(data, bytes) else json.loads(data)


class ResourceStore:
    """Resources of one input in a temporary SQLite file; a context manager that deletes it."""

    def __init__(self, directory: str | None = None) -> None:
        fd, self.path = tempfile.mkstemp(prefix="iopfhir-read-", suffix=".sqlite", dir=directory)
        os.close(fd)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "page_size=16384",  # fewer, larger pages: resources are ~1 KiB each
            "journal_mode=OFF",
            "synchronous=OFF",
            "locking_mode=EXCLUSIVE",
            "temp_store=FILE",
            "cache_size=-16384",  # 16 MiB of pages, whatever the input size
        ):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(_SCHEMA)
        self._db.execute("BEGIN")
        self._rows: list[tuple[int, str, str, str | None, bytes | str]] = []
        self._keys: list[tuple[str, int]] = []
        #: ``Type/id`` claims not yet written, and a Bloom filter of every claim made
        self._claims: list[tuple[str, int]] = []
        self._bloom = bytearray(_BLOOM_BITS >> 3)
        self._pending: list[tuple[int, str, bytes]] = []
        self._tags: list[tuple[str, int]] = []
        self._shared: list[tuple[int, str]] = []
        self.count = 0

    # -- pass 1: writing ----------------------------------------------------------------

    def claim(self, key: str, seq: int) -> int | None:
        """Give ``key`` to ``seq`` unless another resource has it; return that one's seq.

        Only ``Type/id`` names are claimed (they tell a duplicate); the other names are
        batched, and no batched name is a ``Type/id``. A claim is batched too when the
        filter of names already claimed proves the name new (nearly always); otherwise
        the batch is written and the database decides, exactly."""
        h = hash(key)
        a = h & _BLOOM_MASK
        b = (h >> 27) & _BLOOM_MASK
        bloom = self._bloom
        if bloom[a >> 3] & (1 << (a & 7)) and bloom[b >> 3] & (1 << (b & 7)):
            self._flush_claims()
            cur = self._db.execute("INSERT OR IGNORE INTO keys VALUES (?, ?)", (key, seq))
            if cur.rowcount:
                return None
            return self.find(key)
        bloom[a >> 3] |= 1 << (a & 7)
        bloom[b >> 3] |= 1 << (b & 7)
        self._claims.append((key, seq))
        return None

    def add(self, entry: Entry, seq: int, keys: list[str]) -> None:
        """Store one resource and the names it may be referenced by (first name wins).

        The resource is kept as its checked input line when it has one (``entry.raw``),
        else written as compact JSON."""
        data: bytes | str
        if entry.raw is not None:
            data = entry.raw
        else:
            try:
                data = orjson.dumps(entry.resource)
            except orjson.JSONEncodeError:  # an integer beyond 64 bits: kept exact as text
                data = json.dumps(entry.resource, ensure_ascii=False, separators=(",", ":"))
        self._rows.append((seq, entry.type, entry.origin, entry.full_url, data))
        self._keys.extend((k, seq) for k in keys)
        self.count += 1
        if len(self._rows) >= _BATCH:
            self._flush()

    def alias(self, key: str, seq: int) -> None:
        """Another name for ``seq`` (kept only if nothing has it yet)."""
        self._keys.append((key, seq))

    def defer(self, seq: int, kind: str, ref: Any) -> None:
        """Something of resource ``seq`` to resolve after pass 1 (``kind``: what it is)."""
        self._pending.append((seq, kind, orjson.dumps(ref)))

    def share(self, seq: int, rtype: str) -> None:
        """Resource ``seq`` (of type ``rtype``) belongs to no patient: several may take it."""
        self._shared.append((seq, rtype))

    def tag(self, tag: str, seq: int) -> None:
        """Resource ``seq`` carries iopfhir's own identifier of episode ``tag``."""
        self._tags.append((tag, seq))

    def _flush_claims(self) -> None:
        if self._claims:
            self._db.executemany("INSERT OR IGNORE INTO keys VALUES (?, ?)", self._claims)
            self._claims.clear()

    def _flush_keys(self) -> None:
        if self._keys:
            self._db.executemany("INSERT OR IGNORE INTO keys VALUES (?, ?)", self._keys)
            self._keys.clear()

    def _flush(self) -> None:
        self._flush_claims()
        if self._rows:
            self._db.executemany("INSERT INTO res VALUES (?, ?, ?, ?, ?)", self._rows)
            self._rows.clear()
        self._flush_keys()
        if self._pending:
            self._db.executemany("INSERT INTO pending VALUES (?, ?, ?)", self._pending)
            self._pending.clear()
        if self._tags:
            self._db.executemany("INSERT OR IGNORE INTO tags VALUES (?, ?)", self._tags)
            self._tags.clear()
        if self._shared:
            self._db.executemany("INSERT INTO shared VALUES (?, ?)", self._shared)
            self._shared.clear()

    def seal(self) -> None:
        """End of pass 1: write what is batched and index what pass 2 looks up."""
        self._flush()
        self._db.execute("CREATE INDEX pending_seq ON pending (seq)")

    # -- after pass 1: grouping ---------------------------------------------------------

    def pending(self) -> Iterator[tuple[int, str, Any]]:
        """``(seq, kind, value)`` of everything deferred, in input order."""
        cur = self._db.execute("SELECT seq, kind, ref FROM pending ORDER BY seq, rowid")
        for seq, kind, ref in cur:
            yield seq, kind, orjson.loads(ref)

    def add_members(self, rows: list[tuple[int, int]]) -> None:
        """``(group, seq)`` pairs: the resources of each patient group."""
        self._db.executemany("INSERT OR IGNORE INTO member VALUES (?, ?)", rows)

    def add_roles(self, rows: list[tuple[int, int]]) -> None:
        """``(practitioner seq, role seq)`` pairs."""
        self._db.executemany("INSERT OR IGNORE INTO roles VALUES (?, ?)", rows)

    def commit(self) -> None:
        """End of the grouping: make what was written durable for the reads."""
        self._db.execute("COMMIT")

    # -- reading --------------------------------------------------------------------------

    def find(self, key: str) -> int | None:
        """The seq of the first resource named ``key``."""
        row = self._db.execute("SELECT seq FROM keys WHERE k = ?", (key,)).fetchone()
        return int(row[0]) if row else None

    def type_of(self, seq: int) -> str:
        """The resource type of ``seq``."""
        row = self._db.execute("SELECT type FROM res WHERE seq = ?", (seq,)).fetchone()
        return str(row[0]) if row else ""

    def entry(self, seq: int) -> Entry | None:
        """The resource ``seq`` as a new Entry."""
        row = self._db.execute(
            "SELECT origin, full_url, data FROM res WHERE seq = ?", (seq,)
        ).fetchone()
        if row is None:
            return None
        return Entry(_loads(row[2]), row[1], row[0])

    def members(self, group: int) -> Iterator[tuple[int, Entry]]:
        """``(seq, entry)`` of the resources of ``group``, in input order."""
        cur = self._db.execute(
            "SELECT r.seq, r.origin, r.full_url, r.data FROM member m JOIN res r "
            "ON r.seq = m.seq WHERE m.grp = ? ORDER BY m.seq",
            (group,),
        )
        loads = orjson.loads
        for seq, origin, full_url, data in cur:
            yield seq, Entry(loads(data) if type(data) is bytes else _loads(data), full_url, origin)

    def roles(self, practitioner: int, tags: set[str]) -> list[int]:
        """The seqs of the first PractitionerRole of ``practitioner`` and of those tagged
        with one of ``tags``, in input order."""
        first = self._db.execute(
            "SELECT min(role) FROM roles WHERE prac = ?", (practitioner,)
        ).fetchone()[0]
        if first is None:
            return []
        found = {int(first)}
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
        self._db.executemany("INSERT OR IGNORE INTO used VALUES (?)", [(s,) for s in seqs])

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
        """Close the database and delete its file."""
        try:
            self._db.close()
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
