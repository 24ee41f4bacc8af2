"""FHIR R4 Bundles of IOP episodes: transaction (to create on a server) and collection.

A transaction entry is ``POST <Type>`` with ``ifNoneExist`` = ``identifier=<system>|<value>``
of the resource's first business identifier (see :mod:`iopfhir.fhir.conventions`), so a
resend creates nothing twice (ids are server-assigned, so PUT by id is not an option).
Entries reference each other by ``urn:uuid`` full URLs, which the server rewrites.
Resources shared by several episodes (the same practitioner NPI, organization or patient
MRN) appear once. :func:`dumps` serialises with orjson; output is deterministic: the same
episodes give byte-identical bytes (no timestamps, no random ids).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.fhir.build`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

import orjson

from iopfhir.domain import Episode
from iopfhir.fhir.build import Entry, episode_entries

__all__ = [
    "collection_bundle",
    "condition_query",
    "dumps",
    "transaction_bundle",
    "unique_entries",
]


def unique_entries(episodes: Iterable[Episode]) -> Iterator[Entry]:
    """``(fullUrl, resource)`` of every resource of ``episodes``, each shared one once."""
    seen: set[str] = set()
    for episode in episodes:
        for url, resource in episode_entries(episode):
            if url not in seen:
                seen.add(url)
                yield url, resource


def condition_query(resource: dict[str, Any]) -> str:
    """``identifier=<system>|<value>`` of the resource's first identifier (URL-encoded)."""
    ident = resource["identifier"]
    if isinstance(ident, list):  # QuestionnaireResponse.identifier is a single Identifier
        ident = ident[0]
    return f"identifier={quote(ident['system'], safe=':/')}|{quote(ident['value'], safe='/')}"


def transaction_bundle(episodes: Iterable[Episode]) -> dict[str, Any]:
    """A ``transaction`` Bundle creating every resource of ``episodes`` conditionally."""
    entries = [
        {
            "fullUrl": url,
            "resource": resource,
            "request": {
                "method": "POST",
                "url": resource["resourceType"],
                "ifNoneExist": condition_query(resource),
            },
        }
        for url, resource in unique_entries(episodes)
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def collection_bundle(episodes: Iterable[Episode]) -> dict[str, Any]:
    """A ``collection`` Bundle of every resource of ``episodes``."""
    entries = [{"fullUrl": url, "resource": resource} for url, resource in unique_entries(episodes)]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def dumps(obj: Any) -> bytes:
    """JSON bytes of a bundle or resource; the same input always gives the same bytes."""
    return orjson.dumps(obj)
