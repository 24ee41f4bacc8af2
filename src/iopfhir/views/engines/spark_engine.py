"""The Apache Spark engine (``pyspark`` 4.x): the same views, for data beyond one machine.

Pass a ``SparkSession`` to use yours (a cluster), or let the engine start a ``local[*]``
one (bound to 127.0.0.1, no UI, a 4 GB driver heap; ``config`` gives other Spark settings;
~20-30 s to start, so share one engine); a session already active in the process is used
instead, and left running when the engine closes. Reading:
every statement reads with the R4 types of the elements the view uses given
(:mod:`iopfhir.views.fhir_types`; with ``types="infer"``, or for a resource type R4 does not
define, ``spark.read.json`` infers a schema over every line once per file set: dates stay
strings, as Spark does not infer timestamps from JSON by default), restricted to the
top-level fields the view uses; files of one resource type are read in ``FAILFAST`` mode, so
a value R4 does not allow fails the read, named by file, line and element as on DuckDB. The
SQL is ANSI-safe
(``try_element_at``, ``try_cast``), so it runs with ``spark.sql.ansi.enabled`` on or off.
The engine switches ``spark.sql.json.filterPushdown.enabled`` off in the session (its own or
yours): Spark 4's JSON reader fails valid lines when filters are pushed into it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from iopfhir.views.dialect import SparkDialect
from iopfhir.views.engine import SqlEngine
from iopfhir.views.errors import ViewError
from iopfhir.views.r4_shapes import first_bad_line
from iopfhir.views.source import is_mixed
from iopfhir.views.types import ListT, Prim, SqlType, StructT

__all__ = ["SparkEngine"]

#: the settings of a session the engine starts (``config`` adds to them or replaces them)
_OWN_SESSION: dict[str, str] = {
    "spark.ui.enabled": "false",
    # no progress bars on the caller's stderr (the CLI's holds its lines)
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.host": "127.0.0.1",
    # the JVM's heap, when this session launches it (Spark's own default, 1 GB, is full
    # with the cached subject tables of a cohort of a few hundred patients: its old
    # generation reached 1 GB in the tests' runs, and a statement may then fail; with 2 GB
    # a statement of a long run of many sources, each more tables cached, failed again,
    # with only SparkException / IOException to say so). The JVM takes what it needs.
    "spark.driver.memory": "4g",
}

#: the file Spark's message says it failed to read (a ``file:`` URI)
_READ_FILE = re.compile(r"reading file (file:\S+?)\.?\s")


def _convert(t: Any) -> SqlType:
    from pyspark.sql import types as st

    if isinstance(t, st.StructType):
        return StructT(tuple((f.name, _convert(f.dataType)) for f in t.fields))
    if isinstance(t, st.ArrayType):
        return ListT(_convert(t.elementType))
    if isinstance(t, st.StringType):
        return Prim("string")
    if isinstance(t, st.LongType | st.IntegerType | st.ShortType | st.ByteType):
        return Prim("integer")
    if isinstance(t, st.DoubleType | st.FloatType | st.DecimalType):
        return Prim("decimal")
    if isinstance(t, st.BooleanType):
        return Prim("boolean")
    return Prim("other")


def _spark_type(t: SqlType) -> Any:
    """The Spark type of a schema type (the R4 types given to ``read.schema``)."""
    from pyspark.sql import types as st

    if isinstance(t, StructT):
        return st.StructType([st.StructField(n, _spark_type(ft)) for n, ft in t.fields])
    if isinstance(t, ListT):
        return st.ArrayType(_spark_type(t.elem))
    kinds = {"string": st.StringType, "integer": st.LongType, "decimal": st.DoubleType,
             "boolean": st.BooleanType}  # fmt: skip
    return kinds.get(t.kind, st.StringType)()


def _plain(value: Any) -> Any:
    from pyspark.sql import Row

    if isinstance(value, Row):
        return {k: _plain(v) for k, v in value.asDict().items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _java_causes(exc: Exception, limit: int = 6) -> list[str]:
    """The class names of a JVM failure's cause chain (``org.apache.spark.SparkException``,
    ``java.lang.OutOfMemoryError``, ...), outermost first; none for a Python error, or where
    the JVM cannot be asked (gone)."""
    throwable = getattr(exc, "java_exception", None)
    names: list[str] = []
    # the JVM or its gateway down: what was found is kept
    with contextlib.suppress(Exception):
        while throwable is not None and len(names) < limit:
            name = str(throwable.getClass().getName())
            if name not in names:
                names.append(name)
            throwable = throwable.getCause()
    return names


@contextlib.contextmanager
def _quiet_jvm() -> Iterator[None]:
    """While a new session launches its JVM: errors only in its log (the shipped log4j2
    profile), unless the caller gives its own ``spark-submit`` arguments. Spark's default
    profile writes a banner and warnings about optional native libraries to the caller's
    stderr. The environment is restored afterwards (a later session is the caller's)."""
    profile = resources.files("iopfhir.views") / "data" / "spark" / "log4j2.properties"
    if "PYSPARK_SUBMIT_ARGS" in os.environ or not (
        isinstance(profile, Path) and profile.is_file()  # an installed package, not a zip
    ):
        yield
        return
    os.environ["PYSPARK_SUBMIT_ARGS"] = (
        f'--driver-java-options "-Dlog4j2.configurationFile=file:{profile}" pyspark-shell'
    )
    try:
        yield
    finally:
        os.environ.pop("PYSPARK_SUBMIT_ARGS", None)


class SparkEngine(SqlEngine):
    """Views on Spark SQL; ``session`` to use an existing ``SparkSession``."""

    name = "spark"
    dialect = SparkDialect()
    _ids = itertools.count(1)

    def __init__(
        self,
        session: Any = None,
        *,
        master: str = "local[*]",
        types: str = "fhir",
        config: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        if types not in ("fhir", "infer"):
            raise ViewError("types is 'fhir' (the R4 definitions) or 'infer' (from the data)")
        self.types = types
        try:
            from pyspark.sql import SparkSession
        except ImportError:  # pragma: no cover - depends on the installation
            raise ViewError(
                "the spark engine needs pyspark: pip install 'iopfhir[spark]'"
            ) from None
        if session is None:
            # a session already running in this process is the caller's (getOrCreate would
            # hand it over): used, never stopped by close()
            session = SparkSession.getActiveSession()
        self._own_session = session is None
        if session is None:
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            builder = SparkSession.builder.master(master).appName("iopfhir-views")
            for key, value in {**_OWN_SESSION, **(config or {})}.items():
                builder = builder.config(key, value)
            with _quiet_jvm():
                session = builder.getOrCreate()
            session.sparkContext.setLogLevel("ERROR")
        # Spark's JSON filter pushdown trips an assertion on valid lines (a predicate's
        # reference count below zero: FAILFAST fails the read, other modes would drop the
        # line); the statements filter the rows themselves
        session.conf.set("spark.sql.json.filterPushdown.enabled", "false")
        self.session = session
        self._schemas_raw: dict[tuple[Path, ...], Any] = {}
        self._tables: dict[tuple[tuple[Path, ...], frozenset[str] | None, StructT | None], str] = {}
        self._cached: set[str] = set()  # tables of create_table
        self._strict: list[Path] = []  # files read in FAILFAST mode (see source_sql)

    def infer_schema(self, files: list[Path]) -> StructT | None:
        df = self.session.read.json([str(p) for p in files])
        self._schemas_raw[tuple(files)] = df.schema
        return _convert(df.schema)  # type: ignore[return-value]

    def source_sql(self, files: list[Path], schema: StructT, fields: set[str] | None) -> str:
        from pyspark.sql import types as st

        # the schema Spark inferred for these files, else (a typed read) the R4 types
        inferred = self._schemas_raw.get(tuple(files))
        typed = schema if inferred is None else None
        key = (tuple(files), frozenset(fields) if fields is not None else None, typed)
        if key not in self._tables:
            raw = inferred if inferred is not None else _spark_type(schema)
            kept = st.StructType([f for f in raw.fields if fields is None or f.name in fields])
            reader = self.session.read.schema(kept)
            if typed is not None and not any(is_mixed(p) for p in files):
                # a value R4 does not allow fails the read, as on DuckDB (a mixed file's
                # lines of other types do not fit these types: read as empty there)
                reader = reader.option("mode", "FAILFAST")
                self._strict.extend(p for p in files if p not in self._strict)
            df = reader.json([str(p) for p in files])
            name = f"_iopfhir_src_{next(self._ids)}"
            df.createOrReplaceTempView(name)
            self._tables[key] = name
        return self._tables[key]

    def engine_error(self, exc: Exception) -> ViewError:
        """A line Spark could not read with the R4 types (FAILFAST: its message shows the
        record, never repeated) is named by file, line and FHIRPath
        (:func:`~iopfhir.views.r4_shapes.first_bad_line` of the files read so: first the
        one Spark names, as an earlier read's file may still be on disk, bad too)."""
        if "MALFORMED_RECORD" in str(exc) or "Malformed records" in str(exc):
            named = _READ_FILE.search(str(exc))
            failed = Path(unquote(urlparse(named.group(1)).path)) if named else None
            for path in sorted(self._strict, key=lambda p: p != failed):
                described = first_bad_line(path)
                if described is not None:
                    return ViewError(described)
        error = super().engine_error(exc)
        causes = _java_causes(exc)
        if causes and str(error).endswith(f"({type(exc).__name__})"):
            # the JVM's own classes say what failed (memory, a file gone, a lost executor)
            # where the message cannot be shown: it may quote a record
            error = ViewError(f"{str(error)[:-1]}: {' <- '.join(causes)})")
        return error

    def execute_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        df = self.session.sql(sql)
        rows = [tuple(_plain(v) for v in row) for row in df.collect()]
        return list(df.columns), rows

    def create_view(self, name: str, sql: str) -> None:
        self.session.sql(sql).createOrReplaceTempView(name)

    def create_table(self, name: str, sql: str) -> None:
        """``sql`` as temporary view ``name``, cached: computed by the first query that
        reads it, kept for the next (a table of that name made before is let go first)."""
        if name in self._cached:
            self.session.catalog.uncacheTable(name)
            self._cached.discard(name)
        super().create_table(name, sql)  # the name checked, the view made
        try:
            self.session.catalog.cacheTable(name)
        except Exception as exc:  # pyspark's own error classes
            raise self.engine_error(exc) from None
        self._cached.add(name)

    def dataframe(self, view: Any, source: Any) -> Any:
        """The rows of ``view`` as a Spark ``DataFrame`` (lazy)."""
        return self.session.sql(self.sql(view, source))

    def close(self) -> None:
        """Drop this engine's temporary tables; stop the session if the engine started it."""
        for name in self._cached:
            self.session.catalog.uncacheTable(name)
            self.session.catalog.dropTempView(name)
        self._cached.clear()
        for name in self._tables.values():
            self.session.catalog.dropTempView(name)
        self._tables.clear()
        super().close()
        if self._own_session:
            self.session.stop()
