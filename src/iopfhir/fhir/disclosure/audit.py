"""The record of one disclosure: a FHIR R4 AuditEvent (accounting of disclosures).

One AuditEvent per patient whose Part 2 records left (``iopfhir.fhir.disclosure``):
``type`` DICOM 110106 *Export* (what the R4 specification's own disclosure example uses:
data leaving the custodian's system for another party; a RESTful ``rest`` event would
record the HTTP interaction, not the release of records), ``action`` R, ``outcome`` 0,
``recorded`` the moment of the disclosure, ``purposeOfEvent`` the v3 PurposeOfUse, two
agents (the disclosing program, DICOM 110153 *Source Role ID*, initiator; the recipient,
110152 *Destination Role ID*), and entities: the patient (object-role 1), each disclosed
resource (object-role 4, its type and security labels) and the consent the disclosure
was made under (object-role 13). Entities name resources by business identifier, so the
record stays meaningful wherever it is kept (the audit file, the program's own server).
The AuditEvent itself carries the Part 2 labels (it shows the patient was treated) and
claims the profile ``iop-audit-disclosure``.

Imports: :mod:`iopfhir.fhir.conventions`, :mod:`iopfhir.terminology`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Final

from iopfhir.fhir.conventions import EXT, PROFILE, name_uuid
from iopfhir.terminology.security import label, purpose_coding, security_data

__all__ = ["audit_event", "instant", "what"]

_NAMESPACE: Final = uuid.UUID("2b0d3c6e-5f41-5a8e-9c3d-7e1f2a4b6c80")


def instant(at: date | datetime) -> str:
    """A FHIR instant: a timestamp with its offset, a date as its midnight UTC."""
    if isinstance(at, datetime):
        return at.isoformat()
    return f"{at.isoformat()}T00:00:00Z"


def what(url: str, resource: dict[str, Any]) -> dict[str, Any]:
    """A Reference to ``resource`` by its first business identifier (the Provenance's
    record identifier), else by its full URL."""
    rtype = resource.get("resourceType")
    idents = resource.get("identifier")
    ident = idents[0] if isinstance(idents, list) and idents else idents
    if not isinstance(ident, dict):
        ident = next(
            (
                e.get("valueIdentifier")
                for e in resource.get("extension") or ()
                if isinstance(e, dict) and e.get("url") == EXT.RECORD_IDENTIFIER
            ),
            None,
        )
    if isinstance(ident, dict) and ident.get("value"):
        out = {k: ident[k] for k in ("system", "value") if ident.get(k)}
        return {"type": rtype, "identifier": out}
    return {"type": rtype, "reference": url}


def _agent(role: dict[str, str], who: dict[str, Any], initiator: bool) -> dict[str, Any]:
    return {"type": {"coding": [dict(role)]}, "who": who, "requestor": initiator}


def _entity(ref: dict[str, Any], rtype: str, role: dict[str, str]) -> dict[str, Any]:
    codes = security_data()["audit"]
    return {
        "what": ref,
        "type": {"system": codes["entity_type_system"], "code": rtype},
        "role": dict(role),
    }


def audit_event(
    *,
    patient: tuple[str, dict[str, Any]],
    disclosed: list[tuple[str, dict[str, Any]]],
    recipient: dict[str, Any],
    source: dict[str, Any] | None,
    purpose: str,
    at: date | datetime,
    consent: tuple[str, dict[str, Any]] | None,
) -> dict[str, Any]:
    """The AuditEvent of disclosing ``disclosed`` (the patient's Part 2 resources) to
    ``recipient`` (a Reference to the Organization) for ``purpose`` at ``at``."""
    codes = security_data()["audit"]
    stamp = instant(at)
    patient_what = what(*patient)
    consent_what = what(*consent) if consent is not None else None
    key = "|".join(
        [
            str(patient_what.get("identifier") or patient_what.get("reference")),
            str(recipient.get("identifier") or recipient.get("reference") or recipient),
            purpose,
            stamp,
        ]
    )
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": name_uuid(_NAMESPACE, key),
        "meta": {
            "profile": [PROFILE.AUDIT_DISCLOSURE],
            "security": [label(n) for n in security_data()["part2_labels"]],
        },
        "type": dict(codes["type"]),
        "action": codes["action"],
        "recorded": stamp,
        "outcome": codes["outcome"],
        "purposeOfEvent": [{"coding": [purpose_coding(purpose)]}],
        "agent": [
            _agent(codes["source_role"], source or {"display": "iopfhir"}, True),
            _agent(codes["destination_role"], recipient, False),
        ],
        "source": {"observer": source or {"display": "iopfhir"}},
        "entity": [_entity(patient_what, "Patient", codes["patient_role"])],
    }
    for url, resource in disclosed:
        if resource.get("resourceType") == "Patient":
            continue
        entity = _entity(what(url, resource), str(resource["resourceType"]), codes["data_role"])
        labels = (resource.get("meta") or {}).get("security")
        if labels:
            entity["securityLabel"] = [dict(c) for c in labels]
        event["entity"].append(entity)
    if consent_what is not None:
        event["entity"].append(_entity(consent_what, "Consent", codes["consent_role"]))
    return event
