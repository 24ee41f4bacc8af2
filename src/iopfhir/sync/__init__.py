"""Sync IOP episodes with FHIR R4 servers: capability-aware push, pull, a local server.

* :func:`push` - write episodes (or a Bundle) idempotently: look up what the server has,
  create what is missing, update what changed (``If-Match``), nothing else; chunked in
  reference order; 412s merged or reported as :class:`~iopfhir.errors.SyncConflict`.
* :func:`pull` - one patient's IOP data back into the domain model
  (``Patient/$everything`` or searches, references followed, ``_lastUpdated``).
* :func:`server_support` - what a CapabilityStatement allows (write mode, per-type plan).
* :func:`push_document` / :func:`pull_documents` - a FHIR document (the ToC document) stored
  as a Bundle and/or a DocumentReference, and a patient's documents fetched back
  (:mod:`iopfhir.sync.documents`).
* :func:`export` - a FHIR Bulk Data ``$export`` into a folder (kick-off, polling, streamed
  and checked downloads, resume, cancel; :mod:`iopfhir.sync.export`).
* :func:`apush` / :func:`apull` / :func:`apull_many` / :func:`aexport` - the same with an
  :class:`~iopfhir.client.AsyncFhirClient`: writes awaited with bounded concurrency where
  the write mode allows it, cancellation-safe (:mod:`iopfhir.sync.aio`).
* :func:`localserver` - a throw-away sekmet-fhir server on 127.0.0.1 (extra ``server``).

Imports: :mod:`iopfhir.errors`, :mod:`iopfhir.domain`, :mod:`iopfhir.fhir`,
:mod:`iopfhir.client` (sync sits above the client, below plugins and the CLI).
"""

from .aio import aexport, apull, apull_many, apush
from .capabilities import IOP_TYPES, ServerSupport, TypeSupport, WriteMode, server_support
from .counting import CountingTransport
from .documents import (
    DocumentPullReport,
    DocumentPushReport,
    PulledDocument,
    StoreAs,
    check_document,
    pull_documents,
    push_document,
)
from .export import ExportError, ExportReport, export
from .localserver import LocalServerError, localserver
from .pull import PullReport, pull
from .push import (
    ConflictDetail,
    DisclosureTerms,
    PlannedRequest,
    Progress,
    PushReport,
    Validates,
    push,
)

__all__ = [
    "IOP_TYPES",
    "ConflictDetail",
    "CountingTransport",
    "DisclosureTerms",
    "DocumentPullReport",
    "DocumentPushReport",
    "ExportError",
    "ExportReport",
    "LocalServerError",
    "PlannedRequest",
    "Progress",
    "PullReport",
    "PulledDocument",
    "PushReport",
    "ServerSupport",
    "StoreAs",
    "TypeSupport",
    "Validates",
    "WriteMode",
    "aexport",
    "apull",
    "apull_many",
    "apush",
    "check_document",
    "export",
    "localserver",
    "pull",
    "pull_documents",
    "push",
    "push_document",
    "server_support",
]
