"""FHIR documents of an IOP episode: the transition-of-care (ToC) document and its wrappers.

:func:`toc_document` builds the document Bundle (``build``: Composition first, shaped like
the PACIO Transitions of Care Composition; ``select``: which resources each section lists
at discharge or at referral; ``narrative`` / ``narrative_care``: the sections' readable
XHTML, escaped by ``_xhtml``; ``_index``: the episode's resources by identifier kind);
:func:`document_reference` wraps a document for EHRs that take documents but not CarePlan
writes (``reference``); :func:`render_html` renders it as a printable, self-contained page
for clinicians (``html``) and :func:`render_pdf` prints that page through headless
Chromium (``pdf``). :func:`toc_disclosure` is the document as disclosed to a recipient
under the patient's 42 CFR Part 2 consent (:mod:`iopfhir.fhir.disclosure`). Codes come
from :mod:`iopfhir.terminology.documents`.

Part of the mapping layer: imports :mod:`iopfhir.domain`, :mod:`iopfhir.terminology`,
:mod:`iopfhir.fhir.build` and :mod:`iopfhir.fhir.conventions`; never validation, client,
sync or the CLI.
"""

from __future__ import annotations

from iopfhir.fhir.document.build import TOC_COMPOSITION_PROFILE, toc_disclosure, toc_document
from iopfhir.fhir.document.html import render_html
from iopfhir.fhir.document.pdf import ChromiumMissing, find_chromium, render_pdf
from iopfhir.fhir.document.reference import TOC_DOCUMENT_REFERENCE_PROFILE, document_reference
from iopfhir.fhir.document.select import At

__all__ = [
    "TOC_COMPOSITION_PROFILE",
    "TOC_DOCUMENT_REFERENCE_PROFILE",
    "At",
    "ChromiumMissing",
    "document_reference",
    "find_chromium",
    "render_html",
    "render_pdf",
    "toc_disclosure",
    "toc_document",
]
