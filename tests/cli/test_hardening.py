"""Hardening across every command.

* **Markers.** A patient name, an MRN and a bearer token are planted in every input (valid
  and broken episode files, valid and broken FHIR) and in every server answer (the fault
  servers on 127.0.0.1 and 127.0.0.2 repeat the request's credentials, identifiers and body in
  their errors, redirect across origins, drip and truncate). No output stream of any command
  (stdout, stderr, log records) may contain any of them, nor a traceback, nor a line longer
  than an error line.
* **Fuzz.** Random and structured-bad bytes (hypothesis, bounded) go to every command that
  reads a file: it answers with exit 0 or a one-line error with exit 2 (``validate``: 1 for
  a file with errors), never a traceback, and leaves no temporary file behind.

The data outputs themselves (a Bundle written with ``-o``, an episode file) hold patient data
by design; they are written to files here and are not output streams.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.servers.fault import MARKER_MRN, MARKER_NAME, MARKER_TOKEN, FaultServers
from tests.servers.fixtures import _fault_servers_session, fault_servers  # noqa: F401

from iopfhir.cli import main

MARKERS = (MARKER_NAME, MARKER_MRN, MARKER_TOKEN)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.8901.1"
MAX_LINE = 600


def _marked_episode() -> dict[str, Any]:
    """The mental-health example with the planted name and MRN as the patient's."""
    episode: dict[str, Any] = yaml.safe_load((EXAMPLES / "mental-health-iop.yaml").read_text())
    episode["patient"]["name"] = {"family": MARKER_NAME, "given": [MARKER_NAME]}
    episode["patient"]["identifiers"] = [{"system": MRN_SYSTEM, "value": MARKER_MRN}]
    return episode


def _run(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, *argv: str
) -> tuple[int, str]:
    """Run the CLI in-process with verbose logging; return the exit code and every stream."""
    caplog.clear()
    # what `-v` shows: INFO and above from every logger (DEBUG would add urllib3's own
    # request lines, which an application enables for itself)
    with caplog.at_level(logging.INFO):
        try:
            code = main(["-v", *argv])
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
    captured = capsys.readouterr()
    streams = captured.out + "\n" + captured.err + "\n" + caplog.text
    return code, streams


def _assert_clean(streams: str, what: str) -> None:
    for marker in MARKERS:
        assert marker not in streams, f"{what}: a planted value reached the output"
    assert "Traceback" not in streams, f"{what}: traceback"
    longest = max((len(line) for line in streams.splitlines()), default=0)
    assert longest <= MAX_LINE, f"{what}: a {longest}-character line"


# -- episode files --------------------------------------------------------------------------


def _bad_episodes() -> dict[str, Callable[[dict[str, Any]], Any]]:
    def unknown_key(e: dict[str, Any]) -> Any:
        e["patient"][MARKER_NAME] = MARKER_MRN
        return e

    def dangling_reference(e: dict[str, Any]) -> Any:
        e["sessions"][0]["facilitator"] = MARKER_MRN
        return e

    def bad_date(e: dict[str, Any]) -> Any:
        e["patient"]["birth_date"] = MARKER_NAME
        return e

    def bad_code(e: dict[str, Any]) -> Any:
        e["program"]["type"] = MARKER_NAME
        return e

    def duplicate_key(e: dict[str, Any]) -> Any:
        e["patient"]["key"] = MARKER_MRN
        e["supports"][0]["key"] = MARKER_MRN
        return e

    def wrong_type(e: dict[str, Any]) -> Any:
        e["sessions"][0]["telehealth"] = MARKER_NAME
        return e

    def unknown_answer(e: dict[str, Any]) -> Any:
        e["measures"][0]["answers"][MARKER_NAME] = 1
        return e

    return {
        f.__name__: f
        for f in (
            unknown_key,
            dangling_reference,
            bad_date,
            bad_code,
            duplicate_key,
            wrong_type,
            unknown_answer,
        )
    }


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_valid_marked_episode_converts_without_echo(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    suffix: str,
) -> None:
    source = tmp_path / f"episode{suffix}"
    data = _marked_episode()
    source.write_text(json.dumps(data) if suffix == ".json" else yaml.safe_dump(data))
    for argv in (
        ["convert", str(source), "-o", str(tmp_path / "out.json")],
        ["convert", str(source), "--format", "collection", "-o", str(tmp_path / "c.json")],
        ["convert", str(source), "--format", "ndjson", "-o", str(tmp_path / "nd")],
    ):
        code, streams = _run(capsys, caplog, *argv)
        assert code == 0, streams
        _assert_clean(streams, " ".join(argv[:1]))
    code, streams = _run(capsys, caplog, "demo", "--episode", str(source), "--offline")
    assert code == 0, streams
    _assert_clean(streams, "demo --offline")
    # the data output does hold the patient: the markers went somewhere, just not to a stream
    assert MARKER_MRN in (tmp_path / "out.json").read_text()


