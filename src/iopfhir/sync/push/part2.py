"""The 42 CFR Part 2 gate of a push: Part 2 data reaches a server only under a disclosure.

:func:`part2_gate` runs on the entries of a push before any request. Without Part 2 data
(no resource labelled ``42CFRPart2`` or ``ETH``) it changes nothing. With Part 2 data:

* ``DisclosureTerms(own_system=True)`` (:class:`iopfhir.fhir.disclosure.DisclosureTerms`):
  the server is the program's own record system; writing there is no disclosure,
  everything is sent;
* ``DisclosureTerms(recipient=..., purpose=..., at=..., audit=...)``: a disclosure under
  consent (:func:`iopfhir.fhir.disclosure.disclose`): only what the patient's consent
  covers is sent, withheld resources leave no reference behind, disclosed Part 2 data
  carries the no-redisclosure obligation label, and the AuditEvents are handed to
  ``audit`` *before* anything is sent (a disclosure that cannot be recorded is not made;
  a dry run records nothing);
* anything else is refused with :class:`~iopfhir.errors.DisclosureRefused`.

:func:`document_gate` is the same gate for a document Bundle stored whole (``push`` of a
ToC document): the document is disclosed as a document (the withheld-information and
no-redisclosure sections of :func:`~iopfhir.fhir.disclosure.disclose`).

Imports :mod:`iopfhir.fhir.disclosure` and the push's ``sources``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iopfhir.errors import DisclosureRefused
from iopfhir.fhir.disclosure import Disclosure, DisclosureTerms, disclose, is_part2

from .sources import PushInput
from .state import Resource

__all__ = ["DisclosureTerms", "document_gate", "part2_gate"]


def part2_gate(
    given: PushInput, terms: DisclosureTerms | None, *, dry_run: bool = False
) -> tuple[PushInput, str]:
    """The entries that may be sent, and a line saying what a disclosure withheld (empty
    when nothing was disclosed). Raises ``DisclosureRefused`` (see the module)."""
    terms = _terms_needed(given.entries, terms)
    if terms is None:
        return given, ""
    result = _disclose(given.entries, terms, dry_run)
    kept = [url for url, _r in result.entries]
    out = PushInput(
        result.entries,
        sources={u: given.sources.get(u) for u in kept},
        positions={u: given.positions[u] for u in kept if u in given.positions},
        from_bundle=given.from_bundle,
        lone=given.lone,
    )
    return out, _line(result)


def document_gate(
    document: Mapping[str, Any], terms: DisclosureTerms | None, *, dry_run: bool = False
) -> tuple[Mapping[str, Any], str]:
    """The document that may be stored, and the line saying what its disclosure withheld
    (empty when nothing was disclosed). Raises ``DisclosureRefused`` as :func:`part2_gate`."""
    entries = [
        (str(e.get("fullUrl") or n), e["resource"])
        for n, e in enumerate(document.get("entry") or ())
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]
    terms = _terms_needed(entries, terms)
    if terms is None:
        return document, ""
    result = _disclose(document, terms, dry_run)
    return result.bundle or document, _line(result)


def _terms_needed(
    entries: list[tuple[str, Resource]], terms: DisclosureTerms | None
) -> DisclosureTerms | None:
    """The terms of a disclosure to make, or None when nothing needs one (no Part 2 data,
    or the program's own record system). Refuses Part 2 data without a recipient and a
    record of the disclosure."""
    labelled = sum(1 for _u, r in entries if is_part2(r))
    if not labelled or (terms is not None and terms.own_system):
        return None
    if terms is None or not terms.recipient:
        raise DisclosureRefused(
            f"{labelled} resource(s) are 42 CFR Part 2 data: they are not sent to a server "
            "that is not the program's own record system. Disclose them under the "
            "patient's consent (--for RECIPIENT [--purpose CODE] --audit FILE) or, if this "
            "server is the program's own record system, say so (--own-system). Nothing "
            "was sent."
        )
    if terms.audit is None:
        raise DisclosureRefused(
            "a disclosure of Part 2 data is recorded: give where its AuditEvents go "
            "(--audit FILE). Nothing was sent."
        )
    return terms


def _disclose(source: Any, terms: DisclosureTerms, dry_run: bool) -> Disclosure:
    """Disclose under ``terms`` (checked by :func:`_terms_needed`); the AuditEvents are
    recorded before anything is sent (a dry run records nothing)."""
    recipient = terms.recipient or ""  # never empty here: checked by _terms_needed
    result = disclose(source, recipient=recipient, purpose=terms.purpose, at=terms.at)
    if not dry_run and terms.audit is not None:
        terms.audit(result.audit_events)
    return result


def _line(result: Disclosure) -> str:
    """What a disclosure did, in counts only."""
    withheld = sum(result.withheld.values())
    return (
        f"disclosure: {result.part2_disclosed} Part 2 resource(s) disclosed, {withheld} "
        f"withheld under the patient's consent; {len(result.audit_events)} AuditEvent(s) "
        "recorded"
    )
