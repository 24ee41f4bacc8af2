"""Resources from Bundles (transaction, batch, collection, searchset, history, document),
ready for the views, and the sources the outcome commands read (:func:`open_source`).

A Bundle written for a transaction often names its resources only by ``urn:uuid:`` full URLs
(resources without an ``id``, references to the full URLs). The views join on ``Type/id``
keys, so :func:`bundle_resources` gives each such resource the id its full URL carries and
rewrites the references to the full URLs of the Bundle as ``Type/id``, as a server would on
accepting the transaction (or as a Bulk Data export would show them). Resources are copied,
the Bundle is left alone.

What a Bundle holds is read as a server would store it, so that nothing is counted twice:

- a resource whose ``Type/id`` came before is left out (the first one is kept): a
  ``history`` Bundle lists the newest version first, and an entry whose request is a
  ``DELETE`` (no resource) removes the versions after it;
- a search's ``OperationOutcome`` (``search.mode`` ``outcome``) is no data and is left out;
- a Bundle inside a Bundle (a document in a collection) gives its own resources.

An entry without a resource (a history's ``DELETE``, a batch's ``GET``) holds no data and
is passed over; a Bundle whose ``entry`` is no array, an entry that is no object, or a
``resource`` that is no object with a ``resourceType`` is an :class:`~iopfhir.errors.InputError`
naming the file and the entry (``bundle-07.json entry[3]: ...``), never the value. The
temporary NDJSON of :func:`open_source` keeps, for each line, the file and the entry it came
from (:class:`~iopfhir.views.source.LineOrigins`): a value R4 does not allow there is named
``bundle-07.json entry[12].resource: Observation.valueQuantity.value: a string where R4 has
a decimal``, and a resource JSON file by its name alone.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import orjson

from iopfhir.errors import R4_RESOURCE_TYPES, InputError
from iopfhir.fhir.models import FhirModel, as_json
from iopfhir.fhir.xml import is_fhir_xml, load_fhir_data
from iopfhir.loading import data_files, data_kind, read_data
from iopfhir.loading.json_values import json_kind
from iopfhir.views import Source
from iopfhir.views.source import LineOrigins

__all__ = ["bundle_resources", "open_source"]

_URN = ("urn:uuid:", "urn:oid:")
#: Bundles inside Bundles are read this deep (a document in a collection is two levels)
_MAX_NESTING = 8


def _rewrite(value: Any, keys: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: _rewrite(v, keys) for k, v in value.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref in keys:
            out["reference"] = keys[ref]
        return out
    if isinstance(value, list):
        return [_rewrite(v, keys) for v in value]
    return value


def bundle_resources(bundle: Mapping[str, Any] | FhirModel) -> list[dict[str, Any]]:
    """The entries' resources, with ids from ``urn:uuid`` full URLs and references resolved
    (each ``Type/id`` once: see the module's docstring).

    ``bundle`` may be a ``fhir.resources`` Bundle model (its JSON is read). Raises
    :class:`~iopfhir.errors.InputError` for an entry R4 does not allow (naming the entry)."""
    return [resource for resource, _, _ in _resources(as_json(bundle), set(), 0, "", "")]


def _resources(
    bundle: Mapping[str, Any], seen: set[str], depth: int, at: str, name: str
) -> Iterator[tuple[dict[str, Any], str, int]]:
    """The resources of ``bundle`` whose ``Type/id`` is not in ``seen`` (which is filled),
    each with where it is in the file, a template and its number (``entry[{}].resource``,
    3: see :class:`~iopfhir.views.source.LineOrigins`; ``at``: where ``bundle`` is, ``name``:
    the file's name and a space, for messages)."""
    keys: dict[str, str] = {}
    found: list[tuple[dict[str, Any], str | None, int]] = []
    template = f"{at}entry[{{}}].resource"
    for index, entry in enumerate(_entries(bundle, at, name)):
        resource = _entry_resource(entry, name, at, index)
        if resource is None:
            deleted = _deleted_key(entry)
            if deleted is not None:
                seen.add(deleted)
            continue
        if (entry.get("search") or {}).get("mode") == "outcome":
            continue
        rtype = resource["resourceType"]
        full_url = entry.get("fullUrl")
        rid = resource.get("id")
        if isinstance(full_url, str):
            if rid is None and full_url.startswith(_URN):
                rid = full_url.split(":")[-1]
            if isinstance(rid, str):
                keys[full_url] = f"{rtype}/{rid}"
        found.append((resource, rid if isinstance(rid, str) else None, index))
    for resource, rid, index in found:
        rtype = resource["resourceType"]
        if rtype == "Bundle" and depth < _MAX_NESTING:
            yield from _resources(resource, seen, depth + 1, f"{template.format(index)}.", name)
            continue
        if rid is not None:
            key = f"{rtype}/{rid}"
            if key in seen:
                continue
            seen.add(key)
        copy = _rewrite(resource, keys)
        if rid is not None:
            copy["id"] = rid
        yield copy, template, index


def _entry_resource(entry: Any, name: str, at: str, index: int) -> dict[str, Any] | None:
    """The resource of ``entry`` (``None``: none); an :class:`InputError` naming the entry
    when the entry or its resource is no object, or the resource has no ``resourceType``."""
    where = f"{name}{at}entry[{index}]"
    if not isinstance(entry, dict):
        kind = json_kind(entry)
        raise InputError(f"{where}: Bundle.entry: {kind} where R4 has an object")
    resource = entry.get("resource")
    if resource is None:
        return None
    if not isinstance(resource, dict):
        kind = json_kind(resource)
        raise InputError(f"{where}: Bundle.entry.resource: {kind} where R4 has an object")
    if not isinstance(resource.get("resourceType"), str):
        raise InputError(f"{where}.resource: no resourceType")
    return resource


def _entries(bundle: Mapping[str, Any], at: str, name: str) -> list[Any]:
    """``bundle.entry`` (none: ``[]``); an :class:`InputError` when it is no array."""
    entries = bundle.get("entry")
    if entries is None:
        return []
    if not isinstance(entries, list):
        where = f"{name}{at[:-1]}" if at else name.rstrip() or "$"
        raise InputError(f"{where}: Bundle.entry: {json_kind(entries)} where R4 has an array")
    return entries


def _deleted_key(entry: Mapping[str, Any]) -> str | None:
    """``Type/id`` of a history entry that deletes a resource (``request.method`` DELETE)."""
    request = entry.get("request")
    if not isinstance(request, dict) or request.get("method") != "DELETE":
        return None
    url = request.get("url")
    if not isinstance(url, str):
        return None
    parts = url.split("?", 1)[0].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] in R4_RESOURCE_TYPES:
        return f"{parts[-2]}/{parts[-1]}"
    return None


def open_source(path: str | Path) -> Source:
    """What the outcome commands read, as a :class:`~iopfhir.views.Source`: NDJSON (a file,
    or a folder of them: a Bulk Data export), a Bundle JSON file, or a folder holding
    Bundle (or single resource) JSON files (one Bundle per patient, as Synthea writes
    them), NDJSON files, or both (recursively; a JSON file there that is no FHIR, such as a
    Bulk Data manifest, is passed over). The resources of Bundles are written to temporary
    NDJSON files, each ``Type/id`` once; close the source to remove them. Raises
    :class:`~iopfhir.errors.InputError` for what is not FHIR JSON (naming the file, never
    its content)."""
    target = Path(path)
    if target.is_file() and data_kind(target) != "ndjson":
        return _from_bundles([target], [], alone=True, root=target.parent)
    if target.is_dir():
        files = data_files(target)  # .json, .ndjson, .jsonl, each also as .gz
        bundles = [p for p in files if data_kind(p) in ("json", "xml")]
        if bundles:
            ndjson = [p for p in files if data_kind(p) == "ndjson"]
            source = _from_bundles(bundles, ndjson, alone=False, root=target)
            if not source.files:  # only JSON that is no FHIR (episode files, a manifest)
                source.close()
                raise InputError(
                    f"{target.name}: no FHIR resources (NDJSON files, Bundle or resource JSON)"
                )
            return source
    if not target.exists():
        raise InputError(f"{target.name}: no such file or directory")
    return Source.from_path(target)


def _from_bundles(bundles: list[Path], ndjson: list[Path], *, alone: bool, root: Path) -> Source:
    """The resources of ``bundles`` (Bundle or resource JSON files) in temporary NDJSON
    files, beside the ``ndjson`` files (``alone``: one file given, which must be a Bundle);
    each line's origin is kept, the files named by their path under ``root``."""
    tmp = tempfile.TemporaryDirectory(prefix="iopfhir-bundles-")
    handles: dict[str, tuple[Path, IO[bytes]]] = {}
    origins = LineOrigins()
    seen: set[str] = set()
    try:
        for path in bundles:
            name = path.relative_to(root).as_posix()
            value = _read_json(path, name, alone=alone)
            if value is None:
                continue
            resources = (
                _resources(value, seen, 0, "", f"{name} ")
                if value["resourceType"] == "Bundle"
                else [(value, "", 0)]
            )
            for resource, template, index in resources:
                rtype = resource["resourceType"]
                if rtype not in R4_RESOURCE_TYPES:
                    continue  # not a resource the views can read
                opened = handles.get(rtype)
                if opened is None:
                    written = Path(tmp.name) / f"{rtype}.ndjson"
                    opened = handles[rtype] = (written, written.open("wb"))
                opened[1].write(orjson.dumps(resource) + b"\n")
                origins.add(opened[0], name, template, index)
    except BaseException:
        for _, out in handles.values():
            out.close()
        tmp.cleanup()
        raise
    files: dict[str, list[Path]] = {}
    for rtype, (written, out) in handles.items():
        out.close()
        files[rtype] = [written]
    for kind, more in Source.from_files(ndjson).files.items():
        files.setdefault(kind, []).extend(more)
    return Source(files, tmp=tmp, origins=origins)


def _read_json(path: Path, name: str, *, alone: bool) -> dict[str, Any] | None:
    """A Bundle or a resource (a dict with a ``resourceType``); ``None`` for other JSON in a
    folder (a Bulk Data manifest). A file given ``alone`` must be a Bundle. ``name``: the
    file as messages name it."""
    xml = data_kind(path) == "xml"
    try:  # the loading rule of every reader: UTF-8, no duplicate keys, bounded sizes
        data = read_data(path)
        if xml and not alone and not is_fhir_xml(data):  # other XML (a C-CDA document)
            return None
        value = load_fhir_data(data, name, xml=xml)
    except OSError as exc:
        raise InputError(f"{name}: cannot read the file ({exc.strerror})") from None
    is_fhir = isinstance(value, dict) and isinstance(value.get("resourceType"), str)
    if alone and not (is_fhir and value["resourceType"] == "Bundle"):
        raise InputError(f"{name}: $.resourceType: expected a Bundle")
    return value if is_fhir else None
