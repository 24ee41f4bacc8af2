"""Headless Chromium for the tests that open a page (the docs site, the ToC page).

Chromium is the Debian package ``chromium``, driven by playwright. ``.ci/run`` installs
it, so under ``CI`` its absence FAILS the test; elsewhere the test is skipped with the
reason. The machine's network is closed: the flags stop Chromium's background requests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

__all__ = ["CHROMIUM", "chromium"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium browser, closed on exit."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed (Debian package `chromium`)")
        pytest.skip("Chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=_FLAGS)
        try:
            yield launched
        finally:
            launched.close()
