"""A failure inside Spark's JVM is reported by the classes of its causes (what failed: a
file gone, memory, a lost task), never by the JVM's message, which may quote a record; a
session the engine starts has the heap the tests' cohorts need."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.engines import require_pyspark

from iopfhir.views import Source
from iopfhir.views.engines.spark_engine import _java_causes
from iopfhir.views.errors import ViewError

_VIEW = {
    "resourceType": "ViewDefinition",
    "resource": "Patient",
    "status": "active",
    "select": [{"column": [{"name": "id", "path": "id"}, {"name": "g", "path": "gender"}]}],
}


def test_a_file_gone_under_a_view_is_named_by_its_java_cause(
    spark_engine: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "nd"
    folder.mkdir()
    patient = {"resourceType": "Patient", "id": "secret-id-4711", "gender": "female"}
    (folder / "Patient.ndjson").write_bytes(orjson.dumps(patient) + b"\n")
    with Source.from_path(folder) as source:
        spark_engine.register("errors_patients", _VIEW, source)
        assert spark_engine.query("SELECT count(*) FROM errors_patients").rows == [(1,)]
        (folder / "Patient.ndjson").unlink()  # the view's file listing still names it
        with pytest.raises(ViewError) as caught:
            spark_engine.query("SELECT count(*) FROM errors_patients")
    message = str(caught.value)
    assert message.startswith("spark could not run the view (")
    assert "java.io.FileNotFoundException" in message, message
    assert "secret-id-4711" not in message and str(tmp_path) not in message


class _Throwable:  # the Java methods keep their names
    """A JVM throwable as py4j hands it over: its class and its cause."""

    def __init__(self, name: str, cause: _Throwable | None = None) -> None:
        self.name, self.cause = name, cause

    def getClass(self) -> Any:
        return type("Class", (), {"getName": lambda _self: self.name})()

    def getCause(self) -> _Throwable | None:
        return self.cause


class _Gone(_Throwable):
    def getCause(self) -> _Throwable | None:
        raise ConnectionError("the gateway is down")


def test_the_cause_chain_is_read_outermost_first_and_bounded() -> None:
    exc = Exception("a record's text")
    oom = _Throwable("java.lang.OutOfMemoryError")
    exc.java_exception = _Throwable(  # type: ignore[attr-defined]
        "org.apache.spark.SparkException", _Throwable("org.apache.spark.SparkException", oom)
    )
    assert _java_causes(exc) == ["org.apache.spark.SparkException", "java.lang.OutOfMemoryError"]
    deep: _Throwable | None = None
    for i in range(20):
        deep = _Throwable(f"E{i}", deep)
    exc.java_exception = deep  # type: ignore[attr-defined]
    assert _java_causes(exc) == ["E19", "E18", "E17", "E16", "E15", "E14"]
    # a gateway gone while the chain is read: what was read is kept
    exc.java_exception = _Gone("org.apache.spark.SparkException")  # type: ignore[attr-defined]
    assert _java_causes(exc) == ["org.apache.spark.SparkException"]
    assert _java_causes(ValueError("python's own")) == []


_HEAP = """
from iopfhir.views import get_engine
engine = get_engine("spark", master="local[1]", config={"spark.sql.shuffle.partitions": "3"})
runtime = engine.session.sparkContext._jvm.java.lang.Runtime.getRuntime()
print(runtime.maxMemory(), engine.session.conf.get("spark.sql.shuffle.partitions"))
engine.close()
"""


def test_a_session_the_engine_starts_has_a_2_gb_heap_and_the_callers_settings() -> None:
    """The JVM a new session launches has a 2 GB heap, not Spark's 1 GB (full with a few
    hundred patients' cached tables: a statement may then fail); settings given are used."""
    require_pyspark()
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_SUBMIT_ARGS"}
    run = subprocess.run(
        [sys.executable, "-c", _HEAP], capture_output=True, text=True, env=env, timeout=600,
        check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    heap, partitions = run.stdout.split()
    assert int(heap) > 1.5 * 2**30 and partitions == "3"
