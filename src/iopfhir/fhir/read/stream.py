"""Streaming read of FHIR R4: a constant cost per resource, memory bounded by one patient.

:func:`read_fhir_stream` yields the episodes of any input :func:`~iopfhir.fhir.read.read_fhir`
takes (NDJSON files, one per type or mixed; Bundles; directories of both; text; dicts),
patient by patient, and fills an :class:`~iopfhir.fhir.read.ImportResult` with the counts
(``patients``, ``ignored``, ``unmapped``; its ``episodes`` stay empty). The episodes and
counts are those of ``read_fhir`` (tests compare them on the corpus and on a synthetic
cohort); only the order of the ``unmapped`` reasons may differ.

How:

1. **Pass 1** reads the input one resource at a time (NDJSON line by line, one JSON file
   at a time) into a :class:`~iopfhir.fhir.read.store.ResourceStore` (temporary files
   and a SQLite database): the resource, the names a reference may use for it
   (``fullUrl``, ``Type/id``, identifiers, canonical url; the first resource of a name
   wins, a second copy of a ``Type/id`` is a duplicate, read once), and what must wait
   for the whole input:
   the reference naming its patient (a resource may come before its Patient, as
   ``Condition.ndjson`` comes before ``Patient.ndjson``), a review Provenance's targets, a
   PractitionerRole's practitioner. Types the domain does not take are counted here.
2. **Grouping** resolves those references in input order against the store: each resource
   joins the group of its patient (groups are numbered in order of first appearance, as
   ``read_fhir`` orders them); each PractitionerRole is filed under its Practitioner.
3. **Pass 2** loads one group at a time into a :class:`GroupIndex` (an
   :class:`~iopfhir.fhir.read.index.Index` of the patient's own resources that asks the
   store for anything else: shared Practitioners, Organizations, Locations, Medications,
   Questionnaires) and runs the per-patient reader (administrations, then
   :class:`~iopfhir.fhir.read.assemble.EpisodeReader`), then drops it. The shared
   resources an episode took are marked in the store; those no episode took are counted
   in ``unmapped`` at the end (``<type>: taken by no episode (dropped)``), as ``read_fhir``
   counts them.

Memory: the store's page cache (bounded), one patient's resources and the per-input
bookkeeping that grows with the number of patients, not resources (group list, episode
keys). CPU: each resource is parsed and checked once in pass 1 (the store keeps where the
checked NDJSON line is in its file, read again there, or the line itself when the file is
compressed: nothing is serialised again) and parsed once more, without the checks, in
pass 2; every lookup is an index probe (``Type/id`` claims pass a Bloom filter first;
the other names are indexed only when a lookup needs them, an NDJSON resource's
identifiers named from the resource read back only then), and the answers, and the shared
resources every patient names, are remembered within a fixed bound (a patient reference's
group by its JSON bytes, so the grouping parses each distinct reference once);
the garbage collector runs less often while the reader works. Where the two readers may
differ (inputs that break FHIR's own rules, none in the corpus): reference resolution is
local first, so a name shared by a resource of this patient and an earlier one of another
patient (``read_fhir`` takes the earlier) resolves to this patient's; instrument resources
are grouped into administrations within one patient, so a ``derivedFrom`` / ``hasMember``
link to another patient's resource is not followed. A patient contained in a resource
(``#id``) is a group of its own, that resource's, as in ``read_fhir`` (found in the grouping
only for a reference whose JSON holds ``"#``, and never remembered: each container has its
own); ``#id`` naming a contained resource of another type is no patient.

Imports: the reader's own modules and :mod:`iopfhir.domain`.
"""

from __future__ import annotations

import contextlib
import gc
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

import orjson

