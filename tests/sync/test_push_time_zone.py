"""Push and pull against a real FHIR server (started on 127.0.0.1) of an episode whose
times were written without a UTC offset: refused before any write unless ``--time-zone``
names their zone; then written with its offset, and read back so by ``pull``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from tests.fhir.test_time_zone import _resources

from iopfhir.cli import main
from iopfhir.client import FhirClient
from iopfhir.domain import load_episodes

pytestmark = pytest.mark.integration


def test_push_of_local_times_needs_their_zone_and_pull_reads_them_back(
    live_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:12]
    resources = _resources(("2024-07-05T18:30:00", "2024-07-05T21:30:00"))
    resources[0]["identifier"] = [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": tag}]
    source = tmp_path / "in.ndjson"
    source.write_text("\n".join(json.dumps(r) for r in resources) + "\n")
    episodes = tmp_path / "episodes.json"
    assert main(["import", str(source), "-o", str(episodes)]) == 0
    with FhirClient(live_server) as client:
        search = client.search("Patient").where(identifier=f"urn:oid:2.16.840.1.113883.19.5|{tag}")

        assert main(["push", str(episodes), "--server", live_server]) == 2
        err = capsys.readouterr().err
        assert "$.sessions[0].start" in err and "--time-zone" in err
        assert search.fetch_all() == []  # nothing written

        push = ["push", str(episodes), "--server", live_server, "--time-zone", "America/Denver"]
        assert main(push) == 0
        (patient,) = search.fetch_all()
        found = client.search("Encounter").where(subject=f"Patient/{patient['id']}").fetch_all()
        assert [e["period"] for e in found] == [
            {"start": "2024-07-05T18:30:00-06:00", "end": "2024-07-05T21:30:00-06:00"}
        ]
    capsys.readouterr()
    pulled = tmp_path / "pulled.json"
    pull = ["pull", "--server", live_server, "--patient", f"urn:oid:2.16.840.1.113883.19.5|{tag}"]
    assert main([*pull, "-o", str(pulled)]) == 0
    (episode,) = load_episodes(pulled)
    assert episode.sessions[0].start.isoformat() == "2024-07-05T18:30:00-06:00"
