"""The outcomes report page, rendered for real in headless Chromium (``tests/browser.py``:
under ``CI`` a missing Chromium fails, elsewhere these tests skip).

The page is made from ``iopfhir synth --patients 60 --seed 3`` converted to NDJSON, with
the patient sections. In the browser: no console error or warning, no request leaves
``file://``, every chart is drawn (its SVG holds marks and its screenshot is not blank:
the pixels vary), the headline figures are those ``compute`` gives, every section and
stratifier is there, every patient link lands on its section, and printing hides the
navigation and opens the tables. Screenshots go to ``/tmp/report-shots/`` to look at.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.browser import chromium
from tests.engines import synth_ndjson

from iopfhir.outcomes import Outcomes, compute
from iopfhir.outcomes.report import HEADLINE, ReportData, render_report, report_data
from iopfhir.views import Source, get_engine

SHOTS = Path("/tmp/report-shots")
SECTIONS = ("headline", "symptoms", "attendance", "intensity", "readmission", "measures")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Outcomes, ReportData, Path]:
    root = tmp_path_factory.mktemp("report")
    ndjson = synth_ndjson(root, 60, 3)
    engine = get_engine("duckdb")
    try:
        with Source.from_path(ndjson) as source:
            outcomes = compute(source, engine)
            data = report_data(source, engine, outcomes)
    finally:
        engine.close()
    page = root / "report.html"
    page.write_text(render_report(outcomes, data, patient_pages=True), encoding="utf-8")
    return outcomes, data, page


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _expected_value(outcomes: Outcomes, measure_id: str) -> str:
    m = outcomes.measure(measure_id)
    score = outcomes.summary(measure_id).overall.score
    if score is None:
        return "-"
    return f"{score * 100:.1f} %" if m.scoring == "proportion" else f"{score:.2f}"


def _episodes_and_patients(ndjson: Path) -> tuple[int, int]:
    """Episodes and the patients they belong to, counted from the files themselves."""
    lines = (ndjson / "EpisodeOfCare.ndjson").read_text().splitlines()
    return len(lines), len({json.loads(line)["patient"]["reference"] for line in lines})


_VARIANCE_JS = """async (b64) => {
  const blob = await (await fetch('data:image/png;base64,' + b64)).blob();
  const bmp = await createImageBitmap(blob);
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const g = c.getContext('2d'); g.drawImage(bmp, 0, 0);
  const px = g.getImageData(0, 0, bmp.width, bmp.height).data;
  let n = 0, s = 0, s2 = 0;
  for (let i = 0; i < px.length; i += 4) {
    const v = (px[i] + px[i + 1] + px[i + 2]) / 3; n++; s += v; s2 += v * v;
  }
  return s2 / n - (s / n) * (s / n);
}"""


def test_page_in_chromium(made: tuple[Outcomes, ReportData, Path], browser: Any) -> None:
    from playwright.sync_api import ConsoleMessage, Request

    outcomes, data, page_file = made
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    def on_request(request: Request) -> None:
        if not request.url.startswith("file://"):
            problems.append(f"request to {request.url}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("request", on_request)
    tab.goto(page_file.as_uri(), wait_until="load")
    tab.wait_for_selector("body[data-charts=drawn]", timeout=60_000)

    # every chart drawn: marks in its SVG, and a screenshot that is not one flat colour
    charts = tab.locator(".chart")
    ids = [charts.nth(i).get_attribute("id") for i in range(charts.count())]
    expected = {f"chart-trajectory-{i.replace('-', '')}" for i in data.instruments()}
    expected |= {"chart-response-remission", "chart-attendance", "chart-intensity"}
    expected |= {"chart-readmission"}
    assert set(ids) == expected
    SHOTS.mkdir(parents=True, exist_ok=True)
    blank = browser.new_page()  # decodes the screenshots; opens nothing
    for cid in ids:
        box = tab.locator(f"#{cid}")
        assert box.get_attribute("data-drawn") == "yes", cid
        marks = box.locator("svg g.role-mark > *").count()
        assert marks > 0, cid
        shot = box.screenshot()
        (SHOTS / f"{cid}.png").write_bytes(shot)
        variance = blank.evaluate(_VARIANCE_JS, base64.b64encode(shot).decode())
        assert variance > 50, (cid, variance)
        # the text alternative is on the chart and under it
        assert box.get_attribute("role") == "img"
        assert len(box.get_attribute("aria-label") or "") > 80
        figure = tab.locator("figure", has=box)
        assert figure.locator("figcaption").inner_text().strip()
        assert figure.locator("details table tbody tr").count() > 0, cid
    blank.close()

    # headline figures: what compute gives
    computed = {m.id for m in outcomes.measures}
    for mid in HEADLINE:
        if mid not in computed:
            continue
        card = tab.locator(f'.card[data-measure="{mid}"]')
        assert card.locator(".value").inner_text() == _expected_value(outcomes, mid), mid
        p = outcomes.summary(mid).overall.populations
        if outcomes.measure(mid).scoring == "proportion":
            den = p.get("denominator", 0) - p.get("denominator-exclusion", 0)
            assert card.locator(".count").inner_text() == f"{p.get('numerator', 0)} of {den}"
    episodes, patients = _episodes_and_patients(page_file.parent / "nd")
    assert tab.locator('[data-figure="episodes"] .value').inner_text() == str(episodes)
    assert tab.locator('[data-figure="patients"] .value').inner_text() == str(patients)

    # every section, every measure, every stratifier
    for sid in (*SECTIONS, "strata", "patients"):
        assert tab.locator(f"section#{sid} > h2").count() == 1, sid
    measures_text = tab.locator("section#measures").inner_text()
    for m in outcomes.measures:
        assert m.id in measures_text
    for name in {s for m in outcomes.measures for s in m.strata}:
        assert tab.locator(f"section#stratum-{name} table").count() == 1, name

    # patient sections: one per patient, every link lands
    sections = tab.locator("section.patient")
    assert sections.count() == len(data.patients) == patients
    hrefs = tab.locator("#patients ul.index a").evaluate_all("els => els.map(e => e.hash)")
    assert len(hrefs) == patients
    for href in hrefs:
        assert tab.locator(f"[id='{href[1:]}']").count() == 1
    first = tab.locator("section.patient").first
    assert first.locator("h3").inner_text() == data.patients[0]
    # a responder's section says so (the responder read from compute)
    responder = next(
        r for r in outcomes.subjects["iop-phq9-response"] if r.populations.get("numerator")
    )
    section = tab.locator(
        "section.patient", has=tab.locator(f"h3:text-is('{responder.patient_key}')")
    )
    row = section.locator("tr", has=tab.locator("td:text-is('PHQ-9 response')"))
    assert row.first.locator("td").last.inner_text() == "yes"

    tab.screenshot(path=str(SHOTS / "top.png"))
    tab.emulate_media(media="print")
    assert not tab.locator("nav").is_visible()
    tab.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert tab.locator("figure details:not([open])").count() == 0
    context.close()
    assert problems == []


def test_page_is_self_contained_and_deterministic(
    made: tuple[Outcomes, ReportData, Path],
) -> None:
    outcomes, data, page_file = made
    page = page_file.read_text(encoding="utf-8")
    again = render_report(outcomes, data, patient_pages=True)
    assert again == page  # same input, same bytes (named selections, no clock)
    assert "generated" not in page.split("</header>")[0]
    # nothing loaded from elsewhere (the library's own code is checked in Chromium: no
    # request leaves file://): no src attribute, no link element, local anchors only
    own = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert page.count("<script>") == 2 and len(own) < len(page) - 500_000
    assert not re.search(r"<(script|img|iframe|link)[^>]*\ssrc=", own)
    assert "<link" not in own
    hrefs = re.findall(r'href="([^"]*)"', own)
    assert hrefs and all(h.startswith("#") for h in hrefs)
    assert "@media print" in page
    dated = render_report(outcomes, data, generated="2026-01-31")
    assert "generated 2026-01-31" in dated and dated != page


def test_no_patient_names_only_keys(made: tuple[Outcomes, ReportData, Path]) -> None:
    _, data, page_file = made
    page = page_file.read_text(encoding="utf-8")
    shown = re.sub(r"<script>.*?</script>", "", page, flags=re.S)  # all but the library
    names: set[str] = set()
    for line in (page_file.parent / "nd" / "Patient.ndjson").read_text().splitlines():
        for name in json.loads(line).get("name", []):
            names.update(name.get("given", []))
            if name.get("family"):
                names.add(name["family"])
    assert names  # the cohort has names ...
    assert not [n for n in names if re.search(rf"\b{re.escape(n)}\b", shown)]  # ... not here
    assert all(k in shown for k in data.patients)
