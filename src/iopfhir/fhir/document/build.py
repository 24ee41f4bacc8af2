"""The transition-of-care (ToC) document: one episode as a FHIR R4 document Bundle.

:func:`toc_document` builds a ``Bundle`` of type ``document``: identifier, timestamp, the
``Composition`` first (profile ``iop-toc-composition``, shaped like the PACIO Transitions
of Care Composition), then every resource the Composition references directly or through
other resources, once each, in the episode's order (from
:func:`iopfhir.fhir.build.episode_entries`, so the resources are the ones ``convert``
writes). Every reference inside resolves to an entry's ``fullUrl`` (R4 bdl-7 / bdl-9 /
bdl-10 / bdl-11 hold by construction; the tests check them).

Two moments (:mod:`.select`): ``discharge`` (dated the discharge day, author the care
manager, custodian the program's organization) and ``referral`` (dated the referral day,
author the referring clinician, custodian the referring organization, holding only what
was known then). The timestamp comes from the episode, or from the caller: never from the
clock, so the same episode always gives the same bytes.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.build`,
:mod:`iopfhir.fhir.conventions`, the document's ``_index``, ``narrative``, ``select``.
"""

from __future__ import annotations

import re
from collections import deque
from datetime import date, datetime
from typing import Any

from iopfhir.domain import AftercarePlan, Episode
from iopfhir.errors import MappingError
from iopfhir.fhir.build import episode_entries
from iopfhir.fhir.conventions import PROFILE, identifier_system, urn_uuid
from iopfhir.fhir.disclosure import Disclosure, DisclosureTerms, disclose, notice_sections
from iopfhir.fhir.document._index import DocIndex, Resource, references_in
from iopfhir.fhir.document.narrative import composition_div, section_div
from iopfhir.fhir.document.select import At, select_sections
from iopfhir.terminology.documents import document_data, toc_category, toc_sections, toc_type
from iopfhir.terminology.security import label, security_data

__all__ = ["TOC_BUNDLE_PROFILE", "TOC_COMPOSITION_PROFILE", "toc_disclosure", "toc_document"]

#: The profile every ToC Composition claims.
TOC_COMPOSITION_PROFILE = PROFILE.TOC_COMPOSITION
#: The profile of the document Bundle itself.
TOC_BUNDLE_PROFILE = PROFILE.TOC_DOCUMENT

_TITLES = {
    "discharge": "Transition of care: discharge summary",
    "referral": "Transition of care: referral",
}


def toc_document(
    episode: Episode, *, at: At = "discharge", timestamp: datetime | None = None
) -> dict[str, Any]:
    """The ToC document Bundle of ``episode`` written ``at`` discharge or referral.

    ``timestamp`` (with a UTC offset) dates the document; by default it is the discharge
    (or referral) day, at 00:00 UTC. Raises :class:`~iopfhir.errors.MappingError` when the
    episode lacks what the document needs (the day, a custodian), naming the JSON path.
    """
    if at not in _TITLES:
        raise MappingError(f"unknown document moment {at!r}; expected discharge or referral")
    if timestamp is not None and timestamp.utcoffset() is None:
        raise MappingError("the document timestamp needs a UTC offset (FHIR instant)")
    return _document(episode, at, timestamp, episode_entries(episode), None)


def toc_disclosure(
    episode: Episode,
    terms: DisclosureTerms,
    *,
    at: At = "discharge",
    timestamp: datetime | None = None,
) -> Disclosure:
    """The ToC document of ``episode`` as disclosed under ``terms`` (docs/part2.md): built
    from what :func:`~iopfhir.fhir.disclosure.disclose` lets leave, so no section, no
    narrative and no reference speaks of what was withheld; with an "information
    withheld" section when something was, and the prohibition on redisclosure (and the
    ``NORDSCLCD`` label on the Composition and the Bundle) when Part 2 data leaves. The
    AuditEvents go to ``terms.audit`` (required). ``Disclosure.bundle`` is the document.
    Raises :class:`~iopfhir.errors.MappingError` when the patient's record itself may not
    leave (no consent covers it: there is no document to send).
    """
    if terms.audit is None and not terms.own_system:
        raise MappingError("a disclosure is recorded: terms.audit is required")
    result = disclose(
        episode_entries(episode),
        recipient=terms.recipient,
        purpose=terms.purpose,
        at=terms.at,
        own_system=terms.own_system,
    )
    if not any(r["resourceType"] == "Patient" for _u, r in result.entries):
        raise MappingError(
            "no consent of the patient permits disclosing their 42 CFR Part 2 records to "
            "this recipient for this purpose on this day: nothing was written"
        )
    notices = notice_sections(withheld=bool(result.withheld), part2=result.part2_disclosed > 0)
    # a document made for a recipient is another document than the program's own one:
    # its own identifier (the recipient and purpose in it), so neither overwrites the other
    variant = None if terms.own_system else f"for-{terms.recipient}-{terms.purpose}"
    document = _document(episode, at, timestamp, result.entries, notices, variant)
    # the consents it is disclosed under travel with it: the document can be checked again
    # (``push doc.json --for``) against what permitted it
    listed = {e["fullUrl"] for e in document["entry"]}
    document["entry"] += [
        {"fullUrl": url, "resource": res}
        for url, res in result.entries
        if res["resourceType"] == "Consent" and url not in listed
    ]
    result.bundle = document
    if terms.audit is not None:
        terms.audit(result.audit_events)
    return result


