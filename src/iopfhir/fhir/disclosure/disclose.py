"""The one disclosure function: what of a set of resources may leave, for whom, and why.

:func:`disclose` takes resources (a Bundle of any type, ``(full URL, resource)`` entries
or bare resources) and a disclosure: a ``recipient`` (an organization: ``system|value``
of one of its identifiers, the value alone, or its key in the episode), a ``purpose``
(v3 PurposeOfUse, default ``TREAT``) and a moment ``at``. Part 2 data - a resource
labelled ``42CFRPart2`` or ``ETH`` - leaves only when, for its patient, an active
consent in force at ``at`` has a permit provision that covers the recipient, the purpose,
the moment and every sensitivity of the data (``ETH`` / ``PSY``), and no consent in force
has a deny provision that applies (deny wins). Consents are the input's own Consent
resources plus any given.

What is withheld is removed with every reference to it (:mod:`.prune`; a resource that
cannot be sent without what was withheld is withheld too). Disclosed Part 2 data gets
the ``NORDSCLCD`` obligation label (no redisclosure without consent). A document keeps
every section: one left empty says ``withheld``; :func:`notice_sections` gives the
"information withheld" notice and the prohibition on redisclosure. One AuditEvent
(:mod:`.audit`) records each patient's disclosure.

``own_system=True``: the data stays with the program (its own record system): nothing is
withheld, no label added, nothing recorded.

Inputs are never changed: kept resources are copies. Imports: :mod:`iopfhir.domain`,
:mod:`iopfhir.errors`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from iopfhir.domain import Consent
from iopfhir.errors import DisclosureRefused, InputError
from iopfhir.fhir.models import FhirModel, as_json
from iopfhir.terminology.security import (
    data_class,
    empty_reason,
    label,
    part2_codes,
    purpose_codes,
    security_data,
)

from .audit import audit_event
from .consents import RECIPIENT, as_domain_consent, is_recipient
from .prune import prune

__all__ = [
    "Disclosure",
    "DisclosureRefused",
    "DisclosureTerms",
    "data_classes",
    "disclose",
    "is_part2",
    "notice_sections",
]

Resource = dict[str, Any]
Entry = tuple[str, Resource]


def _labels(resource: Resource) -> set[tuple[str, str]]:
    meta = resource.get("meta")
    labels = meta.get("security") if isinstance(meta, dict) else None
    return {(str(c.get("system")), str(c.get("code"))) for c in labels or () if isinstance(c, dict)}


def is_part2(resource: Resource) -> bool:
    """Whether a resource is 42 CFR Part 2 data (labelled ``42CFRPart2`` or ``ETH``)."""
    return bool(_labels(resource) & part2_codes())


def data_classes(resource: Resource) -> list[str]:
    """The sensitivities of a resource's data (``substance-use``, ``mental-health``)."""
    return sorted({c for s, k in _labels(resource) if (c := data_class(s, k)) is not None})


@dataclass(frozen=True)
class DisclosureTerms:
    """Under what Part 2 data may leave: to the program's own record system
    (``own_system``), or disclosed to ``recipient`` for ``purpose`` at ``at`` with its
    AuditEvents handed to ``audit`` before anything leaves."""

    recipient: str | None = None
    purpose: str = "TREAT"
    at: date | datetime | None = None
    own_system: bool = False
    audit: Callable[[list[dict[str, Any]]], None] | None = None


@dataclass
class Disclosure:
    """What a disclosure lets leave, and its record."""

    #: the resources that may leave, as ``(full URL, resource)`` (copies)
    entries: list[Entry]
    #: how many resources of each type were withheld (no ids, no values)
    withheld: Counter[str] = field(default_factory=Counter)
    #: one AuditEvent per patient whose Part 2 records left
    audit_events: list[Resource] = field(default_factory=list)
    #: the business identifiers (``system|value``) of the consents it was made under
    consents: list[str] = field(default_factory=list)
    #: references removed because they named withheld resources
    references_removed: int = 0
    #: a Bundle given: the same Bundle with only what may leave
    bundle: Resource | None = None

    @property
    def part2_disclosed(self) -> int:
        """How many Part 2 resources leave."""
        return sum(1 for _u, r in self.entries if is_part2(r))


