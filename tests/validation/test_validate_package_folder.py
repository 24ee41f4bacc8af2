"""``iopfhir validate FOLDER`` on an unpacked FHIR package (NPM layout: the examples or an IG
as published): its ``package.json`` and ``.index.json`` describe the package and are no
resources, so they are not validated as data; given by name, such a file is still refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from iopfhir.cli import main

EXAMPLES = ("Encounter-example.json", "Encounter-f001.json")


@pytest.mark.corpus
def test_a_package_folder_is_validated_without_its_package_files(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = tmp_path / "package"
    package.mkdir()
    for name in EXAMPLES:
        shutil.copy(corpus / "hl7-examples" / "r4-core-examples" / name, package / name)
    (package / "package.json").write_text(
        json.dumps({"name": "hl7.fhir.r4.examples", "version": "4.0.1", "fhirVersions": ["4.0.1"]})
    )
    index = {"index-version": 1, "files": [{"filename": n} for n in EXAMPLES]}
    (package / ".index.json").write_text(json.dumps(index))

    assert main(["validate", str(package)]) == 0
    out = capsys.readouterr().out
    named = {line.split(":", 1)[0] for line in out.splitlines() if not line.startswith(" ")}
    assert named == {str(package / n) for n in EXAMPLES}

    assert main(["validate", str(package / "package.json")]) == 2
    assert "no resourceType" in capsys.readouterr().err
