"""The result of a validation: :class:`ValidationReport` (issues, errors, ok, OperationOutcome).

Imports only ``iopfhir.errors``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iopfhir.errors import Issue, ValidationFailed

__all__ = ["ValidationReport"]

_ORDER = {"fatal": 0, "error": 1, "warning": 2, "information": 3}


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
        seen: set[tuple[str, str, str | None, str]] = set()
        unique: list[Issue] = []
        for i in issues:
            key = (i.severity, i.code, i.path, i.message)
            if key not in seen:
                seen.add(key)
                unique.append(i)
        unique.sort(key=lambda i: _ORDER.get(i.severity, 9))
        return cls(tuple(unique), dict(skipped_invariants or {}))

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
        return ValidationReport.from_issues(
            [*self.issues, *other.issues],
            skipped_invariants={**self.skipped_invariants, **other.skipped_invariants},
        )

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
