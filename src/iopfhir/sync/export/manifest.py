"""The Bulk Data manifest: read, checked, and each file given its local name.

A manifest (Bulk Data Access IG v2, "Complete status") carries ``transactionTime``,
``request``, ``requiresAccessToken``, ``output`` and ``error`` (lists of
``{type, url, count?}``). :func:`parse_manifest` checks the shape and names each file:
``output`` entries ``<Type>.ndjson`` (the second file of a type ``<Type>.2.ndjson``...),
``error`` entries ``error/<Type>.ndjson``. Types must be R4 resource type names, which
also keeps a server's text out of the local paths.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from iopfhir.errors import R4_RESOURCE_TYPES

from .report import ExportError
from .state import ERROR_DIR

__all__ = ["Manifest", "ManifestFile", "parse_manifest"]


@dataclass(frozen=True, slots=True)
class ManifestFile:
    """One ``output`` or ``error`` entry and the local path it is saved under."""

    type: str
    url: str
    count: int | None
    local: str
    error: bool


@dataclass(frozen=True, slots=True)
class Manifest:
    """A checked manifest."""

    transaction_time: str
    request: str
    requires_access_token: bool
    output: tuple[ManifestFile, ...]
    error: tuple[ManifestFile, ...]

    @property
    def files(self) -> tuple[ManifestFile, ...]:
        """Output files, then error files."""
        return self.output + self.error


def _files(raw: Any, key: str, error: bool) -> tuple[ManifestFile, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ExportError(f"the manifest's {key} is not a list")
    seen: Counter[str] = Counter()
    out = []
    for i, item in enumerate(raw):
        where = f"manifest.{key}[{i}]"
        if not isinstance(item, dict):
            raise ExportError(f"{where} is not an object")
        rtype, url, count = item.get("type"), item.get("url"), item.get("count")
        if not isinstance(rtype, str) or rtype not in R4_RESOURCE_TYPES:
            raise ExportError(f"{where}.type is not an R4 resource type")
        if not isinstance(url, str) or not url.lower().startswith(("https://", "http://")):
            raise ExportError(f"{where}.url is not an absolute http(s) URL")
        if count is not None and (type(count) is not int or count < 0):
            raise ExportError(f"{where}.count is not a whole number")
        seen[rtype] += 1
        name = f"{rtype}.ndjson" if seen[rtype] == 1 else f"{rtype}.{seen[rtype]}.ndjson"
        local = f"{ERROR_DIR}/{name}" if error else name
        out.append(ManifestFile(rtype, url, count, local, error))
    return tuple(out)


def parse_manifest(doc: Any) -> Manifest:
    """A :class:`Manifest` from the status endpoint's JSON; :class:`ExportError` when it is
    not one (the message names the JSON path, never a value)."""
    if not isinstance(doc, dict):
        raise ExportError("the export manifest is not a JSON object")
    when = doc.get("transactionTime")
    if not isinstance(when, str) or not when:
        raise ExportError("manifest.transactionTime is missing")
    requires = doc.get("requiresAccessToken", False)
    if not isinstance(requires, bool):
        raise ExportError("manifest.requiresAccessToken is not true or false")
    return Manifest(
        transaction_time=when,
        request=str(doc.get("request") or ""),
        requires_access_token=requires,
        output=_files(doc.get("output"), "output", False),
        error=_files(doc.get("error"), "error", True),
    )
