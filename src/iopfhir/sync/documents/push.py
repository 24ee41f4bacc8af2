"""Push a FHIR document: the document Bundle stored as it is (``POST [base]/Bundle``)
and/or its DocumentReference, capability-aware and safe to run twice.

:func:`push_document`:

1. Checks the document (:func:`~._common.check_document`), builds the DocumentReference
   when one is wanted and none is given (:func:`iopfhir.fhir.document.document_reference`),
   and validates what may be sent, before any request.
2. Reads the CapabilityStatement: which forms the server accepts (``create`` on
   ``Bundle`` / ``DocumentReference``), whether it can find them by ``identifier`` and
   whether it takes ``If-None-Exist``. ``as_="auto"`` stores every form the server
   accepts; a form asked for by name that the server does not accept stops the push
   before anything is written (:class:`~iopfhir.errors.UnsupportedByServer`).
3. Points the DocumentReference's logical references (``type`` + ``identifier``:
   subject, author, authenticator, custodian, context.encounter) at the server's
   resource when exactly one has that identifier (``Patient?identifier=...``); the
   identifier is kept beside the reference, and a reference the server cannot resolve
   stays logical.
4. Each form: searched by identifier; equal to ours (ignoring ``id`` and server
   ``meta``) → nothing is written; missing → conditional create (``If-None-Exist:
   identifier=system|value``). Equal means equal JSON values (``9.0`` and ``9`` are
   equal: servers re-serialise decimals). A stored Bundle is never overwritten: a different
   document under the same identifier is a :class:`~iopfhir.errors.SyncConflict`. A
   DocumentReference that changed (a reference resolved since) is updated with
   ``If-Match``. A server that cannot search by identifier gets a ``PUT`` to an id
   derived from the identifier (read first, so a rerun writes nothing).

Imports :mod:`iopfhir.client`, :mod:`iopfhir.errors`, :mod:`iopfhir.fhir`,
:mod:`iopfhir.sync` (capabilities, counting, resources) and :mod:`._common`.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any, Final, Literal

from iopfhir.client import FhirClient
from iopfhir.errors import (
    InputError,
    Issue,
    NotFound,
    SyncConflict,
    SyncError,
    UnsupportedByServer,
    ValidationFailed,
)
from iopfhir.fhir.conventions import name_uuid
from iopfhir.fhir.document import document_reference as build_document_reference
from iopfhir.fhir.models import FhirModel, as_json
from iopfhir.sync.capabilities import ServerSupport, server_support
from iopfhir.sync.counting import CountingTransport
from iopfhir.sync.push.part2 import DisclosureTerms, document_gate
from iopfhir.sync.resources import normalized

from ._common import (
    DocumentPushReport,
    Resource,
    check_document,
    document_key,
    find_by_identifier,
    identifier_criteria,
)

__all__ = ["DOCUMENT_FORMS", "StoreAs", "push_document"]

StoreAs = Literal["auto", "bundle", "document-reference", "both"]
#: The forms a document is stored in, as resource types.
DOCUMENT_FORMS: Final = ("Bundle", "DocumentReference")
_NAMESPACE: Final = uuid.UUID("3f1d2b6e-8c47-5a09-b1e3-7d2c4f6a9e05")
#: Where a DocumentReference holds logical references (element, is a list).
_REFERENCE_SITES: Final = (
    ("subject", False),
    ("author", True),
    ("authenticator", False),
    ("custodian", False),
)


def push_document(
    client: FhirClient,
    document: Mapping[str, Any] | FhirModel,
    *,
    as_: StoreAs = "auto",
    document_reference: Mapping[str, Any] | FhirModel | None = None,
    validator: Any = None,
    dry_run: bool = False,
    disclosure: DisclosureTerms | None = None,
) -> DocumentPushReport:
    """Store ``document`` (a FHIR document Bundle) on the server; see the module.

    ``document_reference``: the DocumentReference to store (else one is built from the
    document when that form is stored). ``validator`` (``iopfhir.validation.Validator``)
    checks the document and the DocumentReference before any request. A document holding
    42 CFR Part 2 data is stored only with ``disclosure`` (``DisclosureTerms``): to the
    program's own record system, or disclosed under the patient's consent (what may leave,
    with the withheld-information and no-redisclosure sections; the AuditEvents recorded
    first). Raises :class:`~iopfhir.errors.DisclosureRefused` without it (before any
    request), :class:`~iopfhir.errors.InputError` for a non-document,
    :class:`~iopfhir.errors.ValidationFailed`, :class:`~iopfhir.errors.UnsupportedByServer`
    (a form the server does not accept), :class:`~iopfhir.errors.SyncConflict` (another
    document under the same identifier) or :class:`~iopfhir.errors.SyncError`.
    """
    doc = check_document(as_json(document))  # a fhir.resources model: its JSON
    # 42 CFR Part 2: to the program's own record system, or disclosed under consent
    # (the same gate as every push), before any request
    disclosed, line = document_gate(doc, disclosure, dry_run=dry_run)
    doc = dict(disclosed)
    if as_ not in ("auto", "bundle", "document-reference", "both"):
        raise InputError("store a document as auto, bundle, document-reference or both")
    report = DocumentPushReport(dry_run=dry_run)
    if line:
        report.issues.append(Issue("information", "informational", line))
    dr: Resource | None = None
    if as_ != "bundle":
        dr = _given_or_built(doc, as_json(document_reference))
    elif document_reference is not None:
        raise InputError("a DocumentReference was given but only the Bundle is stored")
    if validator is not None:
        warnings = _validate(validator, doc, "document")
        if dr is not None:
            warnings += _validate(validator, dr, "DocumentReference")
        if warnings:  # as a push of resources says it: how many, not which
            message = f"validation found {warnings} warning(s); iopfhir validate lists them"
            report.issues.append(Issue("warning", "informational", message))
    counter = CountingTransport(client.transport)
    client.transport = counter
    try:
        support = server_support(client.capabilities())
        report.forms = _forms(support, as_)
        if "DocumentReference" in report.forms and dr is not None:
            dr = _resolve_references(client, support, dr, report)
        for form in report.forms:
            resource = doc if form == "Bundle" else dr
            if resource is not None:
                _store(client, support, form, resource, report)
    finally:
        report.round_trips = counter.count
        client.transport = counter.inner
    return report


def _given_or_built(doc: Resource, given: Mapping[str, Any] | None) -> Resource:
    if given is None:
        return build_document_reference(doc)
    if given.get("resourceType") != "DocumentReference":
        raise InputError("not a DocumentReference", path="DocumentReference.resourceType")
    master = given.get("masterIdentifier")
    system, value = document_key(doc)
    if not (
        isinstance(master, Mapping)
        and master.get("system") == system
        and master.get("value") == value
    ):
        raise InputError(
            "the DocumentReference is not the document's (masterIdentifier differs from "
            "Bundle.identifier)",
            path="DocumentReference.masterIdentifier",
        )
    return dict(given)


def _validate(validator: Any, resource: Resource, what: str) -> int:
    """Raise on a validation error; the number of warnings."""
    report = validator.validate(resource)
    errors = list(getattr(report, "errors", []) or [])
    if errors:
        raise ValidationFailed(
            f"the {what}: {len(errors)} validation error(s); nothing was sent", issues=errors
        )
    return len(list(getattr(report, "warnings", []) or []))


def _accepts(support: ServerSupport, rtype: str) -> bool:
    t = support.type(rtype)
    if not t.listed:
        return support.unlisted == "attempt"
    return t.can_create or (t.can_update and t.update_create is not False)


def _forms(support: ServerSupport, as_: StoreAs) -> list[str]:
    wanted = {
        "auto": DOCUMENT_FORMS,
        "bundle": ("Bundle",),
        "document-reference": ("DocumentReference",),
        "both": DOCUMENT_FORMS,
    }[as_]
    refused = [t for t in wanted if not _accepts(support, t)]
    if as_ == "auto":
        forms = [t for t in wanted if t not in refused]
        if not forms:
            raise UnsupportedByServer(
                "the server accepts neither Bundle nor DocumentReference creates "
                "(per its CapabilityStatement); nothing was sent"
            )
        return forms
    if refused:
        raise UnsupportedByServer(
            f"the server does not accept {' or '.join(refused)} creates (per its "
            "CapabilityStatement); nothing was sent"
        )
    return list(wanted)


def _resolve_references(
    client: FhirClient, support: ServerSupport, dr: Resource, report: DocumentPushReport
) -> Resource:
    out = copy.deepcopy(dr)
    found: dict[tuple[str, str, str], str | None] = {}

    def resolve(ref: Any) -> None:
        if not isinstance(ref, dict) or ref.get("reference"):
            return
        rtype, ident = ref.get("type"), ref.get("identifier")
        if not (isinstance(rtype, str) and isinstance(ident, dict)):
            return
        system, value = ident.get("system"), ident.get("value")
        if not (isinstance(system, str) and isinstance(value, str)):
            return
        key = (rtype, system, value)
        if key not in found:
            found[key] = None
            if support.type(rtype).identifier_search:
                matches = find_by_identifier(client, rtype, system, value)
                ids = [m.get("id") for m in matches]
                if len(ids) == 1 and isinstance(ids[0], str):
                    found[key] = ids[0]
        target = found[key]
        if target is None:
            report.logical += 1
        else:
            ref["reference"] = f"{rtype}/{target}"
            report.resolved += 1

    for name, many in _REFERENCE_SITES:
        value = out.get(name)
        for ref in value if many and isinstance(value, list) else [value]:
            resolve(ref)
    context = out.get("context")
    if isinstance(context, dict):
        for ref in context.get("encounter") or []:
            resolve(ref)
    return out


def _identifier_of(form: str, resource: Resource) -> tuple[str, str]:
    if form == "Bundle":
        return document_key(resource)
    idents = resource.get("identifier")
    ident = idents[0] if isinstance(idents, list) and idents else resource.get("masterIdentifier")
    if not (isinstance(ident, dict) and ident.get("system") and ident.get("value")):
        raise InputError(
            "the DocumentReference needs an identifier", path="DocumentReference.identifier"
        )
    return str(ident["system"]), str(ident["value"])


def _store(
    client: FhirClient,
    support: ServerSupport,
    form: str,
    resource: Resource,
    report: DocumentPushReport,
) -> None:
    system, value = _identifier_of(form, resource)
    t = support.type(form)
    if t.identifier_search:
        matches = find_by_identifier(client, form, system, value)
        if len(matches) > 1:
            raise SyncError(
                f"the server holds {len(matches)} {form} resources with the document's "
                "identifier; nothing was written",
                report=report,
            )
        theirs = matches[0] if matches else None
    else:
        rid = name_uuid(_NAMESPACE, f"{form}|{system}|{value}")
        try:
            theirs = client.read(form, rid)
        except NotFound:
            theirs = None
    if theirs is not None:
        _existing(client, form, resource, theirs, report)
        return
    if report.dry_run:
        report.actions[form] = "planned"
        return
    if t.identifier_search and (t.can_create or not t.listed):
        conditional = t.conditional_create is not False
        criteria = identifier_criteria(system, value) if conditional else None
        result = client.create(resource, if_none_exist=criteria)
    else:
        body = dict(resource, id=name_uuid(_NAMESPACE, f"{form}|{system}|{value}"))
        result = client.update(body)
    report.actions[form] = "created" if result.created else "unchanged"
    if result.id:
        report.ids[form] = result.id


def _same(ours: Resource, theirs: Resource) -> bool:
    """Equal ignoring ``id`` and server ``meta``, as JSON values: ``9.0 == 9`` (a server
    may re-serialise a decimal: Medplum writes ``9.0`` back as ``9``)."""
    keep_text = "text" in ours
    return normalized(ours, keep_text=keep_text) == normalized(theirs, keep_text=keep_text)


def _existing(
    client: FhirClient, form: str, ours: Resource, theirs: Resource, report: DocumentPushReport
) -> None:
    rid = theirs.get("id")
    if isinstance(rid, str):
        report.ids[form] = rid
    if _same(ours, theirs):
        report.actions[form] = "unchanged"
        return
    if form == "Bundle":
        raise SyncConflict(
            "the server holds a different document under the same identifier; a stored "
            "document is never overwritten (a new version of a document needs its own "
            "identifier)",
            report=report,
            issues=[Issue("error", "conflict", "a different document", "Bundle.identifier")],
        )
    if report.dry_run:
        report.actions[form] = "planned"
        return
    version = (theirs.get("meta") or {}).get("versionId")
    result = client.update(dict(ours, id=rid), if_match=version)
    report.actions[form] = "updated"
    if result.id:
        report.ids[form] = result.id