def _document(
    episode: Episode,
    at: At,
    timestamp: datetime | None,
    entries: list[tuple[str, Resource]],
    notices: list[Resource] | None,
    variant: str | None = None,
) -> dict[str, Any]:
    """The document of ``entries`` (the episode's, or what a disclosure lets leave), with
    the disclosure's ``notices`` (``None``: not a disclosure); ``variant`` goes into its
    identifiers (a document made for a recipient)."""
    day = _day(episode, at, timestamp)
    stamp = timestamp.isoformat() if timestamp is not None else f"{day.isoformat()}T00:00:00Z"
    try:
        ix = DocIndex(entries)
    except KeyError as exc:  # pragma: no cover - episode_entries maps its own KeyErrors
        raise MappingError(f"episode refers to unknown key {exc.args[0]!r}") from None
    selection = select_sections(ix, at, day.isoformat())
    author, custodian = _author(episode, ix, at), _custodian(episode, ix, at)
    if custodian is None:
        where = "$.referral.organization" if at == "referral" else "$.program.organization"
        raise MappingError(
            "a transition-of-care document needs a custodian organization", path=where
        )
    author = author or custodian

    key = f"{episode.key}/toc-{at}-{re.sub(r'[^0-9A-Za-z]', '', stamp)}"
    if variant is not None:
        key += "/" + re.sub(r"[^0-9A-Za-z.-]", "-", variant)
    comp_ident = {"system": identifier_system("composition"), "value": key}
    comp_url = urn_uuid("Composition", comp_ident["system"], comp_ident["value"])
    security = _security() if episode.part2 else None
    if security and notices:  # disclosed Part 2 data: no redisclosure without consent
        security = [*security, label("obligation")]

    sections = []
    counts = []
    for section in toc_sections():
        urls = selection.entries.get(section.key, [])
        reason = selection.empty.get(section.key)
        out: dict[str, Any] = {
            "title": section.title,
            "code": section.concept(),
            "text": {"status": "generated", "div": section_div(ix, section.key, urls, reason)},
        }
        if urls:
            out["entry"] = [{"reference": url} for url in urls]
        else:
            out["emptyReason"] = _empty_reason(reason or "nilknown")
        sections.append(out)
        counts.append((section.title, len(urls)))
    sections += notices or []

    period = _event_period(ix, at)
    title = _TITLES[at]
    composition: Resource = {"resourceType": "Composition"}
    meta: dict[str, Any] = {"profile": [TOC_COMPOSITION_PROFILE]}
    if security:
        meta["security"] = security
    composition["meta"] = meta
    composition["language"] = document_data()["language"]
    composition["text"] = {
        "status": "generated",
        "div": composition_div(
            ix,
            title=title,
            date=stamp,
            author=author,
            custodian=custodian,
            period=period,
            sections=counts,
        ),
    }
    composition["identifier"] = comp_ident
    composition["status"] = "final"
    composition["type"] = {"coding": [toc_type(at)]}
    composition["category"] = [{"coding": [toc_category()]}]
    composition["subject"] = {"reference": ix.patient_url}
    stays = ix.urls("stay")
    if at == "referral" and stays:
        composition["encounter"] = {"reference": stays[0]}
    composition["date"] = stamp if timestamp is not None else day.isoformat()
    composition["author"] = [{"reference": author}]
    composition["title"] = title
    attestation = document_data()["attestation_mode"]
    composition["attester"] = [
        {"mode": attestation["code"], "time": composition["date"], "party": {"reference": author}}
    ]
    composition["custodian"] = {"reference": custodian}
    if period:
        composition["event"] = [{"period": period}]
    composition["section"] = sections

    bundle: dict[str, Any] = {"resourceType": "Bundle"}
    bundle_meta: dict[str, Any] = {"profile": [TOC_BUNDLE_PROFILE]}
    if security:
        bundle_meta["security"] = security
    bundle["meta"] = bundle_meta
    bundle["identifier"] = {"system": identifier_system("document"), "value": key}
    bundle["type"] = "document"
    bundle["timestamp"] = stamp
    bundle["entry"] = [{"fullUrl": comp_url, "resource": composition}] + [
        {"fullUrl": url, "resource": ix.by_url[url]} for url in _closure(ix, composition)
    ]
    return bundle