class _Input:
    """The entries of the input and how a reference finds one."""

    def __init__(self, source: Mapping[str, Any] | Iterable[Any]) -> None:
        self.bundle: Mapping[str, Any] | None = None
        raw: list[tuple[str | None, Any]]
        if isinstance(source, Mapping):
            if source.get("resourceType") != "Bundle":
                raise InputError("disclose takes a Bundle, entries or resources")
            self.bundle = source
            raw = [
                (e.get("fullUrl"), e.get("resource"))
                for e in source.get("entry") or ()
                if isinstance(e, dict)
            ]
        else:
            raw = [(i[0], i[1]) if isinstance(i, tuple) else (None, as_json(i)) for i in source]
        self.entries: list[Entry] = []
        self.index: dict[str, int] = {}
        for n, (url, res) in enumerate(raw):
            if not isinstance(res, dict):
                raise InputError("an entry without a resource", path=f"entry[{n}]")
            name = f"{res.get('resourceType')}/{res.get('id')}" if res.get("id") else None
            url = url or name or f"entry-{n}"
            self.entries.append((url, res))
            self.index.setdefault(url, n)
            if name:
                self.index.setdefault(name, n)

    def find(self, ref: Any) -> int | None:
        """The entry a Reference element names (full URL, ``Type/id``, an absolute URL
        ending in ``Type/id``; a version is ignored)."""
        text = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(text, str):
            return None
        text = text.split("/_history/")[0]
        found = self.index.get(text)
        if found is None and "://" in text:
            parts = text.rstrip("/").split("/")
            found = self.index.get("/".join(parts[-2:])) if len(parts) >= 2 else None
        return found

    def resource(self, ref: Any) -> Resource | None:
        n = self.find(ref)
        return self.entries[n][1] if n is not None else None


def _references(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            yield value
        for key, inner in value.items():
            if key not in ("meta", "text", "contained"):
                yield from _references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner)


def _patients(given: _Input) -> list[int | None]:
    """The patient entry of every entry (a Patient is its own; else its ``subject`` /
    ``patient``, else the first reference that is a Patient, else through what it refers
    to)."""
    out: dict[int, int | None] = {}

    def of(n: int, depth: int = 0) -> int | None:
        if n in out:
            return out[n]
        res = given.entries[n][1]
        found: int | None = None
        if res.get("resourceType") == "Patient":
            found = n
        else:
            refs = [res.get(k) for k in ("subject", "patient") if res.get(k)]
            refs += list(_references(res))
            targets = [t for t in (given.find(r) for r in refs) if t is not None and t != n]
            found = next(
                (t for t in targets if given.entries[t][1].get("resourceType") == "Patient"),
                None,
            )
            if found is None and depth < 3:
                found = next((p for t in targets if (p := of(t, depth + 1)) is not None), None)
        if depth == 0 or found is not None:
            out[n] = found
        return found

    return [of(n) for n in range(len(given.entries))]


@dataclass
class _Ruling:
    consent: Consent
    entry: Entry


def _rulings(
    given: _Input, extra: Sequence[Resource], recipient: str, patients: list[int | None]
) -> dict[int, list[_Ruling]]:
    """Per patient entry, the Part 2 consents that speak of it, seen from ``recipient``."""
    found: dict[int, list[_Ruling]] = {}
    single = {p for p in patients if p is not None}
    candidates: list[Entry] = [
        (u, r) for u, r in given.entries if r.get("resourceType") == "Consent"
    ]
    candidates += [(f"consent-{n}", r) for n, r in enumerate(extra)]
    for url, res in candidates:
        patient = given.find(res.get("patient"))
        if patient is None and len(single) == 1 and not isinstance(res.get("patient"), dict):
            patient = next(iter(single))
        if patient is None:
            continue
        consent = as_domain_consent(res, recipient, given.resource)
        if consent is not None:
            found.setdefault(patient, []).append(_Ruling(consent, (url, res)))
    return found


