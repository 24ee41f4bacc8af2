"""The disclosure options of ``convert``, ``toc`` and ``push`` and the audit file.

``--for RECIPIENT`` (an organization: ``system|value`` of an identifier, the value, or its
key in the episode), ``--purpose CODE`` (v3 PurposeOfUse, default TREAT), ``--on DATE``
(the day of the disclosure; default today, UTC) and ``--audit FILE``: every disclosure's
AuditEvents are appended to FILE as NDJSON (created 0600) *before* anything is written
or sent, so no Part 2 record leaves without its record. ``push`` also has
``--own-system`` (the server is the program's own record system: nothing is disclosed).
See ``docs/part2.md``.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iopfhir.fhir.disclosure import Disclosure

__all__ = ["add_disclosure_options", "append_audit", "disclosure_day", "report_disclosure"]


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date YYYY-MM-DD") from None


def add_disclosure_options(p: argparse.ArgumentParser, *, own_system: bool = False) -> None:
    """Add ``--for``, ``--purpose``, ``--on``, ``--audit`` (and ``--own-system``)."""
    g = p.add_argument_group("42 CFR Part 2 disclosure (docs/part2.md)")
    g.add_argument(
        "--for",
        dest="recipient",
        metavar="RECIPIENT",
        help="disclose to this organization (SYSTEM|VALUE of an identifier, the value, or "
        "its key in the episode): Part 2 data leaves only under the patient's consent",
    )
    g.add_argument(
        "--purpose",
        default="TREAT",
        metavar="CODE",
        help="purpose of use (v3 PurposeOfUse: TREAT, COC, CAREMGT, HPAYMT, HOPERAT...; "
        "default TREAT)",
    )
    g.add_argument(
        "--on",
        dest="on",
        type=_day,
        metavar="DATE",
        help="the day of the disclosure (default: today, UTC)",
    )
    g.add_argument(
        "--audit",
        metavar="FILE",
        help="append one AuditEvent per disclosure to this NDJSON file (needed with --for)",
    )
    if own_system:
        g.add_argument(
            "--own-system",
            action="store_true",
            default=None,
            help="the server is the program's own record system: Part 2 data is not "
            "disclosed by writing it there (also 'own_system = true' in --config)",
        )


def disclosure_day(args: argparse.Namespace) -> date:
    """``--on``, or today (UTC)."""
    on: date | None = getattr(args, "on", None)
    return on if on is not None else datetime.now(UTC).date()


def append_audit(path: str, events: list[dict[str, Any]]) -> None:
    """Append ``events`` to the audit NDJSON file (created 0600), flushed to disk."""
    if not events:
        return
    data = "".join(json.dumps(e, separators=(",", ":"), sort_keys=True) + "\n" for e in events)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def report_disclosure(disclosure: Disclosure) -> str:
    """One line for stderr: what left, what was withheld (types and counts only)."""
    withheld = ", ".join(f"{t} {n}" for t, n in sorted(disclosure.withheld.items()))
    line = (
        f"disclosure: {disclosure.part2_disclosed} Part 2 resources disclosed, "
        f"{sum(disclosure.withheld.values())} withheld"
    )
    if withheld:
        line += f" ({withheld})"
    if disclosure.audit_events:
        line += f"; {len(disclosure.audit_events)} AuditEvent(s) recorded"
    return line
