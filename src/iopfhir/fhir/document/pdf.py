"""Print a rendered ToC page to PDF through headless Chromium (where it is installed).

:func:`render_pdf` writes the HTML to a private temporary folder and runs
``chromium --headless --print-to-pdf`` on it, with the network-free switches the docs
tests use; :func:`find_chromium` names the browser (``$IOPFHIR_CHROMIUM``, else
``chromium`` / ``chromium-browser`` / ``google-chrome`` on ``PATH``). A missing browser
or a failed print raises :class:`~iopfhir.errors.IopFhirError` with what to install.
No iopfhir imports but :mod:`iopfhir.errors`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from iopfhir.errors import IopFhirError

__all__ = ["ChromiumMissing", "find_chromium", "render_pdf"]

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class ChromiumMissing(IopFhirError):
    """No headless Chromium to print with."""

    default_code = "not-supported"


def find_chromium() -> str | None:
    """The Chromium executable to print with, or ``None``."""
    configured = os.environ.get("IOPFHIR_CHROMIUM")
    if configured:
        return shutil.which(configured) or (configured if Path(configured).is_file() else None)
    return next((found for found in map(shutil.which, _NAMES) if found), None)


def render_pdf(
    html: str, out: str | Path, *, chromium: str | None = None, timeout: float = 120.0
) -> Path:
    """Print page ``html`` to the PDF file ``out`` with headless Chromium; returns ``out``."""
    browser = chromium or find_chromium()
    if browser is None:
        raise ChromiumMissing(
            "--pdf needs headless Chromium: install the Debian package 'chromium' "
            "(or set IOPFHIR_CHROMIUM to the browser), or write --html and print that"
        )
    target = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="iopfhir-pdf-") as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(html, encoding="utf-8")
        printed = Path(tmp) / "page.pdf"
        args = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp}/profile",
            "--no-pdf-header-footer",
            f"--print-to-pdf={printed}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(  # noqa: S603 - a fixed argv, no shell
                args, capture_output=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise IopFhirError(
                f"headless Chromium could not print the page ({type(exc).__name__})"
            ) from None
        if done.returncode != 0 or not printed.is_file() or printed.stat().st_size == 0:
            raise IopFhirError(
                f"headless Chromium could not print the page (exit {done.returncode})"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(printed), target)
    return target