from iopfhir.domain import Episode
from iopfhir.errors import R4_RESOURCE_TYPES
from iopfhir.fhir.read._context import PatientGroup
from iopfhir.fhir.read.administrations import Administration, find_administrations
from iopfhir.fhir.read.assemble import EpisodeReader
from iopfhir.fhir.read.group_index import GroupIndex, RolesOf
from iopfhir.fhir.read.grouping import (
    INSTRUMENT_ONLY,
    MEASURE_TYPES,
    NAMED_TYPE,
    SHARED,
    TAKEN,
    not_a_patient,
    patient_ref,
)
from iopfhir.fhir.read.index import (
    TAG_KINDS,
    entry_keys,
    identifier_keys,
    reference_keys,
    reference_of,
    server_base,
    tag_of,
    type_id_key,
)
from iopfhir.fhir.read.instruments import is_instrument_code
from iopfhir.fhir.read.keys import KeyAllocator
from iopfhir.fhir.read.nested import note_nested
from iopfhir.fhir.read.people import NOT_TAKEN
from iopfhir.fhir.read.result import ImportResult
from iopfhir.fhir.read.reviews import is_review
from iopfhir.fhir.read.source import Entry, FhirSource, iter_entries
from iopfhir.fhir.read.store import ResourceStore
from iopfhir.fhir.read.values import as_list, codings, noting, own_key_or_none
from iopfhir.terminology.programs import ProgramCodes, check_program_codes

__all__ = ["GroupIndex", "Progress", "read_fhir_stream", "read_fhir_streamed"]

#: ``progress(phase, done, total)``: ``phase`` is ``"read"`` (resources read, total
#: unknown) or ``"patients"`` (patients mapped, of ``total``)
Progress = Callable[[str, int, int | None], None]
#: how often (in resources) pass 1 reports progress
_EVERY = 1000


@dataclass(slots=True)
class _Group:
    key: str
    patient: int | None
    reference: str | None
    #: a patient contained in a resource (``#id``): that resource's seq and the local id
    container: tuple[int, str] | None = None


def read_fhir_streamed(
    source: FhirSource,
    *,
    progress: Progress | None = None,
    time_zone: tzinfo | None = None,
    program_codes: ProgramCodes | None = None,
) -> ImportResult:
    """:func:`read_fhir_stream` collected into one :class:`ImportResult` (episodes too)."""
    result = ImportResult()
    episodes = read_fhir_stream(
        source, result, progress=progress, time_zone=time_zone, program_codes=program_codes
    )
    result.episodes.extend(episodes)
    return result


def read_fhir_stream(
    source: FhirSource,
    result: ImportResult | None = None,
    *,
    progress: Progress | None = None,
    directory: str | None = None,
    time_zone: tzinfo | None = None,
    program_codes: ProgramCodes | None = None,
) -> Iterator[Episode]:
    """The episodes of ``source``, patient by patient, in the order of ``read_fhir``.

    ``result`` (optional) receives the counts as the read goes on (complete when the
    iterator is exhausted; its ``episodes`` are left alone). ``progress`` is called every
    1,000 resources read and after each patient. ``directory``: where the temporary store
    goes (default: the system's temp directory); it is deleted when the iterator ends or is
    closed. ``time_zone``, ``program_codes``: as ``read_fhir``'s. Raises
    :class:`~iopfhir.errors.FhirInputError` as ``read_fhir`` does, before any episode is
    yielded.
    """
    out = result if result is not None else ImportResult()
    local = check_program_codes(program_codes or {})
    with ResourceStore(directory, identifier_names=identifier_keys) as store:
        with noting(out.unmapped, time_zone, local), _few_collections():
            _pass1(source, store, out, progress)
            groups = _group(store, out)
        store.commit()
        episode_keys = KeyAllocator()
        for number, group in enumerate(groups):
            with noting(out.unmapped, time_zone, local), _few_collections():
                episodes = _read_group(store, number, group, out, episode_keys)
            if episodes:
                out.patients += 1
                yield from episodes
            if progress is not None:
                progress("patients", number + 1, len(groups))
        for rtype in store.unused_shared():
            out.unmapped[f"{rtype}: {NOT_TAKEN}"] += 1


