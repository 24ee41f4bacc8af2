"""A Spark session iopfhir starts keeps the caller's stderr for the caller: no progress
bars, no log4j banner, no warnings about optional native libraries (the JVM's own lines
before its logging starts, and Spark's shell-level notice, remain)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.engines import require_pyspark, synth_ndjson

from iopfhir.views.engines.spark_engine import _quiet_jvm


def test_the_quiet_profile_is_set_while_the_jvm_starts_and_then_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    with _quiet_jvm():
        args = os.environ["PYSPARK_SUBMIT_ARGS"]
        assert "log4j2.configurationFile=file:" in args and args.endswith("pyspark-shell")
        profile = Path(args.split("file:", 1)[1].split('"', 1)[0])
        assert profile.is_file() and "rootLogger.level = error" in profile.read_text()
    assert "PYSPARK_SUBMIT_ARGS" not in os.environ
    # the caller's own spark-submit arguments are theirs
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--driver-memory 2g pyspark-shell")
    with _quiet_jvm():
        assert os.environ["PYSPARK_SUBMIT_ARGS"] == "--driver-memory 2g pyspark-shell"
    assert os.environ["PYSPARK_SUBMIT_ARGS"] == "--driver-memory 2g pyspark-shell"


def test_outcomes_on_spark_write_no_progress_bars_or_log_banner(tmp_path: Path) -> None:
    require_pyspark()
    nd = synth_ndjson(tmp_path, 20, 3)
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_SUBMIT_ARGS"}
    run = subprocess.run(
        [sys.executable, "-m", "iopfhir", "outcomes", str(nd), "--engine", "spark"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert '"resourceType": "Bundle"' in run.stdout
    for noise in ("[Stage ", "log4j profile", "NativeCodeLoader", " WARN "):
        assert noise not in run.stderr, noise
