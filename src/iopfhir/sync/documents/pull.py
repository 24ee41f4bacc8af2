"""Pull a patient's transition-of-care documents from a server.

:func:`pull_documents`:

1. The patient by business identifier (``Patient?identifier=system|value``); more than
   one is an error, none is not (a DocumentReference may name the patient logically).
2. Their DocumentReferences of the ToC types (``type=`` the LOINC types of
   terminology/data/documents.json): ``DocumentReference?subject:identifier=system|value``
   (finds logical subjects too) and ``DocumentReference?subject=Patient/<id>``, by
   ``patient`` where the server lists no ``subject``; a search the server refuses (400
   under ``Prefer: handling=strict``) is noted as a fallback. The types are checked again
   on what comes back.
3. Each DocumentReference's FHIR JSON attachments: ``data`` inline (base64; ``size`` and
   the SHA-1 ``hash`` checked when given) or ``url`` (a GET on the server's own origin
   only; a ``Binary`` answer is decoded).
4. Stored document Bundles: ``Bundle?identifier=`` for each DocumentReference whose
   document no attachment gave (``masterIdentifier``), and ``Bundle?composition.subject=
   Patient/<id>&type=document`` where the CapabilityStatement lists Bundle's
   ``composition`` parameter (``Prefer: handling=strict``; a 400 is noted as a fallback).
5. Every document is checked: a ``document`` Bundle with its Composition first, whose
   subject is the patient asked for (inside the document, by identifier). Anything else
   is skipped and counted by reason (never by content). Documents are kept once per
   identifier, the attachment's exact bytes before a stored Bundle (given back without
   the server's ``id`` and ``meta.versionId``/``lastUpdated``).

Imports :mod:`iopfhir.client`, :mod:`iopfhir.errors`, :mod:`iopfhir.terminology`,
:mod:`iopfhir.sync` (capabilities, counting) and :mod:`._common`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from iopfhir.client import FhirClient
from iopfhir.errors import BadRequest, ClientError, InputError, SyncError
from iopfhir.sync.capabilities import ServerSupport, server_support
from iopfhir.sync.counting import CountingTransport
from iopfhir.sync.resources import escape_search, normalized
from iopfhir.terminology.documents import document_data

from ._common import (
    DocumentPullReport,
    PulledDocument,
    Resource,
    check_document,
    document_key,
    find_by_identifier,
)

__all__ = ["FHIR_JSON", "pull_documents", "toc_type_tokens"]

#: The attachment content type of a FHIR document.
FHIR_JSON = "application/fhir+json"
_PAGE = 100


def toc_type_tokens() -> list[str]:
    """``system|code`` of every ToC document type (documents.json ``types``)."""
    data = document_data()
    return [f"{data['loinc']}|{t['code']}" for t in data["types"].values()]


def pull_documents(
    client: FhirClient,
    patient_identifier: tuple[str, str],
    *,
    report: DocumentPullReport | None = None,
) -> list[PulledDocument]:
    """The ToC documents the server holds for the patient; see the module."""
    report = report if report is not None else DocumentPullReport()
    system, value = patient_identifier
    if not system or not value:
        raise InputError("the patient identifier needs a system and a value")
    counter = CountingTransport(client.transport)
    client.transport = counter
    try:
        return _pull(client, (system, value), report)
    except ClientError as exc:
        raise SyncError(f"pull of documents stopped: {exc}", report=report) from exc
    finally:
        report.round_trips = counter.count
        client.transport = counter.inner


def _pull(
    client: FhirClient, patient: tuple[str, str], report: DocumentPullReport
) -> list[PulledDocument]:
    support = server_support(client.capabilities())
    patients = find_by_identifier(client, "Patient", *patient)
    if len(patients) > 1:
        raise SyncError(
            "the server holds more than one patient with that identifier", report=report
        )
    pid = patients[0].get("id") if patients else None
    report.patient_id = pid if isinstance(pid, str) else None
    found: dict[tuple[str, str], PulledDocument] = {}
    wanted: list[tuple[str, str]] = []  # masterIdentifiers whose document is still missing
    for dr in _document_references(client, support, patient, report):
        report.document_references += 1
        got = False
        for raw in _attachments(client, dr, report):
            doc = _accept(raw, patient, report)
            if doc is not None:
                key = document_key(doc)
                source = f"DocumentReference/{dr.get('id')}"
                found.setdefault(key, PulledDocument(doc, *key, source, raw))
                got = True
        master = dr.get("masterIdentifier")
        if not got and isinstance(master, dict) and master.get("system") and master.get("value"):
            wanted.append((str(master["system"]), str(master["value"])))
    if support.type("Bundle").identifier_search:
        for key in wanted:
            if key not in found:
                for bundle in find_by_identifier(client, "Bundle", *key):
                    _keep_bundle(bundle, patient, found, report)
    elif wanted:
        report.fallbacks.append("the server cannot search Bundle by identifier")
    if report.patient_id is not None:
        for bundle in _bundles_by_subject(client, support, report.patient_id, report):
            _keep_bundle(bundle, patient, found, report)
    return list(found.values())


def _document_references(
    client: FhirClient,
    support: ServerSupport,
    patient: tuple[str, str],
    report: DocumentPullReport,
) -> list[Resource]:
    """By ``subject:identifier`` (finds logical subjects too) and by ``subject=Patient/id``
    (finds references without an identifier); once each."""
    t = support.type("DocumentReference")
    param = "subject" if t.searchable_by("subject") else "patient"
    if t.listed and not t.searchable_by(param):
        report.fallbacks.append("the server cannot search DocumentReference by patient")
        return []
    tokens = toc_type_tokens()
    wanted = {tuple(tok.split("|", 1)) for tok in tokens}
    criteria: list[dict[str, str]] = [
        {f"{param}:identifier": "|".join(escape_search(p) for p in patient)}
    ]
    if report.patient_id is not None:
        criteria.append({param: f"Patient/{report.patient_id}"})
    out: dict[str, Resource] = {}
    for where in criteria:
        search = client.search("DocumentReference").strict().count(_PAGE)
        search = search.where({**where, "type": ",".join(tokens)})
        try:
            matches = search.fetch_all()
        except BadRequest:
            report.fallbacks.append(f"the server refused DocumentReference?{next(iter(where))}")
            continue
        for dr in matches:
            codings = ((dr.get("type") or {}).get("coding")) or []
            if not any(
                (c.get("system"), c.get("code")) in wanted for c in codings if isinstance(c, dict)
            ):
                report.skip("DocumentReference of another type")
            elif isinstance(dr.get("id"), str):
                out.setdefault(dr["id"], dr)
    return list(out.values())


def _attachments(client: FhirClient, dr: Resource, report: DocumentPullReport) -> list[bytes]:
    out = []
    for n, content in enumerate(dr.get("content") or []):
        att = content.get("attachment") if isinstance(content, dict) else None
        if not isinstance(att, dict) or att.get("contentType") != FHIR_JSON:
            continue
        where = f"DocumentReference.content[{n}].attachment"
        data: bytes | None = None
        if isinstance(att.get("data"), str):
            try:
                data = base64.b64decode(att["data"], validate=True)
            except (binascii.Error, ValueError):
                report.skip(f"{where}.data is not base64")
                continue
        elif isinstance(att.get("url"), str):
            data = _fetch(client, att["url"], report)
        if data is None:
            continue
        if isinstance(att.get("size"), int) and att["size"] != len(data):
            report.skip(f"{where}.size does not match the data")
            continue
        if isinstance(att.get("hash"), str):
            digest = hashlib.sha1(data, usedforsecurity=False).digest()
            if base64.b64encode(digest).decode("ascii") != att["hash"]:
                report.skip(f"{where}.hash does not match the data")
                continue
        out.append(data)
    return out


def _fetch(client: FhirClient, url: str, report: DocumentPullReport) -> bytes | None:
    try:
        response = client.request("GET", client.resolve(url), headers={"Accept": FHIR_JSON})
    except ClientError:
        report.skip("attachment url could not be fetched (or is on another origin)")
        return None
    body = response.body
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        report.skip("attachment url did not answer with JSON")
        return None
    if isinstance(parsed, dict) and parsed.get("resourceType") == "Binary":
        try:
            return base64.b64decode(str(parsed.get("data", "")), validate=True)
        except (binascii.Error, ValueError):
            report.skip("attachment Binary.data is not base64")
            return None
    return body


def _accept(raw: bytes, patient: tuple[str, str], report: DocumentPullReport) -> Resource | None:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        report.skip("attachment is not JSON")
        return None
    return _checked(parsed, patient, report)


def _checked(bundle: Any, patient: tuple[str, str], report: DocumentPullReport) -> Resource | None:
    try:
        doc = check_document(bundle)
    except InputError as exc:
        report.skip(f"not a FHIR document ({exc.path})")
        return None
    if not _about(doc, patient):
        report.skip("a document about another patient (Composition.subject)")
        return None
    return doc


def _about(doc: Resource, patient: tuple[str, str]) -> bool:
    """True when the Composition's subject is the patient with that identifier."""
    subject = doc["entry"][0]["resource"].get("subject")
    if not isinstance(subject, Mapping):
        return False
    target: Any = subject
    ref = subject.get("reference")
    if isinstance(ref, str):
        target = next(
            (
                e.get("resource")
                for e in doc["entry"]
                if isinstance(e, dict) and e.get("fullUrl") == ref
            ),
            None,
        )
        if not isinstance(target, Mapping) or target.get("resourceType") != "Patient":
            return False
    idents = target.get("identifier")
    idents = [idents] if isinstance(idents, Mapping) else idents or []
    return any(
        isinstance(i, Mapping) and (i.get("system"), i.get("value")) == patient for i in idents
    )


def _keep_bundle(
    bundle: Resource,
    patient: tuple[str, str],
    found: dict[tuple[str, str], PulledDocument],
    report: DocumentPullReport,
) -> None:
    doc = _checked(bundle, patient, report)
    if doc is None:
        return
    key = document_key(doc)
    if key not in found:
        report.bundles += 1
        # the document as it was sent: without the server's id and meta
        found[key] = PulledDocument(normalized(doc), *key, f"Bundle/{doc.get('id')}")


def _bundles_by_subject(
    client: FhirClient, support: ServerSupport, pid: str, report: DocumentPullReport
) -> list[Resource]:
    if not support.type("Bundle").searchable_by("composition"):
        report.fallbacks.append("the server cannot search Bundle by composition")
        return []
    search = client.search("Bundle").strict().count(_PAGE)
    search = search.where({"composition.subject": f"Patient/{pid}", "type": "document"})
    try:
        return search.fetch_all()
    except BadRequest:
        report.fallbacks.append("the server refused Bundle?composition.subject")
        return []
