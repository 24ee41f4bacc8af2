"""``export()``: one Bulk Data export from kick-off to checked files on disk.

The steps (each in its own module): :mod:`.kickoff` (the kick-off URL, the 202 and its
status URL), :mod:`.poll` (``X-Progress``, ``Retry-After``), :mod:`.manifest` (the
manifest checked and its files named), :mod:`.download` (each file streamed, checked and
renamed; who gets the token), :mod:`.state` (the state file that makes a rerun resume).

Resuming: the folder's state file names the server, the kick-off URL (the options), the
status URL, the manifest's ``transactionTime`` and the files done. A rerun with the same
folder and options continues an unfinished export: it polls the saved status URL (when
no manifest had come), and downloads only the files not yet done. A folder holding a
finished export is cleared and reused by the next export (``since="last"`` takes that
export's ``transactionTime`` first).

Cancelling: ``KeyboardInterrupt`` (Ctrl-C) during the export sends DELETE to the status
URL and removes what the export wrote in the folder, then propagates. Any other failure
(a broken connection, SIGTERM) leaves the folder resumable.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import orjson

from iopfhir.client import FhirClient, Timeout, server_issues
from iopfhir.errors import Issue

from .download import DOWNLOAD_TIMEOUT, Access, fetch, file_access
from .kickoff import cancel, kick_off, kickoff_url
from .manifest import Manifest, ManifestFile, parse_manifest
from .poll import DEFAULT_MAX_WAIT, poll
from .report import ExportedFile, ExportError, ExportProgress, ExportReport, ProgressCallback
from .state import MANIFEST_NAME, STATE_NAME, ExportState, load_state, save_state, write_private

__all__ = ["export"]


def export(
    client: FhirClient,
    out_dir: str | PathLike[str],
    *,
    level: str = "system",
    group: str | None = None,
    types: Sequence[str] = (),
    since: str | None = None,
    type_filters: Sequence[str] = (),
    delete_after: bool = False,
    allow_file_hosts: Iterable[str] = (),
    restart: bool = False,
    progress: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    max_wait: float = DEFAULT_MAX_WAIT,
    download_timeout: Timeout = DOWNLOAD_TIMEOUT,
) -> ExportReport:
    """Export from ``client``'s server into ``out_dir`` (FHIR Bulk Data Access, v2).

    ``level``: ``"system"`` or ``"patient"``; ``group``: a Group id (group level);
    ``types``: ``_type``; ``since``: ``_since`` (a FHIR instant), or ``"last"`` for the
    ``transactionTime`` of the finished export in ``out_dir``; ``type_filters``:
    ``_typeFilter`` queries. ``delete_after``: DELETE the job once every file is down.
    ``allow_file_hosts``: hosts (``host`` or ``host:port``) besides the server's origin
    that may receive the token for files. ``restart``: drop an unfinished export in the
    folder (its job is deleted) instead of resuming it. ``progress`` receives each step.
    Raises :class:`ExportError` (its ``report`` says what was done) when the export cannot
    complete; the client's errors pass through.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = load_state(out)
    unfinished = state is not None and not state.complete and not restart
    if state is not None and state.server != client.base_url and unfinished:
        raise ExportError("the folder holds an unfinished export from another server")
    resume_last = since == "last" and unfinished
    if since == "last" and not unfinished:
        if state is None or not state.complete or not state.transaction_time:
            raise ExportError("since='last' needs a finished export in the folder")
        since = state.transaction_time
    url = kickoff_url(
        client,
        level=level,
        group=group,
        types=types,
        since=None if resume_last else since,
        type_filters=type_filters,
    )
    report = ExportReport(out)
    if unfinished:
        assert state is not None
        if not resume_last and state.kickoff != url:
            raise ExportError(
                "the folder holds an unfinished export with other options: rerun with the "
                "same options, restart it (--restart) or use another folder"
            )
        report.resumed = True
    else:
        if state is not None and not state.complete and state.status_url:
            cancel(client, state.status_url)  # restart: the old job is of no use
        _clear(out, state)
        state = ExportState(server=client.base_url, kickoff=url)
        save_state(out, state)
    try:
        _run(
            client,
            out,
            state,
            report,
            frozenset(h.lower() for h in allow_file_hosts),
            progress,
            sleep,
            clock,
            max_wait,
            download_timeout,
        )
    except KeyboardInterrupt:
        if state.status_url:
            report.deleted = cancel(client, state.status_url)
        _clear(out, state)
        raise
    if delete_after and state.status_url:
        report.deleted = cancel(client, state.status_url)
    if progress is not None:
        progress(ExportProgress("complete", len(report.files), len(report.files)))
    return report


