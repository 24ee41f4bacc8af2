"""Identity for resources that carry no business identifier: a push of anyone's FHIR, twice.

A push finds what the server already holds by business identifier (conditional create
on it, or ``PUT`` to an id derived from it). Much of what others write (Synthea's Goals,
Observations, Encounters; US Core examples) has none, so before this each push created
them again (Goals 4 → 8 → 12). Such a resource is given one, by iopfhir:

* system :data:`SOURCE_RECORD_SYSTEM` (``https://iopfhir.org/fhir/sid/source-record``);
* value: a name-based UUID (v5) of the resource type and its *source key*, so the value
  holds no patient data and the same input gives the same value on every push.

The source key (:func:`source_key`) is where the resource came from:

* the entry's ``fullUrl`` when it names the resource globally: ``urn:uuid:`` (a UUID,
  unique by definition), ``urn:oid:``, or an absolute ``http(s)`` URL. A changed
  resource under the same ``fullUrl`` is then *updated* on the next push, not created
  beside the old one;
* otherwise (a relative ``Type/id`` or no ``fullUrl``: ids local to whoever wrote the
  file, such as ``Goal/goal-1`` in many examples) the type, the id and a hash of the
  content (without ``id``, ``meta`` and ``text``): the same file pushed twice matches,
  two different resources that happen to share a local id do not.

Where it goes: appended to ``identifier`` (a list), or set as ``identifier`` where R4
allows one (``QuestionnaireResponse``) and there is none. A type without ``identifier``
in R4 (``Provenance``), or one whose single identifier is taken, is written by ``PUT`` to
the id derived from this identifier instead, and its content is left as it is. The
server then finds the resource on the next push through whichever strategy its
CapabilityStatement allows (:meth:`~iopfhir.sync.capabilities.ServerSupport.write_strategy`).

Imports :mod:`iopfhir.fhir.conventions`, :mod:`iopfhir.terminology`,
:mod:`iopfhir.sync.resources` and (for the R4 element table) :mod:`iopfhir.validation`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from functools import cache
from typing import Any, Final, Literal

from iopfhir.fhir.conventions import SOURCE_RECORD_SYSTEM, name_uuid
from iopfhir.sync.resources import canonical, normalized

__all__ = [
    "SOURCE_RECORD_SYSTEM",
    "identifier_slot",
    "source_identity",
    "source_key",
    "with_identity",
]

_NAMESPACE: Final = uuid.UUID("0b6d7c8e-2f4a-5e61-9c3d-7a1e5f0b2d94")

Slot = Literal["many", "one", "none"]


def source_key(resource_type: str, source_url: str | None, resource: Mapping[str, Any]) -> str:
    """Where the resource came from, as stable as the input allows (see the module)."""
    url = source_url or ""
    lowered = url.lower()
    if lowered.startswith(("urn:uuid:", "urn:oid:", "http://", "https://")):
        return f"{resource_type}|{url.split('/_history/', 1)[0]}"
    digest = hashlib.sha256(canonical(normalized(resource, keep_text=False))).hexdigest()
    return f"{resource_type}|{resource.get('id') or ''}|{digest}"


def source_identity(
    resource_type: str, source_url: str | None, resource: Mapping[str, Any]
) -> tuple[str, str]:
    """``(system, value)``: the identifier iopfhir gives a resource without one."""
    key = source_key(resource_type, source_url, resource)
    return SOURCE_RECORD_SYSTEM, name_uuid(_NAMESPACE, key)


def with_identity(resource: Mapping[str, Any], ident: tuple[str, str]) -> dict[str, Any] | None:
    """A copy of ``resource`` carrying ``ident`` as an identifier; None when R4 has no room
    for it (no ``identifier`` element, or a single one already taken)."""
    system, value = ident
    element = {"system": system, "value": value}
    slot = identifier_slot(str(resource.get("resourceType")))
    current = resource.get("identifier")
    if slot == "many" and (current is None or isinstance(current, list)):
        return {**resource, "identifier": [*(current or []), element]}
    if slot == "one" and current is None:
        return {**resource, "identifier": element}
    return None


@cache
def identifier_slot(resource_type: str) -> Slot:
    """Whether R4 ``resource_type`` has ``identifier`` 0..*, 0..1, or none at all."""
    from iopfhir.validation.definitions import base_definitions  # only when it is needed

    sd = base_definitions().structure_definition(
        f"http://hl7.org/fhir/StructureDefinition/{resource_type}"
    )
    if sd is None:
        return "none"
    wanted = f"{resource_type}.identifier"
    for element in (sd.get("snapshot") or {}).get("element") or ():
        if element.get("path") == wanted:
            return "one" if element.get("max") == "1" else "many"
    return "none"
