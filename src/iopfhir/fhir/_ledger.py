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

:func:`naive_time` finds a time without a UTC offset in an episode (the model accepts
one so that FHIR read back is kept as written; FHIR R4 requires an offset whenever a time
is given, so the writers refuse it and name where it is).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.errors`.
"""

from __future__ import annotations

import types
import typing
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel

from iopfhir.domain import Episode
from iopfhir.errors import EpisodeInputError

__all__ = ["SHARED_TYPES", "Ledger", "naive_time"]

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
            raise EpisodeInputError(
                f"a time needs a UTC offset (FHIR R4), in episode {self._position}",
                path=where,
            )
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


#: per model class: the fields that may hold a datetime (directly or further down)
_PLANS: dict[type[BaseModel], tuple[tuple[str, str], ...]] = {}


def naive_time(episode: Episode) -> str | None:
    """The JSON path (input names, ``$.sessions[3].start``) of the first datetime without
    a UTC offset in ``episode``, or ``None``."""
    for parts in _walk(episode, ()):
        return "$" + "".join(parts)
    return None


def _walk(value: Any, parts: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            yield parts
    elif isinstance(value, BaseModel):
        for name, label in _plan(type(value)):
            child = getattr(value, name)
            if child is not None:
                yield from _walk(child, (*parts, label))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _walk(item, (*parts, f"[{i}]"))


def _plan(cls: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    plan = _PLANS.get(cls)
    if plan is None:
        plan = tuple(
            (name, f".{info.alias or name}")
            for name, info in cls.model_fields.items()
            if _may_hold_time(info.annotation, set())
        )
        _PLANS[cls] = plan
    return plan


def _may_hold_time(annotation: Any, seen: set[Any]) -> bool:
    """Whether a field annotation can hold a datetime (models are searched recursively;
    ``seen`` stops recursive model references)."""
    if annotation is datetime:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return True  # already being searched: let the other branch decide
        seen.add(annotation)
        return any(_may_hold_time(f.annotation, seen) for f in annotation.model_fields.values())
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return False
    return any(_may_hold_time(arg, seen) for arg in typing.get_args(annotation))
