"""A DocumentReference wrapping a ToC document, for EHRs that take documents but not
CarePlan writes (Epic and Oracle Health expose CarePlan read-only; DocumentReference create).

:func:`document_reference` puts the document Bundle in ``content[0].attachment`` as FHIR
JSON (``application/fhir+json``; ``data`` base64, ``size`` in bytes, ``hash`` the base64
SHA-1 of the bytes, as R4 ``Attachment.hash`` defines it) and, on request, the HTML
rendering as a second content (``text/html``). Type, subject, date, author, custodian and
context come from the document's Composition; a generated narrative
(:func:`~iopfhir.fhir.build.narrative.narrate`) shows the reference's own values. The ToC
DocumentReference profile is claimed for a ToC document (any other FHIR document gets a
plain R4 DocumentReference). Its references are logical (``type`` + ``identifier``, else
the display), so it can be sent on its own. Deterministic: the same document gives the
same DocumentReference. Imports: :mod:`iopfhir.fhir.conventions`,
:mod:`iopfhir.fhir.build.narrative`, :mod:`iopfhir.terminology`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import orjson

from iopfhir.errors import MappingError
from iopfhir.fhir.build.narrative import narrate
from iopfhir.fhir.conventions import PLAIN_TYPE_ID, PROFILE, identifier_system
from iopfhir.terminology.documents import document_data

__all__ = ["TOC_DOCUMENT_REFERENCE_PROFILE", "attachment", "document_reference"]

#: The profile of the DocumentReference.
TOC_DOCUMENT_REFERENCE_PROFILE = PROFILE.TOC_DOCUMENT_REFERENCE

Resource = dict[str, Any]

#: a RESTful absolute URL: (server base with its final ``/``) ``Type/id``
_RESTFUL = re.compile(r"(https?://.+/)" + PLAIN_TYPE_ID.pattern)


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
    # a relative reference in an entry with a RESTful fullUrl is read against its server
    # (R4 Bundle: resolving references); every reference read here is the Composition's
    found = _RESTFUL.fullmatch(str(entries[0].get("fullUrl") or ""))
    base = found.group(1) if found else None

    def logical(ref: Any) -> dict[str, Any] | None:
        """A logical reference (type, first identifier) to the entry ``ref`` names: the
        DocumentReference is stored apart from the Bundle, where its fullUrls mean
        nothing. Any document's entries: an identifier may lack its system."""
        name = ref.get("reference") if isinstance(ref, dict) else None
        target = by_url.get(name)
        if (
            target is None
            and base is not None
            and isinstance(name, str)
            and PLAIN_TYPE_ID.fullmatch(name)
        ):
            target = by_url.get(base + name)
        if not isinstance(target, dict) or not isinstance(target.get("resourceType"), str):
            return None
        idents = target.get("identifier")
        ident = idents if isinstance(idents, dict) else next(iter(idents or []), None)
        out: dict[str, Any] = {"type": target["resourceType"]}
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            kept = {k: ident[k] for k in ("system", "value") if isinstance(ident.get(k), str)}
            out["identifier"] = kept
        elif isinstance(ref.get("display"), str):  # no identifier: what the document says
            out["display"] = ref["display"]
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
    meta: dict[str, Any] = {}
    comp_meta = composition.get("meta")
    comp_meta = comp_meta if isinstance(comp_meta, dict) else {}
    # the profile only for a ToC document (its Composition says so): another document's
    # DocumentReference need not have what the profile asks (a custodian, an author)
    if PROFILE.TOC_COMPOSITION in (comp_meta.get("profile") or []):
        meta["profile"] = [TOC_DOCUMENT_REFERENCE_PROFILE]
    if comp_meta.get("security"):
        meta["security"] = comp_meta["security"]
    category = document_data()["document_reference_category"]
    out: Resource = {"resourceType": "DocumentReference"}
    if meta:
        out["meta"] = meta
    out["masterIdentifier"] = dict(ident)
    out["identifier"] = [own]
    out["status"] = "current"
    out["docStatus"] = "final" if composition.get("status") == "final" else "preliminary"
    out["type"] = composition.get("type")
    out["category"] = [{"coding": [dict(category)]}]
    subject = logical(composition.get("subject"))
    if subject:
        out["subject"] = subject
    if isinstance(document.get("timestamp"), str):  # bdl-10 asks for it; the validator says so
        out["date"] = document["timestamp"]
    authors = [a for a in map(logical, composition.get("author") or []) if a]
    if authors:  # R4: an array is absent, never empty
        out["author"] = authors
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
    # R4 dom-6: a resource that is not contained SHOULD have a narrative (the validator
    # warned on every DocumentReference pushed); it shows the reference's own values only
    return narrate(out)