def _permitted(
    rulings: list[_Ruling], purpose: str, at: date | datetime, data: list[str]
) -> _Ruling | None:
    """The consent that permits (deny provisions of any consent in force win)."""
    permit: _Ruling | None = None
    for ruling in rulings:
        consent = ruling.consent
        if not consent.in_force(at):
            continue
        applying = [p for p in consent.provisions if p.applies(RECIPIENT, purpose, at, data)]
        if any(p.type == "deny" for p in applying):
            return None
        if permit is None and any(p.type == "permit" for p in applying):
            permit = ruling
    return permit


def _identifier_text(resource: Resource) -> str:
    idents = resource.get("identifier")
    ident = idents[0] if isinstance(idents, list) and idents else idents
    if isinstance(ident, dict):
        return f"{ident.get('system', '')}|{ident.get('value', '')}"
    return ""


def _org_reference(org: Resource | None, fallback: str) -> Resource:
    if org is not None and org.get("identifier"):
        ident = org["identifier"][0]
        out: Resource = {
            "type": "Organization",
            "identifier": {k: ident[k] for k in ("system", "value") if ident.get(k)},
        }
        if org.get("name"):
            out["display"] = org["name"]
        return out
    system, sep, value = fallback.rpartition("|")
    ident = {"system": system, "value": value} if sep and system else {"value": fallback}
    return {"type": "Organization", "identifier": ident}


def disclose(
    source: Mapping[str, Any] | Iterable[Any] | FhirModel,
    *,
    recipient: str | None = None,
    purpose: str = "TREAT",
    at: date | datetime | None = None,
    consents: Sequence[Resource] = (),
    own_system: bool = False,
) -> Disclosure:
    """What of ``source`` may leave to ``recipient`` for ``purpose`` at ``at`` (see the
    module). Raises :class:`~iopfhir.errors.InputError` on a disclosure named badly."""
    given = _Input(as_json(source))  # a fhir.resources model: its JSON
    if own_system:
        return Disclosure(entries=list(given.entries), bundle=_rebuilt(given, given.entries))
    if not recipient:
        raise InputError("a disclosure names its recipient", path="recipient")
    if purpose not in purpose_codes():
        raise InputError("not a known purpose of use (v3 PurposeOfUse)", path="purpose")
    if at is None:
        raise InputError("a disclosure is made at a moment", path="at")
    patients = _patients(given)
    rulings = _rulings(given, consents, recipient, patients)
    withheld: set[int] = set()
    used: dict[int, _Ruling] = {}
    for n, (_url, res) in enumerate(given.entries):
        if not is_part2(res):
            continue
        patient = patients[n]
        ruling = (
            _permitted(rulings.get(patient, []), purpose, at, data_classes(res))
            if patient is not None
            else None
        )
        if ruling is None:
            withheld.add(n)
        elif patient is not None:
            used.setdefault(patient, ruling)
    if given.bundle is not None and given.bundle.get("type") == "document" and 0 in withheld:
        raise DisclosureRefused(
            "no consent the document holds permits disclosing its Composition to this "
            "recipient for this purpose on this day: nothing was disclosed (make the "
            "document for the recipient with iopfhir toc --for)"
        )
    kept, removed = _pruned(given, withheld)
    obligation = label("obligation")
    for _url, res in kept:
        if is_part2(res) and (obligation["system"], obligation["code"]) not in _labels(res):
            meta = res.setdefault("meta", {})
            meta["security"] = [*meta.get("security", []), dict(obligation)]
    disclosure = Disclosure(entries=kept, references_removed=removed)
    for n in withheld:
        disclosure.withheld[str(given.entries[n][1].get("resourceType"))] += 1
    _audit(given, disclosure, patients, used, recipient, purpose, at)
    disclosure.bundle = _rebuilt(given, kept, withheld=bool(withheld))
    return disclosure


def _pruned(given: _Input, withheld: set[int]) -> tuple[list[Entry], int]:
    """Copies of the entries not withheld, without references to withheld ones; a resource
    that cannot be sent without them is withheld too (until nothing changes)."""
    while True:
        kept: list[Entry] = []
        removed = 0
        more = False
        for n, (url, res) in enumerate(given.entries):
            if n in withheld:
                continue
            res = copy.deepcopy(res)
            if withheld:
                count, sendable = prune(res, lambda ref: given.find(ref) in withheld)
                removed += count
                if not sendable:
                    withheld.add(n)
                    more = True
                    continue
            kept.append((url, res))
        if not more:
            return kept, removed


