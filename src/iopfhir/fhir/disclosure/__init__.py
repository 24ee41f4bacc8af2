"""42 CFR Part 2 disclosure under consent: one function, :func:`disclose`, used by
``convert --for``, ``toc --for`` and ``push``.

Modules: ``disclose`` (the decision, the result :class:`Disclosure`, the document
notices), ``consents`` (FHIR Consent resources read for one recipient), ``prune``
(removing references to withheld resources), ``audit`` (the AuditEvent of a
disclosure). The rule is written down in ``docs/part2.md``.

Imports: :mod:`iopfhir.domain`, :mod:`iopfhir.errors`, :mod:`iopfhir.terminology`,
:mod:`iopfhir.fhir.conventions` (layer ``fhir``).
"""

from iopfhir.fhir.disclosure.audit import audit_event
from iopfhir.fhir.disclosure.consents import as_domain_consent, is_recipient
from iopfhir.fhir.disclosure.disclose import (
    Disclosure,
    DisclosureRefused,
    DisclosureTerms,
    data_classes,
    disclose,
    is_part2,
    notice_sections,
)
from iopfhir.fhir.disclosure.prune import prune

__all__ = [
    "Disclosure",
    "DisclosureRefused",
    "DisclosureTerms",
    "as_domain_consent",
    "audit_event",
    "data_classes",
    "disclose",
    "is_part2",
    "is_recipient",
    "notice_sections",
    "prune",
]
