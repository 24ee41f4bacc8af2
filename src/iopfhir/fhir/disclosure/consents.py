"""FHIR Consent resources as domain :class:`~iopfhir.domain.Consent` objects for one
recipient, so that a disclosure is decided by the same rule as the domain's
(:meth:`iopfhir.domain.Consent.decision`).

A provision's actors are Organizations of the input (or conditional references by
identifier). Each is compared with the recipient: a recipient is named as
``system|value`` of one of the organization's identifiers, as the value alone, or as
the organization's key in an episode (iopfhir's own identifier ``<episode>/<key>``).
Every actor that is the recipient becomes the key ``recipient``; every other actor a key
of its own, so a provision for someone else never applies.

A foreign consent is read cautiously: a permit naming a purpose iopfhir does not know
is dropped (it cannot be shown to cover the disclosure), a deny naming one denies for
any purpose. A Consent that is not a 42 CFR Part 2 privacy consent is not used.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import parse_qs

from pydantic import ValidationError

from iopfhir.domain import Consent, PartialDate, Period, Provision
from iopfhir.fhir.conventions import identifier_system
from iopfhir.terminology.security import data_class, purpose_codes, security_data

__all__ = ["RECIPIENT", "as_domain_consent", "is_recipient"]

#: The key every actor that is the recipient gets.
RECIPIENT = "recipient"

Resolve = Callable[[Any], dict[str, Any] | None]


def _codes(concepts: Any) -> set[tuple[str | None, str | None]]:
    out: set[tuple[str | None, str | None]] = set()
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        if isinstance(concept, dict):
            codings = concept.get("coding") if "coding" in concept else [concept]
            for c in codings or ():
                if isinstance(c, dict):
                    out.add((c.get("system"), c.get("code")))
    return out


def is_recipient(org: dict[str, Any] | None, conditional: str | None, recipient: str) -> bool:
    """Whether an Organization (or a conditional reference ``Organization?identifier=s|v``)
    is the recipient named ``recipient``."""
    idents: list[tuple[str, str]] = []
    if org is not None:
        for ident in org.get("identifier") or ():
            if isinstance(ident, dict) and ident.get("value"):
                idents.append((str(ident.get("system") or ""), str(ident["value"])))
    if conditional and conditional.startswith("Organization?"):
        for value in parse_qs(conditional.partition("?")[2]).get("identifier", []):
            system, _, val = value.rpartition("|")
            idents.append((system, val))
    own = identifier_system("organization")
    for system, value in idents:
        if recipient in (f"{system}|{value}", value):
            return True
        if system == own and value.partition("/")[2] == recipient:
            return True
    return False


def _period(raw: Any) -> Period | None:
    if not isinstance(raw, dict) or not (raw.get("start") or raw.get("end")):
        return None
    try:
        return Period.model_validate(
            {"start": raw.get("start") or "0001-01-01", "end": raw.get("end")}
        )
    except ValidationError:
        return Period(start=date(9999, 12, 31))  # unreadable: in force never


def _provision(raw: dict[str, Any], recipient: str, resolve: Resolve, n: int) -> Provision | None:
    kind = raw.get("type")
    if kind not in ("permit", "deny"):
        return None
    action = security_data()["consent"]["action"]
    if raw.get("action") and (action["system"], action["code"]) not in _codes(raw["action"]):
        return None  # a rule about collecting or using, not about disclosing
    recipients: list[str] = []
    for i, actor in enumerate(raw.get("actor") or ()):
        ref = actor.get("reference") if isinstance(actor, dict) else None
        org = resolve(ref)
        text = ref.get("reference") if isinstance(ref, dict) else None
        key = RECIPIENT if is_recipient(org, text, recipient) else f"other-{n}-{i}"
        if key not in recipients:
            recipients.append(key)
    purposes = [code for _s, code in _codes(raw.get("purpose") or []) if code]
    known = [p for p in purposes if p in purpose_codes()]
    if len(known) < len(purposes) and kind == "permit":
        return None
    if len(known) < len(purposes):
        known = []  # a deny for a purpose we cannot name: deny for any purpose
    data = sorted({c for s, k in _codes(raw.get("securityLabel") or []) if (c := data_class(s, k))})
    return Provision(
        type=kind,
        recipients=recipients,
        purposes=sorted(set(known)),
        period=_period(raw.get("period")),
        data=data,
    )


def as_domain_consent(resource: dict[str, Any], recipient: str, resolve: Resolve) -> Consent | None:
    """The consent a Consent resource states, seen from ``recipient``; ``None`` when it is
    not a 42 CFR Part 2 privacy consent or has no day."""
    data = security_data()["consent"]
    scope, rule = data["scope"], data["policy_rules"]["42CFRPart2"]
    if (scope["system"], scope["code"]) not in _codes(resource.get("scope")):
        return None
    if (rule["system"], rule["code"]) not in _codes(resource.get("policyRule")):
        return None
    stamp = resource.get("dateTime")  # R4 dateTime: a year or a month counts from its start
    day = PartialDate.parse(stamp[:10]) if isinstance(stamp, str) else None
    if day is None:
        return None
    raw_root = resource.get("provision")
    root: dict[str, Any] = raw_root if isinstance(raw_root, dict) else {}
    provisions = [
        p
        for n, raw in enumerate(root.get("provision") or ())
        if isinstance(raw, dict) and (p := _provision(raw, recipient, resolve, n)) is not None
    ]
    if root.get("type") == "permit":  # a root permit is a rule of its own
        top = _provision(
            {k: v for k, v in root.items() if k != "provision"}, recipient, resolve, -1
        )
        if top is not None:
            provisions.insert(0, top)
    status = resource.get("status")
    try:
        return Consent(
            key="consent",
            status=status if status in ("draft", "proposed", "active", "rejected") else "inactive",
            date=day,
            period=_period(root.get("period")),
            provisions=provisions,
        )
    except ValidationError:
        return None
