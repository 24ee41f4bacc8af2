"""Keys of the episode model made from what FHIR gives: ids and full URLs
(:func:`url_tail`), any text made a key (:func:`sanitize_key`), and unique keys per
namespace (:class:`KeyAllocator`).

Imports nothing of the project.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["KeyAllocator", "is_key", "sanitize_key", "url_tail"]

_KEY_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,47}$")


def url_tail(url: str | None) -> str | None:
    """The last part of a full URL (the uuid of a ``urn:uuid``, the id of a RESTful URL):
    what a key is made from when a resource has no id."""
    if not url:
        return None
    if url.startswith("urn:uuid:") or url.startswith("urn:oid:"):
        return url.rsplit(":", 1)[-1]
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return tail or None


#: the domain's ``Key`` pattern, matched as pydantic matches it (the whole text)
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,47}")


def is_key(text: str) -> bool:
    """Whether ``text`` is a domain key (what ``Key`` validation accepts)."""
    return _KEY.fullmatch(text) is not None


def sanitize_key(raw: str) -> str:
    """A domain key (``[A-Za-z0-9][A-Za-z0-9.-]{0,47}``) made from any string, deterministically.

    A string that is already a key is kept; otherwise other characters become ``-`` and a
    string too long keeps its end plus a short hash, so distinct inputs stay distinct.
    """
    if _KEY_OK.match(raw):
        return raw
    cleaned = re.sub(r"[^A-Za-z0-9.\-]+", "-", raw).strip("-.") or "x"
    if not cleaned[0].isalnum():
        cleaned = "x" + cleaned
    if cleaned != raw or len(cleaned) > 48:
        digest = hashlib.sha1(raw.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
        if len(cleaned) > 48:
            cleaned = cleaned[: 48 - 9].rstrip("-.") + "-" + digest
    return cleaned


class KeyAllocator:
    """Unique keys within one namespace, from preferred names; deterministic in call order."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def reserve(self, key: str) -> None:
        """Mark a key as taken (keys read from our own identifiers)."""
        self._used.add(key)

    def take(self, preferred: str) -> str:
        """A free key based on ``preferred``."""
        base = sanitize_key(preferred)
        key = base
        n = 2
        while key in self._used:
            suffix = f"-{n}"
            key = base[: 48 - len(suffix)] + suffix
            n += 1
        self._used.add(key)
        return key
