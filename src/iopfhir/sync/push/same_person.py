"""Before anything is written: a Patient the server holds under the business identifier of
one to push must be the same person.

Two sources may reuse one identifier for two people (a sample MRN copied into several
implementation guides, a test system's numbering restarted): matched on the identifier
alone, a push would overwrite one patient with another, and every resource of the file
would then name the wrong person. The push stops, before any write, when the Patient the
server holds and the one to push disagree on two or more of birth date, administrative
gender and family name (one alone is a correction - a name changed at marriage, a birth
date fixed - and is written). A value either side leaves out, or gives as ``unknown``,
disagrees with nothing; a partial birth date (``1980``) agrees with the days it holds.

The message names where the Patient is in the input and what disagrees, never a value.

Imports :mod:`iopfhir.errors` and :mod:`.state`.
"""

from __future__ import annotations

from typing import Any

from iopfhir.errors import Issue, SyncError

from .state import PushRun, Resource

__all__ = ["check_same_people"]


def check_same_people(run: PushRun) -> None:
    """Raise :class:`SyncError` (nothing written) when a Patient to push matched on its
    business identifier a Patient of the server who is another person."""
    problems = []
    for item in run.items:
        if item.type != "Patient" or item.current is None or item.strategy != "identifier":
            continue
        differ = _differences(item.resource, item.current)
        if len(differ) >= 2:
            problems.append(
                Issue(
                    "error",
                    "conflict",
                    "the Patient the server holds under the same business identifier is "
                    f"another person ({', '.join(differ)} differ); not written",
                    run.where(item),
                )
            )
    if problems:
        run.report.issues.extend(problems)
        shown = "; ".join(f"{p.path}: {p.message}" for p in problems[:3])
        raise SyncError(
            f"{len(problems)} Patient(s) match another person on the server, so nothing was "
            f"written (check the identifiers of the input): {shown}",
            report=run.report,
            issues=problems,
        )


def _differences(ours: Resource, theirs: Resource) -> list[str]:
    """The elements of birth date, gender and family name on which two Patients disagree."""
    out = []
    ours_born, theirs_born = _text(ours.get("birthDate")), _text(theirs.get("birthDate"))
    if ours_born and theirs_born and not _same_day(ours_born, theirs_born):
        out.append("birthDate")
    genders = (_text(ours.get("gender")), _text(theirs.get("gender")))
    if all(genders) and "unknown" not in genders and genders[0] != genders[1]:
        out.append("gender")
    families = (_families(ours), _families(theirs))
    if all(families) and not families[0] & families[1]:
        out.append("name.family")
    return out


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _same_day(a: str, b: str) -> bool:
    """Whether two R4 dates agree as far as both go (``1980`` and ``1980-03-04`` do)."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _families(patient: Resource) -> frozenset[str]:
    names = patient.get("name")
    out = set()
    for name in names if isinstance(names, list) else []:
        family = _text(name.get("family")) if isinstance(name, dict) else None
        if family:
            out.add(family.casefold())
    return frozenset(out)
