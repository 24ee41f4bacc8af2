"""The engine contract, its result type, and the SQL plumbing both built-in engines share.

An engine turns a ViewDefinition and a :class:`~iopfhir.views.source.Source` into rows. The
contract (:class:`Engine`) is small: ``run`` a view, ``sql`` to see the statement it would
run, ``register`` a view as a named table so that further SQL (``query``) can join views,
and ``close``. Engines are plugins: entry-point group ``iopfhir.engines`` (``duckdb`` and
``spark`` are built in); :func:`get_engine` loads one by name.

:class:`SqlEngine` does the shared work: it takes the schema of the elements the view uses
from the R4 definitions (:func:`~iopfhir.views.fhir_types.view_schema`; ``types="infer"``, or a
resource type R4 does not define: the schema the concrete engine infers, cached per file set),
compiles the view against it (:func:`~iopfhir.views.compile_view.compile_view`), reads only
the top-level fields the statement uses with those types, and maps engine failures to
:class:`ViewError` without echoing data.

Results (:class:`ViewResult`): column names in view order and rows as tuples of plain
Python values (``str``, ``int``, ``float``, ``bool``, ``None``, lists for
``collection: true`` columns); ``to_dicts()`` gives one dict per row.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from iopfhir import plugins
from iopfhir.views.compile_view import compile_view
from iopfhir.views.dialect import Dialect
from iopfhir.views.errors import ViewError
from iopfhir.views.fhir_types import is_r4_type, view_schema
from iopfhir.views.model import View, parse_view
from iopfhir.views.source import Source
from iopfhir.views.types import Prim, StructT

__all__ = ["ENGINE_GROUP", "Engine", "SqlEngine", "ViewResult", "as_view", "get_engine"]

ENGINE_GROUP = "iopfhir.engines"
_PLACEHOLDER = "__iopfhir_source__"
_STRING = Prim("string")
_OWN_ERROR = re.compile(r"(select|where)\[[0-9][^\s]*: [^\n]*?\(collection is not true\)")


@dataclass(frozen=True, slots=True)
class ViewResult:
    """The rows of a view: ``columns`` in order, ``rows`` as tuples."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict per row."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)


@runtime_checkable
class Engine(Protocol):
    """What every engine plugin provides."""

    name: str

    def run(self, view: View | Mapping[str, Any], source: Source) -> ViewResult:
        """The rows of ``view`` over ``source``."""
        ...

    def sql(self, view: View | Mapping[str, Any], source: Source) -> str:
        """The statement :meth:`run` would execute."""
        ...

    def register(self, name: str, view: View | Mapping[str, Any], source: Source) -> None:
        """Make ``view`` over ``source`` queryable as table ``name``."""
        ...

    def query(self, sql: str) -> ViewResult:
        """Run SQL over registered views."""
        ...

    def create_table(self, name: str, sql: str) -> None:
        """Keep the result of ``sql`` (over registered views) as table ``name``, computed
        once for the queries that read it."""
        ...

    def close(self) -> None:
        """Release the engine's resources."""
        ...


def get_engine(name: str = "duckdb", **options: Any) -> Engine:
    """The engine plugin ``name`` (entry-point group ``iopfhir.engines``), constructed."""
    factory = plugins.get(ENGINE_GROUP, name)
    engine = factory(**options)
    if not isinstance(engine, Engine):
        raise ViewError(f"engine plugin {name!r} does not provide the Engine interface")
    return engine


def as_view(view: View | Mapping[str, Any]) -> View:
    """A parsed view (parsing JSON objects)."""
    return view if isinstance(view, View) else parse_view(view)


