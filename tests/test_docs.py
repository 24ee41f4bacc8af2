"""The documentation site: ``mkdocs build --strict`` succeeds, and the pages work in a browser.

The build is strict, so a broken link, a cross-reference to an API object that no longer
exists, a missing page or a README section that a page includes and that was renamed fails
here (and so in CI). The built site is then served on 127.0.0.1 and opened in headless
Chromium: each page must show its text, log no console error and load nothing that fails;
a screenshot of each is written beside the built site for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.browser import chromium

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).with_name("mkdocs")

#: page → text it must show (rendered by the browser, not only present in the HTML)
PAGES = {
    "": "Intensive outpatient program (IOP) care as FHIR R4",
    "getting-started/": "python3 -m venv .venv",
    "episode-file/": "An episode is one patient's stay in one program",
    "mapping/": "Where is X mapped",
    "validation/": "How the validator is built",
    "sync/": "A second push of the same episode writes nothing",
    "cli/": "iopfhir convert",
    "architecture/": "Layers, enforced",
    "export/": "Who sees the token",
    "views/": "Views: FHIR to tables with SQL-on-FHIR",
    "outcomes/": "Outcome measures",
    "report/": "The outcomes report",
    "toc/": "Transition-of-care documents",
    "part2/": "disclosure under consent",
    "benchmarks/": "bench_convert.py",
    "reference/validation/": "Validator",
    "reference/fhir/": "episode_to_resources",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_strict_build_writes_every_page(site: Path) -> None:
    for page in PAGES:
        assert (site / page / "index.html").is_file(), page
    assert not (site / "hooks.py").exists()  # build code, not a page


def test_cli_page_is_generated_from_the_parser(site: Path) -> None:
    html = (site / "cli" / "index.html").read_text(encoding="utf-8")
    # every subcommand's own help, as argparse prints it
    for command in ("convert", "import", "validate", "synth", "push", "pull", "capabilities"):
        assert f"usage: iopfhir {command}" in html, command


def test_mapping_page_links_every_module_to_its_reference(site: Path) -> None:
    html = (site / "mapping" / "index.html").read_text(encoding="utf-8")
    for family in ("people", "team", "episode", "plans", "sessions", "measures"):
        assert f"iopfhir.fhir.build.{family}" in html, family
        assert f"iopfhir.fhir.read.{family}" in html, family


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


@pytest.mark.parametrize("page", list(PAGES), ids=lambda p: p or "home")
def test_page_renders_in_chromium(site: Path, served: str, browser: object, page: str) -> None:
    from playwright.sync_api import Browser, ConsoleMessage, Request

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    def on_failed(request: Request) -> None:
        problems.append(f"request failed: {request.url} ({request.failure})")

    tab.on("console", on_console)
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("requestfailed", on_failed)
    response = tab.goto(served + page, wait_until="networkidle")
    assert response is not None and response.status == 200
    body = tab.inner_text("body")
    assert PAGES[page] in body
    assert tab.title().endswith("iopfhir")
    shots = site.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    tab.screenshot(path=str(shots / f"{page.strip('/').replace('/', '_') or 'home'}.png"))
    context.close()
    assert problems == []
