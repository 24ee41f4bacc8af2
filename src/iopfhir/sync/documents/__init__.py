"""Push and pull FHIR documents (the transition-of-care document of :mod:`iopfhir.fhir.document`).

* :func:`push_document` - store a document Bundle as it is (``POST [base]/Bundle`` with
  ``If-None-Exist`` on its identifier) and/or its DocumentReference (given, or built from
  the document), capability-aware; a second push writes nothing (``push``).
* :func:`pull_documents` - a patient's ToC documents: their DocumentReferences'
  attachments, and stored Bundles the server can find (``pull``).

``_common`` holds what both share (the document check, identifier searches, reports).
Imports :mod:`iopfhir.client`, :mod:`iopfhir.errors`, :mod:`iopfhir.fhir.document`,
:mod:`iopfhir.terminology` and the sync modules beside it.
"""

from ._common import DocumentPullReport, DocumentPushReport, PulledDocument, check_document
from .pull import pull_documents
from .push import StoreAs, push_document

__all__ = [
    "DocumentPullReport",
    "DocumentPushReport",
    "PulledDocument",
    "StoreAs",
    "check_document",
    "pull_documents",
    "push_document",
]
