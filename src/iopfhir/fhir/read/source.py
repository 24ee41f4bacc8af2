"""Turning FHIR input into resource entries, one at a time (:func:`iter_entries`) or as a
list (:func:`load_entries`).

Accepted input: a path (a JSON file, an NDJSON file, a FHIR XML file, each also
gzip-compressed as ``.json.gz`` / ``.ndjson.gz`` / ``.xml.gz``, or a directory of them,
walked recursively in name order), JSON or FHIR XML text or bytes (one resource, a Bundle,
or NDJSON), a resource dict or
``fhir.resources`` model (its JSON, :mod:`iopfhir.fhir.models`), or an iterable of them.
Bundles of every type are unpacked,
nested Bundles too (a ``collection`` holding a ``document``...); entries without a
``resource`` (``transaction-response`` entries holding only a ``response``, ``DELETE``
requests) are skipped.

Bytes become JSON only through :mod:`iopfhir.loading` (one rule for every reader: UTF-8
with or without a BOM, no duplicate keys, bounded nesting, numbers and strings). Input
that cannot be read at all raises :class:`~iopfhir.errors.FhirInputError` naming the file
(and line, for NDJSON) and the JSON path, never the content.

A ``document`` Bundle is first checked as a whole (``document_check``): one that cannot be
read as a document raises :class:`~iopfhir.errors.FhirInputError` naming the section.

Imports: :mod:`iopfhir.errors`, :mod:`iopfhir.loading`, :mod:`iopfhir.fhir.ndjson` (the
NDJSON line reader), :mod:`iopfhir.fhir.xml`, the reader's ``document_check`` and
``values``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO

from iopfhir.errors import FhirInputError, LoadError
from iopfhir.fhir.models import FhirModel, as_json
from iopfhir.fhir.ndjson import FHIR_PATH_KEYS, parse_ndjson
from iopfhir.fhir.read.document_check import check_document
from iopfhir.fhir.read.values import own_identifiers, own_key
from iopfhir.fhir.xml import is_fhir_xml, load_fhir_xml
from iopfhir.loading import data_files, data_kind, load_json, open_data, read_data
from iopfhir.loading.files import is_compressed
from iopfhir.loading.json_values import iter_json_stream_at

__all__ = ["Entry", "FhirSource", "iter_entries", "load_entries"]

#: What :func:`iopfhir.fhir.read.read_fhir` accepts.
FhirSource = str | bytes | PathLike[str] | Mapping[str, Any] | Iterable[Any] | FhirModel


@dataclass(eq=False, slots=True, init=False)
class Entry:
    """One resource as found in the input: the resource, its ``fullUrl`` and where it came from.

    ``Entry(resource, full_url, origin, contained={}, raw=None, line=0, at=-1)``; ``type`` and
    ``id`` are read from the resource (the constructor is written out: the readers make
    two entries per resource of an input, one in each pass)."""

    resource: dict[str, Any]
    full_url: str | None
    origin: str
    #: ``#id`` → contained resource, filled by the index
    contained: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the resource type (read once: the readers ask for it very often)
    type: str = field(init=False)
    #: the logical id, when the resource has one
    id: str | None = field(init=False)
    #: the checked NDJSON line the resource is, when it is a whole line: a store may keep
    #: these bytes instead of writing the resource again (``None``: it is not, or the line
    #: needs the exact reader, see :func:`iopfhir.loading.json_values.iter_json_stream_raw`)
    raw: bytes | None = field(default=None, compare=False, repr=False)
    #: the line number of an NDJSON line (``origin`` is then ``<file>:<line>``; ``0``: the
    #: origin is something else), so a store need not read the number back from ``origin``
    line: int = field(default=0, compare=False, repr=False)
    #: where ``raw`` starts in its file when the file holds it as it is (not compressed),
    #: so a store may read it there again rather than keep a copy; ``-1``: it does not
    at: int = field(default=-1, compare=False, repr=False)
    #: iopfhir's own identifiers of the resource, parsed on first use (:meth:`own_key`)
    owned: list[tuple[str, str, str]] | None = field(default=None, compare=False, repr=False)

    def __init__(
        self,
        resource: dict[str, Any],
        full_url: str | None,
        origin: str,
        contained: dict[str, dict[str, Any]] | None = None,
        raw: bytes | None = None,
        line: int = 0,
        at: int = -1,
    ) -> None:
        self.resource = resource
        self.full_url = full_url
        self.origin = origin
        self.contained = {} if contained is None else contained
        self.raw = raw
        self.line = line
        self.at = at
        self.owned = None
        self.type = str(resource.get("resourceType"))
        value = resource.get("id")
        self.id = value if isinstance(value, str) and value else None

    def own_key(self, *kinds: str) -> tuple[str, str] | None:
        """:func:`~iopfhir.fhir.read.values.own_key` of the resource, its own identifiers
        parsed once per entry (the readers ask several times: is it a stay, a session,
        whose key)."""
        owned = self.owned
        if owned is None:
            try:
                owned = own_identifiers(self.resource)
            except AttributeError:  # own_key raises only if it gets that far: ask it
                return own_key(self.resource, *kinds)
            self.owned = owned
        for kind, episode, local in owned:
            if kind in kinds:
                return episode, local
        return None

    def own_key_or_none(self, *kinds: str) -> tuple[str, str] | None:
        """:meth:`own_key`, or ``None`` where it raises (an identifier whose system or
        value is no string: not R4, not iopfhir's), for callers outside a mapping step."""
        try:
            return self.own_key(*kinds)
        except AttributeError:
            return None


@dataclass(slots=True)
class Loaded:
    """Entries read from a source, and files skipped because they hold no FHIR resource."""

    entries: list[Entry] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def load_entries(source: FhirSource) -> Loaded:
    """Read ``source`` into entries; raise :class:`FhirInputError` when it cannot be read."""
    out = Loaded()
    out.entries.extend(iter_entries(source, out.skipped))
    return out


def iter_entries(source: FhirSource, skipped: Counter[str]) -> Iterator[Entry]:
    """The entries of ``source`` one at a time, in input order; files skipped because they
    hold no FHIR resource are counted in ``skipped``. NDJSON files are read line by line
    and the files of a directory one after the other, so memory follows the largest JSON
    file (a Bundle is parsed whole), not the input. Raises :class:`FhirInputError` where
    the input cannot be read (the entries before it have been yielded)."""
    source = as_json(source)  # a fhir.resources model: its JSON
    if isinstance(source, Mapping):
        yield from _resource_entries(dict(source), None, "<dict>", "$")
    elif isinstance(source, bytes | bytearray):
        yield from _text_entries(bytes(source), "<bytes>")
    elif isinstance(source, str) and source.lstrip("\ufeff \t\r\n")[:1] in ("{", "[", "<"):
        yield from _text_entries(source, "<text>")
    elif isinstance(source, str | PathLike):
        path = Path(source)
        if path.is_dir():
            files = data_files(path)
            if not files:  # a wrong folder would read as no patient at all
                raise FhirInputError(
                    "no FHIR file in this folder (.json, .ndjson, .jsonl, .xml, or .gz of one)",
                    path=str(path),
                )
            export_files = bulk_export_files(path)
            for file in files:
                if file in export_files:  # a Bulk Data manifest or error file: not data
                    if export_files[file]:
                        skipped[BULK_ERROR_FILE] += 1
                    continue
                yield from _file_entries(file, skipped, strict=False)
        elif path.is_file():
            yield from _file_entries(path, skipped, strict=True)
        else:
            raise FhirInputError("no such file or directory, and not JSON text", path=str(path))
    elif isinstance(source, Iterable):
        for i, item in enumerate(map(as_json, source)):
            if not isinstance(item, Mapping):
                raise FhirInputError("expected a resource (a JSON object)", path=f"$[{i}]")
            yield from _resource_entries(dict(item), None, "<iterable>", f"$[{i}]")
    else:
        raise FhirInputError(f"cannot read FHIR from a {type(source).__name__}")


#: The ``unmapped`` reason counting the error files of a Bulk Data export folder.
BULK_ERROR_FILE = "$: Bulk Data export error file (OperationOutcomes of the export, not read)"


def bulk_export_files(root: Path) -> dict[Path, bool]:
    """In a Bulk Data export folder (``manifest.json`` with ``transactionTime`` and
    ``output``), the files that are not data: the manifest (``False``) and the error files
    (``True``): those under ``error/`` and those named as a manifest ``error`` URL ends."""
    manifest = root / "manifest.json"
    try:
        doc = load_json(manifest.read_bytes(), str(manifest)) if manifest.is_file() else None
    except (OSError, LoadError):
        return {}
    if not (isinstance(doc, dict) and "transactionTime" in doc and "output" in doc):
        return {}
    errors = doc.get("error")
    errors = errors if isinstance(errors, list) else []
    names = {str(e.get("url", "")).rsplit("/", 1)[-1] for e in errors if isinstance(e, dict)}
    out = {manifest: False}
    for file in data_files(root):
        if file.parent == root / "error" or (file.parent == root and file.name in names):
            out[file] = True
    return out


def _file_entries(path: Path, skipped: Counter[str], *, strict: bool) -> Iterator[Entry]:
    origin = str(path)
    try:
        if data_kind(path) == "ndjson":
            with open_data(path) as handle:
                yield from _stream_entries(handle, origin, plain=not is_compressed(path))
            return
        data = read_data(path)
    except OSError as exc:
        raise FhirInputError(f"cannot read file ({exc.strerror})", path=origin) from None
    except LoadError as exc:  # a compressed file that does not inflate
        raise FhirInputError(exc.detail, path=origin) from None
    xml = data_kind(path) == "xml"
    if xml and not strict and not is_fhir_xml(data):
        # A directory may hold other XML (a C-CDA document, a build file): skip it.
        skipped["XML file that is not FHIR"] += 1
        return
    doc = _parse(data, origin, xml=xml)
    del data
    if isinstance(doc, dict) and "resourceType" not in doc and not strict:
        # A directory may hold other JSON (a bulk-export manifest, package.json): skip it.
        skipped["file without resourceType"] += 1
        return
    yield from _document_entries(doc, origin)


def _stream_entries(handle: BinaryIO, origin: str, *, plain: bool = False) -> Iterator[Entry]:
    """An NDJSON file read line by line (the rule of :func:`parse_ndjson`); ``plain``: the
    stream is the file's bytes (each line's entry tells where it starts)."""
    lines = iter_json_stream_at(handle, origin, path_keys=FHIR_PATH_KEYS)
    try:  # only the line reader raises LoadError here
        for number, doc, raw, at in lines:
            if type(doc) is dict:
                rtype = doc.get("resourceType")
                if type(rtype) is str and rtype and rtype != "Bundle":  # a resource: the line
                    where = at if plain and raw is not None else -1
                    yield Entry(doc, None, f"{origin}:{number}", None, raw, number, where)
                    continue
            for entry in _resource_entries(doc, None, f"{origin}:{number}", "$"):
                if raw is not None and entry.resource is doc:
                    entry.raw = raw  # the whole line (not an entry of a Bundle line)
                yield entry
    except LoadError as exc:
        raise FhirInputError(exc.detail, path=origin) from None


def _text_entries(data: bytes | str, origin: str) -> Iterator[Entry]:
    if isinstance(data, bytes):
        xml = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<"
    else:
        xml = data[:64].lstrip("\ufeff \t\r\n")[:1] == "<"
    if xml:  # FHIR XML
        yield from _document_entries(_parse(data, origin, xml=True), origin)
        return
    try:
        doc = _parse(data, origin)
    except FhirInputError:
        # NDJSON is not one JSON document; read it as lines when it has several
        raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
        if sum(1 for line in raw.splitlines() if line.strip()) > 1:
            for number, item in parse_ndjson(data, origin):
                yield from _resource_entries(item, None, f"{origin}:{number}", "$")
            return
        raise
    yield from _document_entries(doc, origin)


def _document_entries(doc: Any, origin: str) -> Iterator[Entry]:
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from _resource_entries(item, None, origin, f"$[{i}]")
    else:
        yield from _resource_entries(doc, None, origin, "$")


def _parse(data: bytes | str, origin: str, *, xml: bool = False) -> Any:
    try:
        if xml:
            return load_fhir_xml(data.encode() if isinstance(data, str) else data, origin)
        return load_json(data, origin, path_keys=FHIR_PATH_KEYS)
    except LoadError as exc:
        raise FhirInputError(exc.detail, path=origin) from None


def _resource_entries(
    resource: Any, full_url: str | None, origin: str, json_path: str
) -> Iterator[Entry]:
    if not isinstance(resource, dict):
        raise FhirInputError(f"{json_path}: expected a resource (a JSON object)", path=origin)
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise FhirInputError(f"{json_path}: no resourceType", path=origin)
    if rtype == "Bundle":
        if resource.get("type") == "document":  # refused whole when it is no document
            check_document(resource, origin, json_path)
        # a history: newest version first (R4), a deletion an entry without a resource
        seen: set[str] | None = set() if resource.get("type") == "history" else None
        for i, entry in enumerate(_entries(resource)):
            inner = entry.get("resource")
            if seen is not None and (name := _version_of(entry, inner)) is not None:
                if name in seen:  # an older version of one read (or deleted) already
                    continue
                seen.add(name)
            if inner is None:
                continue
            url = entry.get("fullUrl")
            yield from _resource_entries(
                inner,
                url if isinstance(url, str) else None,
                origin,
                f"{json_path}.entry[{i}].resource",
            )
        return
    yield Entry(resource, full_url, origin)


def _version_of(entry: dict[str, Any], resource: Any) -> str | None:
    """The resource a history Bundle's entry is a version of: ``Type/id`` of its
    ``fullUrl`` (R4: the resource's URL, no version), else of its resource, else of its
    ``request.url`` (a deletion has no resource; a creation's names only the type)."""
    url = entry.get("fullUrl")
    if type(url) is not str or not url:
        if type(resource) is dict and type(rid := resource.get("id")) is str and rid:
            return f"{resource.get('resourceType')}/{rid}"
        request = entry.get("request")
        url = request.get("url") if type(request) is dict else None
        if type(url) is not str or not url:
            return None
    parts = url.partition("?")[0].partition("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) > 1 else None


def _entries(bundle: dict[str, Any]) -> Iterator[dict[str, Any]]:
    entries = bundle.get("entry")
    if isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, dict):
                yield entry
