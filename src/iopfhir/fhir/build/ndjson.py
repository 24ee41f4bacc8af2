"""Episodes → NDJSON lines (FHIR Bulk Data style): one resource per line, ``id`` set,
references ``Type/id``.

:func:`ndjson_lines` streams ``(resource type, line)`` pairs episode by episode, so memory
stays constant as the cohort grows; the only state kept across episodes is the set of
full URLs of shared resources already written (Patient, Practitioner, Organization: the
same MRN / NPI in several episodes is written once). :func:`to_ndjson` joins the lines
(every type in one stream); :func:`iopfhir.fhir.ndjson.write_ndjson` writes one file per
type.

Imports: :mod:`iopfhir.domain` and the builders.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

import orjson

from iopfhir.domain import Episode
from iopfhir.fhir.build import episode_entries

__all__ = ["SHARED_TYPES", "ndjson_lines", "to_ndjson"]

#: Types whose resources may be the same in several episodes (found by own identifiers).
SHARED_TYPES: Final = frozenset({"Patient", "Practitioner", "Organization"})


def ndjson_lines(episodes: Iterable[Episode]) -> Iterator[tuple[str, bytes]]:
    """``(resource type, JSON line with its newline)`` for every resource, shared ones once."""
    seen: set[str] = set()
    dumps = orjson.dumps
    for episode in episodes:
        for url, resource in episode_entries(episode, ndjson=True):
            rtype: str = resource["resourceType"]
            if rtype in SHARED_TYPES:
                if url in seen:
                    continue
                seen.add(url)
            yield rtype, dumps(resource, option=orjson.OPT_APPEND_NEWLINE)


def to_ndjson(episodes: Iterable[Episode]) -> bytes:
    """Every resource of ``episodes`` as one NDJSON document (all types mixed)."""
    return b"".join(line for _rtype, line in ndjson_lines(episodes))
