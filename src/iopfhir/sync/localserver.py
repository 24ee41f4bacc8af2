"""A throw-away local FHIR server: sekmet-fhir on 127.0.0.1 (optional extra ``iopfhir[server]``).

``with localserver() as base_url: ...`` writes a settings file into a temporary folder
(its own SQLite database; ``base_url`` matching the chosen port so paging links work;
bound to 127.0.0.1 only; the workflow simulator off so nothing changes resources behind
the caller's back; no server auth), starts ``uvicorn sekmet.main:app_factory`` as a
subprocess, waits until ``/metadata`` answers, yields the FHIR base URL and stops the
server (and deletes the folder) on exit. A port taken between choosing and binding is
retried on another port.

Imports only the standard library.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from iopfhir.errors import IopFhirError

__all__ = ["LocalServerError", "free_port", "localserver", "sekmet_available", "settings_yaml"]

STARTUP_SECONDS = 60.0


class LocalServerError(IopFhirError, RuntimeError):
    """The local server is not installed or did not come up."""

    default_code = "not-supported"


def sekmet_available() -> bool:
    """True when sekmet-fhir (``pip install 'iopfhir[server]'``) is importable."""
    return importlib.util.find_spec("sekmet") is not None


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_yaml(port: int, folder: Path) -> str:
    """sekmet's settings for a private, quiet server on 127.0.0.1:``port``."""
    return "\n".join(
        [
            f"base_url: http://127.0.0.1:{port}/fhir",
            "host: 127.0.0.1",
            f"port: {port}",
            f"data_dir: {folder / 'data'}",
            f"db_path: {folder / 'data' / 'sekmet.db'}",
            f"own_private_key_path: {folder / 'keys' / 'sekmet_private.pem'}",
            "log_inbound: false",
            "simulator:",
            "  enabled: false",
            "server_auth:",
            "  types: [none]",
            "validation:",
            "  inbound: strict",
            "",
        ]
    )


def _wait_until_up(proc: subprocess.Popen[bytes], base_url: str, log: Path, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalServerError(
                f"sekmet exited with {proc.returncode}:\n{log.read_text(errors='replace')[-2000:]}"
            )
        try:
            with urllib.request.urlopen(f"{base_url}/metadata", timeout=2) as r:  # noqa: S310
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise LocalServerError("sekmet did not answer /metadata in time")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def localserver(*, attempts: int = 3, startup_seconds: float = STARTUP_SECONDS) -> Iterator[str]:
    """Run sekmet-fhir on a free port of 127.0.0.1; yield its FHIR base URL."""
    if not sekmet_available():
        raise LocalServerError("the local server needs sekmet-fhir: pip install 'iopfhir[server]'")
    with tempfile.TemporaryDirectory(prefix="iopfhir-server-") as tmp:
        folder = Path(tmp)
        last_error: Exception | None = None
        for _ in range(attempts):
            port = free_port()
            config = folder / f"settings-{port}.yaml"
            config.write_text(settings_yaml(port, folder))
            log = folder / f"sekmet-{port}.log"
            env = {**os.environ, "SEKMET_CONFIG": str(config)}
            for key in ("SEKMET_BASE_URL", "SEKMET_DB", "SEKMET_PUBLIC_URL", "SEKMET_PORT"):
                env.pop(key, None)
            base_url = f"http://127.0.0.1:{port}/fhir"
            with log.open("wb") as out:
                proc = subprocess.Popen(  # noqa: S603
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "sekmet.main:app_factory",
                        "--factory",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                    ],
                    cwd=folder,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            try:
                _wait_until_up(proc, base_url, log, startup_seconds)
            except LocalServerError as exc:  # most likely the port was taken meanwhile
                last_error = exc
                _stop(proc)
                continue
            try:
                yield base_url
            finally:
                _stop(proc)
            return
        raise LocalServerError(f"sekmet failed to start {attempts} times") from last_error
