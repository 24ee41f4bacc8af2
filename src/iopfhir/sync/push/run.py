"""The push entry point: input, validation, the steps in order, progress and the outcome.

:func:`push` pauses the cyclic garbage collector (:mod:`iopfhir.sync._gc`), counts round
trips on the client's transport, and runs the steps of :mod:`iopfhir.sync.push` in
order: plan (:mod:`.plan`), look up (:mod:`.lookup`), decide (:mod:`.content`), then
write chunk by chunk (:mod:`.write`). A failure stops the push with the report of what
was and was not written.

Imports :mod:`iopfhir.client`, :mod:`iopfhir.domain`, :mod:`iopfhir.errors`,
:mod:`iopfhir.fhir.bundle`, the sync modules below it and the other push modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn, Protocol

from iopfhir.client import FhirClient
from iopfhir.domain import Episode
from iopfhir.errors import (
    ClientError,
    InputError,
    Issue,
    RetryExhausted,
    ServerUnavailable,
    SyncConflict,
    SyncError,
    TooManyRequests,
    TransportError,
    ValidationFailed,
)
from iopfhir.fhir.models import FhirModel, as_json
from iopfhir.sync import _gc
from iopfhir.sync.capabilities import Unlisted, WriteMode, server_support
from iopfhir.sync.counting import CountingTransport

from .content import decide
from .lookup import lookup
from .part2 import DisclosureTerms, part2_gate
from .plan import chunks, classify, request_line
from .report import PlannedRequest, PushReport
from .same_person import check_same_people
from .sources import PushInput, read_entries
from .state import Item, PushRun, Resource
from .targets import check_targets
from .write import send_chunk

__all__ = [
    "Progress",
    "Validates",
    "finish_writes",
    "plan_push",
    "prepare",
    "push",
    "stopped_before_writing",
]

Progress = Callable[[int, int], None]


class Validates(Protocol):
    """What :func:`push` needs of a validator (``iopfhir.validation.Validator`` fits)."""

    def validate(self, resource: Any) -> Any: ...


def push(
    client: FhirClient,
    source: Episode | Iterable[Episode] | Mapping[str, Any] | FhirModel,
    *,
    chunk_size: int = 250,
    dry_run: bool = False,
    validator: Validates | None = None,
    progress: Progress | None = None,
    unlisted: Unlisted = "attempt",
    mode: WriteMode | None = None,
    disclosure: DisclosureTerms | None = None,
) -> PushReport:
    """Write ``source`` (episodes or a Bundle) to the server behind ``client``; see the module.

    ``mode`` forces a write mode the server supports less well than it could (``batch``
    or ``single``); by default the CapabilityStatement decides. Returns the report;
    raises :class:`~iopfhir.errors.SyncError` (with ``report``) when anything could not
    be written, :class:`~iopfhir.errors.SyncConflict` on a conflicting concurrent change,
    :class:`~iopfhir.errors.ValidationFailed` (before sending anything) when the validator
    finds errors.

    42 CFR Part 2 data (resources labelled ``42CFRPart2`` / ``ETH``) is sent only under
    ``disclosure`` (:mod:`.part2`): to the program's own record system, or disclosed to
    a named recipient under the patient's consent; without it the push is refused with
    :class:`~iopfhir.fhir.disclosure.DisclosureRefused` before any request.
    """
    if chunk_size < 1:
        raise InputError("chunk_size must be at least 1")
    # The work below allocates millions of acyclic containers: see _gc. By the time the
    # collector is back on, _run's frame (and every resource it held) is gone.
    with _gc.paused():
        return _run(
            client, source, chunk_size, dry_run, validator, progress, unlisted, mode, disclosure
        )


def _run(
    client: FhirClient,
    source: Episode | Iterable[Episode] | Mapping[str, Any] | FhirModel,
    chunk_size: int,
    dry_run: bool,
    validator: Validates | None,
    progress: Progress | None,
    unlisted: Unlisted,
    mode: WriteMode | None,
    disclosure: DisclosureTerms | None = None,
) -> PushReport:
    given, report = prepare(source, dry_run, validator, disclosure)
    counter = CountingTransport(client.transport)
    client.transport = counter
    try:
        try:
            run, planned = plan_push(client, given, report, chunk_size, unlisted, mode)
            if not report.dry_run:
                _write(run, planned, report.mode, progress)
        except ClientError as exc:
            raise stopped_before_writing(report, exc) from exc
        finally:
            report.round_trips = counter.count
        return report
    finally:
        client.transport = counter.inner


def prepare(
    source: Episode | Iterable[Episode] | Mapping[str, Any] | FhirModel,
    dry_run: bool,
    validator: Validates | None,
    disclosure: DisclosureTerms | None,
    report: PushReport | None = None,
) -> tuple[PushInput, PushReport]:
    """The entries to push and the report to fill in (``report`` when given), after the
    Part 2 gate and the validator; no I/O. Raises ``ValidationFailed`` (with the report)."""
    given = read_entries(as_json(source))  # a fhir.resources Bundle model: its JSON
    given, line = part2_gate(given, disclosure, dry_run=dry_run)  # before any request
    entries = given.entries
    if report is None:
        report = PushReport()
    report.dry_run, report.total = dry_run, len(entries)
    if line:
        report.issues.append(Issue("information", "informational", line))
    if validator is not None:
        bundle = source if isinstance(source, Mapping) and not line else None
        try:
            _validate(validator, bundle, entries, report)
        except ValidationFailed as exc:
            report.failed = len(entries)  # nothing was sent
            exc.report = report
            raise
    return given, report


def stopped_before_writing(report: PushReport, exc: ClientError) -> SyncError:
    """The error of a push that failed before any write (capabilities, look-up): still a
    report, every resource not written; the message names the request once (the cause's)."""
    report.failed = report.total - report.unchanged
    report.issues.extend(exc.issues)
    return SyncError(f"push stopped before writing: {exc}", report=report, issues=exc.issues)


def plan_push(
    client: FhirClient,
    given: PushInput,
    report: PushReport,
    chunk_size: int,
    unlisted: Unlisted,
    forced_mode: WriteMode | None,
) -> tuple[PushRun, list[list[Item]]]:
    """Every step before the writes (capabilities, plan, look-up, reference check, the
    unchanged check, the chunks); fills in ``report.mode``, ``chunks`` and ``planned``."""
    support = server_support(client.capabilities(), unlisted=unlisted)
    mode = support.mode
    if forced_mode is not None:
        order = ("single", "batch", "transaction")
        if order.index(forced_mode) > order.index(mode):
            raise InputError(f"the server does not support {forced_mode} writes")
        mode = forced_mode
    report.mode = mode
    run = PushRun(client, support, report, chunk_size)
    run.sources, run.positions, run.from_bundle = given.sources, given.positions, given.from_bundle
    run.lone = given.lone
    classify(run, given.entries)
    lookup(run)
    check_same_people(run)  # before anything is written: no patient overwritten by another
    if run.from_bundle:  # (episodes reference only their own entries)
        check_targets(run)  # before anything is written: every reference resolves
    decide(run)
    writes = [i for i in run.items if i.action in ("create", "update")]
    planned = chunks(run, writes, mode)
    report.chunks = len(planned)
    for n, chunk in enumerate(planned):
        for item in chunk:
            report.planned.append(PlannedRequest(*request_line(item), n))
    return run, planned


def _write(
    run: PushRun, planned: list[list[Item]], mode: WriteMode, progress: Progress | None
) -> None:
    report = run.report
    done = report.unchanged
    total = len(run.items)
    if progress:
        progress(done, total)
    for n, chunk in enumerate(planned):
        try:
            send_chunk(run, chunk, mode)
        except (SyncError, ClientError) as exc:
            _stop(run, planned[n:], exc)
        report.chunks_written += 1
        done += len(chunk)
        if progress:
            progress(done, total)
    finish_writes(run)


def finish_writes(run: PushRun) -> None:
    """After the last chunk: raise ``SyncError`` when resources failed one by one."""
    report = run.report
    failed = [i for i in run.items if i.action == "failed"]
    if failed:
        report.failed = len(failed)
        report.not_written = [i.label for i in failed]
        raise SyncError(
            f"{len(failed)} resource(s) could not be written",
            report=report,
            issues=report.issues,
        )


def _stop(run: PushRun, remaining: list[list[Item]], exc: Exception) -> NoReturn:
    report = run.report
    for chunk in remaining:
        for item in chunk:
            if item.action in ("create", "update"):
                item.action = "failed"
    failed = [i for i in run.items if i.action == "failed"]
    report.failed = len(failed)
    report.not_written = [i.label for i in failed]
    issues = list(getattr(exc, "issues", []) or [])
    report.issues.extend(issues)
    message = (
        f"push stopped after {report.chunks_written} of {report.chunks} chunk(s): "
        f"{exc}; {report.created} created, {report.updated} updated, "
        f"{len(failed)} not written ({_rerun_hint(exc)})"
    )
    if isinstance(exc, SyncConflict):
        raise SyncConflict(message, report=report, issues=issues) from exc
    raise SyncError(message, report=report, issues=issues) from exc


def _rerun_hint(exc: Exception) -> str:
    """What a rerun does: only a fault of the connection or a server's passing state
    (5xx, 429, a timeout) goes away by itself; a rejection comes back every time."""
    cause: BaseException | None = exc
    if isinstance(exc, RetryExhausted):
        cause = exc.last
    if isinstance(cause, TransportError | ServerUnavailable | TooManyRequests):
        return "a rerun writes the rest"
    if isinstance(exc, SyncConflict):
        return "another client changed them: review, then rerun"
    return (
        "the server refused: a rerun fails the same way until that is fixed; "
        "what was written is found, not written twice"
    )


# -- input ----------------------------------------------------------------------------------


def _validate(
    validator: Validates,
    bundle: Mapping[str, Any] | None,
    entries: Sequence[tuple[str, Resource]],
    push_report: PushReport,
) -> None:
    """Validate what is pushed. A Bundle given is validated as it is (a transaction's
    references must resolve in it, as ``iopfhir validate`` checks); episodes as the
    collection of their resources. The same with and without ``dry_run``."""
    if bundle is None:
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"fullUrl": url, "resource": r} for url, r in entries],
        }
    report = validator.validate(bundle)
    _keep_warnings(list(getattr(report, "warnings", []) or []), push_report)
    errors = list(getattr(report, "errors", []) or [])
    if errors:
        raise ValidationFailed(
            f"{len(errors)} validation error(s); nothing was sent", issues=errors
        )


def _keep_warnings(warnings: list[Any], report: PushReport) -> None:
    """One line for the validator's warnings (how many), in the push report's issues:
    ``iopfhir validate`` lists them; a push only says that there are some."""
    if warnings:
        report.issues.append(
            Issue(
                "warning",
                "informational",
                f"validation found {len(warnings)} warning(s); iopfhir validate lists them",
            )
        )
