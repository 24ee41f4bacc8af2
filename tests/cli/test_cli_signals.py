"""SIGTERM and SIGINT during a long command: a real process, a real signal, no leftovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iopfhir.cli import main

ROOT = Path(__file__).resolve().parents[2]
SIGNALS = [
    (signal.SIGTERM, 143, "iopfhir: terminated"),
    (signal.SIGINT, 130, "iopfhir: interrupted"),
]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("signals") / "cohort"
    assert main(["synth", "--patients", "150", "--seed", "5", "-o", str(folder)]) == 0
    return folder


def _dispositions(inherited: signal.Handlers) -> None:
    """In the child before exec: SIGINT and SIGTERM as a shell would hand them down.

    A test run started as a background job inherits SIGINT ignored, and the command keeps
    a signal its parent ignores (as ``nohup`` asks), so the disposition is set explicitly.
    """
    signal.signal(signal.SIGINT, inherited)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _signal_when(
    temp_glob: str,
    folder: Path,
    argv: list[str],
    signum: int,
    *,
    inherited: signal.Handlers = signal.SIG_DFL,
) -> tuple[int, str]:
    """Start ``iopfhir argv``, wait for a temporary matching ``temp_glob`` in ``folder``,
    then send ``signum``; returns the exit code and stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "iopfhir", *argv],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: _dispositions(inherited),  # the child is single-threaded here
    )
    try:
        deadline = time.monotonic() + 60
        while not list(folder.glob(temp_glob)):
            assert proc.poll() is None, "finished before a temporary appeared"
            assert time.monotonic() < deadline, "no temporary appeared"
            time.sleep(0.005)
        os.kill(proc.pid, signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


@pytest.mark.parametrize(("signum", "code", "line"), SIGNALS)
def test_signal_during_ndjson_convert_leaves_nothing(
    cohort: Path, tmp_path: Path, signum: int, code: int, line: str
) -> None:
    out = tmp_path / "nd"
    rc, err = _signal_when(
        ".nd.*", tmp_path, ["convert", str(cohort), "--format", "ndjson", "-o", str(out)], signum
    )
    assert (rc, err) == (code, line + "\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("signum", "code", "line"), SIGNALS)
def test_signal_during_synth_leaves_the_old_output(
    tmp_path: Path, signum: int, code: int, line: str
) -> None:
    out = tmp_path / "cohort"
    out.mkdir()
    (out / "mine.json").write_text("{}")
    rc, err = _signal_when(
        ".cohort.*", tmp_path, ["synth", "--patients", "2000", "-o", str(out)], signum
    )
    assert (rc, err) == (code, line + "\n")
    assert [p.name for p in tmp_path.iterdir()] == ["cohort"]
    assert [p.name for p in out.iterdir()] == ["mine.json"]


def test_a_sigint_the_parent_ignores_stays_ignored(cohort: Path, tmp_path: Path) -> None:
    # nohup and background jobs hand SIGINT down ignored: the command then runs to the end
    out = tmp_path / "nd"
    rc, err = _signal_when(
        ".nd.*",
        tmp_path,
        ["convert", str(cohort), "--format", "ndjson", "-o", str(out)],
        signal.SIGINT,
        inherited=signal.SIG_IGN,
    )
    assert rc == 0, err
    assert [p.name for p in tmp_path.iterdir()] == ["nd"]
    assert (out / "Patient.ndjson").stat().st_size > 0
