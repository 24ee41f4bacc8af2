"""A DocumentReference wrapping a ToC document, for EHRs that take documents but not
CarePlan writes (Epic and Oracle Health expose CarePlan read-only; DocumentReference create).

:func:`document_reference` puts the document Bundle in ``content[0].attachment`` as FHIR
JSON (``application/fhir+json``; ``data`` base64, ``size`` in bytes, ``hash`` the base64
SHA-1 of the bytes, as R4 ``Attachment.hash`` defines it) and, on request, the HTML
rendering as a second content (``text/html``). Type, subject, date, author, custodian and
context come from the document's Composition. Its references are logical (``type`` +
``identifier``), so it can be sent on its own. Deterministic: the same document gives the
same DocumentReference. Imports: :mod:`iopfhir.fhir.conventions`, :mod:`iopfhir.terminology`.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson

from iopfhir.errors import MappingError
from iopfhir.fhir.conventions import PROFILE, identifier_system
from iopfhir.terminology.documents import document_data

__all__ = ["TOC_DOCUMENT_REFERENCE_PROFILE", "attachment", "document_reference"]

#: The profile of the DocumentReference.
TOC_DOCUMENT_REFERENCE_PROFILE = PROFILE.TOC_DOCUMENT_REFERENCE

Resource = dict[str, Any]


def attachment(data: bytes, content_type: str, *, title: str | None = None) -> dict[str, Any]:
    """An R4 Attachment carrying ``data``: base64 data, size and base64 SHA-1 hash."""
    # R4 Attachment.hash is "the calculated hash of the data using SHA-1, represented
    # using base64": an integrity check, not a security measure
    digest = hashlib.sha1(data, usedforsecurity=False).digest()
    out: dict[str, Any] = {"contentType": content_type, "language": document_data()["language"]}
    out["data"] = base64.b64encode(data).decode("ascii")
    out["size"] = len(data)
    out["hash"] = base64.b64encode(digest).decode("ascii")
    if title:
        out["title"] = title
    return out


def document_reference(document: dict[str, Any], *, html: str | bytes | None = None) -> Resource:
    """The DocumentReference of ToC ``document`` (a document Bundle from
    :func:`~iopfhir.fhir.document.toc_document`); ``html``, when given, is added as a
    second content (the page of :func:`~iopfhir.fhir.document.render_html`)."""
    entries = document.get("entry") or []
    if document.get("type") != "document" or not entries:
        raise MappingError("not a FHIR document Bundle", path="Bundle.type")
    composition = entries[0].get("resource", {})
    if composition.get("resourceType") != "Composition":
        raise MappingError("a document starts with its Composition", path="Bundle.entry[0]")
    by_url = {e.get("fullUrl"): e.get("resource") for e in entries}

    def logical(ref: Any) -> dict[str, Any] | None:
        target = by_url.get(ref.get("reference")) if isinstance(ref, dict) else None
        if not isinstance(target, dict):
            return None
        idents = target.get("identifier")
        ident = idents if isinstance(idents, dict) else (idents or [None])[0]
        out: dict[str, Any] = {"type": target["resourceType"]}
        if isinstance(ident, dict):
            out["identifier"] = {"system": ident["system"], "value": ident["value"]}
        return out

    title = composition.get("title")
    content = [
        {"attachment": attachment(orjson.dumps(document), "application/fhir+json", title=title)}
    ]
    if html is not None:
        page = html.encode("utf-8") if isinstance(html, str) else html
        content.append({"attachment": attachment(page, "text/html", title=title)})

    ident = document.get("identifier")
    if not isinstance(ident, dict) or not ident.get("system") or not ident.get("value"):
        raise MappingError("a document needs its identifier", path="Bundle.identifier")
    own = {"system": identifier_system("documentreference"), "value": ident["value"]}
    meta: dict[str, Any] = {"profile": [TOC_DOCUMENT_REFERENCE_PROFILE]}
    if composition.get("meta", {}).get("security"):
        meta["security"] = composition["meta"]["security"]
    category = document_data()["document_reference_category"]
    out: Resource = {"resourceType": "DocumentReference", "meta": meta}
    out["masterIdentifier"] = dict(ident)
    out["identifier"] = [own]
    out["status"] = "current"
    out["docStatus"] = "final" if composition.get("status") == "final" else "preliminary"
    out["type"] = composition.get("type")
    out["category"] = [{"coding": [dict(category)]}]
    subject = logical(composition.get("subject"))
    if subject:
        out["subject"] = subject
    out["date"] = document["timestamp"]
    out["author"] = [a for a in map(logical, composition.get("author", [])) if a]
    parties = [logical(a.get("party")) for a in composition.get("attester", [])]
    if parties and parties[0]:
        out["authenticator"] = parties[0]
    custodian = logical(composition.get("custodian"))
    if custodian:
        out["custodian"] = custodian
    if title:
        out["description"] = title
    out["content"] = content
    context: dict[str, Any] = {}
    encounters = [logical(composition.get("encounter"))] + [
        logical({"reference": url})
        for url, res in by_url.items()
        if isinstance(res, dict) and res.get("resourceType") == "EpisodeOfCare"
    ]
    encounters = [e for e in encounters if e]
    if encounters:
        context["encounter"] = encounters[:1]
    period = next((e.get("period") for e in composition.get("event", []) if e.get("period")), None)
    if period:
        context["period"] = period
    if context:
        out["context"] = context
    return out
