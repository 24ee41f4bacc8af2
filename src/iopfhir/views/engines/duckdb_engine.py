"""The DuckDB engine (DuckDB >= 2.0, in-process): the default, nothing to start.

Reading: ``read_json(..., format='newline_delimited')``. The first view over a set of files
infers their schema over every line (``sample_size=-1``: a rare field is never lost), with
date and timestamp detection switched off (``dateformat='NONE'``) and any other detected
temporal or UUID type read back as text: FHIR dates, times and ids stay the strings they
are, partial dates included. Every statement then reads with that schema
given explicitly (``columns=``, no detection), restricted to the top-level fields the view
uses, so a query parses the files once. ``sample_size`` may be lowered for speed on data
known to be uniform.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from iopfhir.views.dialect import DuckDBDialect
from iopfhir.views.engine import SqlEngine
from iopfhir.views.errors import ViewError
from iopfhir.views.types import ListT, Prim, SqlType, StructT

__all__ = ["DuckDBEngine"]

_INTS = {"tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint",
         "uinteger", "ubigint", "uhugeint"}  # fmt: skip
_DECIMALS = {"float", "double", "decimal"}
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
        if memory_limit is not None:
            self.connection.execute("SET memory_limit = ?", [memory_limit])
        self._raw_types: dict[tuple[Path, ...], dict[str, str]] = {}

    def _files(self, files: list[Path]) -> str:
        return "[" + ", ".join(self.dialect.string(str(p)) for p in files) + "]"

    def infer_schema(self, files: list[Path]) -> StructT | None:
        rel = self.connection.sql(
            f"SELECT * FROM read_json({self._files(files)}, format='newline_delimited', "  # noqa: S608
            f"sample_size={int(self.sample_size)}, dateformat='NONE', timestampformat='NONE', "
            "union_by_name=true, maximum_object_size=67108864) LIMIT 0"
        )
        self._raw_types[tuple(files)] = {
            name: _AS_TEXT.sub("VARCHAR", str(t))
            for name, t in zip(rel.columns, rel.types, strict=True)
        }
        return StructT(tuple((n, _convert(t)) for n, t in zip(rel.columns, rel.types, strict=True)))

    def source_sql(self, files: list[Path], schema: StructT, fields: set[str] | None) -> str:
        raw = self._raw_types[tuple(files)]
        keep = [n for n, _ in schema.fields if fields is None or n in fields]
        columns = ", ".join(
            f"{self.dialect.string(n)}: {self.dialect.string(raw[n])}" for n in keep
        )
        return (
            f"read_json({self._files(files)}, format='newline_delimited', "
            f"columns={{{columns}}}, maximum_object_size=67108864)"
        )

    def execute_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        rel = self.connection.sql(sql)
        return list(rel.columns), rel.fetchall()

    def create_view(self, name: str, sql: str) -> None:
        self.connection.execute(f"CREATE OR REPLACE TEMP VIEW {self.dialect.quote(name)} AS {sql}")

    def arrow(self, view: Any, source: Any) -> Any:
        """The rows of ``view`` as a ``pyarrow.Table`` (needs pyarrow)."""
        return self.connection.sql(self.sql(view, source)).arrow()

    def close(self) -> None:
        super().close()
        if self._own:
            self.connection.close()