@pytest.mark.parametrize("case", sorted(_bad_episodes()))
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_broken_marked_episode_is_refused_without_echo(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    case: str,
    suffix: str,
) -> None:
    data = _bad_episodes()[case](_marked_episode())
    source = tmp_path / f"episode{suffix}"
    source.write_text(json.dumps(data) if suffix == ".json" else yaml.safe_dump(data))
    for argv in (
        ["convert", str(source), "-o", str(tmp_path / "out.json")],
        ["push", str(source), "--server", "http://127.0.0.1:9/fhir", "--dry-run"],
    ):
        code, streams = _run(capsys, caplog, *argv)
        assert code == 2, f"{case} {argv[0]}: exit {code}"
        _assert_clean(streams, f"{case} {argv[0]}")
    assert not (tmp_path / "out.json").exists()


def test_a_duplicate_yaml_key_is_refused_without_echo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    text = yaml.safe_dump(_marked_episode())
    text = text.replace("patient:\n", f"patient:\n  {MARKER_NAME}: 1\n  {MARKER_NAME}: 2\n", 1)
    source = tmp_path / "dup.yaml"
    source.write_text(text)
    code, streams = _run(capsys, caplog, "convert", str(source), "-o", str(tmp_path / "o.json"))
    assert code == 2
    _assert_clean(streams, "duplicate YAML key")


# -- FHIR inputs ----------------------------------------------------------------------------


def _marked_patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": MRN_SYSTEM, "value": MARKER_MRN}],
        "name": [{"family": MARKER_NAME, "given": [MARKER_NAME]}],
    }


def _bad_fhir() -> dict[str, Any]:
    patient = _marked_patient

    def with_(**changes: Any) -> dict[str, Any]:
        res = patient()
        res.update(changes)
        return res

    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:uuid:{MARKER_MRN}", "resource": patient()},
            {
                "fullUrl": "urn:uuid:7d0e4c2e-0000-4000-8000-000000000001",
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"system": MARKER_NAME, "code": MARKER_MRN},
                    "subject": {"reference": f"Patient/{MARKER_MRN}"},
                },
            },
        ],
    }
    return {
        "bad-date": with_(birthDate=MARKER_NAME),
        "bad-code": with_(gender=MARKER_MRN),
        "unknown-element": with_(**{MARKER_NAME: MARKER_MRN}),
        "unknown-type": {"resourceType": MARKER_NAME, "id": MARKER_MRN},
        "bad-id": with_(id=f"{MARKER_NAME} {MARKER_MRN}"),
        "unknown-extension": with_(
            extension=[{"url": f"http://{MARKER_NAME}", "valueString": "x"}]
        ),
        "coding-system": with_(
            maritalStatus={"coding": [{"system": f"http://{MARKER_NAME}", "code": MARKER_MRN}]}
        ),
        "dangling-bundle": bundle,
        "name-as-string": with_(name=MARKER_NAME),
        "reference-shape": with_(managingOrganization={"reference": f"{MARKER_NAME}/x y"}),
    }