def _audit(
    given: _Input,
    disclosure: Disclosure,
    patients: list[int | None],
    used: dict[int, _Ruling],
    recipient: str,
    purpose: str,
    at: date | datetime,
) -> None:
    """One AuditEvent per patient whose Part 2 data leaves."""
    kept_urls = {u for u, _r in disclosure.entries}
    by_url = dict(disclosure.entries)
    orgs = [r for _u, r in given.entries if r.get("resourceType") == "Organization"]
    target = next((o for o in orgs if is_recipient(o, None, recipient)), None)
    for patient, ruling in used.items():
        url = given.entries[patient][0]
        disclosed = [
            (u, by_url[u])
            for n, (u, r) in enumerate(given.entries)
            if patients[n] == patient and u in kept_urls and is_part2(by_url[u])
        ]
        if not disclosed:
            continue
        consent_res = ruling.entry[1]
        custodian = next(iter(consent_res.get("organization") or ()), None)
        source_org = given.resource(custodian) if custodian else None
        disclosure.audit_events.append(
            audit_event(
                patient=(url, by_url.get(url, given.entries[patient][1])),
                disclosed=disclosed,
                recipient=_org_reference(target, recipient),
                source=_org_reference(source_org, "") if source_org else None,
                purpose=purpose,
                at=at,
                consent=ruling.entry,
            )
        )
        ident = _identifier_text(consent_res)
        if ident and ident not in disclosure.consents:
            disclosure.consents.append(ident)


def notice_sections(*, withheld: bool, part2: bool) -> list[Resource]:
    """The Composition sections a disclosed document gets: that information was withheld
    (without saying what), and the prohibition on redisclosure of Part 2 records."""
    doc = security_data()["document"]
    out = []
    for wanted, key, text_key in (
        (withheld, "withheld_section", "withheld_text"),
        (part2, "redisclosure_section", "redisclosure_text"),
    ):
        if not wanted:
            continue
        code = doc[key]
        div = f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{doc[text_key]}</p></div>'
        section: Resource = {
            "title": code["title"],
            "code": {
                "coding": [{k: code[k] for k in ("system", "code", "display")}],
            },
            "text": {"status": "generated", "div": div},
            "emptyReason": _empty("withheld" if key == "withheld_section" else "unavailable"),
        }
        out.append(section)
    return out


def _empty(code: str) -> Resource:
    return {"coding": [empty_reason(code)]}


def _rebuilt(given: _Input, kept: list[Entry], *, withheld: bool = False) -> Resource | None:
    """The input Bundle with only the kept entries (their request parts kept); a document's
    sections left without entries say ``withheld``, and it gets the notices."""
    if given.bundle is None:
        return None
    bundle = {k: v for k, v in given.bundle.items() if k != "entry"}
    by_url = dict(kept)
    entries = []
    for n, raw in enumerate(given.bundle.get("entry") or ()):
        url = given.entries[n][0]
        if url in by_url:
            entries.append({**raw, "resource": by_url[url]})
    bundle["entry"] = entries
    if bundle.get("type") == "document" and entries:
        composition = entries[0]["resource"]
        if composition.get("resourceType") == "Composition":
            _document_notices(composition, withheld)
    return bundle


def _document_notices(composition: Resource, withheld: bool) -> None:
    part2 = is_part2(composition)
    for section in composition.get("section") or ():
        if (
            not section.get("entry")
            and not section.get("emptyReason")
            and not section.get("section")
        ):
            section["emptyReason"] = _empty("withheld")
    codes = {
        (c.get("system"), c.get("code"))
        for s in composition.get("section") or ()
        for c in (s.get("code") or {}).get("coding", ())
    }
    for section in notice_sections(withheld=withheld, part2=part2):
        coding = section["code"]["coding"][0]
        if (coding["system"], coding["code"]) not in codes:
            composition.setdefault("section", []).append(section)
