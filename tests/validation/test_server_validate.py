"""``iopfhir validate --server URL``: the server's $validate issues merged into the report,
marked with their source (against the real local FHIR server of tests/servers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from validation_support import run_validate

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.servers.fixtures import fhir_server  # noqa: E402

from iopfhir.cli.validate import SOURCE_EXTENSION, server_report  # noqa: E402
from iopfhir.client import FhirClient, MemoryTransport, json_response  # noqa: E402

__all__ = ["fhir_server"]

GOOD: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "name": [{"family": "Example", "given": ["Alex"]}],
    "gender": "female",
}
#: broken for base R4 in a way both validators see (the server checks structure and
#: formats, not terminology): an impossible birth date
BAD: dict[str, Any] = {**GOOD, "birthDate": "2020-13-45"}


def test_server_issues_are_marked_with_their_source() -> None:
    """Offline: a memory transport stands in for the server."""
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "structure",
                "diagnostics": "bad date",
                "expression": ["Patient.birthDate"],
            }
        ],
    }

    def handler(request: Any) -> Any:
        assert request.method == "POST"
        assert request.url.endswith("/Patient/$validate")
        body = json.loads(request.body)
        assert body["resourceType"] == "Parameters"
        assert body["parameter"][0]["resource"]["resourceType"] == "Patient"
        return json_response(200, outcome)

    with FhirClient("http://127.0.0.1:9/fhir", transport=MemoryTransport(handler)) as client:
        report = server_report(client, BAD)
    (issue,) = report.issues
    assert issue.source == "server http://127.0.0.1:9/fhir"
    assert (issue.severity, issue.path) == ("error", "Patient.birthDate")


@pytest.mark.integration
def test_validate_with_server(fhir_server: str, tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD), encoding="utf-8")
    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps(GOOD) + "\n" + json.dumps(BAD) + "\n", encoding="utf-8")

    code, out, err = run_validate("--server", fhir_server, str(good))
    assert code == 0, out + err

    code, out, err = run_validate("--server", fhir_server, "--format", "json", str(bad))
    assert code == 1, out + err
    issues = json.loads(out)["issue"]
    sources = {
        next(x["valueString"] for x in i.get("extension", []) if x["url"] == SOURCE_EXTENSION)
        for i in issues
    }
    assert "iopfhir" in sources
    server_sources = {s for s in sources if s.startswith("server ")}
    assert server_sources == {f"server {fhir_server}"}
    local_errors = [
        i
        for i in issues
        if i["severity"] == "error" and i["extension"][0]["valueString"] == "iopfhir"
    ]
    assert any("line 2" in i["diagnostics"] for i in local_errors)
    server_errors = [
        i
        for i in issues
        if i["severity"] in ("error", "fatal")
        and i["extension"][0]["valueString"].startswith("server ")
    ]
    assert server_errors, issues
    assert all("line 2" in i["diagnostics"] for i in server_errors)

    code, out, _ = run_validate("--server", fhir_server, str(bad))
    assert code == 1
    assert f"[server {fhir_server}]" in out
    assert "[iopfhir]" in out


def test_unreachable_server_exits_2(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD), encoding="utf-8")
    code, _, err = run_validate("--server", "ftp://example.org/fhir", str(good))
    assert code == 2
    assert "--server" in err
