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
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import orjson

from iopfhir.errors import R4_RESOURCE_TYPES, InputError
from iopfhir.fhir.models import FhirModel, as_json
from iopfhir.views import Source

__all__ = ["bundle_resources", "open_source"]

_URN = ("urn:uuid:", "urn:oid:")
#: Bundles inside Bundles are read this deep (a document in a collection is two levels)
_MAX_NESTING = 8
_NDJSON = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")


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

    ``bundle`` may be a ``fhir.resources`` Bundle model (its JSON is read)."""
    return list(_resources(as_json(bundle), set(), 0))


def _resources(bundle: Mapping[str, Any], seen: set[str], depth: int) -> Iterator[dict[str, Any]]:
    """The resources of ``bundle`` whose ``Type/id`` is not in ``seen`` (which is filled)."""
    keys: dict[str, str] = {}
    found: list[tuple[dict[str, Any], str | None]] = []
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            deleted = _deleted_key(entry)
            if deleted is not None:
                seen.add(deleted)
            continue
        if (entry.get("search") or {}).get("mode") == "outcome":
            continue
        full_url = entry.get("fullUrl")
        rtype = resource.get("resourceType")
        rid = resource.get("id")
        if isinstance(full_url, str) and isinstance(rtype, str):
            if rid is None and full_url.startswith(_URN):
                rid = full_url.split(":")[-1]
            if isinstance(rid, str):
                keys[full_url] = f"{rtype}/{rid}"
        found.append((resource, rid if isinstance(rid, str) else None))
    for resource, rid in found:
        rtype = resource.get("resourceType")
        if rtype == "Bundle" and depth < _MAX_NESTING:
            yield from _resources(resource, seen, depth + 1)
            continue
        if rid is not None and isinstance(rtype, str):
            key = f"{rtype}/{rid}"
            if key in seen:
                continue
            seen.add(key)
        copy = _rewrite(resource, keys)
        if rid is not None:
            copy["id"] = rid
        yield copy


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
    if target.is_file() and not target.name.endswith(_NDJSON):
        return _from_bundles([target], [], alone=True)
    if target.is_dir():
        files = sorted(p for p in target.rglob("*") if p.is_file())
        bundles = [p for p in files if p.name.endswith(".json")]
        if bundles:
            ndjson = [p for p in files if p.name.endswith(_NDJSON)]
            source = _from_bundles(bundles, ndjson, alone=False)
            if not source.files:  # only JSON that is no FHIR (episode files, a manifest)
                source.close()
                raise InputError(
                    f"{target.name}: no FHIR resources (NDJSON files, Bundle or resource JSON)"
                )
            return source
    if not target.exists():
        raise InputError(f"{target.name}: no such file or directory")
    return Source.from_path(target)


def _from_bundles(bundles: list[Path], ndjson: list[Path], *, alone: bool) -> Source:
    """The resources of ``bundles`` (Bundle or resource JSON files) in temporary NDJSON
    files, beside the ``ndjson`` files (``alone``: one file given, which must be a Bundle)."""
    tmp = tempfile.TemporaryDirectory(prefix="iopfhir-bundles-")
    handles: dict[str, IO[bytes]] = {}
    seen: set[str] = set()
    try:
        for path in bundles:
            value = _read_json(path, alone=alone)
            if value is None:
                continue
            resources = _resources(value, seen, 0) if value["resourceType"] == "Bundle" else [value]
            for resource in resources:
                rtype = resource.get("resourceType")
                if not isinstance(rtype, str) or rtype not in R4_RESOURCE_TYPES:
                    continue  # not a resource the views can read
                out = handles.get(rtype)
                if out is None:
                    out = handles[rtype] = (Path(tmp.name) / f"{rtype}.ndjson").open("wb")
                out.write(orjson.dumps(resource) + b"\n")
    except BaseException:
        for out in handles.values():
            out.close()
        tmp.cleanup()
        raise
    files: dict[str, list[Path]] = {}
    for rtype, out in handles.items():
        out.close()
        files[rtype] = [Path(out.name)]
    for kind, more in Source.from_files(ndjson).files.items():
        files.setdefault(kind, []).extend(more)
    return Source(files, tmp=tmp)


def _read_json(path: Path, *, alone: bool) -> dict[str, Any] | None:
    """A Bundle or a resource (a dict with a ``resourceType``); ``None`` for other JSON in a
    folder (a Bulk Data manifest). A file given ``alone`` must be a Bundle."""
    try:
        value = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        raise InputError(f"{path.name}: not JSON") from None
    is_fhir = isinstance(value, dict) and isinstance(value.get("resourceType"), str)
    if alone and not (is_fhir and value["resourceType"] == "Bundle"):
        raise InputError(f"{path.name}: $.resourceType: expected a Bundle")
    return value if is_fhir else None
