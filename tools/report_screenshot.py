"""Take the docs' screenshot of the outcomes report (``docs/img/outcomes-report.png``).

Makes a synthetic cohort (``iopfhir synth``, converted to NDJSON) in a temporary folder,
writes its report with ``iopfhir report``, opens it in headless Chromium (Debian package
``chromium``, driven by playwright; no request leaves ``file://``) and saves the top of the
page: the headline figures and the first charts. Needs the ``test`` extra.

    python tools/report_screenshot.py [--patients 200] [--seed 7] [-o docs/img/outcomes-report.png]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from iopfhir.cli import main as iopfhir

_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def shoot(page: Path, target: Path, width: int = 1100, height: int = 1700) -> None:
    """Screenshot the top of ``page`` into ``target``; fails on a request leaving file://
    or a console error."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium is not installed (Debian package `chromium`)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=_FLAGS)
        try:
            tab = browser.new_page(viewport={"width": width, "height": height})
            tab.on(
                "request", lambda r: None if r.url.startswith("file://") else problems.append(r.url)
            )
            tab.on(
                "console",
                lambda m: problems.append(m.text) if m.type in ("error", "warning") else None,
            )
            tab.goto(page.as_uri(), wait_until="load")
            tab.wait_for_selector("body[data-charts=drawn]", timeout=60_000)
            target.parent.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(target))
        finally:
            browser.close()
    if problems:
        raise SystemExit(f"{len(problems)} problems in the page: {problems[:3]}")


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("-o", "--output", default="docs/img/outcomes-report.png")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="iopfhir-shot-") as tmp:
        root = Path(tmp)
        steps = [
            [
                "synth",
                "--patients",
                str(args.patients),
                "--seed",
                str(args.seed),
                "-o",
                str(root / "cohort"),
            ],
            ["convert", str(root / "cohort"), "--format", "ndjson", "-o", str(root / "nd")],
            ["report", str(root / "nd"), "-o", str(root / "report.html")],
        ]
        for step in steps:
            if iopfhir(step) != 0:
                return 1
        shoot(root / "report.html", Path(args.output))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(run())
