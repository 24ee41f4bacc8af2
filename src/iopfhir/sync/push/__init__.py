"""Capability-aware, idempotent push of IOP episodes (or any FHIR Bundle) to a server.

The plan, in round trips:

1. ``GET /metadata`` (cached by the client) → :class:`~iopfhir.sync.capabilities.ServerSupport`:
   write mode (transaction, else batch, else one request per resource) and, per type,
   how resources are written (conditional create on the business identifier, ``PUT`` to
   a derived id, or not at all: reported in ``not_accepted``).
   A resource without a business identifier (anyone's FHIR: Synthea, US Core) is given
   one, derived from where it came from, so a rerun finds it (:mod:`.identity`).
2. One look-up: a ``batch`` of GET searches (``identifier=a,b,c...`` per type, ``_count``
   large) and GETs by derived id; without batch support, the same requests one by one.
   Then every reference that names no entry of the push (conditional, relative, a
   ``urn`` no entry has) is resolved on the server or named in an error, before
   anything is written (:mod:`.targets`).
3. Only the differences are written: creates for what is missing, ``PUT`` with
   ``If-Match`` for what changed (compared ignoring ``id``, server ``meta`` and server
   ``text``), nothing for what is equal. A second push of the same data writes nothing.
4. Writes go in chunks of at most ``chunk_size`` entries, in reference order (referenced
   resources first); references to resources written in earlier chunks or found on the
   server are rewritten from ``urn:uuid`` to their server ids. In transaction mode one
   chunk is one transaction; in batch mode a chunk holds only resources whose references
   are already resolved.
5. A 412 on an update: the current version is re-read and our changed elements are
   applied to it when the other writer did not touch them (3-way merge on top-level
   elements); otherwise the push stops with :class:`~iopfhir.errors.SyncConflict`.
   Nothing is overwritten silently.

Failures raise :class:`~iopfhir.errors.SyncError` (or ``SyncConflict``) with ``report``:
the :class:`PushReport` of what was written and what was not. The message says a rerun
completes it only after a fault that passes (connection, timeout, 5xx, 429); after a
refusal, that a rerun fails the same way until the cause is fixed.

Cost on the client: each resource is walked once for its references (their paths are
kept), rewriting copies only the paths to rewritten references, and the comparison is a
plain ``==`` on the rewritten copy. Python's cyclic garbage collector is paused for the
duration of a push (:mod:`iopfhir.sync._gc`): the JSON it handles holds no cycles, and the
collections it would trigger were most of the client's CPU time.

Layout (imports point up the list)::

    report.py   PushReport, PlannedRequest, ConflictDetail
    state.py    Item (one resource of the push) and PushRun (what the steps share)
    sources.py  the input as entries; anyone's Bundle made uniform (urn:uuid, references)
    identity.py the identifier given to a resource that has none
    plan.py     items and write strategies; reference order and chunks (cycles kept whole)
    lookup.py   what the server holds (batched searches and reads)
    targets.py  references to outside the push: resolved on the server, or an error
    content.py  the unchanged check; our resource with references rewritten
    merge.py    the 3-way merge after a 412
    write.py    sending chunks, recording answers, failing dependents
    part2.py    the 42 CFR Part 2 gate: own record system, disclosure under consent, refusal
    run.py      push(): the steps in order, progress, the outcome
"""

from .part2 import DisclosureTerms
from .report import ConflictDetail, PlannedRequest, PushReport
from .run import Progress, Validates, push

__all__ = [
    "ConflictDetail",
    "DisclosureTerms",
    "PlannedRequest",
    "Progress",
    "PushReport",
    "Validates",
    "push",
]
