"""The streaming reader's index of one patient (:class:`GroupIndex`): the patient's own
resources, loaded from the store in one loop, and whatever else a reference names
(shared Practitioners, Organizations, Locations, Medications, Questionnaires) asked of the
store on demand; and a Practitioner's roles, looked up in the store only for the
episodes at hand (:class:`RolesOf`).

Imports: the reader's ``index``, ``source`` and ``store``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from iopfhir.fhir.read.index import TAG_KINDS, Index, canonical_keys, reference_keys
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.store import ResourceStore

__all__ = ["GroupIndex", "RolesOf"]


class GroupIndex(Index):
    """The index of one patient's resources; what it lacks it finds in the store."""

    def __init__(self, store: ResourceStore) -> None:
        super().__init__(())
        self.store = store
        self.bases = store.bases  # the whole input's, not only this patient's
        self._seq_of: dict[int, int] = {}
        self._at: dict[int, Entry] = {}
        self._missing: set[str] = set()
        #: reference strings that name nothing here nor in the store
        self._unknown: set[str] = set()

    def add_at(self, entry: Entry, seq: int) -> None:
        """Add ``entry``, resource ``seq`` of the input."""
        self.add(entry, seq)
        self._seq_of[id(entry)] = seq
        self._at[seq] = entry

    def add_members(self, members: Iterable[tuple[int, Entry]]) -> list[tuple[int, Entry]]:
        """:meth:`add_at` of each ``(seq, entry)`` (a patient's resources, in input order),
        in one loop; returns them. A resource without ``fullUrl``, canonical ``url`` or
        contained resources, of a type not in :data:`TAG_KINDS` and with a ``Type/id`` no
        entry has yet (nearly every one) is filed here as :meth:`Index.add` files it;
        any other goes through :meth:`add_at`."""
        if self._found:
            self._found.clear()  # as Index.add does (nothing fills it in this loop)
        out = list(members)
        entries, position, by_type_id = self.entries, self.position, self._by_type_id
        unfiled, seq_of, at = self._unfiled, self._seq_of, self._at
        for seq, entry in out:
            res = entry.resource
            rid = entry.id
            type_id = f"{entry.type}/{rid}" if rid else None
            if (
                entry.full_url
                or "url" in res
                or "contained" in res
                or entry.type in TAG_KINDS
                or type_id in by_type_id
            ):
                self.add_at(entry, seq)
                continue
            key = id(entry)
            position[key] = seq
            entries.append(entry)
            if type_id is not None:
                by_type_id[type_id] = entry
            if "identifier" in res:
                unfiled.append(entry)
            seq_of[key] = seq
            at[seq] = entry
        return out

    def entry_at(self, seq: int) -> Entry | None:
        """The entry of resource ``seq`` (loaded from the store on first use)."""
        found = self._at.get(seq)
        if found is None:
            found = self.store.entry(seq)
            if found is not None:
                self.add_at(found, seq)
        return found

    def release(self) -> None:
        """Drop every entry (the index is not used again)."""
        for table in (
            self.entries,
            self.position,
            self._by_url,
            self._by_type_id,
            self._by_identifier,
            self._by_identifier_any,
            self._unfiled,
            self._by_canonical,
            self._contained,
            self._container,
            self._tagged,
            self._found,
            self._unknown,
            self.used,
            self._seq_of,
            self._at,
        ):
            table.clear()

    def seq_of_id(self, entry_id: int) -> int | None:
        """The input place of the entry whose ``id()`` is ``entry_id``, when it is one of
        this index."""
        return self._seq_of.get(entry_id)

    def resolve(self, value: Any, context: Entry | None = None) -> Entry | None:
        # the common case first, as the Index does it: a reference string found before
        ref = value.get("reference") if type(value) is dict else value
        if type(ref) is str and ref and ref[0] != "#":
            found = self._found.get(ref)
            if found is not None:
                return found
            # what Index.resolve does next, without asking for the reference again
            found = self._resolve_string(ref, None)
            if found is not None:
                self._found[ref] = found
                return found
            found = self._logical(value) if ref is not value else None
        else:
            found = self._resolve(value, context)
        if found is not None:
            return found
        # a bare reference string (or an element with only one) the store lacks: asked once
        ref = value if type(value) is str else None
        if type(value) is dict and len(value) == 1:
            ref = value.get("reference")
        if type(ref) is str and ref in self._unknown:
            return None
        found = self._from_store(reference_keys(value, self.bases))
        if found is None and type(ref) is str:
            self._unknown.add(ref)
        return found

    def find_canonical(self, url: str) -> Entry | None:
        # the exact canonical (this patient's entries, then the store) before the bare url
        exact, *bare = canonical_keys(url)
        found = self._by_canonical.get(url) or self._from_store([exact])
        if found is None and bare:
            found = self._by_canonical.get(url.split("|", 1)[0]) or self._from_store(bare)
        return found

    def tagged(self, episode: str) -> list[Entry]:
        found = (self.entry_at(seq) for seq in self.store.tagged(episode))
        return [e for e in found if e is not None]

    def _from_store(self, keys: list[str]) -> Entry | None:
        for key in keys:
            if key in self._missing:
                continue
            seq = self.store.find(key)
            if seq is None:
                self._missing.add(key)
                continue
            return self.entry_at(seq)
        return None


class RolesOf(Mapping[int, list[Entry]]):
    """Practitioner entry id → its PractitionerRoles, looked up in the store on demand.

    A practitioner of a large input has roles in many episodes; the reader only takes the
    role of its own episode (``practitionerrole`` → ``<episode>/<key>``), else the first.
    So only those are loaded: the first role, and the roles tagged with an episode key of
    this patient (``hints``), in input order: the reader's choice among them is the one it
    would make among all."""

    def __init__(self, index: GroupIndex, hints: set[str]) -> None:
        self._index = index
        self._hints = hints
        self._cache: dict[int, list[Entry]] = {}

    def __getitem__(self, key: int) -> list[Entry]:
        found = self._cache.get(key)
        if found is None:
            seq = self._index.seq_of_id(key)
            seqs = self._index.store.roles(seq, self._hints) if seq is not None else []
            found = [e for s in seqs if (e := self._index.entry_at(s)) is not None]
            self._cache[key] = found
        if not found:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[int]:
        return iter(self._cache)

    def __len__(self) -> int:
        return len(self._cache)
