"""``iopfhir toc`` then ``iopfhir import``: the episode file read from a transition-of-care
document has the episode's referral, problems, medications, allergies, scores, plans, goals
and team; a document that cannot be read exits 2 naming the section's FHIRPath, writes
nothing and prints no value of the document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iopfhir.cli import main
from iopfhir.domain.files import load_episodes

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["mental-health-iop.yaml", "co-occurring-sud-iop.yaml"])
def test_toc_then_import(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    (source,) = load_episodes(EXAMPLES / name)
    doc, out = tmp_path / "doc.json", tmp_path / "episode.json"
    assert main(["toc", str(EXAMPLES / name), "--at", "discharge", "-o", str(doc)]) == 0
    assert main(["import", str(doc), "-o", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err  # our own document reads back whole
    (got,) = load_episodes(out)
    assert got.referral == source.referral
    assert got.diagnoses == source.diagnoses
    assert got.medications == source.medications
    assert got.prescriptions == source.prescriptions
    assert got.allergies == source.allergies
    assert [(m.key, m.instrument, m.answers, m.total, m.score) for m in got.measures] == [
        (m.key, m.instrument, m.answers, m.total, m.score) for m in source.measures
    ]
    assert got.care_plans == source.care_plans
    assert got.teams == source.teams
    assert [s.key for s in got.sessions] == [s.key for s in source.sessions]


def test_referral_toc_then_import(tmp_path: Path) -> None:
    (source,) = load_episodes(EXAMPLES / "mental-health-iop.yaml")
    doc, out = tmp_path / "doc.json", tmp_path / "episode.yaml"
    path = str(EXAMPLES / "mental-health-iop.yaml")
    assert main(["toc", path, "--at", "referral", "-o", str(doc)]) == 0
    assert main(["import", str(doc), "-o", str(out)]) == 0
    (got,) = load_episodes(out)
    # no EpisodeOfCare in it: the referral (and its stay, clinicians, discharge plan) comes
    # from the reason-for-referral section; the stay is no session
    assert got.referral == source.referral
    assert got.sessions == []


def test_a_broken_document_exits_2_naming_the_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc, out = tmp_path / "doc.json", tmp_path / "episode.json"
    path = str(EXAMPLES / "mental-health-iop.yaml")
    assert main(["toc", path, "--at", "referral", "-o", str(doc)]) == 0
    bundle = json.loads(doc.read_bytes())
    sections = bundle["entry"][0]["resource"]["section"]
    sections[1]["entry"][0]["reference"] = "Condition/Rivera-depression"
    doc.write_text(json.dumps(bundle), "utf-8")
    capsys.readouterr()
    assert main(["import", str(doc), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    code = sections[1]["code"]["coding"][0]["code"]
    assert f"Bundle.entry[0].resource.section[1].entry[0]: section LOINC {code}" in err
    assert "Rivera" not in err and "MRN" not in err
    assert not out.exists()