@pytest.mark.parametrize("case", sorted(_bad_fhir()))
def test_marked_fhir_is_read_and_validated_without_echo(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    source = tmp_path / "input.json"
    source.write_text(json.dumps(_bad_fhir()[case]))
    runs = (
        ["validate", str(source)],
        ["validate", str(source), "--format", "json"],
        ["import", str(source), "--summary"],
        ["import", str(source), "-o", str(tmp_path / "back.yaml")],
        ["import", str(source), "--strict", "-o", str(tmp_path / "strict.yaml")],
    )
    for argv in runs:
        code, streams = _run(capsys, caplog, *argv)
        assert code in (0, 1, 2), f"{case} {argv}: exit {code}"
        _assert_clean(streams, f"{case} {' '.join(argv[:2])}")


def test_marked_ndjson_with_a_duplicate_key_is_refused_without_echo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    line = json.dumps(_marked_patient())[:-1] + f', "{MARKER_NAME}": 1, "{MARKER_NAME}": 2}}'
    source = tmp_path / "Patient.ndjson"
    source.write_text(line + "\n")
    for argv in (["validate", str(source)], ["import", str(source), "--summary"]):
        code, streams = _run(capsys, caplog, *argv)
        assert code == 2, argv
        _assert_clean(streams, argv[0])


# -- server answers -------------------------------------------------------------------------

SERVER_FAULTS = [
    "echo-401",
    "echo-403",
    "echo-404",
    "echo-422",
    "echo-500",
    "echo-422-text",
    "echo-500-html",
    "redirect-302",
    "redirect-307",
    "invalid-json",
    "truncated",
    "deep",
    "deep-422",
]


def _server_runs(url: str, episode: Path, bundle: Path, out: Path) -> list[list[str]]:
    auth = ["--token", MARKER_TOKEN]
    return [
        ["capabilities", "--server", url, *auth],
        ["push", str(episode), "--server", url, *auth, "--summary"],
        ["push", str(episode), "--server", url, *auth, "--dry-run"],
        ["pull", "--server", url, *auth, "--patient", f"{MRN_SYSTEM}|{MARKER_MRN}", "-o", str(out)],
        ["validate", str(bundle), "--server", url],
        ["demo", "--episode", str(episode), "--server", url, "-o", str(out.with_suffix(".json"))],
    ]


@pytest.mark.parametrize("metadata_ok", [False, True], ids=["fault-on-metadata", "fault-after"])
@pytest.mark.parametrize("fault", SERVER_FAULTS)
def test_server_answers_never_reach_the_output(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    fault_servers: FaultServers,  # noqa: F811 - the fixture imported above
    fault: str,
    metadata_ok: bool,
) -> None:
    episode = tmp_path / "episode.yaml"
    episode.write_text(yaml.safe_dump(_marked_episode()))
    bundle = tmp_path / "patient.json"
    bundle.write_text(json.dumps(_marked_patient()))
    url = fault_servers.primary.url(fault, metadata_ok=metadata_ok)
    for argv in _server_runs(url, episode, bundle, tmp_path / "pulled.yaml"):
        code, streams = _run(capsys, caplog, *argv)
        assert code in (0, 1, 2), f"{fault} {argv[0]}: exit {code}"
        _assert_clean(streams, f"{fault} {argv[0]}")
    # nothing of ours ever reached the other origin
    assert fault_servers.other.seen == []


# -- fuzz -----------------------------------------------------------------------------------

_VALID_JSON = json.dumps(_marked_episode()).encode()


def _structured_bad() -> st.SearchStrategy[bytes]:
    deep = b"[" * 100_000 + b"]" * 100_000
    deep_yaml = b"".join(b"  " * i + b"a:\n" for i in range(5_000)) + b"  " * 5_000 + b"1\n"
    fixed = st.sampled_from(
        [
            b"\xef\xbb\xbf" + _VALID_JSON,
            _VALID_JSON.decode().encode("utf-16"),
            _VALID_JSON.decode().encode("utf-32"),
            deep,
            deep_yaml,
            b'{"resourceType": "Patient", "id": ' + b"9" * 5_000 + b"}",
            b'{"a": 1, "a": 2}',
            b'{"resourceType": "Observation", "valueQuantity": {"value": NaN}}',
            b"a: &a [*a]\n",
            b"x: &x [" + b"*x," * 50 + b"]\n",
            b'"\xff\xfe\xfd"',
            b"{" * 5_000,
            _VALID_JSON[: len(_VALID_JSON) // 2],
            b"",
            b"\x00" * 64,
            b"- " * 10_000,
        ]
    )
    mutated = st.tuples(
        st.integers(0, len(_VALID_JSON) - 1), st.binary(min_size=1, max_size=8)
    ).map(lambda t: _VALID_JSON[: t[0]] + t[1] + _VALID_JSON[t[0] + len(t[1]) :])
    return st.one_of(fixed, mutated, st.binary(max_size=2_000))


def _commands(source: Path, out: Path) -> list[tuple[list[str], tuple[int, ...]]]:
    return [
        (["convert", str(source), "-o", str(out / "bundle.json")], (0, 2)),
        (["convert", str(source), "--format", "ndjson", "-o", str(out / "nd")], (0, 2)),
        (["import", str(source), "-o", str(out / "episodes.yaml")], (0, 2)),
        (["import", str(source), "--summary"], (0, 2)),
        (["validate", str(source)], (0, 1, 2)),
        (["push", str(source), "--server", "http://127.0.0.1:9/fhir", "--dry-run"], (1, 2)),
        (
            ["push", str(source), "--server", "http://127.0.0.1:9/fhir", "--config", str(source)],
            (1, 2),
        ),
    ]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=_structured_bad(), suffix=st.sampled_from([".json", ".yaml", ".ndjson"]))
def test_any_bytes_get_a_result_or_a_one_line_error(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, data: bytes, suffix: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = root / f"input{suffix}"
        source.write_bytes(data)
        out = root / "out"
        out.mkdir()
        for argv, allowed in _commands(source, out):
            code, streams = _run(capsys, caplog, *argv)
            assert code in allowed, f"{argv[0]}: exit {code}: {streams[-300:]}"
            assert "Traceback" not in streams
            errors = [line for line in streams.splitlines() if line.startswith("iopfhir: error")]
            if code == 2 and argv[0] != "validate":
                assert len(errors) == 1, f"{argv[0]}: {len(errors)} error lines"
            leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
            assert leftovers == [], f"{argv[0]} left {leftovers}"
            assert sorted(p.name for p in root.iterdir()) == sorted(["input" + suffix, "out"])
        for child in out.iterdir():
            # only complete outputs, with the one permission rule
            assert (child.stat().st_mode & 0o077) == 0, child.name


def test_fuzz_inputs_are_not_only_refused() -> None:
    # the valid seed must convert, or the fuzz test above would pass by refusing everything
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "ok.json"
        source.write_bytes(_VALID_JSON)
        assert main(["convert", str(source), "-o", str(Path(tmp) / "b.json")]) == 0
        assert os.path.getsize(Path(tmp) / "b.json") > 1000
