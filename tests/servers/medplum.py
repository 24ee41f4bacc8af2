"""Start Medplum's FHIR router (in-memory repository) on 127.0.0.1 for a test session.

The server is ``medplum/server.mjs``: ``@medplum/fhir-router@4.5.2`` behind a small Node
HTTP wrapper (Node 20). :func:`running_medplum` installs its npm packages on first use
(``npm ci`` from the committed lock file), starts it on a free port, waits until
``/fhir/metadata`` answers, yields the base URL, and stops it.

What differs from sekmet (and is worth testing a client against): version ids are UUIDs,
``Location`` is relative (``Patient/id/_history/vid``), transaction entry statuses are
bare codes (``"201"``), search Bundles carry no paging links, there is no ``$validate``
and no structure validation on write, and the wrapper's CapabilityStatement is minimal.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from .sekmet import free_port

__all__ = ["HERE", "MedplumStartError", "node_available", "running_medplum"]

HERE = Path(__file__).resolve().parent / "medplum"
STARTUP_SECONDS = 60.0


class MedplumStartError(RuntimeError):
    """The server could not be installed or did not come up."""


def node_available() -> bool:
    """True when ``node`` and ``npm`` are on PATH."""
    return shutil.which("node") is not None and shutil.which("npm") is not None


def ensure_installed() -> None:
    """``npm ci`` once, when ``node_modules`` is missing."""
    if (HERE / "node_modules" / "@medplum" / "fhir-router").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise MedplumStartError("npm is not installed")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=HERE,
        capture_output=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise MedplumStartError(f"npm ci failed:\n{done.stderr.decode()[-3000:]}")


@contextlib.contextmanager
def running_medplum(*, attempts: int = 3) -> Iterator[str]:
    """Run the Medplum router on a free port of 127.0.0.1; yield its FHIR base URL."""
    ensure_installed()
    node = shutil.which("node")
    if node is None:
        raise MedplumStartError("node is not installed")
    last = ""
    for _ in range(attempts):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}/fhir"
        proc = subprocess.Popen(
            [node, "server.mjs", str(port)],
            cwd=HERE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            if _wait(proc, base_url):
                try:
                    yield base_url
                finally:
                    _stop(proc)
                return
        except BaseException:
            _stop(proc)
            raise
        _stop(proc)
        last = proc.stderr.read().decode()[-3000:] if proc.stderr else ""
    raise MedplumStartError(f"the Medplum server did not start:\n{last}")


def _wait(proc: subprocess.Popen[bytes], base_url: str) -> bool:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{base_url}/metadata", timeout=2) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stderr:
        proc.stderr.close()
