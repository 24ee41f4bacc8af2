"""The ToC page (``render_html``) and its PDF: self-contained, escaped, printable, and
rendered for real in headless Chromium (Debian package ``chromium``; under ``CI`` a
missing Chromium fails, elsewhere the browser tests skip, as in ``tests/test_docs.py``).

Screenshots go to the test's tmp folder and to ``/tmp/toc-shots/`` for people to look at.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.browser import chromium

from iopfhir.domain import Episode
from iopfhir.fhir.document import render_html, render_pdf, toc_document
from iopfhir.fhir.document.html import safe_xhtml
from iopfhir.terminology.documents import toc_sections

SHOTS = Path("/tmp/toc-shots")


def test_page_is_self_contained_and_printable(example_episodes: list[Episode]) -> None:
    page = render_html(toc_document(example_episodes[0]))
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    # nothing loaded from elsewhere: no src, no external href, no @import, no url()
    assert not re.search(r"\ssrc=", page)
    assert re.findall(r'href="([^"]*)"', page) and all(
        h.startswith("#") for h in re.findall(r'href="([^"]*)"', page)
    )
    assert "@import" not in page and "url(" not in page
    assert "@media print" in page and "@page" in page
    for section in toc_sections():
        assert f"<h2>{section.title}</h2>" in page


def test_sanitiser_keeps_plain_markup_and_drops_the_rest() -> None:
    div = (
        '<div xmlns="http://www.w3.org/1999/xhtml"><p class="x" onclick="evil()">a &amp; b</p>'
        '<script>bad()</script><a href="http://example.org/">link</a><img src="x"/></div>'
    )
    assert safe_xhtml(div) == "<p>a &amp; b</p>link"
    assert safe_xhtml("<div>not closed") == ""
    assert safe_xhtml('<!DOCTYPE x [<!ENTITY a "aaaa">]><div>&a;</div>') == ""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _texts_of(document: dict[str, Any]) -> dict[str, list[str]]:
    """Per section title, texts its page section must show (read from its entries)."""
    by_url = {e["fullUrl"]: e["resource"] for e in document["entry"]}
    out: dict[str, list[str]] = {}
    for section in document["entry"][0]["resource"]["section"]:
        texts = [section["title"]]
        for ref in section.get("entry", []):
            res = by_url[ref["reference"]]
            if res["resourceType"] == "Condition" or res["resourceType"] == "AllergyIntolerance":
                texts.append(res["code"]["coding"][0]["display"])
            elif res["resourceType"] == "Goal":
                texts.append(res["description"]["text"])
            elif res["resourceType"] == "CarePlan" and res.get("title"):
                texts.append(res["title"])
        if "emptyReason" in section:
            texts.append(
                "when this document was written"
                if section["emptyReason"]["coding"][0]["code"] == "notstarted"
                else "None recorded."
            )
        out[section["title"]] = texts
    return out


@pytest.mark.parametrize("at", ["discharge", "referral"])
def test_page_renders_in_chromium(
    example_episodes: list[Episode], browser: Any, tmp_path: Path, at: str
) -> None:
    from playwright.sync_api import ConsoleMessage, Request

    for episode in example_episodes:
        document = toc_document(episode, at=at)  # type: ignore[arg-type]
        page_file = tmp_path / f"{episode.key}-{at}.html"
        page_file.write_text(render_html(document), encoding="utf-8")
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        tab = context.new_page()
        problems: list[str] = []

        def on_console(message: ConsoleMessage, problems: list[str] = problems) -> None:
            if message.type in ("error", "warning"):
                problems.append(f"console {message.type}: {message.text}")

        def on_request(request: Request, problems: list[str] = problems) -> None:
            if not request.url.startswith("file://"):
                problems.append(f"request to {request.url}")

        tab.on("console", on_console)
        tab.on("pageerror", lambda exc, problems=problems: problems.append(f"page error: {exc}"))
        tab.on("request", on_request)
        tab.goto(page_file.as_uri(), wait_until="load")
        for title, texts in _texts_of(document).items():
            section = tab.locator("section", has=tab.locator("h2", has_text=title))
            assert section.count() == 1, title
            shown = section.inner_text()
            for text in texts:
                assert text in shown, (title, text)
        who = tab.locator(".call").inner_text() if at == "discharge" else ""
        if at == "discharge":
            assert "Who to call" in who and any(ch.isdigit() for ch in who)
        shot = tmp_path / f"{episode.key}-{at}.png"
        tab.screenshot(path=str(shot), full_page=True)
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SHOTS / shot.name)
        tab.emulate_media(media="print")
        assert not tab.locator("nav").is_visible()  # the contents list is for screens
        context.close()
        assert problems == []


def test_pdf_through_headless_chromium(
    example_episodes: list[Episode], browser: Any, tmp_path: Path
) -> None:
    out = render_pdf(render_html(toc_document(example_episodes[0])), tmp_path / "toc.pdf")
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 10_000
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(out, SHOTS / "toc.pdf")
