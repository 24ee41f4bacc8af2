"""FHIR R4 Bundles of IOP episodes: transaction (to create on a server) and collection.

A transaction entry is ``POST <Type>`` with ``ifNoneExist`` = ``identifier=<system>|<value>``
of the resource's first business identifier (see :mod:`iopfhir.fhir.conventions`), so a
resend creates nothing twice (ids are server-assigned, so PUT by id is not an option);
a resource without ``identifier`` in R4 (a review's Provenance) is ``PUT <Type>/<uuid>``
with the uuid of its full URL as ``id``.
Entries reference each other by ``urn:uuid`` full URLs, which the server rewrites.
Resources shared by several episodes (the same practitioner NPI, organization or patient
MRN) appear once. :func:`dumps` serialises with orjson; output is deterministic: the same
episodes give byte-identical bytes (no timestamps, no random ids).

:func:`write_bundle` writes the same bytes as ``dumps(transaction_bundle(...))`` (or
``collection_bundle``) to a binary handle entry by entry, so memory does not grow with the
cohort; it also merges an episode given twice (identical resources written once, counted)
and refuses one given twice with different content (see :mod:`iopfhir.fhir._ledger`).
Every path refuses a time without a UTC offset (FHIR R4 requires one).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.fhir.build`, :mod:`iopfhir.fhir._ledger`,
:mod:`iopfhir.fhir.models` (``model=``: fhir.resources models instead of dicts).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Literal, overload
from urllib.parse import quote

import orjson

from iopfhir.domain import Episode
from iopfhir.domain.times import naive_time
from iopfhir.errors import EpisodeInputError
from iopfhir.fhir._ledger import SHARED_TYPES, Ledger, naive_time_message
from iopfhir.fhir.build import Entry, episode_entries
from iopfhir.fhir.models import Release, to_model
from iopfhir.fhir.xml_write import BUNDLE_END, bundle_start, entry_xml

__all__ = [
    "BundleWritten",
    "collection_bundle",
    "condition_query",
    "dumps",
    "transaction_bundle",
    "unique_entries",
    "write_bundle",
]


def unique_entries(episodes: Iterable[Episode]) -> Iterator[Entry]:
    """``(fullUrl, resource)`` of every resource of ``episodes``, each shared one once.

    Raises :class:`~iopfhir.errors.EpisodeInputError` for a time without a UTC offset."""
    seen: set[str] = set()
    for position, episode in enumerate(episodes, start=1):
        where = naive_time(episode)
        if where is not None:
            raise EpisodeInputError(naive_time_message(position), path=where)
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


def _transaction_entry(url: str, resource: dict[str, Any]) -> dict[str, Any]:
    if "identifier" not in resource:
        # Provenance has no identifier in R4 (nor a search on one): it is PUT to the id of
        # its full URL (a uuid5 of iopfhir's identifier), so a resend changes nothing
        rid = url.removeprefix("urn:uuid:")
        return {
            "fullUrl": url,
            "resource": {"resourceType": resource["resourceType"], "id": rid, **resource},
            "request": {"method": "PUT", "url": f"{resource['resourceType']}/{rid}"},
        }
    return {
        "fullUrl": url,
        "resource": resource,
        "request": {
            "method": "POST",
            "url": resource["resourceType"],
            "ifNoneExist": condition_query(resource),
        },
    }


@overload
def transaction_bundle(episodes: Iterable[Episode], *, model: None = None) -> dict[str, Any]: ...
@overload
def transaction_bundle(episodes: Iterable[Episode], *, model: Release) -> Any: ...
def transaction_bundle(episodes: Iterable[Episode], *, model: Release | None = None) -> Any:
    """A ``transaction`` Bundle creating every resource of ``episodes`` conditionally
    (a dict; with ``model`` = ``"R4B"`` or ``"R5"``, that ``fhir.resources`` Bundle model)."""
    entries = [_transaction_entry(url, resource) for url, resource in unique_entries(episodes)]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    return bundle if model is None else to_model(bundle, model)


@overload
def collection_bundle(episodes: Iterable[Episode], *, model: None = None) -> dict[str, Any]: ...
@overload
def collection_bundle(episodes: Iterable[Episode], *, model: Release) -> Any: ...
def collection_bundle(episodes: Iterable[Episode], *, model: Release | None = None) -> Any:
    """A ``collection`` Bundle of every resource of ``episodes`` (a dict; with ``model`` =
    ``"R4B"`` or ``"R5"``, that ``fhir.resources`` Bundle model)."""
    entries = [{"fullUrl": url, "resource": resource} for url, resource in unique_entries(episodes)]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return bundle if model is None else to_model(bundle, model)


def dumps(obj: Any) -> bytes:
    """JSON bytes of a bundle or resource; the same input always gives the same bytes."""
    return orjson.dumps(obj)


@dataclass(frozen=True, slots=True)
class BundleWritten:
    """What :func:`write_bundle` wrote: entries, episodes, and resources given again with
    identical content that were written once (``merged``)."""

    entries: int
    episodes: int
    merged: int


def write_bundle(
    episodes: Iterable[Episode],
    handle: IO[bytes],
    *,
    kind: Literal["transaction", "collection"] = "transaction",
    xml: bool = False,
) -> BundleWritten:
    """Write a ``transaction`` (or ``collection``) Bundle of ``episodes`` to ``handle``
    as it is built: the bytes of ``dumps(transaction_bundle(episodes))`` (no newline
    after), one entry at a time; with ``xml``, that Bundle as FHIR XML
    (:mod:`iopfhir.fhir.xml_write`). Raises :class:`~iopfhir.errors.EpisodeInputError` for an
    episode given twice with different content or a time without a UTC offset; what was
    written by then is incomplete (write to a temporary file and rename on success)."""
    if kind not in ("transaction", "collection"):
        raise ValueError(f"unknown Bundle kind {kind!r}")
    ledger = Ledger()
    write, dump = handle.write, orjson.dumps
    transaction = kind == "transaction"
    if xml:
        write(bundle_start(kind))
    else:
        write(b'{"resourceType":"Bundle","type":"' + kind.encode() + b'","entry":[')
    separator = b""
    episodes_seen = 0
    for episode in episodes:
        episodes_seen += 1
        ledger.begin(episode)
        for url, resource in episode_entries(episode):
            rtype = resource["resourceType"]
            if rtype in SHARED_TYPES and not ledger.admit_shared(url):
                continue
            entry = (
                _transaction_entry(url, resource)
                if transaction
                else {"fullUrl": url, "resource": resource}
            )
            data = dump(entry)
            if rtype not in SHARED_TYPES and not ledger.admit(url, rtype, data):
                continue
            if xml:
                write(entry_xml(entry, ledger.written - 1))
                continue
            write(separator)
            write(data)
            separator = b","
    write(BUNDLE_END if xml else b"]}")
    return BundleWritten(entries=ledger.written, episodes=episodes_seen, merged=ledger.merged)
