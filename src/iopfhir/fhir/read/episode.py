"""FHIR R4 EpisodeOfCare, referral ServiceRequest (+ stay Encounter, + the discharge
CarePlan it is based on) and Condition → the episode's own fields, its referral and its
diagnoses.

The counterpart of :mod:`iopfhir.fhir.build.episode`. The EpisodeOfCare gives status,
admission and discharge (the period, with the ``discharge-disposition`` extension),
the program (``type``: iopfhir's program type, else the one a program code the user gave
or an IOP billing code names, :mod:`~iopfhir.fhir.read.program`; + the ``iop-program``
extension), the care manager and the referral (the first ``referralRequest``). Conditions
become diagnoses in the order of ``EpisodeOfCare.diagnosis`` (by rank, then position), the
rest after them in input order.
What the Episode has no place for is counted in ``unmapped`` (:func:`_count_unkept`):
``statusHistory``, ``account``, each ``type`` of an episode without a program type (and
the ``managingOrganization`` of such an episode), each other ``type`` concept or coding of
one with it (the program type written again is no other), a ``careManager`` who is no
practitioner of the input, a first ``referralRequest`` that names no ServiceRequest of the
input and every ``referralRequest`` after the first (the Episode has one referral), a
disposition without an end (an end without a disposition is a discharge); of a referral, a
``reasonCode`` other than the first one's text (:func:`reason_text`), a ``basedOn``
after the discharge plan (the first CarePlan) and a stay participant's types other than
its role (the first it names); of a Condition, the categories other than the first of
the three the model knows (the one kept).

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`, :mod:`iopfhir.fhir.conventions`
and the reader's ``_context``, ``people``, ``source`` and ``values``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from iopfhir.domain import (
    Diagnosis,
    Discharge,
    DischargePlan,
    Program,
    Referral,
    StayParticipant,
)
from iopfhir.domain.common import Age, AgeRange, ConditionTime
from iopfhir.domain.diagnoses import ABATED_STATUSES, ListedDiagnosis
from iopfhir.fhir.conventions import EXT
from iopfhir.fhir.read._context import Context
from iopfhir.fhir.read.concepts import read_code
from iopfhir.fhir.read.held import note_unheld
from iopfhir.fhir.read.people import org_key, person_key, practitioner_key
from iopfhir.fhir.read.program import ReadFrom, count_other_types, program_type_of
from iopfhir.fhir.read.source import Entry
from iopfhir.fhir.read.values import (
    as_dict,
    as_list,
    codings,
    extension,
    first_code,
    note,
    parse_date,
    parse_period,
    text,
)
from iopfhir.terminology import codes

__all__ = [
    "condition_keys",
    "diagnoses_listed",
    "diagnosis_order",
    "read_condition",
    "read_episode_of_care",
    "read_referral",
    "reason_text",
    "stay_fields",
]


def read_episode_of_care(ctx: Context, entry: Entry) -> dict[str, Any]:
    """The Episode fields an EpisodeOfCare carries (status, admission, program...)."""
    res = entry.resource
    note_unheld(res, "EpisodeOfCare")
    out: dict[str, Any] = {}
    status = res.get("status")
    out["status"] = status if isinstance(status, str) else "active"
    period = as_dict(res.get("period"))
    admission = parse_date(period.get("start"), "EpisodeOfCare.period.start")
    if admission is not None:
        out["admission"] = admission
    program_ext = extension(res, EXT.PROGRAM)
    program_type, read_from = program_type_of(res.get("type")) or (None, None)
    if program_type is not None:
        name, hours, days = None, None, None
        max_hours, max_days = None, None
        for sub in as_list((program_ext or {}).get("extension")):
            if not isinstance(sub, dict):
                continue
            if sub.get("url") == "name":
                name = text(sub.get("valueString"))
            elif sub.get("url") == "minimumHoursPerWeek":
                hours = sub.get("valueDecimal")
            elif sub.get("url") == "minimumDaysPerWeek":
                days = sub.get("valueInteger")
            elif sub.get("url") == "maximumHoursPerWeek":
                max_hours = sub.get("valueDecimal")
            elif sub.get("url") == "maximumDaysPerWeek":
                max_days = sub.get("valueInteger")
        program: dict[str, Any] = {"name": name or "IOP", "type": program_type}
        if res.get("managingOrganization") is not None:
            program["organization"] = org_key(ctx, res["managingOrganization"], entry)
        if hours is not None:
            program["min_hours_per_week"] = hours
        if days is not None:
            program["min_days_per_week"] = days
        if max_hours is not None:
            program["max_hours_per_week"] = max_hours
        if max_days is not None:
            program["max_days_per_week"] = max_days
        out["program"] = Program(**program)
    disposition_ext = extension(res, EXT.DISCHARGE_DISPOSITION)
    disposition = read_code(
        (disposition_ext or {}).get("valueCodeableConcept"),
        "discharge-disposition",
        "EpisodeOfCare.extension.valueCodeableConcept",
    )
    end = parse_date(period.get("end"), "EpisodeOfCare.period.end")
    if end is not None:
        out["discharge"] = Discharge(date=end, disposition=disposition)
    if res.get("careManager") is not None:
        manager = person_key(ctx, res["careManager"], entry)
        if manager is not None and any(p.key == manager for p in ctx.practitioners):
            out["care_manager"] = manager  # (else counted with the rest: _count_unkept)
    _count_unkept(ctx, res, out, end is not None, disposition is not None, read_from=read_from)
    requests = as_list(res.get("referralRequest"))
    for ref in requests[:1]:
        target = ctx.resolve(ref, entry)
        if target is not None and target.type == "ServiceRequest":
            referral = ctx.attempt(target, read_referral, ctx, target)
            if referral is not None:
                out["referral"] = referral
                ctx.used_requests.add(id(target))
        else:  # a display only, or a reference to nothing the input holds
            ctx.unmapped[_NO_REFERRAL] += 1
    if len(requests) > 1:  # the Episode holds one referral
        _count_more_referrals(ctx, requests[1:], entry)
    for ref in as_list(res.get("team")):
        # the Episode's teams are the CareTeams read: a team it names that the input does
        # not hold is written back by none
        target = ctx.resolve(ref, entry)
        if target is None or target.type != "CareTeam":
            note("EpisodeOfCare.team", "not a CareTeam of the input (dropped)")
    return out


_NO_REFERRAL = "EpisodeOfCare.referralRequest: not a ServiceRequest of the input (dropped)"
#: a referralRequest after the first: the Episode has one referral; a ServiceRequest of
#: the input is still read (one of the episode's other requests, or an aftercare
#: referral), only its being a referral of the episode is lost
_MORE_REFERRALS = (
    "EpisodeOfCare.referralRequest: after the first (not the episode's referral; "
    "its ServiceRequest read on its own)"
)
_MORE_NO_REFERRAL = (
    "EpisodeOfCare.referralRequest: a further one, not a ServiceRequest of the input (dropped)"
)


def _count_more_referrals(ctx: Context, refs: list[Any], entry: Entry) -> None:
    """Count the ``referralRequest`` after the first (the Episode has one referral; the
    episode's referral named again is no other one)."""
    seen: set[int] = set()
    for ref in refs:
        target = ctx.resolve(ref, entry)
        if target is None or target.type != "ServiceRequest":
            ctx.unmapped[_MORE_NO_REFERRAL] += 1
        elif id(target) not in ctx.used_requests and id(target) not in seen:
            seen.add(id(target))
            ctx.unmapped[_MORE_REFERRALS] += 1


def _count_unkept(
    ctx: Context,
    res: dict[str, Any],
    out: dict[str, Any],
    end: bool,
    disposition: bool,
    *,
    read_from: ReadFrom | None,
) -> None:
    """Count what of EpisodeOfCare ``res`` the Episode fields ``out`` do not hold (each
    status of ``statusHistory``, each ``account``; a disposition without an end, which
    the Episode's discharge, a day first, cannot hold)."""
    unmapped = ctx.unmapped
    if history := as_list(res.get("statusHistory")):
        unmapped["EpisodeOfCare.statusHistory: not kept"] += len(history)
    if accounts := as_list(res.get("account")):
        unmapped["EpisodeOfCare.account: not kept"] += len(accounts)
    if "program" not in out:
        if types := as_list(res.get("type")):
            unmapped["EpisodeOfCare.type: not a program type (dropped)"] += len(types)
        if res.get("managingOrganization") is not None:
            unmapped["EpisodeOfCare.managingOrganization: without a program type (dropped)"] += 1
    else:
        count_other_types(ctx, res.get("type"), out["program"].type, read_from)
    if res.get("careManager") is not None and "care_manager" not in out:
        unmapped["EpisodeOfCare.careManager: not a practitioner of the input (dropped)"] += 1
    if disposition and not end:
        unmapped["EpisodeOfCare.extension: discharge disposition without period.end (dropped)"] += 1


#: a referral's requester that is neither a practitioner nor an organization of the input
_NO_REQUESTER = "not a practitioner or organization of the input (dropped)"


def read_referral(ctx: Context, entry: Entry) -> Referral:
    """The referral ServiceRequest, with the stay its ``encounter`` names (clinicians and
    hospital) and the discharge plan its ``basedOn`` names.

    ``requester``: a practitioner of the episode, else the referring organization.
    ``performer`` is the IOP (the program's organization, read from the EpisodeOfCare), so
    it is not read here; the referring organization of a referral requested by a
    practitioner is the stay's ``serviceProvider``.
    """
    res = entry.resource
    note_unheld(res, "ServiceRequest:referral")
    fields: dict[str, Any] = {
        "key": ctx.new_key("referral", entry, "referral", fallback="referral"),
        "source": read_code(
            res.get("category"),
            "referral-source",
            "ServiceRequest.category",
            otherwise="read as other",
        )
        or "other",
        "date": parse_date(res.get("authoredOn"), "ServiceRequest.authoredOn"),
    }
    if res.get("requester") is not None:
        requester = person_key(ctx, res["requester"], entry)
        if requester and any(p.key == requester for p in ctx.practitioners):
            fields["requester"] = requester
        else:
            org = org_key(ctx, res["requester"], entry)
            if org:
                fields["organization"] = org
            else:
                note("ServiceRequest.requester", _NO_REQUESTER)
    fields["reason"] = reason_text(ctx, res.get("reasonCode"))
    stay = ctx.resolve(res.get("encounter"), entry)
    if stay is not None and stay.type == "Encounter":
        stay_fields(ctx, stay, fields)
    based_on = as_list(res.get("basedOn"))
    for n, ref in enumerate(based_on):
        target = ctx.resolve(ref, entry)
        if target is not None and target.type == "CarePlan" and id(target) not in ctx.not_plans:
            fields["discharge_plan"] = _discharge_plan(ctx, target)
            ctx.not_plans.add(id(target))
            if n + 1 < len(based_on):  # the referral holds one discharge plan
                _count_more_plans(ctx, based_on[n + 1 :], entry, target)
            break
    return Referral(**fields)


#: ``unmapped`` reasons of a referral's ``basedOn`` after its discharge plan
_MORE_PLAN = (
    "ServiceRequest.basedOn: a CarePlan after the discharge plan (not a discharge plan; "
    "read as a plan of its own)"
)
_OTHER_BASIS = "ServiceRequest.basedOn: after the discharge plan, not a CarePlan of the input"


def _count_more_plans(ctx: Context, refs: list[Any], entry: Entry, taken: Entry) -> None:
    """Count the ``basedOn`` references after the discharge plan (naming it again is none)."""
    for ref in refs:
        target = ctx.resolve(ref, entry)
        if target is taken:
            continue
        if target is not None and target.type == "CarePlan":
            ctx.unmapped[_MORE_PLAN] += 1
        else:
            ctx.unmapped[_OTHER_BASIS] += 1


#: a ``reasonCode`` of a referral that is not the one reason (text) it holds
OTHER_REASON = "ServiceRequest.reasonCode: not the referral's reason text (dropped)"


def reason_text(ctx: Context, concepts: Any) -> str | None:
    """A referral's ``reason``: the text of its first ``reasonCode``; any other reason
    (one more, or a first one coded without text) is counted."""
    items = as_list(concepts)
    first = items[0] if items else None
    reason = text(first.get("text")) if isinstance(first, dict) else None
    if len(items) > 1 or (items and reason is None):
        ctx.unmapped[OTHER_REASON] += len(items) - (reason is not None)
    return reason


def stay_fields(ctx: Context, stay: Entry, fields: dict[str, Any]) -> None:
    """The referral fields an inpatient stay Encounter gives (period, clinicians, and the
    hospital unless ``fields`` names an organization already); the stay is no session."""
    ctx.not_sessions.add(id(stay))
    res = stay.resource
    period = res.get("period")
    ended = isinstance(period, dict) and bool(period.get("end"))
    # a status the writer derives from the stay's end is held, not dropped
    derived = res.get("status") == ("finished" if ended else "in-progress")
    note_unheld(res, "Encounter:stay", ("status",) if derived else ())
    fields["stay"] = parse_period(period, "Encounter.period")
    fields["stay_participants"] = _stay_participants(ctx, stay)
    provider = stay.resource.get("serviceProvider")
    if provider is not None and "organization" not in fields:
        org = org_key(ctx, provider, stay)
        if org:
            fields["organization"] = org


#: v3 ParticipationType code → stay participation key
_PARTICIPATION = {code: key for key, code in codes()["stay_participation"]["codes"].items()}


#: a stay participant's ``type`` that is not its one role
_OTHER_ROLE = "Encounter.participant.type: of a stay participant, not its one role (dropped)"


def _stay_participants(ctx: Context, stay: Entry) -> list[StayParticipant]:
    """The stay's practitioners and how they took part (others are counted, not kept)."""
    system = codes()["stay_participation"]["system"]
    out = []
    for part in as_list(stay.resource.get("participant")):
        if not isinstance(part, dict):
            continue
        who = person_key(ctx, part.get("individual"), stay)
        if who is None or not any(p.key == who for p in ctx.practitioners):
            ctx.unmapped[
                "Encounter.participant.individual: of a stay, not a practitioner (dropped)"
            ] += 1
            continue
        role = None
        for concept in as_list(part.get("type")):
            found = next(
                (
                    _PARTICIPATION[c]
                    for s, c in codings(concept)
                    if s == system and c in _PARTICIPATION
                ),
                None,
            )
            if role is None and found is not None:
                role = found
            elif found is None or found != role:  # the participant holds one role
                ctx.unmapped[_OTHER_ROLE] += 1
        out.append(StayParticipant(practitioner=who, role=role))
    return out


def _discharge_plan(ctx: Context, entry: Entry) -> DischargePlan:
    """The hospital's discharge plan (a CarePlan the referral is based on)."""
    res = entry.resource
    note_unheld(res, "CarePlan:discharge")
    fields: dict[str, Any] = {
        "key": ctx.new_key("dischargeplan", entry, "dischargeplan", fallback="discharge-plan"),
        "title": text(res.get("title")),
        "description": text(res.get("description")),
        "created": parse_date(res.get("created"), "CarePlan.created"),
    }
    status = res.get("status")
    if status in ("active", "completed", "revoked"):
        fields["status"] = status
    elif status is not None:
        fields["status"] = "unknown"
    if res.get("author") is not None:
        author = practitioner_key(ctx, res["author"], entry, "CarePlan.author")
        if author is not None:
            fields["author"] = author
    return DischargePlan(**fields)


def diagnosis_order(ctx: Context, conditions: list[Entry]) -> list[Entry]:
    """``conditions`` in the order the EpisodeOfCare ranks them, the others after."""
    if ctx.eoc is None:
        return conditions
    ranked: list[tuple[int, int, Entry]] = []
    listed: set[int] = set()
    for pos, diag in enumerate(as_list(ctx.eoc.resource.get("diagnosis"))):
        if not isinstance(diag, dict):
            continue
        if diag.get("role") is not None:  # a diagnosis holds no role (admission, billing...)
            note("EpisodeOfCare.diagnosis.role", "not kept (dropped)")
        target = ctx.resolve(diag.get("condition"), ctx.eoc)
        if target is None or target.type != "Condition":
            note("EpisodeOfCare.diagnosis.condition", "not a Condition of the input (dropped)")
        elif id(target) not in listed:
            raw_rank = diag.get("rank")
            rank = raw_rank if isinstance(raw_rank, int) else 10**6
            ranked.append((rank, pos, target))
            listed.add(id(target))
    ranked.sort(key=lambda t: (t[0], t[1]))
    present = {id(c) for c in conditions}
    first = [t[2] for t in ranked if id(t[2]) in present]
    return first + [c for c in conditions if id(c) not in listed]


def diagnoses_listed(ctx: Context) -> list[ListedDiagnosis] | None:
    """``Episode.diagnoses_listed``: the diagnoses read that ``EpisodeOfCare.diagnosis``
    lists, in its order, each with its rank where it has a positive one; ``None`` where
    that is what an episode file writes (every diagnosis, ranked in order) or there is no
    EpisodeOfCare. Run once the Conditions are read (:func:`diagnosis_order` counted the
    entries that name none)."""
    if ctx.eoc is None:
        return None
    read = {d.key for d in ctx.diagnoses}
    listed: list[ListedDiagnosis] = []
    seen: set[str] = set()
    for diag in as_list(ctx.eoc.resource.get("diagnosis")):
        target = ctx.resolve(diag.get("condition"), ctx.eoc) if isinstance(diag, dict) else None
        key = ctx.key_of.get(("diagnoses", id(target))) if target is not None else None
        if key is None or key not in read:
            continue  # no Condition read: counted by diagnosis_order or read_condition
        if key in seen:
            note("EpisodeOfCare.diagnosis", "a condition listed again (dropped)")
            continue
        seen.add(key)
        rank = diag.get("rank")
        if rank is not None and (type(rank) is not int or rank < 1):
            note("EpisodeOfCare.diagnosis.rank", "not a positive integer (dropped)")
            rank = None
        listed.append(ListedDiagnosis(diagnosis=key, rank=rank))
    default = [ListedDiagnosis(diagnosis=d.key, rank=i) for i, d in enumerate(ctx.diagnoses, 1)]
    return None if listed == default else listed


#: the ``Condition.category`` codes a diagnosis holds (one of them)
_CATEGORIES = frozenset({"problem-list-item", "encounter-diagnosis", "health-concern"})
_OTHER_CATEGORY = (
    "Condition.category: not problem-list-item, encounter-diagnosis or health-concern (dropped)"
)
_MORE_CATEGORY = "Condition.category: a further category after the first (dropped)"


def read_condition(ctx: Context, entry: Entry) -> None:
    """A Condition, added to the episode's diagnoses (one without a coded code is counted)."""
    res = entry.resource
    code = first_code(res.get("code"), "Condition.code")
    if code is None:
        ctx.unmapped["Condition: no coded code"] += 1
        return
    note_unheld(res, "Condition")
    category = None
    for concept in as_list(res.get("category")):
        found = next((c for _sys, c in codings(concept) if c in _CATEGORIES), None)
        if found is None:
            ctx.unmapped[_OTHER_CATEGORY] += 1
        elif category is None:
            category = found
        elif found != category:  # a diagnosis holds one category
            ctx.unmapped[_MORE_CATEGORY] += 1
    if not res.get("category"):  # R4 0..*; the IOP profile requires one: said, not silent
        note("Condition.category", "missing (written back as problem-list-item)")
    clinical = next((c for _s, c in codings(res.get("clinicalStatus"))), None)
    verification = next((c for _s, c in codings(res.get("verificationStatus"))), None)
    key = ctx.new_key("diagnoses", entry, "condition")
    abatement = _condition_time(res, "abatement")
    if abatement is not None and clinical not in ABATED_STATUSES:
        # R4 con-4: an abated condition is inactive, resolved or in remission
        note("Condition.abatement", "with a clinical status that is not abated (dropped)")
        abatement = None
    diagnosis = Diagnosis(
        key=key,
        code=code,
        category=category or "problem-list-item",
        clinical_status=clinical,
        verification_status=verification,
        onset=_condition_time(res, "onset"),
        abatement=abatement,
        recorded=parse_date(res.get("recordedDate"), "Condition.recordedDate"),
    )
    ctx.diagnoses.append(diagnosis)


_AGE_UNITS = frozenset({"a", "mo", "wk", "d", "h", "min"})


def _age(value: Any, at: str) -> Age | None:
    """An R4 Age (UCUM years ... minutes); another quantity is noted and dropped."""
    quantity = as_dict(value)
    number, unit = quantity.get("value"), quantity.get("code") or quantity.get("unit")
    if not isinstance(number, int | float) or isinstance(number, bool) or number < 0:
        note(at, "not an age in UCUM units (dropped)")
        return None
    if unit not in _AGE_UNITS:
        note(at, "not an age in UCUM units (dropped)")
        return None
    return Age(value=float(number), unit=unit)


def _condition_time(res: dict[str, Any], element: str) -> date | ConditionTime | None:
    """``Condition.onset[x]`` / ``abatement[x]`` in whichever R4 form it has."""
    where = f"Condition.{element}"
    if res.get(f"{element}DateTime") is not None:
        return parse_date(res[f"{element}DateTime"], f"{where}DateTime")
    if res.get(f"{element}Period") is not None:
        period = parse_period(res[f"{element}Period"], f"{where}Period")
        return ConditionTime(period=period) if period is not None else None
    if res.get(f"{element}Age") is not None:
        age = _age(res[f"{element}Age"], f"{where}Age")
        return ConditionTime(age=age) if age is not None else None
    if res.get(f"{element}Range") is not None:
        bounds = as_dict(res[f"{element}Range"])
        low = _age(bounds["low"], f"{where}Range.low") if "low" in bounds else None
        high = _age(bounds["high"], f"{where}Range.high") if "high" in bounds else None
        if low is None and high is None:
            return None
        return ConditionTime(age_range=AgeRange(low=low, high=high))
    if isinstance(res.get(f"{element}String"), str):
        value = text(res[f"{element}String"])
        return ConditionTime(text=value) if value else None
    if res.get(f"{element}Boolean") is not None:  # STU3 abatementBoolean: not in R4
        note(f"{where}Boolean", "not an R4 element (dropped)")
    return None


def condition_keys(ctx: Context, refs: Any, at: Entry, path: str) -> list[str]:
    """The keys of the diagnoses already read that ``refs`` (found in ``at``) name; one
    that names none (another server's Condition, one not kept) is counted at ``path``."""
    out = []
    for ref in as_list(refs):
        target = ctx.resolve(ref, at)
        key = ctx.key_of.get(("diagnoses", id(target))) if target is not None else None
        if key is None:
            note(path, "not a diagnosis of the episode (dropped)")
        elif key not in out:
            out.append(key)
    return out
