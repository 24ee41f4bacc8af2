"""What the FHIR writers (Bundle and NDJSON) check across the episodes they write.

:class:`Ledger` is the only state a streaming writer keeps from one episode to the next:

- shared resources (Patient, Practitioner, Organization: found by their own identifiers,
  the same MRN / NPI in several episodes) are written once: a set of their full URLs;
- any other resource has a full URL made from its episode's key and its own local key
  (:meth:`iopfhir.fhir.build.Context.local_url`), so two resources can share a full URL
  only when two episodes share a key: the same episode given twice (in two files, say).
  Per episode key the ledger keeps 16 bytes per resource (a hash of the full URL and a
  hash of the written bytes), never the resources: a resource seen before with identical
  bytes is written once and counted in :attr:`Ledger.merged`; different bytes raise
  :class:`~iopfhir.errors.EpisodeInputError` naming the type and both episodes' positions
  (never identifiers, which are patient data).

:func:`~iopfhir.domain.times.naive_time` finds a time without a UTC offset in an episode
(the model accepts one so that FHIR read back is kept as written; FHIR R4 requires an
offset whenever a time is given, so the writers refuse it and name where it is; the user
can name the zone they are in: :func:`~iopfhir.domain.times.with_time_zone`).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.errors`.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Final

from iopfhir.domain import Episode
from iopfhir.domain.times import naive_time
from iopfhir.errors import EpisodeInputError

__all__ = ["SHARED_TYPES", "Ledger", "naive_time_message"]

#: Types whose resources may be the same in several episodes (found by own identifiers).
SHARED_TYPES: Final = frozenset({"Patient", "Practitioner", "Organization"})


@dataclass(slots=True)
class _Scope:
    """The resources written for one episode key: where it was first seen, and
    ``(hash of full URL, hash of bytes)`` pairs, flat."""

    position: int
    hashes: array[int] = field(default_factory=lambda: array("q"))
    #: url hash → bytes hash, built only when the key comes again (rare)
    index: dict[int, int] | None = None


def naive_time_message(position: int) -> str:
    """The error of a time without an offset in the episode at ``position`` (from 1)."""
    return (
        f"a time needs a UTC offset (FHIR R4), in episode {position}; or name the time "
        "zone of the times written without one (--time-zone, domain.with_time_zone)"
    )


class Ledger:
    """Full URLs written so far by one writer; see the module docstring."""

    def __init__(self) -> None:
        self._shared: set[str] = set()
        self._scopes: dict[str, _Scope] = {}
        self._scope: _Scope | None = None
        self._position = 0
        #: resources given again with identical content, written once
        self.merged = 0
        #: resources admitted (written)
        self.written = 0

    def begin(self, episode: Episode) -> None:
        """Start the next episode (positions count from 1); refuse a time without an offset."""
        self._position += 1
        where = naive_time(episode)
        if where is not None:
            raise EpisodeInputError(naive_time_message(self._position), path=where)
        scope = self._scopes.get(episode.key)
        if scope is None:
            scope = self._scopes[episode.key] = _Scope(self._position)
        elif scope.index is None:
            pairs = scope.hashes
            scope.index = {pairs[i]: pairs[i + 1] for i in range(0, len(pairs), 2)}
        self._scope = scope

    def admit_shared(self, url: str) -> bool:
        """True when the shared resource (Patient, Practitioner, Organization) at ``url``
        is to be written: the first time only (asked before serialising it)."""
        if url in self._shared:
            return False
        self._shared.add(url)
        self.written += 1
        return True

    def admit(self, url: str, rtype: str, content: bytes) -> bool:
        """True when the resource (not of a shared type) is to be written; False when the
        same bytes were written before at ``url``; raises when other bytes were."""
        scope = self._scope
        if scope is None:
            raise RuntimeError("Ledger.begin() must be called for each episode first")
        url_hash, content_hash = hash(url), hash(content)
        if scope.index is not None:
            before = scope.index.get(url_hash)
            if before is not None:
                if before != content_hash:
                    raise EpisodeInputError(
                        f"episodes {scope.position} and {self._position} hold different "
                        f"{rtype} resources for the same episode key; give each episode once"
                    )
                self.merged += 1
                return False
            scope.index[url_hash] = content_hash
        scope.hashes.append(url_hash)
        scope.hashes.append(content_hash)
        self.written += 1
        return True
