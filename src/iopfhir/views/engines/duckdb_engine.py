"""The DuckDB engine (DuckDB >= 2.0, in-process): the default, nothing to start.

Reading: ``read_json(..., format='newline_delimited')``. The first view over a set of files
infers their schema over every line (``sample_size=-1``: a rare field is never lost), with
date and timestamp detection switched off (``dateformat='NONE'``) and any other detected
temporal or UUID type read back as text: FHIR dates, times and ids stay the strings they
are, partial dates included. DuckDB infers on one core, so the schemas of several resource
types are inferred in parallel (:meth:`DuckDBEngine.prepare_schemas`). Every statement then
reads with that schema given explicitly (``columns=``, no detection), restricted to the
top-level fields the view uses, so a query parses the files once. ``sample_size`` may be
lowered for speed on data known to be uniform. Files are read with DuckDB's default largest
JSON object (16 MB, which keeps the read buffers small) and read again with 64 MB only when a
line is bigger.

Registered views (:meth:`DuckDBEngine.register`) are computed into temporary tables at the
next :meth:`~DuckDBEngine.query`, all those registered meanwhile together (their schemas
inferred in parallel), so SQL that reads a view several times (the outcome measures) does
not evaluate its nested ``forEach``/``unnest`` again each time. Registering the same view
over the same, unchanged files again keeps the table. ``memory_limit`` caps DuckDB's memory;
beyond it the tables spill to ``temp_directory`` (a private temporary directory by default).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from iopfhir.views.dialect import DuckDBDialect
from iopfhir.views.engine import SqlEngine, ViewResult, as_view
from iopfhir.views.errors import ViewError
from iopfhir.views.model import View
from iopfhir.views.source import Source
from iopfhir.views.types import ListT, Prim, SqlType, StructT

__all__ = ["DuckDBEngine"]

_INTS = {"tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint",
         "uinteger", "ubigint", "uhugeint"}  # fmt: skip
_DECIMALS = {"float", "double", "decimal"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Reading buffers grow with the largest JSON object allowed: read with DuckDB's default
# and again with a larger limit only when some line is bigger (same rows, less memory).
_OBJECT_SIZE = "maximum_object_size=16777216"
_OBJECT_SIZE_LARGE = "maximum_object_size=67108864"
_T = TypeVar("_T")


_Files = tuple[tuple[str, int, int], ...]


def _stat(files: list[Path]) -> _Files:
    """The files with their size and modification time: a changed file is read again."""
    out = []
    for p in files:
        try:
            st = p.stat()
        except OSError:
            out.append((str(p), -1, -1))
        else:
            out.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _retrying(run: Callable[[str], _T], sql: str) -> _T:
    """``run(sql)``; once more with the larger object limit if a line exceeded the default."""
    try:
        return run(sql)
    except Exception as exc:  # duckdb.InvalidInputException; duckdb is imported lazily
        if "maximum_object_size" not in str(exc) or _OBJECT_SIZE not in sql:
            raise
    return run(sql.replace(_OBJECT_SIZE, _OBJECT_SIZE_LARGE))


# types DuckDB may detect in JSON strings: read back as the strings they were
_AS_TEXT = re.compile(
    r"\b(TIMESTAMP WITH TIME ZONE|TIME WITH TIME ZONE|TIMESTAMP|TIME|DATE|UUID)\b"
)


def _convert(t: Any) -> SqlType:
    kind = str(t.id)
    if kind == "struct":
        return StructT(tuple((name, _convert(child)) for name, child in t.children))
    if kind == "list":
        return ListT(_convert(t.children[0][1]))
    if kind == "varchar" or _AS_TEXT.fullmatch(str(t)):
        return Prim("string")
    if kind in _INTS:
        return Prim("integer")
    if kind in _DECIMALS:
        return Prim("decimal")
    if kind == "boolean":
        return Prim("boolean")
    return Prim("other")


class DuckDBEngine(SqlEngine):
    """Views on DuckDB; ``connection`` to share one, else a private in-memory database."""

    name = "duckdb"
    dialect = DuckDBDialect()

    def __init__(
        self,
        connection: Any = None,
        *,
        sample_size: int = -1,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | Path | None = None,
    ) -> None:
        super().__init__()
        try:
            import duckdb
        except ImportError:  # pragma: no cover - depends on the installation
            raise ViewError(
                "the duckdb engine needs DuckDB: pip install 'iopfhir[analytics]'"
            ) from None
        self.connection = connection if connection is not None else duckdb.connect()
        self._own = connection is None
        self.sample_size = sample_size
        if threads is not None:
            self.connection.execute(f"SET threads = {int(threads)}")
        self._spill: Any = None
        if memory_limit is not None:
            self.connection.execute("SET memory_limit = ?", [memory_limit])
            if temp_directory is None and self._own:  # spill to a private directory
                self._spill = tempfile.TemporaryDirectory(prefix="iopfhir-duckdb-")
                temp_directory = self._spill.name
        if temp_directory is not None:
            self.connection.execute("SET temp_directory = ?", [str(temp_directory)])
        self._raw_types: dict[tuple[Path, ...], dict[str, str]] = {}
        self._pending: dict[str, tuple[View, Source]] = {}  # registered, not yet computed
        self._tables: dict[str, tuple[View, _Files]] = {}  # computed, from these files

    def _files(self, files: list[Path]) -> str:
        return "[" + ", ".join(self.dialect.string(str(p)) for p in files) + "]"

    def infer_schema(self, files: list[Path]) -> StructT | None:
        raw, schema = self._infer(self.connection, files)
        self._raw_types[tuple(files)] = raw
        return schema

    def _infer(self, con: Any, files: list[Path]) -> tuple[dict[str, str], StructT]:
        sql = (
            f"SELECT * FROM read_json({self._files(files)}, format='newline_delimited', "  # noqa: S608
            f"sample_size={int(self.sample_size)}, dateformat='NONE', timestampformat='NONE', "
            f"union_by_name=true, {_OBJECT_SIZE}) LIMIT 0"
        )
        rel = _retrying(con.sql, sql)
        pairs = list(zip(rel.columns, rel.types, strict=True))
        raw = {name: _AS_TEXT.sub("VARCHAR", str(t)) for name, t in pairs}
        return raw, StructT(tuple((n, _convert(t)) for n, t in pairs))

    def source_sql(self, files: list[Path], schema: StructT, fields: set[str] | None) -> str:
        raw = self._raw_types[tuple(files)]
        keep = [n for n, _ in schema.fields if fields is None or n in fields]
        columns = ", ".join(
            f"{self.dialect.string(n)}: {self.dialect.string(raw[n])}" for n in keep
        )
        return (
            f"read_json({self._files(files)}, format='newline_delimited', "
            f"columns={{{columns}}}, {_OBJECT_SIZE})"
        )

    def execute_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        def run(text: str) -> tuple[list[str], list[tuple[Any, ...]]]:
            rel = self.connection.sql(text)
            return list(rel.columns), rel.fetchall()

        return _retrying(run, sql)

    # -- registered views: computed into tables, once ----------------------------------
    def register(self, name: str, view: View | Mapping[str, Any], source: Source) -> None:
        """Make ``view`` over ``source`` queryable as ``name``: its rows become a table.

        The work waits for the next :meth:`query`: then every view registered meanwhile is
        computed together (see the module docstring). Registering the same view over the
        same files under the same name again is a no-op.
        """
        if not _NAME.fullmatch(name):
            raise ViewError("a registered view name must be an SQL identifier")
        parsed = as_view(view)
        key = (parsed, _stat(source.files_for(parsed.resource)))
        if self._tables.get(name) == key:
            self._pending.pop(name, None)
            return
        self._tables.pop(name, None)
        self._pending[name] = (parsed, source)

    def query(self, sql: str) -> ViewResult:
        """Run SQL over the registered views (computing those registered since the last)."""
        if self._pending:
            self._materialize()
        return super().query(sql)

    def _materialize(self) -> None:
        pending, self._pending = self._pending, {}
        try:
            self.prepare_schemas([(v.resource, src) for v, src in pending.values()])
            for name, (view, src) in pending.items():
                self._create_table(name, self.sql(view, src))
        except ViewError:
            raise
        except Exception as exc:  # DuckDB's own error classes
            raise self.engine_error(exc) from None
        for name, (view, src) in pending.items():
            self._tables[name] = (view, _stat(src.files_for(view.resource)))

    def _create_table(self, name: str, sql: str) -> None:
        head = f"CREATE OR REPLACE TEMP TABLE {self.dialect.quote(name)} AS "
        _retrying(lambda text: self.connection.execute(head + text), sql)

    def prepare_schemas(self, wanted: list[tuple[str, Source]]) -> None:
        """Infer the schemas of these resource types not yet known, several at once.

        DuckDB's inference over every line runs on one core; the types are inferred on
        separate cursors in parallel, up to the engine's threads.
        """
        todo: dict[tuple[Path, ...], list[tuple[str, tuple[Path, ...]]]] = {}
        for rtype, src in wanted:
            files = tuple(src.files_for(rtype))
            key = (rtype, files)
            if files and key not in self._schemas:
                todo.setdefault(files, []).append(key)
        if not todo:
            return
        threads = int(self.connection.sql("SELECT current_setting('threads')").fetchall()[0][0])
        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(todo)))) as pool:
            inferred = dict(
                zip(todo, pool.map(lambda f: self._infer(self.connection.cursor(), list(f)), todo),
                    strict=True)
            )  # fmt: skip
        for files, keys in todo.items():
            raw, schema = inferred[files]
            self._raw_types[files] = raw
            for key in keys:
                self._schemas[key] = schema

    def create_view(self, name: str, sql: str) -> None:
        self.connection.execute(f"CREATE OR REPLACE TEMP VIEW {self.dialect.quote(name)} AS {sql}")

    def arrow(self, view: Any, source: Any) -> Any:
        """The rows of ``view`` as a ``pyarrow.Table`` (needs pyarrow)."""
        return _retrying(lambda text: self.connection.sql(text).arrow(), self.sql(view, source))

    def close(self) -> None:
        """Forget cached schemas; drop the registered tables (or close a private database)."""
        super().close()
        self._pending.clear()
        if self._own:
            self.connection.close()
            if self._spill is not None:
                self._spill.cleanup()
                self._spill = None
        else:
            for name in self._tables:
                self.connection.execute(f"DROP TABLE IF EXISTS {self.dialect.quote(name)}")
        self._tables.clear()
