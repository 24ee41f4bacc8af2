"""The kick-off request of a Bulk Data export, and the DELETE that cancels one.

:func:`kickoff_url` builds ``[base]/$export`` (system), ``[base]/Patient/$export``
(patient) or ``[base]/Group/<id>/$export`` with ``_type``, ``_since`` and ``_typeFilter``.
:func:`kick_off` sends it as a GET with ``Prefer: respond-async`` and
``Accept: application/fhir+json`` through the client (its retry policy handles 429/503
with ``Retry-After``, its auth adds the token), and returns the status URL from the 202's
``Content-Location`` (on the server's origin only: the token goes there on every poll).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from iopfhir.client import FhirClient
from iopfhir.errors import R4_RESOURCE_TYPES, ClientError, InputError, InsecureTransportError

from .report import ExportError

__all__ = ["EXPORT_HEADERS", "cancel", "kick_off", "kickoff_url"]

EXPORT_HEADERS = {"Prefer": "respond-async", "Accept": "application/fhir+json"}

_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def kickoff_url(
    client: FhirClient,
    *,
    level: str = "system",
    group: str | None = None,
    types: Sequence[str] = (),
    since: str | None = None,
    type_filters: Sequence[str] = (),
) -> str:
    """The kick-off URL for the options (checked; :class:`InputError` names the option)."""
    for t in types:
        if t not in R4_RESOURCE_TYPES:
            raise InputError("not an R4 resource type", path="types")
    if since is not None and not _INSTANT.fullmatch(since):
        raise InputError("not a FHIR instant (YYYY-MM-DDThh:mm:ss+zz:zz)", path="since")
    params: list[tuple[str, str]] = []
    if types:
        params.append(("_type", ",".join(types)))
    if since is not None:
        params.append(("_since", since))
    params.extend(("_typeFilter", f) for f in type_filters)
    if group is not None:
        if not _ID.fullmatch(group):
            raise InputError("not a FHIR id", path="group")
        return client.url("Group", group, "$export", params=params)
    if level == "patient":
        return client.url("Patient", "$export", params=params)
    if level != "system":
        raise InputError("level is 'system' or 'patient' (or give a group)", path="level")
    return client.url("$export", params=params)


def kick_off(client: FhirClient, url: str) -> str:
    """Start the export; return its status URL."""
    response = client.request("GET", url, headers=EXPORT_HEADERS)
    if response.status != 202:
        raise ExportError(
            f"the server answered the kick-off with HTTP {response.status}, not 202 Accepted"
        )
    location = response.headers.get("Content-Location")
    if not location:
        raise ExportError("the server's 202 has no Content-Location (status URL)")
    try:
        return client.resolve(location)
    except InsecureTransportError:
        raise ExportError("the status URL is on another origin than the server's") from None


def cancel(client: FhirClient, status_url: str) -> bool:
    """DELETE the job at ``status_url``; True when the server accepted it (2xx)."""
    try:
        client.request("DELETE", client.resolve(status_url), headers=EXPORT_HEADERS)
    except ClientError:
        return False
    return True
