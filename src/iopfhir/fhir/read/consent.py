"""FHIR R4 Consent → domain :class:`~iopfhir.domain.Consent` (the reader of
:mod:`iopfhir.fhir.build.consent`).

A patient-privacy Consent under the 42 CFR Part 2 policy becomes a consent: status,
``dateTime`` (its day), the root provision's period, the revocation day
(``consent-revoked`` extension), and one provision per nested provision (permit/deny,
the recipient Organizations of its actors, its purposes, period and the sensitivity
labels ETH / PSY of the data it covers). A Consent of another scope or policy, or one
without a day, is not a Part 2 consent: it is counted in ``unmapped``.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology` and the reader's modules.
"""

from __future__ import annotations

from typing import Any

from iopfhir.domain import Consent, Provision
from iopfhir.fhir.conventions import EXT
from iopfhir.fhir.read._context import Context
from iopfhir.fhir.read.held import note_unheld
from iopfhir.fhir.read.people import org_key
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import (
    as_dict,
    as_list,
    codings,
    extension,
    parse_date,
    parse_period,
)
from iopfhir.terminology.security import data_class, purpose_codes, security_data

__all__ = ["CONSENT_REVOKED", "read_consent"]

#: valueDate, on Consent: the day the consent was revoked (as the builder writes it)
CONSENT_REVOKED = EXT.CONSENT_REVOKED


def _has(concept: Any, coding: dict[str, str]) -> bool:
    return (coding["system"], coding["code"]) in set(codings(concept))


def read_consent(ctx: Context, entry: Entry) -> Consent | None:
    """The consent of one Consent entry (``None``, counted, when it is not a Part 2 one)."""
    res = entry.resource
    data = security_data()["consent"]
    policy = next(
        (
            name
            for name, coding in data["policy_rules"].items()
            if _has(res.get("policyRule"), coding)
        ),
        None,
    )
    if not _has(res.get("scope"), data["scope"]) or policy is None:
        ctx.unmapped["Consent: not a 42 CFR Part 2 privacy consent"] += 1
        return None
    day = parse_date(res.get("dateTime"), "Consent.dateTime")
    if day is None:
        ctx.unmapped["Consent: no dateTime"] += 1
        return None
    note_unheld(res, "Consent")
    root = as_dict(res.get("provision"))
    revoked = extension(res, CONSENT_REVOKED)
    consent = Consent(
        key=ctx.new_key("consent", entry, "consent", fallback="consent"),
        status=res.get("status"),
        date=day,
        policy=policy,
        period=parse_period(root.get("period"), "Consent.provision.period"),
        revoked=parse_date(revoked.get("valueDate"), "Consent.extension") if revoked else None,
        provisions=[
            p
            for n, raw in enumerate(as_list(root.get("provision")))
            if (p := _provision(ctx, entry, as_dict(raw), n)) is not None
        ],
    )
    ctx.consents.append(consent)
    return consent


def _provision(ctx: Context, entry: Entry, raw: dict[str, Any], n: int) -> Provision | None:
    kind = raw.get("type")
    if kind not in ("permit", "deny"):
        ctx.unmapped[
            "Consent.provision.provision.type: neither permit nor deny (provision dropped)"
        ] += 1
        return None
    recipients = []
    for actor in as_list(raw.get("actor")):
        key = org_key(ctx, as_dict(actor).get("reference"), entry)
        if key is None:
            ctx.unmapped["Consent.provision.provision.actor: not an Organization (dropped)"] += 1
        elif key not in recipients:
            recipients.append(key)
    known = purpose_codes()
    purposes = [c for p in as_list(raw.get("purpose")) for _s, c in codings({"coding": [p]})]
    data = [
        c
        for lab in as_list(raw.get("securityLabel"))
        for s, k in codings({"coding": [lab]})
        if (c := data_class(s, k)) is not None
    ]
    return Provision(
        type=kind,
        recipients=recipients,
        purposes=[c for c in purposes if c in known],
        period=parse_period(raw.get("period"), f"Consent.provision.provision[{n}].period"),
        data=list(dict.fromkeys(data)),
    )
