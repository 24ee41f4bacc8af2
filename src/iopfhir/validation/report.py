"""The result of a validation: :class:`ValidationReport` (issues, errors, ok, OperationOutcome).

A report's issues are unique (severity, code, path, message) and ordered by severity
(fatal, error, warning, information), otherwise in the order found. :class:`ReportBuilder`
gathers many reports into one in a single pass (one bucket per severity, a set of keys
seen), so collecting the reports of n resources costs O(n): the way to combine more than
two reports (:meth:`ValidationReport.merge` copies both sides, so a loop of merges would
be quadratic).

Imports only ``iopfhir.errors``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iopfhir.errors import Issue, ValidationFailed

__all__ = ["ReportBuilder", "ValidationReport", "issue_key", "severity_rank"]

_ORDER = {"fatal": 0, "error": 1, "warning": 2, "information": 3}
#: the rank of severities not in ``_ORDER`` (they sort last)
_OTHER = 9


def severity_rank(severity: str) -> int:
    """Where issues of ``severity`` sort in a report (fatal 0 ... information 3, other 9)."""
    return _ORDER.get(severity, _OTHER)


def issue_key(issue: Issue) -> tuple[str, str, str | None, str]:
    """What makes two issues the same in a report."""
    return (issue.severity, issue.code, issue.path, issue.message)


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Issues found in one resource (or file), shaped like ``OperationOutcome.issue``.

    ``skipped_invariants`` maps invariant keys that could not be evaluated to the reason
    (an unsupported FHIRPath function, for instance); they are not counted as errors.
    """

    issues: tuple[Issue, ...] = ()
    skipped_invariants: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_issues(
        cls, issues: Iterable[Issue], *, skipped_invariants: Mapping[str, str] | None = None
    ) -> ValidationReport:
        builder = ReportBuilder()
        builder.add_issues(issues)
        if skipped_invariants:
            builder.skipped_invariants.update(skipped_invariants)
        return builder.build()

    @property
    def errors(self) -> list[Issue]:
        """Issues of severity error or fatal."""
        return [i for i in self.issues if i.severity in ("error", "fatal")]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings and information are allowed)."""
        return not self.errors

    def __bool__(self) -> bool:
        return self.ok

    def merge(self, other: ValidationReport) -> ValidationReport:
        """This report and ``other`` as one (to combine many, use :class:`ReportBuilder`)."""
        builder = ReportBuilder()
        builder.add(self)
        builder.add(other)
        return builder.build()

    def to_operation_outcome(self) -> dict[str, Any]:
        """The report as a FHIR ``OperationOutcome`` (an ``information`` issue when clean)."""
        issues = [i.to_fhir() for i in self.issues]
        if not issues:
            issues = [
                {
                    "severity": "information",
                    "code": "informational",
                    "diagnostics": "No issues detected during validation",
                }
            ]
        return {"resourceType": "OperationOutcome", "issue": issues}

    def raise_for_errors(self) -> None:
        """Raise :class:`~iopfhir.errors.ValidationFailed` carrying the issues if not ok."""
        if not self.ok:
            n = len(self.errors)
            raise ValidationFailed(f"validation failed with {n} error(s)", issues=self.issues)

    def __str__(self) -> str:
        if not self.issues:
            return "ok"
        return "\n".join(str(i) for i in self.issues)


class ReportBuilder:
    """Reports (or issues) gathered into one :class:`ValidationReport` in O(issues).

    Issues go into one list per severity as they come (a duplicate of an issue already
    taken is dropped), so :meth:`build` only concatenates: the result is the one
    ``from_issues`` would give for all the issues in the order added.
    """

    __slots__ = ("_buckets", "_seen", "skipped_invariants")

    def __init__(self) -> None:
        self._buckets: dict[int, list[Issue]] = {}
        self._seen: set[tuple[str, str, str | None, str]] = set()
        #: invariant key → reason, over every report added (later reports win)
        self.skipped_invariants: dict[str, str] = {}

    def add(self, report: ValidationReport) -> list[Issue]:
        """Take ``report``'s issues and skipped invariants; return the issues that were new."""
        if report.skipped_invariants:
            self.skipped_invariants.update(report.skipped_invariants)
        return self.add_issues(report.issues)

    def add_issues(self, issues: Iterable[Issue]) -> list[Issue]:
        """Take ``issues`` (duplicates of issues already taken are dropped); return the new."""
        seen, buckets = self._seen, self._buckets
        new: list[Issue] = []
        for issue in issues:
            key = issue_key(issue)
            if key in seen:
                continue
            seen.add(key)
            rank = _ORDER.get(issue.severity, _OTHER)
            bucket = buckets.get(rank)
            if bucket is None:
                bucket = buckets[rank] = []
            bucket.append(issue)
            new.append(issue)
        return new

    def build(self) -> ValidationReport:
        """The report of everything added so far."""
        issues = [i for rank in sorted(self._buckets) for i in self._buckets[rank]]
        return ValidationReport(tuple(issues), dict(self.skipped_invariants))
