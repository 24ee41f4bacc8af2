"""``iopfhir export`` end to end on a real sekmet started here (issue 14), and the export
folder read as it is by ``import``, ``validate`` and ``outcomes`` (one pipeline)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.servers.fixtures import LIVE_TIMEOUT  # noqa: E402
from tests.servers.sekmet import running_sekmet  # noqa: E402

from iopfhir.cli import main  # noqa: E402
from iopfhir.client import FhirClient  # noqa: E402
from iopfhir.sync import DisclosureTerms, push  # noqa: E402
from iopfhir.synth import synth_episodes  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    """A fresh sekmet holding three synthetic episodes."""
    with running_sekmet() as url, FhirClient(url, timeout=LIVE_TIMEOUT) as client:
        episodes = list(synth_episodes(3, seed=5))
        assert push(client, episodes, disclosure=DisclosureTerms(own_system=True)).failed == 0
        yield url


@pytest.fixture(scope="module")
def exported(base: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A system-level export of the whole server, with an error file added as a server
    would send one."""
    out = tmp_path_factory.mktemp("export")
    assert main(["export", "--server", base, "-o", str(out)]) == 0
    (out / "error").mkdir()
    issue = {"severity": "error", "code": "processing", "diagnostics": "one type failed"}
    (out / "error" / "OperationOutcome.ndjson").write_text(
        json.dumps({"resourceType": "OperationOutcome", "issue": [issue]}) + "\n"
    )
    return out


def test_export_prints_counts_and_deletes_the_job(base, tmp_path, capsys):
    code = main(
        [
            "export",
            "--server",
            base,
            "--patient",
            "--type",
            "Patient,EpisodeOfCare",
            "-o",
            str(tmp_path),
            "--delete-after",
            "--progress",  # the progress lines, forced into the captured stderr
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    assert summary["resources"]["EpisodeOfCare"] == 3
    assert set(summary["resources"]) == {"Patient", "EpisodeOfCare"}
    assert summary["deleted"] is True and summary["failed"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "EpisodeOfCare.ndjson",
        "Patient.ndjson",
        "iopfhir-export.state",
        "manifest.json",
    ]


def test_bad_options_are_usage_errors(base, tmp_path, capsys):
    assert main(["export", "--server", base, "--type", "Nope", "-o", str(tmp_path)]) == 2
    assert "--type" in capsys.readouterr().err
    assert main(["export", "--server", base, "--since", "last", "-o", str(tmp_path)]) == 1
    assert "finished export" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["export", "--server", base, "--since", "yesterday", "-o", str(tmp_path)])
    assert info.value.code == 2


def test_ctrl_c_exits_130_with_a_line_saying_the_job_was_cancelled(
    monkeypatch, base, tmp_path, capsys
):
    import iopfhir.cli.export as command

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "export", interrupted)
    assert main(["export", "--server", base, "-o", str(tmp_path)]) == 130
    assert "export cancelled" in capsys.readouterr().err


def test_import_reads_the_export_folder_as_it_is(exported, capsys):
    assert main(["import", str(exported), "--summary"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["episodes"] == 3
    assert "OperationOutcome" not in summary["ignored"]  # error files are not data
    assert "Bulk Data export error file" in err  # ... but the summary says they were there
    assert "without resourceType" not in err  # and the manifest is no data either


def test_validate_reads_the_export_folder_as_it_is(exported, capsys):
    code = main(["validate", str(exported)])
    out, _err = capsys.readouterr()
    assert code == 0, out
    named = {line.split(":", 1)[0] for line in out.splitlines() if not line.startswith(" ")}
    assert str(exported / "Patient.ndjson") in named
    assert not any("manifest" in n or "/error/" in n for n in named)


def test_outcomes_read_the_export_folder_as_it_is(exported, tmp_path, capsys):
    """The measures over the export folder are the measures over the same episodes
    converted here to NDJSON: the manifest and the error file change nothing."""
    assert main(["outcomes", str(exported), "--format", "json"]) == 0
    from_export = json.loads(capsys.readouterr().out)
    cohort, ndjson = tmp_path / "cohort", tmp_path / "ndjson"
    assert main(["synth", "--patients", "3", "--seed", "5", "-o", str(cohort)]) == 0
    assert main(["convert", str(cohort), "--format", "ndjson", "-o", str(ndjson)]) == 0
    capsys.readouterr()
    assert main(["outcomes", str(ndjson), "--format", "json"]) == 0
    direct = json.loads(capsys.readouterr().out)
    assert from_export["rows"] and from_export == direct


def test_report_reads_the_export_folder_as_it_is(exported, tmp_path):
    """The report over the export folder shows the same measure table as the report over
    the same episodes converted here (the charts' data may come in another order: the
    server's file order is not the converter's)."""
    cohort, ndjson = tmp_path / "cohort", tmp_path / "ndjson"
    assert main(["synth", "--patients", "3", "--seed", "5", "-o", str(cohort)]) == 0
    assert main(["convert", str(cohort), "--format", "ndjson", "-o", str(ndjson)]) == 0
    tables = []
    for source in (exported, ndjson):
        page = tmp_path / f"{source.name}.html"
        assert main(["report", str(source), "-o", str(page), "--generated", "test"]) == 0
        html = page.read_text(encoding="utf-8")
        start = html.index('id="h-measures"')
        tables.append(html[start : html.index("</table>", start)])
    assert "<td" in tables[0] and tables[0] == tables[1]