def _run(
    client: FhirClient,
    out: Path,
    state: ExportState,
    report: ExportReport,
    allowed: frozenset[str],
    progress: ProgressCallback | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    max_wait: float,
    timeout: Timeout,
) -> None:
    if state.status_url is None:
        if progress is not None:
            progress(ExportProgress("kickoff"))
        state.status_url = kick_off(client, state.kickoff)
        save_state(out, state)
    report.status_url = state.status_url
    doc = _saved_manifest(out) if state.transaction_time else None
    if doc is None:

        def count() -> None:
            report.polls += 1

        doc = poll(
            client,
            state.status_url,
            progress=progress,
            sleep=sleep,
            clock=clock,
            max_wait=max_wait,
            on_poll=count,
        )
        manifest = parse_manifest(doc)
        write_private(out / MANIFEST_NAME, orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    else:
        manifest = parse_manifest(doc)
    state.transaction_time = manifest.transaction_time
    save_state(out, state)
    report.transaction_time = manifest.transaction_time
    report.requires_access_token = manifest.requires_access_token
    _download_all(client, out, state, report, manifest, allowed, progress, timeout)
    if report.failed:
        raise ExportError(
            f"{len(report.failed)} file(s) failed the size checks and were not kept: "
            "rerun the export with the same folder to fetch them again",
            report=report,
            issues=[
                Issue("error", "incomplete", f"{p}: failed the size checks") for p in report.failed
            ],
        )
    state.complete = True
    save_state(out, state)


def _download_all(
    client: FhirClient,
    out: Path,
    state: ExportState,
    report: ExportReport,
    manifest: Manifest,
    allowed: frozenset[str],
    progress: ProgressCallback | None,
    timeout: Timeout,
) -> None:
    # every file's access decided before the first download: a refused one stops it all
    access: dict[str, Access] = {
        item.local: file_access(
            item.url,
            client.base_url,
            requires_token=manifest.requires_access_token,
            allowed_hosts=allowed,
        )
        for item in manifest.files
    }
    total = len(manifest.files)
    for n, item in enumerate(manifest.files):
        done = state.files.get(item.local)
        final = out / item.local
        if done is not None and final.is_file() and final.stat().st_size == done["bytes"]:
            _record(report, out, item, done["bytes"], done["lines"], fetched=False)
        else:
            got = fetch(client, item, out, access[item.local], timeout=timeout)
            if got.problem is not None:
                report.failed.append(item.local)
            else:
                state.files[item.local] = {"bytes": got.bytes, "lines": got.lines}
                save_state(out, state)
                _record(report, out, item, got.bytes, got.lines, fetched=True)
        if progress is not None:
            progress(ExportProgress("download", n + 1, total))


def _record(
    report: ExportReport, out: Path, item: ManifestFile, size: int, lines: int, *, fetched: bool
) -> None:
    report.files.append(ExportedFile(item.type, item.local, size, lines, item.error, fetched))
    if item.error:
        report.issues.extend(_error_issues(out / item.local))
    else:
        report.resources[item.type] += lines


def _error_issues(path: Path) -> list[Issue]:
    """The issues of an error file's OperationOutcomes (scrubbed of credentials)."""
    out: list[Issue] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                doc: Any = orjson.loads(line)
            except orjson.JSONDecodeError:
                out.append(Issue("warning", "invalid", f"line {number} is not JSON", path.name))
                continue
            out.extend(server_issues(doc, None))
    return out


def _saved_manifest(out: Path) -> Any:
    try:
        return orjson.loads((out / MANIFEST_NAME).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def _clear(out: Path, state: ExportState | None) -> None:
    """Remove what an earlier export wrote in ``out`` (its files, parts, manifest, state)."""
    names: set[str] = set(state.files) if state is not None else set()
    doc = _saved_manifest(out)
    if doc is not None:
        with contextlib.suppress(ExportError):
            names.update(item.local for item in parse_manifest(doc).files)
    for name in names:
        for path in (out / name, out / f"{name}.part"):
            with contextlib.suppress(OSError):
                path.unlink()
    for name in (MANIFEST_NAME, STATE_NAME):
        with contextlib.suppress(OSError):
            (out / name).unlink()
    with contextlib.suppress(OSError):
        (out / "error").rmdir()  # only when empty
