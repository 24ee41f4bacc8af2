"""FHIR documents in: a Composition read by its sections (:func:`read_documents`).

A document Bundle is first checked as a whole where it is unpacked
(:func:`~iopfhir.fhir.read.document_check.check_document`: errors name the section and its
FHIRPath). :func:`read_documents` then runs inside
:func:`~iopfhir.fhir.read.assemble.read_episode`, for the Compositions of the episode (any
Composition: in a document, a transaction or a folder; the grouping gives it to its patient
through ``subject``). Each section is known by its LOINC code (``section_kind``: ours,
``documents.json`` ``sections``, and other documents' codes, ``documents.json``
``reading``); a ``List`` entry stands for its items.

What the sections decide: the referral and its stay. A ServiceRequest in the
reason-for-referral section is the episode's referral (``read_referral``, when no
EpisodeOfCare names one); the stay is the referral's ``encounter``, else an Encounter of
that section, else the Composition's ``encounter`` when it is a hospital stay
(``stay_classes``) or the document refers (``referring_types``), else a hospital-stay
Encounter of any section. A document with a stay and no referral request gets a referral
made from the stay (source by the stay's class, date = the Composition's date; read by
``stay_fields``). Every stay is left out of the sessions. The reason is the request's, else
the reason-for-referral section's own narrative as plain text (``text.status`` other than
``generated``: a generated narrative says nothing its entries do not). Everything else the
sections list (problems, medications, allergies, assessments, plans, goals, team) is read by
type as any input is; what a section carries that the model has no place for (a section of
another kind, a section's own narrative, an entry or List item that does not resolve, a
second hospital stay) is counted in ``unmapped``.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology` and the reader's ``_context``,
``document_check``, ``episode``, ``source`` and ``values``.
"""

from __future__ import annotations

import html
import re
from typing import Any, Final

from iopfhir.domain import Referral
from iopfhir.fhir.read._context import Context
from iopfhir.fhir.read.document_check import loinc_code, section_kind, sections
from iopfhir.fhir.read.episode import read_referral, stay_fields
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import as_dict, as_list, codings, parse_date, text
from iopfhir.terminology.documents import document_data

__all__ = ["read_documents", "section_kind"]

#: the kind of the reason-for-referral section (our section key)
REFERRAL: Final = "reason-for-referral"
#: where a section's own narrative is kept
_NARRATIVE_KEPT: Final = frozenset({REFERRAL})
_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


# -- reading a Composition -------------------------------------------------------------------


def read_documents(ctx: Context, compositions: list[Entry], fields: dict[str, Any]) -> None:
    """Read the Compositions of one episode into ``fields`` (the Episode's own fields):
    the referral and its stay where no EpisodeOfCare gave one; stays are no sessions."""
    for comp in compositions:
        ctx.attempt(comp, _read_composition, ctx, comp, fields)


def _read_composition(ctx: Context, comp: Entry, fields: dict[str, Any]) -> None:
    res = comp.resource
    by_kind: dict[str, list[Entry]] = {}
    reason: str | None = None
    for _path, section in sections(res, "Composition"):
        kind = section_kind(loinc_code(section))
        narrative = _narrative(section)
        if kind is None:  # its entries are still read by type, below
            if section.get("entry") or narrative:
                ctx.unmapped["Composition.section: a section the IOP model has no place for"] += 1
        elif narrative is not None:
            if kind in _NARRATIVE_KEPT and reason is None:
                reason = narrative
            else:
                ctx.unmapped[
                    "Composition.section.text: the section's own narrative (not kept)"
                ] += 1
        for ref in as_list(section.get("entry")):
            target = ctx.resolve(ref, comp)
            if target is None:
                ctx.unmapped["Composition.section.entry: does not resolve (not read)"] += 1
                continue
            by_kind.setdefault(kind or "", []).extend(_items(ctx, target))

    stays = _stays(ctx, comp, by_kind)
    for stay in stays:
        ctx.not_sessions.add(id(stay))
    if "referral" not in fields:
        referral = _referral(ctx, comp, by_kind.get(REFERRAL, []), stays)
        if referral is not None:
            if referral.reason is None and reason is not None:
                referral = Referral.model_validate({**referral.model_dump(), "reason": reason})
            fields["referral"] = referral
    stay_of_referral = fields.get("referral")
    kept = 1 if stay_of_referral is not None and stay_of_referral.stay is not None else 0
    if len(stays) > kept:
        ctx.unmapped["Encounter: a hospital stay other than the referral's (not a session)"] += (
            len(stays) - kept
        )


