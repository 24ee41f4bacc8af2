"""42 CFR Part 2 on the command line (issue 12, point 6): ``convert --for``, ``toc --for``
and ``push``: a disclosure needs its audit file; push of Part 2 data is refused before any
request unless it is disclosed under consent or the server is the program's own."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from iopfhir.cli import main
from iopfhir.fhir.disclosure import is_part2

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SUD = str(EXAMPLES / "co-occurring-sud-iop.yaml")
MH = str(EXAMPLES / "mental-health-iop.yaml")
VALLEY = "http://hl7.org/fhir/sid/us-npi|1720945836"


def audit_lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_convert_for_a_recipient_writes_what_may_leave_and_records_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, audit = tmp_path / "out.json", tmp_path / "audit.ndjson"
    args = ["convert", SUD, "-o", str(out), "--for", VALLEY, "--on", "2026-07-01"]
    assert main([*args, "--audit", str(audit)]) == 0
    bundle = json.loads(out.read_text())
    labelled = [e["resource"] for e in bundle["entry"] if is_part2(e["resource"])]
    assert len(labelled) > 100
    assert all("NORDSCLCD" in {c["code"] for c in r["meta"]["security"]} for r in labelled)
    (event,) = audit_lines(audit)
    assert event["resourceType"] == "AuditEvent"
    assert "1 AuditEvent" in capsys.readouterr().err
    assert (audit.stat().st_mode & 0o777) == 0o600

    # for payment the consent denies: nothing labelled is written, nothing more recorded
    other = tmp_path / "payment.json"
    assert main([*args, "--purpose", "HPAYMT", "--audit", str(audit), "-o", str(other)]) == 0
    kept = json.loads(other.read_text())["entry"]
    assert kept and not any(is_part2(e["resource"]) for e in kept)
    assert len(audit_lines(audit)) == 1
    err = capsys.readouterr().err
    assert "0 Part 2 resources disclosed" in err and "Patient 1" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--audit"),
        (["--audit", "AUDIT", "--format", "ndjson"], "Bundle"),
        (["--audit", "AUDIT", "--purpose", "NOPE"], "purpose"),
    ],
)
def test_convert_for_refuses_a_disclosure_without_record_or_named_badly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    out = tmp_path / "out.json"
    extra = [str(tmp_path / "a.ndjson") if e == "AUDIT" else e for e in extra]
    assert main(["convert", SUD, "-o", str(out), "--for", VALLEY, *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "a.ndjson").exists()


def test_toc_for_a_recipient(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc, audit = tmp_path / "doc.json", tmp_path / "audit.ndjson"
    base = ["toc", SUD, "-o", str(doc), "--for", "valley-withdrawal", "--on", "2026-07-01"]
    assert main([*base, "--audit", str(audit)]) == 0
    sections = [s["title"] for s in json.loads(doc.read_text())["entry"][0]["resource"]["section"]]
    assert sections[-1] == "Prohibition on redisclosure (42 CFR Part 2)"
    assert len(audit_lines(audit)) == 1
    refused = tmp_path / "refused.json"
    denied = ["toc", SUD, "-o", str(refused), "--for", "valley-withdrawal", "--on", "2028-01-01"]
    assert main([*denied, "--audit", str(audit)]) == 2
    assert "no consent" in capsys.readouterr().err
    assert not refused.exists() and len(audit_lines(audit)) == 1


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str] = []

    def _any(self) -> None:
        type(self).seen.append(self.command)
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST = do_PUT = _any

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that records every request it gets (and answers 500)."""
    seen: list[str] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "extra",
    [[], ["--for", VALLEY], ["--dry-run"]],
    ids=["no disclosure", "no audit file", "dry run"],
)
def test_push_of_part2_data_is_refused_before_any_request(
    recorder: tuple[str, list[str]], capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    base, seen = recorder
    assert main(["push", SUD, "--server", base, "--no-validate", *extra]) == 2
    err = capsys.readouterr().err
    assert "Nothing was sent" in err and "MRN" not in err
    assert seen == []


def test_push_of_a_part2_document_is_refused_before_any_request(
    tmp_path: Path, recorder: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    base, seen = recorder
    doc = tmp_path / "doc.json"
    assert main(["toc", SUD, "-o", str(doc)]) == 0
    assert main(["push", str(doc), "--server", base, "--no-validate"]) == 2
    assert "Nothing was sent" in capsys.readouterr().err
    assert seen == []


def test_push_without_part2_data_or_to_the_own_system_goes_to_the_server(
    recorder: tuple[str, list[str]], tmp_path: Path
) -> None:
    """Not refused: the request reaches the server (which answers 500 here)."""
    base, seen = recorder
    main(["push", MH, "--server", base, "--no-validate"])
    assert seen  # a program that is not Part 2: no gate
    seen.clear()
    config = tmp_path / "server.toml"
    config.write_text(f'server = "{base}"\nown_system = true\n')
    main(["push", SUD, "--config", str(config), "--no-validate"])
    assert seen  # the program's own record system, said in the server's config


def test_push_of_a_document_for_a_recipient(
    tmp_path: Path, recorder: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A plain document holds no consent: refused before any request. The document made
    for the recipient (``toc --for``) is checked again, recorded, and sent."""
    base, seen = recorder
    plain, made, audit = tmp_path / "plain.json", tmp_path / "made.json", tmp_path / "a.ndjson"
    assert main(["toc", SUD, "-o", str(plain)]) == 0
    push = ["push", "--server", base, "--no-validate", "--for", VALLEY, "--on", "2026-07-01"]
    assert main([*push, str(plain), "--audit", str(audit)]) == 2
    assert "nothing was disclosed" in capsys.readouterr().err
    assert seen == [] and audit_lines(audit) == []
    made_args = ["toc", SUD, "-o", str(made), "--for", VALLEY, "--on", "2026-07-01"]
    assert main([*made_args, "--audit", str(audit)]) == 0
    main([*push, str(made), "--audit", str(audit)])
    assert seen  # sent (the recorder answers 500)
    assert len(audit_lines(audit)) == 2  # made, then sent
