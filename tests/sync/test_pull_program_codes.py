"""``pull --program-code``: an EpisodeOfCare an EHR typed with its own code, written to a
real FHIR server (started on 127.0.0.1), is pulled as an episode of the program type given
for the code; a bad code is an error before any request."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from tests.fhir.test_import_program_codes import CODES, LOCAL, _eoc

from iopfhir.cli import main
from iopfhir.client import FhirClient
from iopfhir.domain import load_episodes
from iopfhir.errors import TerminologyError
from iopfhir.sync import pull

pytestmark = pytest.mark.integration


def test_pull_reads_them_from_a_real_server(
    live_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:12]
    system = "urn:oid:2.16.840.1.113883.19.5"
    patient = {"resourceType": "Patient", "identifier": [{"system": system, "value": tag}]}
    with FhirClient(live_server) as client:
        made = client.create(patient)
        eoc = _eoc((LOCAL, "IOP-MH"))
        del eoc["id"]
        eoc["patient"] = {"reference": f"Patient/{made.id}"}
        client.create(eoc)
        with pytest.raises(TerminologyError):  # checked before any request
            pull(client, (system, tag), program_codes={(LOCAL, "IOP-MH"): "day-program"})
        result = pull(client, (system, tag), program_codes=CODES)
        plain = pull(client, (system, tag))
    program = result.episodes[0].program
    assert program is not None and program.type == "mental-health"
    assert plain.episodes[0].program is None
    pulled = tmp_path / "pulled.json"
    command = ["pull", "--server", live_server, "--patient", f"{system}|{tag}"]
    given = ["--program-code", f"{LOCAL}|IOP-MH=mental-health"]
    assert main([*command, *given, "-o", str(pulled)]) == 0
    (episode,) = load_episodes(pulled)
    assert episode.program is not None and episode.program.type == "mental-health"
