"""Turning FHIR input into a flat list of resource entries.

Accepted input: a path (a JSON file, an NDJSON file, or a directory of both, walked
recursively in name order), JSON text or bytes (one resource, a Bundle, or NDJSON), a
resource dict, or an iterable of resource dicts. Bundles of every type are unpacked,
nested Bundles too (a ``collection`` holding a ``document``...); entries without a
``resource`` (``transaction-response`` entries holding only a ``response``, ``DELETE``
requests) are skipped.

Bytes become JSON only through :mod:`iopfhir.loading` (one rule for every reader: UTF-8
with or without a BOM, no duplicate keys, bounded nesting, numbers and strings). Input
that cannot be read at all raises :class:`~iopfhir.errors.FhirInputError` naming the file
(and line, for NDJSON) and the JSON path, never the content.

Imports: :mod:`iopfhir.errors`, :mod:`iopfhir.loading`, :mod:`iopfhir.fhir.ndjson` (the
NDJSON line reader).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from iopfhir.errors import FhirInputError, LoadError
from iopfhir.fhir.ndjson import FHIR_PATH_KEYS, parse_ndjson
from iopfhir.loading import load_json

__all__ = ["Entry", "FhirSource", "load_entries"]

#: What :func:`iopfhir.fhir.read.read_fhir` accepts.
FhirSource = str | bytes | PathLike[str] | Mapping[str, Any] | Iterable[Mapping[str, Any]]

JSON_SUFFIXES = (".json",)
NDJSON_SUFFIXES = (".ndjson", ".jsonl")


@dataclass(eq=False, slots=True)
class Entry:
    """One resource as found in the input: the resource, its ``fullUrl`` and where it came from."""

    resource: dict[str, Any]
    full_url: str | None
    origin: str
    #: ``#id`` → contained resource, filled by the index
    contained: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def type(self) -> str:
        """The resource type."""
        return str(self.resource.get("resourceType"))

    @property
    def id(self) -> str | None:
        """The logical id, when the resource has one."""
        value = self.resource.get("id")
        return value if isinstance(value, str) and value else None


@dataclass(slots=True)
class Loaded:
    """Entries read from a source, and files skipped because they hold no FHIR resource."""

    entries: list[Entry] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def load_entries(source: FhirSource) -> Loaded:
    """Read ``source`` into entries; raise :class:`FhirInputError` when it cannot be read."""
    out = Loaded()
    if isinstance(source, Mapping):
        _add_resource(out, dict(source), None, "<dict>", "$")
    elif isinstance(source, bytes | bytearray):
        _add_text(out, bytes(source), "<bytes>")
    elif isinstance(source, str) and source.lstrip("\ufeff \t\r\n")[:1] in ("{", "["):
        _add_text(out, source, "<text>")
    elif isinstance(source, str | PathLike):
        path = Path(source)
        if path.is_dir():
            _add_directory(out, path)
        elif path.is_file():
            _add_file(out, path, strict=True)
        else:
            raise FhirInputError("no such file or directory, and not JSON text", path=str(path))
    elif isinstance(source, Iterable):
        for i, item in enumerate(source):
            if not isinstance(item, Mapping):
                raise FhirInputError("expected a resource (a JSON object)", path=f"$[{i}]")
            _add_resource(out, dict(item), None, "<iterable>", f"$[{i}]")
    else:
        raise FhirInputError(f"cannot read FHIR from a {type(source).__name__}")
    return out


def _add_directory(out: Loaded, root: Path) -> None:
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in JSON_SUFFIXES + NDJSON_SUFFIXES
    )
    for path in files:
        _add_file(out, path, strict=False)


def _add_file(out: Loaded, path: Path, *, strict: bool) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FhirInputError(f"cannot read file ({exc.strerror})", path=str(path)) from None
    if path.suffix.lower() in NDJSON_SUFFIXES:
        _add_ndjson(out, data, str(path))
        return
    doc = _parse(data, str(path))
    if isinstance(doc, dict) and "resourceType" not in doc and not strict:
        # A directory may hold other JSON (a bulk-export manifest, package.json): skip it.
        out.skipped["file without resourceType"] += 1
        return
    _add_document(out, doc, str(path))


def _add_text(out: Loaded, data: bytes | str, origin: str) -> None:
    try:
        doc = _parse(data, origin)
    except FhirInputError:
        # NDJSON is not one JSON document; read it as lines when it has several
        raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
        if sum(1 for line in raw.splitlines() if line.strip()) > 1:
            _add_ndjson(out, data, origin)
            return
        raise
    _add_document(out, doc, origin)


def _add_document(out: Loaded, doc: Any, origin: str) -> None:
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            _add_resource(out, item, None, origin, f"$[{i}]")
    else:
        _add_resource(out, doc, None, origin, "$")


def _add_ndjson(out: Loaded, data: bytes | str, origin: str) -> None:
    for number, doc in parse_ndjson(data, origin):
        _add_resource(out, doc, None, f"{origin}:{number}", "$")


def _parse(data: bytes | str, origin: str) -> Any:
    try:
        return load_json(data, origin, path_keys=FHIR_PATH_KEYS)
    except LoadError as exc:
        raise FhirInputError(exc.detail, path=origin) from None


def _add_resource(
    out: Loaded, resource: Any, full_url: str | None, origin: str, json_path: str
) -> None:
    if not isinstance(resource, dict):
        raise FhirInputError(f"{json_path}: expected a resource (a JSON object)", path=origin)
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise FhirInputError(f"{json_path}: no resourceType", path=origin)
    if rtype == "Bundle":
        for i, entry in enumerate(_entries(resource)):
            inner = entry.get("resource")
            if inner is None:
                continue
            url = entry.get("fullUrl")
            _add_resource(
                out,
                inner,
                url if isinstance(url, str) else None,
                origin,
                f"{json_path}.entry[{i}].resource",
            )
        return
    out.entries.append(Entry(resource, full_url, origin))


def _entries(bundle: dict[str, Any]) -> Iterator[dict[str, Any]]:
    entries = bundle.get("entry")
    if isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, dict):
                yield entry