def _items(ctx: Context, target: Entry) -> list[Entry]:
    """A section entry as resources: a List stands for its items."""
    if target.type != "List":
        return [target]
    out = []
    for item in as_list(target.resource.get("entry")):
        found = ctx.resolve(as_dict(item).get("item"), target)
        if found is None:
            ctx.unmapped["List.entry.item: does not resolve (not read)"] += 1
        else:
            out.append(found)
    return out


def _narrative(section: dict[str, Any]) -> str | None:
    """The section's own words: its narrative as plain text, unless it was generated from
    the entries (``text.status`` = ``generated``) or is empty."""
    narrative = as_dict(section.get("text"))
    if narrative.get("status") == "generated":
        return None
    div = text(narrative.get("div"))
    if div is None:
        return None
    return html.unescape(_SPACE.sub(" ", _TAGS.sub(" ", div)).strip()) or None


def _stay_class(entry: Entry) -> str | None:
    """The referral source a hospital stay Encounter's class gives, ``None``: not a stay."""
    table = document_data()["reading"]["stay_classes"]
    for system, code in codings(entry.resource.get("class")):
        if system == table["system"] and code in table["codes"]:
            return str(table["codes"][code])
    return None


def _stays(ctx: Context, comp: Entry, by_kind: dict[str, list[Entry]]) -> list[Entry]:
    """The Encounters of the document that are a hospital stay, the referral's first."""
    found: list[Entry] = []

    def add(entry: Entry | None) -> None:
        if entry is not None and entry.type == "Encounter" and entry not in found:
            found.append(entry)

    for request in by_kind.get(REFERRAL, []):
        if request.type == "ServiceRequest":
            add(ctx.resolve(request.resource.get("encounter"), request))
    for entry in by_kind.get(REFERRAL, []):
        add(entry)
    encounter = ctx.resolve(comp.resource.get("encounter"), comp)
    if encounter is not None and encounter.type == "Encounter":
        doc_types = {c for _s, c in codings(comp.resource.get("type"))}
        if _stay_class(encounter) or doc_types & set(document_data()["reading"]["referring_types"]):
            add(encounter)
    for entries in by_kind.values():
        for entry in entries:
            if entry.type == "Encounter" and _stay_class(entry):
                add(entry)
    return found


def _referral(
    ctx: Context, comp: Entry, in_section: list[Entry], stays: list[Entry]
) -> Referral | None:
    """The referral a document gives: its reason-for-referral ServiceRequest (with the
    document's stay when the request names none), else one made from the stay."""
    request = next((e for e in in_section if e.type == "ServiceRequest"), None)
    if request is not None:
        referral = ctx.attempt(request, read_referral, ctx, request)
        if referral is None:
            return None
        ctx.used_requests.add(id(request))
        if referral.stay is None and not referral.stay_participants and stays:
            extra: dict[str, Any] = {}
            if referral.organization is not None:
                extra["organization"] = referral.organization
            stay_fields(ctx, stays[0], extra)
            return Referral.model_validate({**referral.model_dump(), **extra})
        return referral
    if not stays:
        return None
    stay = stays[0]
    fields: dict[str, Any] = {
        "key": ctx.keys["referral"].take("referral"),
        "source": _stay_class(stay) or "other",
        "date": parse_date(comp.resource.get("date"), "Composition.date"),
    }
    stay_fields(ctx, stay, fields)
    return Referral(**fields)
