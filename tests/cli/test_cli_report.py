"""``iopfhir report`` and the demo's last step (the outcomes report).

The command on the mental-health example converted to NDJSON and as a Bundle: same bytes
for the same source, the measures' figures on the page, ``--period``, ``--generated``,
``--patient-pages``, stdout; bad input exits 2 without echoing it. The demo writes the
report beside ``-o`` (or where ``--report`` says) and prints the path.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iopfhir.cli import main
from iopfhir.outcomes import compute, load_measures
from iopfhir.views import Source, get_engine

MH = Path(__file__).resolve().parents[2] / "src" / "iopfhir" / "examples" / "mental-health-iop.yaml"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("src")
    assert main(["convert", str(MH), "--format", "ndjson", "-o", str(root / "nd")]) == 0
    assert main(["convert", str(MH), "-o", str(root / "bundle.json")]) == 0
    return root / "nd", root / "bundle.json"


def _value(page: str, measure_id: str) -> str:
    found = re.search(
        rf'data-measure="{re.escape(measure_id)}"><dt>[^<]*</dt><dd><span class="value">([^<]*)<',
        page,
    )
    assert found, measure_id
    return found.group(1)


def test_report_from_ndjson_and_bundle(
    sources: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nd, bundle = sources
    a, b, c = (tmp_path / n for n in ("a.html", "b.html", "c.html"))
    assert main(["report", str(nd), "-o", str(a)]) == 0
    assert main(["report", str(nd), "-o", str(b)]) == 0
    assert main(["report", str(bundle), "-o", str(c)]) == 0
    assert capsys.readouterr().out == ""
    page = a.read_text(encoding="utf-8")
    assert page == b.read_text(encoding="utf-8")  # same source, same bytes
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    engine = get_engine("duckdb")
    try:
        with Source.from_path(nd) as source:
            outcomes = compute(source, engine)
    finally:
        engine.close()
    for mid in ("iop-phq9-response", "iop-attendance", "iop-completion"):
        score = outcomes.summary(mid).overall.score
        assert score is not None
        assert _value(page, mid) == f"{score * 100:.1f} %"
        assert _value(c.read_text(encoding="utf-8"), mid) == f"{score * 100:.1f} %"
    for m in load_measures():  # every measure is in the table of all measures
        assert f"<td>{m.id}</td>" in page
    assert 'class="patient"' not in page and "generated" not in page.split("</header>")[0]


def test_options(
    sources: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nd, _ = sources
    out = tmp_path / "p.html"
    argv = ["report", str(nd), "-o", str(out), "--patient-pages", "--generated", "2026-05-01"]
    assert main([*argv, "--title", "Spring review"]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.count('<section class="patient"') == 1
    assert "generated 2026-05-01" in page and "<title>Spring review</title>" in page
    # a period with none of the example's episodes: the page says so, and still renders
    assert main(["report", str(nd), "-o", str(out), "--period", "2001-01-01/2001-12-31"]) == 0
    empty = out.read_text(encoding="utf-8")
    assert "Period 2001-01-01 to 2001-12-31 · 0 episodes" in empty
    assert main(["report", str(nd)]) == 0  # stdout
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    "argv",
    [
        ["--period", "2025-12-31/2025-01-01"],
        ["--period", "last year"],
    ],
)
def test_bad_options_exit_2(
    sources: tuple[Path, Path], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(sources[0]), *argv]) == 2
    err = capsys.readouterr().err
    assert "--period" in err and "last year" not in err


def test_bad_sources_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "missing")]) == 2
    secret = tmp_path / "x.json"
    secret.write_text('{"resourceType": "Patient", "name": [{"family": "Zyxwv"}]}')
    assert main(["report", str(secret)]) == 2
    err = capsys.readouterr().err
    assert "expected a Bundle" in err and "Zyxwv" not in err


def test_demo_ends_with_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "demo.json"
    assert main(["demo", "--offline", "-o", str(bundle)]) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    written = tmp_path / "demo.report.html"
    assert last.startswith("5. report ") and last.endswith(str(written.resolve()))
    page = written.read_text(encoding="utf-8")
    assert "1 episode · 1 patient ·" in page and 'id="chart-trajectory-phq9"' in page
    chosen = tmp_path / "elsewhere" / "r.html"
    assert main(["demo", "--offline", "--report", str(chosen)]) == 0
    assert chosen.read_bytes() == written.read_bytes()
    capsys.readouterr()
    assert main(["demo", "--offline", "--no-report"]) == 0
    assert "report" not in capsys.readouterr().out.split("4. read back")[1]
