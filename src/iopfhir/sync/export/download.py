"""Downloading one manifest file to disk: streamed, checked, resumable.

Who may see a file request (:func:`file_access`): the server's own origin, or a host the
user allowed, gets the client's credentials when the manifest's ``requiresAccessToken``
is true; a file on another origin that needs the token is refused
(:class:`ExportError`); one that does not is fetched without any credentials.

:func:`fetch` streams the body into ``<name>.part`` (mode 0600) through
:meth:`FhirClient.download` (memory: one chunk), counting bytes and lines, then checks
the size against ``Content-Length`` (when the body is not content-encoded) and the line
count against the manifest's ``count`` (when given), and renames the part to its name.
A file that fails a check is deleted, and reported: a rerun fetches it again. A part left
by an interrupted run is continued with ``Range: bytes=<size>-`` when the server answers
``206`` from that offset, and fetched whole again when it answers ``200``.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from iopfhir.client import (
    BodyWriter,
    FhirClient,
    Request,
    Response,
    Timeout,
    error_for_response,
    same_origin,
)

from .manifest import ManifestFile
from .report import ExportError

__all__ = ["DOWNLOAD_TIMEOUT", "Access", "Fetched", "fetch", "file_access"]

#: Timeouts of one file download: each wait 60 s, the whole file 6 hours.
DOWNLOAD_TIMEOUT = Timeout(connect=10.0, read=60.0, total=6 * 3600.0)

_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")
_READ = 1 << 20


@dataclass(frozen=True, slots=True)
class Access:
    """How to request a file: with the client's credentials or none, and whether its
    origin differs from the server's."""

    credentials: bool
    other_origin: bool


def _host_allowed(url: str, allowed: frozenset[str]) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return False
    return host in allowed or (port is not None and f"{host}:{port}" in allowed)


def file_access(
    url: str, base_url: str, *, requires_token: bool, allowed_hosts: frozenset[str]
) -> Access:
    """The :class:`Access` for a file URL of the manifest (see the module)."""
    same = same_origin(url, base_url)
    if not requires_token:
        return Access(credentials=False, other_origin=not same)
    if same or _host_allowed(url, allowed_hosts):
        return Access(credentials=True, other_origin=not same)
    raise ExportError(
        "a file of the manifest is on another origin than the server's and needs the access "
        "token: refused (allow its host with allow_file_hosts / --allow-file-host HOST)"
    )


@dataclass(frozen=True, slots=True)
class Fetched:
    """A file fetched: bytes and lines in it; ``problem`` when a check failed."""

    bytes: int
    lines: int
    problem: str | None = None


class _Part:
    """The ``.part`` file a download writes to; the :data:`BodySink` of the download."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.offset = offset
        self.handle: BinaryIO | None = None
        self.size = 0
        self.newlines = 0
        self.last = b"\n"
        self.head: Response | None = None

    def sink(self, head: Response) -> BodyWriter | None:
        start = None
        if head.status == 200:
            start = 0
        elif head.status == 206 and self.offset:
            match = _CONTENT_RANGE.fullmatch(head.headers.get("Content-Range", "").strip())
            if match and int(match.group(1)) == self.offset:
                start = self.offset
        if start is None:
            return None
        self.close()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        handle = os.fdopen(fd, "r+b")
        handle.truncate(start)
        self.size, self.newlines, self.last = 0, 0, b"\n"
        if start:
            self._count_existing(handle, start)
        handle.seek(start)
        self.handle, self.head = handle, head
        return self._write

    def _count_existing(self, handle: BinaryIO, start: int) -> None:
        handle.seek(0)
        while chunk := handle.read(min(_READ, start - self.size)):
            self._counted(chunk)
            if self.size >= start:
                break

    def _counted(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.newlines += chunk.count(b"\n")
        self.last = chunk[-1:]

    def _write(self, chunk: bytes) -> None:
        assert self.handle is not None
        self.handle.write(chunk)
        self._counted(chunk)

    @property
    def lines(self) -> int:
        return self.newlines + (0 if self.last == b"\n" or not self.size else 1)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _problem(part: _Part, head: Response, item: ManifestFile) -> str | None:
    declared = head.headers.get("Content-Length")
    if declared and declared.isdigit() and "Content-Encoding" not in head.headers:
        expected = int(declared) + (part.offset if head.status == 206 else 0)
        if part.size != expected:
            return f"truncated: {part.size} of {expected} bytes"
    if item.count is not None and part.lines != item.count:
        return f"{part.lines} lines where the manifest says {item.count}"
    return None


def fetch(
    client: FhirClient,
    item: ManifestFile,
    out_dir: Path,
    access: Access,
    *,
    timeout: Timeout = DOWNLOAD_TIMEOUT,
) -> Fetched:
    """Download ``item`` into ``out_dir`` (see the module). Raises the client's error for
    an error status or a broken connection (the part stays, for a rerun to continue)."""
    final = out_dir / item.local
    final.parent.mkdir(parents=True, exist_ok=True)
    part_path = final.with_name(final.name + ".part")
    offset = part_path.stat().st_size if part_path.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    part = _Part(part_path, offset)
    try:
        response = client.download(
            item.url,
            part.sink,
            headers=headers,
            credentials=access.credentials,
            other_origin=access.other_origin,
            timeout=timeout,
        )
    finally:
        part.close()
    if part.head is None:
        if response.status == 416 and offset:  # the part is no prefix of the file: again
            part_path.unlink()
            return fetch(client, item, out_dir, access, timeout=timeout)
        if response.status < 400:
            with contextlib.suppress(OSError):
                part_path.unlink()
            raise ExportError(f"a file download answered HTTP {response.status}")
        raise error_for_response(Request("GET", item.url), response)
    problem = _problem(part, part.head, item)
    if problem is not None:
        with contextlib.suppress(OSError):
            part_path.unlink()
        return Fetched(part.size, part.lines, problem)
    os.replace(part_path, final)
    return Fetched(part.size, part.lines)
