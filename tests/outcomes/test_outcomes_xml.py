"""The outcome measures over FHIR XML Bundles are those over the same Bundles in JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from iopfhir.cli import main
from iopfhir.domain import load_episodes
from iopfhir.fhir.bundle import collection_bundle

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_outcomes_of_xml_bundles_are_those_of_their_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for form in ("json", "xml"):
        (tmp_path / form).mkdir()
    for name in ("mental-health-iop", "co-occurring-sud-iop"):
        bundle = collection_bundle(load_episodes(EXAMPLES / f"{name}.yaml"))
        (tmp_path / "json" / f"{name}.json").write_text(json.dumps(bundle))
        model = get_fhir_model_class("Bundle").model_validate(bundle)
        (tmp_path / "xml" / f"{name}.xml").write_bytes(model.model_dump_xml())
    figures = {}
    for form in ("json", "xml"):
        assert main(["outcomes", str(tmp_path / form), "--format", "json"]) == 0
        figures[form] = json.loads(capsys.readouterr().out)
    assert figures["xml"] == figures["json"]
    assert figures["json"]  # measures computed, not two empty answers