def _day(episode: Episode, at: At, timestamp: datetime | None) -> date:
    """The day the document speaks for: discharge (or referral) day, else the timestamp's."""
    if at == "discharge" and episode.discharge is not None:
        return episode.discharge.date
    referral = episode.referral
    if at == "referral" and referral is not None:
        if referral.date is not None:
            return referral.date
        if referral.stay is not None and referral.stay.end is not None:
            end = referral.stay.end
            return end.date() if isinstance(end, datetime) else end
    if at == "referral" and referral is None:
        raise MappingError("a referral document needs the episode's referral", path="$.referral")
    if timestamp is not None:
        return timestamp.date()
    path = "$.discharge.date" if at == "discharge" else "$.referral.date"
    raise MappingError(f"a {at} document needs its day (or an explicit timestamp)", path=path)


def _role(ix: DocIndex, key: str | None) -> str | None:
    return ix.local("practitionerrole", key) if key else None


def _author(episode: Episode, ix: DocIndex, at: At) -> str | None:
    """The author's PractitionerRole full URL: at discharge the care manager, else the
    aftercare or treatment plan's author; at referral the referring clinician (the
    requester, else the stay's discharging or attending clinician)."""
    if at == "referral":
        referral = episode.referral
        if referral is None:
            return None
        keys = [referral.requester] + [
            p.practitioner
            for role in ("discharger", "attender")
            for p in referral.stay_participants
            if p.role == role
        ]
    else:
        plans = sorted(episode.care_plans, key=lambda p: not isinstance(p, AftercarePlan))
        keys = [episode.care_manager] + [plan.author for plan in plans]
    return next((url for url in (_role(ix, k) for k in keys) if url), None)


def _custodian(episode: Episode, ix: DocIndex, at: At) -> str | None:
    """The Organization that keeps the document: the referring organization (referral) or
    the program's (discharge), else the author's organization, else the episode's first
    provider organization."""
    keys: list[str | None] = []
    if at == "referral" and episode.referral is not None:
        keys.append(episode.referral.organization)
    if episode.program is not None:
        keys.append(episode.program.organization)
    for key in keys:
        url = ix.local("organization", key) if key else None
        if url:
            return url
    author = _author(episode, ix, at)
    org = (ix.by_url.get(author) or {}).get("organization") if author else None
    if isinstance(org, dict) and org.get("reference") in ix.by_url:
        return str(org["reference"])
    providers = [o.key for o in episode.organizations if o.kind in (None, "provider")]
    return ix.local("organization", providers[0]) if providers else None


def _event_period(ix: DocIndex, at: At) -> dict[str, str] | None:
    """The service the document covers: the program stay, or the inpatient stay."""
    kind = "episode" if at == "discharge" else "stay"
    for url in ix.urls(kind):
        period = ix.by_url[url].get("period")
        if isinstance(period, dict) and period.get("start"):
            return dict(period)
    return None


def _empty_reason(code: str) -> dict[str, Any]:
    reasons = document_data()["empty_reason"]
    return {
        "coding": [
            {"system": reasons["system"], "code": code, "display": reasons["displays"][code]}
        ]
    }


def _security() -> list[dict[str, str]]:
    return [label(name) for name in security_data()["part2_labels"]]


def _closure(ix: DocIndex, composition: Resource) -> list[str]:
    """Full URLs of every resource ``composition`` references, directly or through the
    resources it references, in the episode's order. A reference to something the
    episode does not hold is an error (the document must be complete)."""
    seen: set[str] = set()
    queue = deque(references_in(composition))
    while queue:
        ref = queue.popleft()
        if ref in seen:
            continue
        resource = ix.by_url.get(ref)
        if resource is None:
            raise MappingError("a document entry refers to a resource outside the episode")
        seen.add(ref)
        queue.extend(r for r in references_in(resource) if r not in seen)
    return sorted(seen, key=ix.order.__getitem__)
