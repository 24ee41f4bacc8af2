"""Start ``sekmet-fhir`` (a FHIR R4 server on SQLite) on 127.0.0.1 for a test session.

:func:`running_sekmet` is a context manager: it writes a settings file into a temporary
folder (its own SQLite database, ``base_url`` matching the chosen port so paging links
work, bound to 127.0.0.1 only, the workflow "simulator" off so nothing changes resources
behind the tests' backs), starts the server as a subprocess, waits until ``/metadata``
answers, yields the FHIR base URL, and stops the server.
"""

from __future__ import annotations

import contextlib
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

__all__ = ["SekmetStartError", "free_port", "running_sekmet", "settings_yaml"]

STARTUP_SECONDS = 60.0


class SekmetStartError(RuntimeError):
    """The server did not come up."""


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


def _wait_until_up(proc: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SekmetStartError(
                f"sekmet exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{base_url}/metadata", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise SekmetStartError(f"sekmet did not answer /metadata in time:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def running_sekmet(*, attempts: int = 3) -> Iterator[str]:
    """Run sekmet on a free port of 127.0.0.1; yield its FHIR base URL."""
    with tempfile.TemporaryDirectory(prefix="iopfhir-sekmet-") as tmp:
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
                proc = subprocess.Popen(
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
                _wait_until_up(proc, base_url, log)
            except SekmetStartError as exc:  # most likely the port was taken meanwhile
                last_error = exc
                _stop(proc)
                continue
            try:
                yield base_url
            finally:
                _stop(proc)
            return
        raise SekmetStartError(f"sekmet failed to start {attempts} times") from last_error


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