class SqlEngine(ABC):
    """Shared compile-and-run logic; subclasses provide schema, reading and execution."""

    name = "sql"
    dialect: Dialect
    #: ``fhir``: read with the R4 types of the elements the view uses
    #: (:func:`~iopfhir.views.fhir_types.view_schema`); ``infer``: the schema the engine
    #: infers from the data (also for resource types R4 does not define)
    types: str = "fhir"

    def __init__(self) -> None:
        self._schemas: dict[tuple[str, tuple[Path, ...]], StructT | None] = {}

    # -- for subclasses ---------------------------------------------------------------
    @abstractmethod
    def infer_schema(self, files: list[Path]) -> StructT | None:
        """The schema the engine infers for these files (None: no rows at all)."""

    @abstractmethod
    def source_sql(self, files: list[Path], schema: StructT, fields: set[str] | None) -> str:
        """A table expression reading ``files`` (only ``fields`` of ``schema`` if given):
        with the types of ``schema`` when :attr:`types` is ``fhir``, else those inferred."""

    @abstractmethod
    def create_view(self, name: str, sql: str) -> None:
        """Register ``sql`` as a temporary view ``name``."""

    def create_table(self, name: str, sql: str) -> None:
        """Keep the result of ``sql`` as table ``name`` (by default a view, computed by
        each query that reads it; engines that can store or cache it do)."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ViewError("a table name must be an SQL identifier")
        try:
            self.create_view(name, sql)
        except ViewError:
            raise
        except Exception as exc:  # each engine raises its own error classes
            raise self.engine_error(exc) from None

    # -- shared -----------------------------------------------------------------------
    def typed_read(self, resource_type: str, source: Source) -> bool:
        """Whether ``resource_type`` is read with its R4 types (``types="fhir"`` and a type
        R4 defines); otherwise the engine infers the schema of its files."""
        return self.types == "fhir" and is_r4_type(resource_type)

    def schema(self, resource_type: str, source: Source) -> StructT | None:
        """The inferred schema of ``resource_type`` in ``source`` (cached)."""
        files = source.files_for(resource_type)
        key = (resource_type, tuple(files))
        if key not in self._schemas:
            self._schemas[key] = self.infer_schema(files) if files else None
        return self._schemas[key]

    def sql(self, view: View | Mapping[str, Any], source: Source) -> str:
        """The statement for ``view`` over ``source``."""
        parsed = as_view(view)
        typed = view_schema(parsed) if self.typed_read(parsed.resource, source) else None
        files = source.files_for(parsed.resource)
        if typed is not None and files:  # R4 types: nothing inferred
            compiled = compile_view(parsed, self.dialect, typed, _PLACEHOLDER)
            fields = None if "*" in compiled.root_fields else set(compiled.root_fields)
            return compiled.sql.replace(_PLACEHOLDER, self.source_sql(files, typed, fields))
        schema = self.schema(parsed.resource, source)
        if schema is None or schema.get("resourceType") is None:
            schema = StructT((("resourceType", _STRING), ("id", _STRING)))
            files = []
        compiled = compile_view(parsed, self.dialect, schema, _PLACEHOLDER)
        if not files:
            return self._empty_sql(compiled.sql)
        fields = None if "*" in compiled.root_fields else set(compiled.root_fields)
        return compiled.sql.replace(_PLACEHOLDER, self.source_sql(files, schema, fields))

    def _empty_sql(self, sql: str) -> str:
        inner = f"(SELECT CAST(NULL AS {self.dialect.scalar_types['string']}) AS "
        inner += f"{self.dialect.quote('resourceType')}, CAST(NULL AS "
        inner += f"{self.dialect.scalar_types['string']}) AS {self.dialect.quote('id')})"
        return sql.replace(_PLACEHOLDER, inner)

    def run(self, view: View | Mapping[str, Any], source: Source) -> ViewResult:
        """The rows of ``view`` over ``source``."""
        parsed = as_view(view)
        statement = self.sql(parsed, source)
        return ViewResult(parsed.columns, self._guarded(statement))

    def register(self, name: str, view: View | Mapping[str, Any], source: Source) -> None:
        """Make ``view`` over ``source`` queryable as ``name`` in :meth:`query`."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ViewError("a registered view name must be an SQL identifier")
        self.create_view(name, self.sql(view, source))

    def query(self, sql: str) -> ViewResult:
        """Run SQL over the registered views."""
        columns, rows = self._guarded_with_columns(sql)
        return ViewResult(columns, rows)

    def query_many(self, sqls: list[str]) -> list[ViewResult]:
        """Run several statements over the registered views (one after the other here;
        an engine that can runs them at once)."""
        return [self.query(sql) for sql in sqls]

    def _guarded(self, sql: str) -> list[tuple[Any, ...]]:
        return self._guarded_with_columns(sql)[1]

    def _guarded_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        try:
            return self.execute_with_columns(sql)
        except ViewError:
            raise
        except Exception as exc:  # each engine raises its own error classes
            raise self.engine_error(exc) from None

    @abstractmethod
    def execute_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a statement, returning column names and rows."""

    def engine_error(self, exc: Exception) -> ViewError:
        """The engine's failure as a ViewError: our own messages kept, the engine's not."""
        own = _OWN_ERROR.search(str(exc))
        if own:
            return ViewError(own.group(0))
        return ViewError(f"{self.name} could not run the view ({type(exc).__name__})")

    def close(self) -> None:
        """Forget cached schemas."""
        self._schemas.clear()
