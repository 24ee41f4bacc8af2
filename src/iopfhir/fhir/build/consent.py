"""Consents → FHIR R4 Consent, one per consent of the episode (profile ``iop-consent``).

A consent to disclose 42 CFR Part 2 records: ``scope`` patient-privacy, ``category``
LOINC 64292-6 (release of information consent) and v3 ``IDSCL`` (information
disclosure), ``policyRule`` v3 ``42CFRPart2``, ``dateTime`` the day it was given, the
patient, the program's organization as ``organization`` (the custodian). The root
``provision`` is the base rule of Part 2 (``deny``: nothing leaves without consent)
over the consent's ``period``; each of the consent's provisions is a nested provision
(``type`` permit/deny, ``actor`` role v3 IRCP with the recipient Organization,
``action`` disclose, ``purpose`` v3 PurposeOfUse, ``period``, ``securityLabel`` ETH /
PSY for the data it covers). Revocation is ``status`` inactive plus the day it was
revoked in the ``consent-revoked`` extension (R4 has no element for it). The reader is
:mod:`iopfhir.fhir.read.consent`.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`
and the builders' ``_context``.
"""

from __future__ import annotations

from typing import Any, Final

from iopfhir.domain import Consent, Provision, date_text
from iopfhir.fhir.build._context import Context, Entry, fhir_period
from iopfhir.fhir.conventions import EXT, PROFILE
from iopfhir.terminology.security import label, purpose_coding, security_data

__all__ = ["CONSENT_PROFILE", "CONSENT_REVOKED", "consent_to_fhir", "consents_to_fhir"]

#: The profile every Consent claims.
CONSENT_PROFILE: Final = PROFILE.CONSENT
#: valueDate, on Consent: the day the consent was revoked
CONSENT_REVOKED: Final = EXT.CONSENT_REVOKED


def consents_to_fhir(ctx: Context) -> list[Entry]:
    """The Consent of every consent of the episode, in the episode's order."""
    return [consent_to_fhir(ctx, consent) for consent in ctx.episode.consents]


def consent_to_fhir(ctx: Context, consent: Consent) -> Entry:
    """One Consent resource."""
    codes = security_data()["consent"]
    url = ctx.local_url("Consent", "consent", consent.key)
    res = ctx.head("Consent", url, CONSENT_PROFILE, linked=True)
    if consent.revoked is not None:
        res["extension"] = [{"url": CONSENT_REVOKED, "valueDate": date_text(consent.revoked)}]
    res["identifier"] = [ctx.identifier("consent", consent.key)]
    res["status"] = consent.status
    res["scope"] = {"coding": [dict(codes["scope"])]}
    res["category"] = [{"coding": [dict(c)]} for c in codes["category"]]
    res["patient"] = ctx.patient_ref
    res["dateTime"] = date_text(consent.date)
    program = ctx.episode.program
    if program is not None and program.organization is not None:
        res["organization"] = [ctx.org_ref[program.organization]]
    res["policyRule"] = {"coding": [dict(codes["policy_rules"][consent.policy])]}
    root: dict[str, Any] = {"type": "deny"}
    if consent.period is not None:
        root["period"] = fhir_period(consent.period)
    if consent.provisions:
        root["provision"] = [_provision(ctx, p) for p in consent.provisions]
    res["provision"] = root
    return url, res


def _provision(ctx: Context, provision: Provision) -> dict[str, Any]:
    codes = security_data()["consent"]
    out: dict[str, Any] = {"type": provision.type}
    if provision.period is not None:
        out["period"] = fhir_period(provision.period)
    if provision.recipients:
        out["actor"] = [
            {"role": {"coding": [dict(codes["recipient_role"])]}, "reference": ctx.org_ref[key]}
            for key in provision.recipients
        ]
    out["action"] = [{"coding": [dict(codes["action"])]}]
    if provision.data:
        # each data class is the name of its sensitivity label (security.json)
        out["securityLabel"] = [label(d) for d in provision.data]
    if provision.purposes:
        out["purpose"] = [purpose_coding(code) for code in provision.purposes]
    return out
