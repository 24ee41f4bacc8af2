"""The output folder's bookkeeping: the state file that makes an export resumable.

Layout of an export folder (see docs/export.md)::

    manifest.json              the server's manifest, as received
    iopfhir-export.state       this module's JSON: server, kick-off, status URL, files done
    Patient.ndjson ...         one file per manifest ``output`` entry (Type.2.ndjson ...)
    error/OperationOutcome.ndjson   the manifest's ``error`` files
    *.part                     a download in progress (renamed when complete and checked)

The state is written atomically (a temporary file renamed) with mode 0600, after every
step that changes it; a rerun reads it to continue where the last run stopped.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .report import ExportError

__all__ = [
    "ERROR_DIR",
    "MANIFEST_NAME",
    "STATE_NAME",
    "ExportState",
    "load_state",
    "save_state",
    "write_private",
]

STATE_NAME = "iopfhir-export.state"
MANIFEST_NAME = "manifest.json"
ERROR_DIR = "error"
_VERSION = 1


@dataclass
class ExportState:
    """One export's progress: ``kickoff`` is the kick-off URL (it names the options),
    ``files`` maps each finished local file to ``{"bytes": n, "lines": n}``."""

    server: str
    kickoff: str
    status_url: str | None = None
    transaction_time: str | None = None
    complete: bool = False
    files: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "server": self.server,
            "kickoff": self.kickoff,
            "status_url": self.status_url,
            "transaction_time": self.transaction_time,
            "complete": self.complete,
            "files": self.files,
        }


def load_state(out_dir: Path) -> ExportState | None:
    """The state in ``out_dir``, or ``None`` when there is none."""
    path = out_dir / STATE_NAME
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ExportError(f"cannot read the export state file {STATE_NAME}") from exc
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        raise ExportError(f"the export state file {STATE_NAME} is not one this version wrote")
    files = data.get("files") or {}
    return ExportState(
        server=str(data.get("server", "")),
        kickoff=str(data.get("kickoff", "")),
        status_url=data.get("status_url"),
        transaction_time=data.get("transaction_time"),
        complete=bool(data.get("complete")),
        files={
            str(k): {"bytes": int(v.get("bytes", 0)), "lines": int(v.get("lines", 0))}
            for k, v in files.items()
            if isinstance(v, dict)
        },
    )


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by the owner only."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def save_state(out_dir: Path, state: ExportState) -> None:
    """Write the state file."""
    write_private(out_dir / STATE_NAME, orjson.dumps(state.to_json(), option=orjson.OPT_INDENT_2))
