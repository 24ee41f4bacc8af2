"""Pull one patient's IOP data from a server into the domain model.

1. The patient by business identifier (``Patient?identifier=system|value``).
2. ``Patient/[id]/$everything`` when the CapabilityStatement lists it (``_since`` for an
   incremental pull); otherwise one search per IOP type by ``patient``/``subject`` with
   ``Prefer: handling=strict`` (a server that does not know a parameter answers 400, and
   that type is reached through references instead), ``_lastUpdated=gt<since>`` when
   incremental, and the ``_include``s the server lists for practitioners, roles,
   organizations, goals, care teams and source questionnaire responses.
3. References are followed until closed (batched GETs by id): whatever ``$everything`` or
   the searches left out (Goals via ``CarePlan.goal``, CareTeams via
   ``EpisodeOfCare.team``, QuestionnaireResponses via ``Observation.derivedFrom``,
   Practitioners via ``PractitionerRole.practitioner``...) is fetched.
4. The weekly reviews of the Goals found: ``Provenance?target=Goal/a,Goal/b...`` (a goal's
   history; skipped, with a fallback noted, where the server cannot search Provenance by
   target).
5. :func:`iopfhir.fhir.read.read_fhir` turns the resources into episodes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from urllib.parse import urlsplit

from iopfhir.client import FhirClient, Search
from iopfhir.domain import Episode
from iopfhir.errors import BadRequest, ServerError, SyncError
from iopfhir.fhir.read import ImportResult, read_fhir
from iopfhir.terminology.programs import ProgramCodes, check_program_codes

from .capabilities import ServerSupport, server_support
from .counting import CountingTransport
from .resources import escape_search

__all__ = ["PATIENT_TYPES", "PullReport", "pull"]

log = logging.getLogger("iopfhir.sync")

Resource = dict[str, Any]

#: The IOP types that hang off a patient, searched when ``$everything`` is not offered.
PATIENT_TYPES = (
    "EpisodeOfCare",
    "CarePlan",
    "CareTeam",
    "Goal",
    "Condition",
    "Encounter",
    "Appointment",
    "Observation",
    "QuestionnaireResponse",
    "ServiceRequest",
    "RelatedPerson",
    "MedicationStatement",
    "MedicationRequest",
    "AllergyIntolerance",
    "Flag",
    "RiskAssessment",
    "Consent",
)
#: The measure forms (``Measure.forms``) each resource type carries, for the types nothing
#: else references: a server that cannot search them by patient leaves them unread, which
#: is not their absence from the record.
UNREFERENCED_FORMS = {"Flag": "flags", "RiskAssessment": "risk-assessment"}
#: Types a pull follows references to.
FOLLOWED = frozenset(
    {
        *PATIENT_TYPES,
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Organization",
    }
)
#: ``_include``s asked for when the server lists them.
WANTED_INCLUDES = frozenset(
    {
        "EpisodeOfCare:care-manager",
        "EpisodeOfCare:organization",
        "CarePlan:goal",
        "CarePlan:care-team",
        "CareTeam:participant",
        "Observation:derived-from",
        "Observation:performer",
        "Encounter:participant",
        "Encounter:practitioner",
        "Appointment:actor",
        "ServiceRequest:requester",
        "ServiceRequest:performer",
        "PractitionerRole:practitioner",
        "PractitionerRole:organization",
    }
)
MAX_FOLLOW_ROUNDS = 6
FETCH_BATCH = 200
#: Goals per ``Provenance?target=`` search.
TARGET_GROUP = 40


@dataclass
class PullReport:
    """How a pull went: the method, round trips, resources by type, fallbacks taken."""

    method: str = ""
    round_trips: int = 0
    resources: dict[str, int] = field(default_factory=dict)
    fallbacks: list[str] = field(default_factory=list)
    followed: int = 0


def _since_text(since: str | date | datetime | None) -> str | None:
    if since is None:
        return None
    if isinstance(since, datetime | date):
        return since.isoformat()
    return since


def pull(
    client: FhirClient,
    patient_identifier: tuple[str, str],
    since: str | date | datetime | None = None,
    *,
    report: PullReport | None = None,
    time_zone: tzinfo | None = None,
    program_codes: ProgramCodes | None = None,
) -> ImportResult:
    """Fetch the IOP data of the patient with ``patient_identifier`` = (system, value).

    ``since``: only resources changed after it (plus what they reference, so they can be
    read). ``report`` (optional) is filled with how the pull went. ``time_zone``: the zone
    of the server's times written without an offset, ``program_codes``: the EHR's own codes
    typing its IOP episodes (both ``read_fhir``'s). Raises
    :class:`~iopfhir.errors.SyncError` when no patient carries the identifier.
    """
    local = check_program_codes(program_codes or {})  # before any request
    report = report if report is not None else PullReport()
    counter = CountingTransport(client.transport)
    client.transport = counter
    try:
        resources = _Pull(client, report).run(patient_identifier, _since_text(since))
    finally:
        client.transport = counter.inner
        report.round_trips = counter.count
    kept = [r for r in resources.values() if r]
    counts: dict[str, int] = {}
    for r in kept:
        counts[r["resourceType"]] = counts.get(r["resourceType"], 0) + 1
    report.resources = dict(sorted(counts.items()))
    result = read_fhir(kept, time_zone=time_zone, program_codes=local)
    unread = {
        form
        for rtype, form in UNREFERENCED_FORMS.items()
        if any(f.startswith(f"{rtype}:") for f in report.fallbacks)
    }
    if unread:
        result.episodes[:] = [_unread_forms_unknown(e, unread) for e in result.episodes]
    return result


def _unread_forms_unknown(episode: Episode, unread: set[str]) -> Episode:
    """The episode with each measure's ``forms`` widened by the forms the pull could not
    read (``None`` again when nothing else is missing): a Flag or RiskAssessment the server
    would not search for was not seen, so the record does not say it is absent."""
    measures = []
    changed = False
    for measure in episode.measures:
        if measure.forms is not None:
            every = measure.model_copy(update={"forms": None}).written_forms(episode.patient.gender)
            missing = set(every) - set(measure.forms)
            if missing and missing <= unread:
                measure = measure.model_copy(update={"forms": None})
                changed = True
        measures.append(measure)
    return episode.model_copy(update={"measures": measures}) if changed else episode


class _Pull:
    def __init__(self, client: FhirClient, report: PullReport) -> None:
        self.client = client
        self.report = report
        self.found: dict[tuple[str, str], Resource] = {}

    def add(self, resources: Iterable[Resource]) -> None:
        for r in resources:
            rtype, rid = r.get("resourceType"), r.get("id")
            if isinstance(rtype, str) and isinstance(rid, str) and rtype != "OperationOutcome":
                self.found[(rtype, rid)] = r

    def run(self, ident: tuple[str, str], since: str | None) -> dict[tuple[str, str], Resource]:
        support = server_support(self.client.capabilities())
        system, value = ident
        patients = (
            self.client.search("Patient")
            .where(identifier=f"{escape_search(system)}|{escape_search(value)}")
            .fetch_all()
        )
        if not patients:
            raise SyncError("no patient on the server carries that identifier")
        self.add(patients)
        for patient in patients:
            pid = str(patient["id"])
            if support.has_operation("everything", "Patient"):
                self.report.method = "$everything"
                self._everything(pid, since)
                self._unlisted_after_everything(support)
            else:
                self.report.method = "search"
                self._searches(support, pid, since)
        self._follow(support)
        self._reviews(support)
        return self.found

    def _unlisted_after_everything(self, support: ServerSupport) -> None:
        """A type of the patient's that ``$everything`` returned none of, on a server that
        does not list it (sekmet and RiskAssessment, or Goal): not seen is not absent (a
        Goal no plan lists, a Flag, was written there and is not returned)."""
        for rtype in PATIENT_TYPES:
            if not support.type(rtype).listed and not any(k[0] == rtype for k in self.found):
                self.report.fallbacks.append(
                    f"{rtype}: not in the CapabilityStatement nor returned by $everything"
                )

    def _reviews(self, support: ServerSupport) -> None:
        """The Provenance (weekly reviews) that target the Goals found."""
        goals = sorted(rid for (rtype, rid), r in self.found.items() if rtype == "Goal" and r)
        if not goals:
            return
        t = support.type("Provenance")
        if t.listed and not t.searchable_by("target"):
            self.report.fallbacks.append("Provenance: no target search; reviews not read")
            return
        for start in range(0, len(goals), TARGET_GROUP):
            targets = ",".join(f"Goal/{g}" for g in goals[start : start + TARGET_GROUP])
            search = self.client.search("Provenance").where(target=targets).count(1000)
            try:
                self.add(r for page in search.pages() for r in _bundle_resources(page))
            except (BadRequest, ServerError):
                self.report.fallbacks.append("Provenance: target search failed; reviews not read")
                return

    def _everything(self, pid: str, since: str | None) -> None:
        params = {"_since": since} if since else None
        first = self.client.operation(
            "everything", resource_type="Patient", id=pid, params=params, method="GET"
        )
        for page in self.client.pages(first):
            found = _bundle_resources(page)
            # Not every server applies _since to $everything (sekmet does not): filter here.
            self.add(r for r in found if since is None or _changed_after(r, since))

    def _searches(self, support: ServerSupport, pid: str, since: str | None) -> None:
        for rtype in PATIENT_TYPES:
            t = support.type(rtype)
            if t.listed and not (t.searchable_by("patient") or t.searchable_by("subject")):
                self.report.fallbacks.append(f"{rtype}: no patient search; reached by reference")
                continue
            param = (
                "subject"
                if t.searchable_by("subject") and not t.searchable_by("patient")
                else "patient"
            )
            search: Search = (
                self.client.search(rtype).where({param: f"Patient/{pid}"}).count(1000).strict()
            )
            if since:
                search = search.last_updated(gt=since)
            for inc in sorted(WANTED_INCLUDES & t.includes):
                search = search.include(inc)
            try:
                found = [r for page in search.pages() for r in _bundle_resources(page)]
                self.add(found)
                if not found and not t.listed:
                    # a server may answer a search of a type it does not list with an
                    # empty Bundle (sekmet): nothing found is then not nothing there
                    self.report.fallbacks.append(
                        f"{rtype}: not in the CapabilityStatement; its search found nothing"
                    )
            except BadRequest:
                self.report.fallbacks.append(
                    f"{rtype}: search refused under handling=strict; reached by reference"
                )

    def _follow(self, support: ServerSupport) -> None:
        base = self.client.base_url
        for _ in range(MAX_FOLLOW_ROUNDS):
            missing: set[tuple[str, str]] = set()
            for resource in list(self.found.values()):
                for ref in _refs(resource):
                    key = _relative(ref, base)
                    if key and key[0] in FOLLOWED and key not in self.found:
                        missing.add(key)
            if not missing:
                return
            self.report.followed += len(missing)
            self.add(self._get(sorted(missing), support))

    def _get(self, keys: list[tuple[str, str]], support: ServerSupport) -> Iterator[Resource]:
        if support.batch:
            for start in range(0, len(keys), FETCH_BATCH):
                part = keys[start : start + FETCH_BATCH]
                bundle = {
                    "resourceType": "Bundle",
                    "type": "batch",
                    "entry": [{"request": {"method": "GET", "url": f"{t}/{i}"}} for t, i in part],
                }
                response = self.client.batch(bundle)
                answered = 0
                for entry in response.get("entry") or []:
                    resource = entry.get("resource") if isinstance(entry, dict) else None
                    if isinstance(resource, dict):
                        answered += 1
                        yield resource
                self._mark_gone(part, answered)
            return
        for rtype, rid in keys:
            try:
                yield self.client.read(rtype, rid)
            except ServerError as exc:
                if exc.status not in (404, 410):
                    raise
                self.found.setdefault((rtype, rid), {})

    def _mark_gone(self, keys: list[tuple[str, str]], answered: int) -> None:
        # Do not ask again for references the server could not resolve.
        if answered < len(keys):
            for key in keys:
                self.found.setdefault(key, {})


def _instant(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _changed_after(resource: Resource, since: str) -> bool:
    meta = resource.get("meta")
    updated = meta.get("lastUpdated") if isinstance(meta, dict) else None
    after, when = _instant(since), _instant(updated) if isinstance(updated, str) else None
    return after is None or when is None or when > after


def _bundle_resources(bundle: Resource) -> Iterator[Resource]:
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict):
            yield resource


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            yield ref
        for key, value in node.items():
            if key != "contained":
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _relative(ref: str, base: str) -> tuple[str, str] | None:
    if ref.startswith(("#", "urn:")):
        return None
    if "://" in ref:
        if not ref.startswith(base + "/"):
            return None
        ref = ref[len(base) + 1 :]
    path = urlsplit(ref).path
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) == 2 and parts[0][:1].isupper():
        return parts[0], parts[1]
    return None