#: objects allocated between two young-generation collections while the reader works
_GC_YOUNG = 50_000


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """Collect garbage less often while the reader works (never between two episodes it
    yields, so the caller's code runs with the caller's settings).

    The reader allocates millions of short-lived dicts and lists (the parsed resources),
    almost none in cycles; at the default threshold the collector scans them every 700
    allocations. The previous thresholds are restored on the way out; a collector that is
    switched off (threshold 0) is left alone."""
    old = gc.get_threshold()
    if old[0] == 0 or old[0] >= _GC_YOUNG:
        yield
        return
    gc.set_threshold(_GC_YOUNG, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _pass1(
    source: FhirSource, store: ResourceStore, result: ImportResult, progress: Progress | None
) -> None:
    """Every resource into the store; what waits for the whole input deferred."""
    skipped: Counter[str] = Counter()
    duplicates = 0
    seq = 0
    claim, add = store.claim, store.add
    codes: dict[str, bool] = {}
    for entry in iter_entries(source, skipped):
        res = entry.resource
        if entry.full_url is None and "url" not in res:
            # the common case (no fullUrl, no canonical url): named by ``Type/id`` and its
            # identifiers only, whose names the store works out if a lookup needs them
            if entry.id and claim(type_id_key(entry.type, entry.id), seq) is not None:
                duplicates += 1
                continue
            add(entry, seq, [], identified=res.get("identifier") is not None)
        elif not _add_named(entry, seq, store):
            duplicates += 1
            continue
        _classify(entry, seq, store, result, codes)
        seq += 1
        if progress is not None and seq % _EVERY == 0:
            progress("read", seq, None)
    result.unmapped.update(skipped)
    if duplicates:
        result.unmapped["duplicate resource (same type and id): read once"] += duplicates
    store.seal()
    if progress is not None:
        progress("read", seq, seq)


def _add_named(entry: Entry, seq: int, store: ResourceStore) -> bool:
    """Store ``entry`` (resource ``seq``) with every name of :func:`entry_keys`; ``False``:
    it is a second copy of a ``Type/id`` already stored (its ``fullUrl`` names the first)."""
    type_ids, others = entry_keys(entry)
    if entry.full_url and (base := server_base(entry.full_url)) is not None:
        store.bases.add(base)
    if entry.id:
        first = store.claim(type_ids[0], seq)
        if first is not None:
            if entry.full_url:
                store.alias(others[0], first)
            return False
        type_ids = type_ids[1:]
    for key in type_ids:
        store.claim(key, seq)
    store.add(entry, seq, others)
    return True


def _classify(
    entry: Entry, seq: int, store: ResourceStore, result: ImportResult, codes: dict[str, bool]
) -> None:
    """What ``read_fhir``'s grouping does with one resource, as far as it is known now
    (``codes``: :func:`_instrument_coded`'s answers so far)."""
    rtype = entry.type
    res = entry.resource
    if rtype in TAG_KINDS:
        tag = tag_of(entry)
        if tag is not None:
            store.tag(tag, seq)
        if rtype == "PractitionerRole":
            store.defer(seq, "r", res.get("practitioner"))
    if rtype not in TAKEN:  # counted by type; a type R4 does not have is input: not named
        result.ignored[rtype if rtype in R4_RESOURCE_TYPES else "(not an R4 type)"] += 1
        return
    if rtype in INSTRUMENT_ONLY and not _instrument_coded(res.get("code"), codes):
        result.ignored[rtype] += 1
        return
    # R4: a modifier extension is never ignored in silence; nor is any other one here
    note_nested(entry, result.unmapped)  # as the other reader does
    if rtype == "Patient":
        store.defer(seq, "p", None)
    elif rtype in SHARED:
        store.share(seq, rtype)
    elif rtype == "Provenance":  # only reviews are taken; their patient is the target's
        if not is_review(res):
            result.ignored[rtype] += 1
            return
        store.defer(seq, "v", res.get("target"))
    else:
        ref = patient_ref(entry)
        if ref is None:
            result.unmapped[f"{rtype}: no patient"] += 1
            return
        store.defer(seq, "g" + rtype, ref)


#: codes whose :func:`_instrument_coded` answer one read remembers (codes repeat across a
#: cohort; emptied when full all the same)
_CODES_KEPT = 4096


def _instrument_coded(concept: Any, known: dict[str, bool]) -> bool:
    """Whether a coding of ``concept`` has an instrument's code (``is_instrument_code``);
    ``known``: the answers so far (filled)."""
    for _system, code in codings(concept):
        found = known.get(code)
        if found is None:
            found = is_instrument_code(code)
            if len(known) >= _CODES_KEPT:
                known.clear()
            known[code] = found
        if found:
            return True
    return False


class _Resolver:
    """References resolved against the whole store (cached by their JSON)."""

    def __init__(self, store: ResourceStore) -> None:
        self.store = store
        self._cache: dict[bytes, tuple[int, str] | None] = {}
        #: the patient reference of each Provenance target read so far (reviews of one
        #: goal or plan name it again and again: it is read from the store once)
        self._patient_of: dict[int, Any] = {}

    def target(self, ref: Any) -> tuple[int, str] | None:
        """``(seq, type)`` of what ``ref`` names."""
        return self.target_of(orjson.dumps(ref), ref)

    def target_of(self, raw: bytes, ref: Any = None) -> tuple[int, str] | None:
        """:meth:`target` of the reference whose compact JSON is ``raw`` (``ref``: its
        value, when the caller has it; else parsed only when not remembered)."""
        if raw in self._cache:
            return self._cache[raw]
        if ref is None:
            ref = orjson.loads(raw)
        found = None
        for key in reference_keys(ref, self.store.bases):
            seq = self.store.find(key)
            if seq is not None:
                found = (seq, self.store.type_of(seq))
                break
        if len(self._cache) >= _TARGETS:  # bounded: emptied when full
            self._cache.clear()
        self._cache[raw] = found
        return found

    def provenance_patient(self, targets: Any) -> Any:
        """The patient reference of the first target of a Provenance that names one."""
        for ref in as_list(targets):
            found = self.target(ref)
            if found is not None and found[1] != "Provenance":
                named = self._target_patient(found[0])
                if named is not None:
                    return named
        return None

    def _target_patient(self, seq: int) -> Any:
        """:func:`patient_ref` of resource ``seq`` (``None``: none, or no resource)."""
        if seq in self._patient_of:
            return self._patient_of[seq]
        target = self.store.entry(seq, keep=False)  # any type: not kept (its patient is)
        named = patient_ref(target) if target is not None else None
        if len(self._patient_of) >= _TARGETS:  # bounded: emptied when full
            self._patient_of.clear()
        self._patient_of[seq] = named
        return named


def _group(store: ResourceStore, result: ImportResult) -> list[_Group]:
    """Every deferred reference resolved: the patient groups, their members, the roles."""
    resolver = _Resolver(store)
    groups: list[_Group] = []
    by_patient: dict[int, int] = {}
    by_reference: dict[str, int] = {}
    members: list[tuple[int, int]] = []
    roles: list[tuple[int, int]] = []

    def of_patient(seq: int) -> int:
        number = by_patient.get(seq)
        if number is None:
            number = by_patient[seq] = len(groups)
            groups.append(_Group(f"p{number}", seq, None))
        return number

    #: a patient reference's compact JSON → its group, or why it has none (the same
    #: reference, the same answer: most resources name their patient as the others do)
    answers: dict[bytes, tuple[int | None, str]] = {}
    for seq, kind, raw in store.pending_raw():
        if kind == "p":
            members.append((of_patient(seq), seq))
            continue
        if kind == "r":
            found = resolver.target_of(raw)
            if found is not None:
                roles.append((found[0], seq))
            continue
        if kind == "v":
            rtype = "Provenance"
            ref = resolver.provenance_patient(orjson.loads(raw))
            number, reason = _group_of(ref, resolver, by_reference, groups, of_patient)
        else:
            rtype = kind[1:]
            answer = answers.get(raw)
            if answer is None:
                ref = orjson.loads(raw)
                if b'"#' in raw:  # (rare) ``#id``: maybe a resource it contains, never kept
                    answer = _contained_group(seq, ref, store, groups)
                    if answer is None:
                        answer = _group_of(ref, resolver, by_reference, groups, of_patient)
                else:
                    answer = _group_of(ref, resolver, by_reference, groups, of_patient)
                    if len(answers) >= _ANSWERS:
                        answers.clear()
                    if _ANSWERS:
                        answers[raw] = answer
            number, reason = answer
        if number is None:
            if reason == _NOT_A_PATIENT:
                reason = not_a_patient(rtype)
            result.unmapped[f"{rtype}: {reason}"] += 1
        else:
            members.append((number, seq))
        if len(members) >= 10_000:
            store.add_members(members)
            members.clear()
    store.add_members(members)
    store.add_roles(roles)
    return groups


#: patient references whose group :func:`_group` remembers, and references whose target
#: the resolver remembers (each emptied when full: most references a resource defers are
#: its patient's, which the resources of one patient share; a review's targets are its own)
_ANSWERS = 16_384
_TARGETS = 16_384
_NOT_A_PATIENT = "subject is not a patient"
_NO_PATIENT = "no patient"


def _group_of(
    ref: Any,
    resolver: _Resolver,
    by_reference: dict[str, int],
    groups: list[_Group],
    of_patient: Callable[[int], int],
) -> tuple[int | None, str]:
    """The group of a resource whose patient ``ref`` names, or ``None`` and why it is not
    grouped (the same answer every time for the same reference)."""
    found = resolver.target(ref) if ref is not None else None
    if found is not None:
        if found[1] == "Patient":
            return of_patient(found[0]), ""
        return None, _NOT_A_PATIENT
    text_ref = reference_of(ref) if ref is not None else None
    if text_ref is None:
        return None, _NO_PATIENT
    named = NAMED_TYPE.search(text_ref.split("?", 1)[0])
    if named and named.group(1) != "Patient":
        return None, _NOT_A_PATIENT
    key = f"ref:{text_ref}"
    number = by_reference.get(key)
    if number is None:
        number = by_reference[key] = len(groups)
        groups.append(_Group(key, None, text_ref))
    return number, ""


def _contained_group(
    seq: int, ref: Any, store: ResourceStore, groups: list[_Group]
) -> tuple[int | None, str] | None:
    """The group of resource ``seq`` whose patient reference ``ref`` names a resource it
    contains (``#id``), as ``read_fhir`` groups it: a contained Patient is a new group of
    its own (each container's is another patient, whatever its local id), a contained
    resource of another type is no patient. ``None``: ``ref`` names nothing ``seq``
    contains (grouped by its text, as any other reference)."""
    text_ref = ref if isinstance(ref, str) else reference_of(ref)
    if not (text_ref and text_ref.startswith("#")):
        return None
    holder = store.entry(seq, keep=False)
    contained = holder.resource.get("contained") if holder is not None else None
    local = text_ref[1:]
    named = None
    for item in contained if isinstance(contained, list) else ():
        # as the Index files them: a later resource with the same local id wins
        if isinstance(item, dict) and item.get("id") == local:
            named = item
    if named is None:
        return None
    if named.get("resourceType") != "Patient":
        return None, _NOT_A_PATIENT
    number = len(groups)
    groups.append(_Group(f"p{number}", None, None, (seq, local)))
    return number, ""


def _read_group(
    store: ResourceStore,
    number: int,
    info: _Group,
    result: ImportResult,
    episode_keys: KeyAllocator,
) -> list[Episode]:
    """The episodes of one patient group (``read_fhir``'s steps for one patient)."""
    index = GroupIndex(store)
    group = PatientGroup(key=info.key, patient=None, reference=info.reference)
    candidates: list[Entry] = []  # instrument resources: administrations, or counted
    for seq, entry in index.add_members(store.members(number)):
        if seq == info.patient:
            group.patient = entry
        elif entry.type in MEASURE_TYPES:
            candidates.append(entry)
        else:
            group.entries.append(entry)
    if info.container is not None:  # a patient contained in one of its resources
        holder = index.entry_at(info.container[0])
        if holder is not None:
            group.patient = index.resolve(f"#{info.container[1]}", holder)
    admins: list[Administration] = []
    if candidates:
        admins, problems = find_administrations(candidates, index, lambda _e: info.key)
        result.unmapped.update(problems)
    absorbed = {id(e) for adm in admins for e in adm.entries}
    for entry in candidates:
        if id(entry) not in absorbed and entry.type != "Observation":
            result.ignored[entry.type] += 1
    hints = {
        own[0]
        for e in [group.patient, *group.entries]
        if e is not None
        and e.type in ("EpisodeOfCare", "Patient")
        and (
            own := own_key_or_none(
                e.resource, "episode" if e.type == "EpisodeOfCare" else "patient"
            )
        )
    }
    reader = EpisodeReader(index, result.unmapped, RolesOf(index, hints), episode_keys)
    try:
        return reader.read_group(group, admins)
    finally:
        store.mark_used([s for e in index.used if (s := index.seq_of_id(e)) is not None])
        # the reader's closures refer to each other (a cycle the garbage collector must
        # find): let them hold empty containers, so the patient's resources go at once
        index.release()
        group.entries = []
        group.patient = None
