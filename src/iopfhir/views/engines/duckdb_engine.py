"""The DuckDB engine (DuckDB >= 2.0, in-process): the default, nothing to start.

Reading: ``read_json(..., format='newline_delimited', columns=...)`` with the R4 types of
the elements the view uses (:mod:`iopfhir.views.fhir_types`): nothing is inferred, and only
those elements are extracted from each line. With ``types="infer"`` (or for a resource type
R4 does not define) the first view over a set of files infers their schema over every line
(``sample_size=-1``: a rare field is never lost; lower it for speed on uniform data), with
date and timestamp detection switched off and any other detected temporal or UUID type read
back as text (FHIR dates stay the strings they are); DuckDB infers on one core, so several
resource types are inferred in parallel (:meth:`DuckDBEngine.prepare_schemas`). Files are
read with DuckDB's default largest JSON object (16 MB, which keeps the read buffers small)
and read again with 64 MB only when a line is bigger.

Registered views (:meth:`DuckDBEngine.register`) are computed into tables at the next
:meth:`~DuckDBEngine.query`, all those registered meanwhile together, so SQL that reads a
view several times (the outcome measures) does not evaluate its nested ``forEach``/``unnest``
again each time. Views of one resource type share one read of its files: one statement
computes each view's row (or list of rows) of every resource into one table, and each view
is a plain projection (or ``unnest``) of it, made as soon as that table is (on its cursor,
while other reads run); a view alone in its read with a list of rows
per resource (``forEach``, ``repeat``) is kept so too, its lead columns once per resource
rather than copied into every row. On a connection passed in, these are temporary
tables and views (its catalog is left as it was); a private database holds ordinary ones,
which its cursors see, so the tables are computed several at once (each on its own cursor,
the largest reads first: a statement's single-threaded planning and a small file's read
leave a core another statement takes; DuckDB's own threads cut meanwhile, so that the
cursors' and its threads are the engine's), and :meth:`~DuckDBEngine.create_tables` and
:meth:`~DuckDBEngine.query_many` run statements at once.
Registering the same view over the same, unchanged files again keeps the table. The tables
are written without keeping the order of the lines (``preserve_insertion_order`` off while
they are computed): a query orders what it returns.
``memory_limit`` caps DuckDB's memory; beyond it the tables spill to ``temp_directory`` (a
private temporary directory by default). A private database is never checkpointed (it keeps
nothing; checkpointing would only recompress the tables just written).
"""

from __future__ import annotations

import itertools
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import orjson

from iopfhir.views.dialect import DUCKDB_PRIMITIVES, DuckDBDialect, json_structure
from iopfhir.views.engine import SqlEngine, ViewResult, as_view
from iopfhir.views.engines.duckdb_shared import rows_per_resource, shared_read
from iopfhir.views.errors import ViewError
from iopfhir.views.model import View
from iopfhir.views.r4_shapes import describe_line, first_bad_line
from iopfhir.views.source import Source, is_mixed
from iopfhir.views.types import ListT, Prim, SqlType, StructT

__all__ = ["DuckDBEngine"]

_INTS = {"tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint",
         "uinteger", "ubigint", "uhugeint"}  # fmt: skip
_DECIMALS = {"float", "double", "decimal"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: the file (and line) DuckDB's message names for input it could not read: malformed JSON
#: (its line may be one off), a value its typed read could not take (the message goes on
#: to quote the value: only the file and the line are kept)
_BAD_FILE = re.compile(r'in file "([^"\n]+)"(?:, in line ([0-9]+))?')
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


class _Table(NamedTuple):
    """A table to compute: its quoted name, the query, whether it is a shared read, and
    the views of it, made as soon as it is (quoted name, SQL)."""

    quoted: str
    sql: str
    stage: bool
    views: tuple[tuple[str, str], ...] = ()


def _size(files: list[Path]) -> int:
    """The bytes of ``files`` (what a read of them costs, roughly)."""
    return sum(max(size, 0) for _, size, _ in _stat(files))


def _fetch(con: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names and rows of ``sql`` (``execute``, not ``sql()``: no relation
    object is bound for a result read once)."""
    cursor = con.execute(sql)
    return [d[0] for d in cursor.description or ()], cursor.fetchall()


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


def _type_sql(t: SqlType) -> str:
    """The DuckDB type of a schema type (the R4 types given to ``read_json``)."""
    if isinstance(t, StructT):
        inner = ", ".join(f'"{n}" {_type_sql(ft)}' for n, ft in t.fields)
        return f"STRUCT({inner})"
    if isinstance(t, ListT):
        return _type_sql(t.elem) + "[]"
    return DUCKDB_PRIMITIVES[t.kind]


class DuckDBEngine(SqlEngine):
    """Views on DuckDB; ``connection`` to share one, else a private in-memory database."""

    name = "duckdb"
    dialect = DuckDBDialect()

    def __init__(
        self,
        connection: Any = None,
        *,
        sample_size: int = -1,
        types: str = "fhir",
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
        # a private database holds ordinary tables and views (cursors see them: queries
        # run at once, see query_many); a connection passed in gets temporary ones, so
        # its catalog stays as it was
        self._temp = "" if self._own else "TEMP "
        if self._own:
            # a private in-memory database keeps nothing: no automatic checkpoint (it
            # would compress the tables just written, one core, at the next statement)
            self.connection.execute("SET checkpoint_threshold = '1000TB'")
        self.sample_size = sample_size
        if types not in ("fhir", "infer"):
            raise ViewError("types is 'fhir' (the R4 definitions) or 'infer' (from the data)")
        self.types = types
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
        self._stage_of: dict[str, str] = {}  # registered name -> the shared read it is a view of
        self._stages = itertools.count(1)
        self._made: set[str] = set()  # tables of create_table
        self._pool_size: int | None = None  # the pool's workers while DuckDB's are cut

    def engine_error(self, exc: Exception) -> ViewError:
        """A value of the wrong JSON kind is named by file, line and FHIRPath
        (:mod:`~iopfhir.views.r4_shapes`); any other failure as :class:`SqlEngine` says it."""
        found = _BAD_FILE.search(str(exc))
        if found is not None:
            path = Path(found.group(1))
            described = describe_line(path, int(found.group(2))) if found.group(2) else None
            described = described or first_bad_line(path)
            if described is not None:
                return ViewError(described)
        return super().engine_error(exc)

    def _threads(self) -> int:
        return int(self.connection.execute("SELECT current_setting('threads')").fetchall()[0][0])

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
        # inferred types as DuckDB gave them (a typed read's files are never inferred)
        raw = self._raw_types.get(tuple(files))
        keep = [(n, t) for n, t in schema.fields if fields is None or n in fields]
        mixed = [p for p in files if is_mixed(p)] if raw is None else []
        own = [p for p in files if p not in mixed]
        columns = ", ".join(
            f"{self.dialect.string(n)}: "
            f"{self.dialect.string(raw[n] if raw is not None else _type_sql(t))}"
            for n, t in keep
        )
        typed = (
            f"read_json({self._files(own)}, format='newline_delimited', "
            f"columns={{{columns}}}, {_OBJECT_SIZE})"
        )
        if not mixed:
            return typed
        # A mixed file holds several resource types, and an element of one name has
        # another shape in another type (Appointment.participant, Encounter.participant):
        # no one type's columns read every line. Each line is cast to the R4 types
        # leniently (what another type has differently becomes NULL; the view's own
        # resourceType filter then drops those lines).
        structure = orjson.dumps({n: json_structure(t) for n, t in keep}).decode()
        lines = (
            f"SELECT unnest(json_transform(json, {self.dialect.string(structure)})) "  # noqa: S608
            f"FROM read_ndjson_objects({self._files(mixed)}, {_OBJECT_SIZE})"
        )
        if not own:
            return f"({lines})"
        return f"(SELECT * FROM {typed} UNION ALL BY NAME {lines})"  # noqa: S608

    def execute_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        return _retrying(lambda text: _fetch(self.connection, text), sql)

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

    def query_many(self, sqls: list[str]) -> list[ViewResult]:
        """Run several statements over the registered views: on a private database at
        once, each on its own cursor (one statement's planning and its rows' conversion
        to Python overlap another's work)."""
        if self._pending:
            self._materialize()
        threads = self._threads()
        if not self._own or threads < 2 or len(sqls) < 2:
            return [self.query(sql) for sql in sqls]

        def run(sql: str) -> ViewResult:
            with self.connection.cursor() as con:
                try:
                    return ViewResult(*_retrying(lambda text: _fetch(con, text), sql))
                except Exception as exc:  # DuckDB's own error classes
                    raise self.engine_error(exc) from None

        with ThreadPoolExecutor(max_workers=min(threads, len(sqls))) as pool:
            return list(pool.map(run, sqls))

    def create_table(self, name: str, sql: str) -> None:
        """Compute ``sql`` (over the registered views) into table ``name``,
        written unordered (a query orders what it returns)."""
        self.create_tables([(name, sql)])

    def create_tables(self, tables: list[tuple[str, str]]) -> None:
        """:meth:`create_table` for each ``(name, sql)``: on a private database at once,
        each on its own cursor (one statement's single-threaded planning leaves a core that
        another takes)."""
        if any(not _NAME.fullmatch(name) for name, _ in tables):
            raise ViewError("a table name must be an SQL identifier")
        if self._pending:
            self._materialize()
        for name, _ in tables:
            self._drop(name)
        quoted = [_Table(self.dialect.quote(name), sql, False) for name, sql in tables]

        def run() -> None:
            if len(quoted) == 1:
                self._create(self.connection, quoted[0].quoted, quoted[0].sql)
            else:
                self._create_tables(iter(quoted))

        try:
            self._unordered(run)
        except ViewError:
            raise
        except Exception as exc:  # DuckDB's own error classes
            raise self.engine_error(exc) from None
        self._made.update(name for name, _ in tables)

    def _materialize(self) -> None:
        pending, self._pending = self._pending, {}
        self._unordered(lambda: self._compute(pending))

    def _unordered(self, run: Callable[[], None]) -> None:
        # the tables' row order is no result (a query orders what it returns): they are
        # written in parallel without keeping the order of the lines (less CPU and memory)
        con = self.connection
        ordered = con.sql("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
        con.execute("SET preserve_insertion_order = false")
        try:
            run()
        finally:
            con.execute(f"SET preserve_insertion_order = {'true' if ordered else 'false'}")

    def _compute(self, pending: dict[str, tuple[View, Source]]) -> None:
        try:
            self.prepare_schemas([(v.resource, src) for v, src in pending.values()])
            shared: dict[tuple[str, tuple[Path, ...]], list[str]] = {}
            for name, (view, src) in pending.items():
                if self.typed_read(view.resource, src):
                    key = (view.resource, tuple(src.files_for(view.resource)))
                    if key[1]:
                        shared.setdefault(key, []).append(name)
            groups = [
                (rtype, list(files), names)
                for (rtype, files), names in shared.items()
                if len(names) > 1 or rows_per_resource(pending[names[0]][0])
            ]
            done = {name for _, _, names in groups for name in names}
            alone = [name for name in pending if name not in done]
            for name in pending:
                self._drop(name)
            views: list[tuple[str, str, str]] = []  # name, its SQL, the read it is a view of

            def tables() -> Iterator[_Table]:
                # made one at a time, the largest reads first: on a private database each
                # is computing while the next one's SQL is compiled (see _create_tables)
                for rtype, files, names in sorted(groups, key=lambda g: -_size(g[1])):
                    table, made = self._shared_sql(
                        rtype, files, [(n, pending[n][0]) for n in names]
                    )
                    views.extend(made)
                    yield table
                for name in sorted(
                    alone, key=lambda n: -_size(pending[n][1].files_for(pending[n][0].resource))
                ):
                    view, src = pending[name]
                    yield _Table(self.dialect.quote(name), self.sql(view, src), False)

            count = len(groups) + len(alone)
            self._with_threads(count, lambda: self._create_tables(tables()))
            for name, _, stage in views:
                self._stage_of[name] = stage
        except ViewError:
            raise
        except Exception as exc:  # DuckDB's own error classes
            raise self.engine_error(exc) from None
        for name, (view, src) in pending.items():
            self._tables[name] = (view, _stat(src.files_for(view.resource)))

    def _with_threads(self, statements: int, run: Callable[[], None]) -> None:
        """``run()`` with DuckDB's threads cut while ``statements`` run at once on the
        pool's cursors: each cursor's thread executes its statement, DuckDB keeps the
        background threads that with the pool's make the engine's threads (on two: none;
        one more made three threads on two cores, ≈ 15 % more CPU for the reads)."""
        threads = self._threads()
        workers = min(threads, statements)
        if not self._own or workers < 2:
            run()
            return
        self.connection.execute(f"SET threads = {max(1, threads - workers + 1)}")
        try:
            self._pool_size = threads
            run()
        finally:
            self._pool_size = None
            self.connection.execute(f"SET threads = {threads}")

    def _create_tables(self, tables: Iterator[_Table]) -> None:
        """Compute the tables: on a private database several at once, each on its own
        cursor, submitted as they come (one statement's single-threaded planning, a small
        file's read and the end of a read, when fewer blocks are left than threads, leave a
        core idle that another statement takes); else one after another."""
        threads = self._pool_size or self._threads()
        if not self._own or threads < 2:
            for t in tables:
                if t.stage:
                    self._create_table_raw(t.quoted, t.sql)
                else:
                    self._create(self.connection, t.quoted, t.sql)
                self._create_views(self.connection, t)
            return

        def run(t: _Table) -> None:
            with self.connection.cursor() as con:
                self._create(con, t.quoted, t.sql)
                self._create_views(con, t)

        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = [pool.submit(run, t) for t in tables]
            for f in futures:
                f.result()

    def _shared_sql(
        self, rtype: str, files: list[Path], views: list[tuple[str, View]]
    ) -> tuple[_Table, list[tuple[str, str, str]]]:
        """Several views of one resource type from one read of its files
        (:func:`~iopfhir.views.engines.duckdb_shared.shared_read`): the table to compute,
        and each view's name, SQL and read."""
        stage = self.dialect.quote(f"_iopfhir_read_{rtype}_{next(self._stages)}")
        sql, made = shared_read(
            self.dialect,
            rtype,
            views,
            lambda schema, keep: self.source_sql(files, schema, keep),
            stage,
        )
        views_sql = tuple((self.dialect.quote(name), text) for name, text, _ in made)
        return _Table(stage, sql, True, views_sql), made

    def _create_views(self, con: Any, t: _Table) -> None:
        """The views of a shared read, made on its cursor once it is computed (while other
        reads run: a view's statement binds its read's table)."""
        for quoted, sql in t.views:
            con.execute(f"CREATE {self._temp}VIEW {quoted} AS {sql}")

    def _drop(self, name: str) -> None:
        """Drop what ``name`` was (a table, or a view of a shared read: the read is dropped
        with its last view)."""
        quoted = self.dialect.quote(name)
        stage = self._stage_of.pop(name, None)
        if stage is None:
            self.connection.execute(f"DROP TABLE IF EXISTS {quoted}")
            return
        self.connection.execute(f"DROP VIEW IF EXISTS {quoted}")
        if stage not in self._stage_of.values():
            self.connection.execute(f"DROP TABLE IF EXISTS {stage}")

    def _create(self, con: Any, quoted: str, sql: str) -> None:
        head = f"CREATE OR REPLACE {self._temp}TABLE {quoted} AS "
        _retrying(lambda text: con.execute(head + text), sql)

    def _create_table_raw(self, quoted: str, sql: str) -> None:
        self._create(self.connection, quoted, sql)

    def prepare_schemas(self, wanted: list[tuple[str, Source]]) -> None:
        """Infer the schemas of these resource types not yet known, several at once.

        DuckDB's inference over every line runs on one core; the types are inferred on
        separate cursors in parallel, up to the engine's threads.
        """
        todo: dict[tuple[Path, ...], list[tuple[str, tuple[Path, ...]]]] = {}
        # only for what is not read with its R4 types (see typed_read)
        wanted = [(r, src) for r, src in wanted if not self.typed_read(r, src)]
        for rtype, src in wanted:
            files = tuple(src.files_for(rtype))
            key = (rtype, files)
            if files and key not in self._schemas:
                todo.setdefault(files, []).append(key)
        if not todo:
            return
        threads = self._threads()
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
        quoted = self.dialect.quote(name)
        self.connection.execute(f"CREATE OR REPLACE {self._temp}VIEW {quoted} AS {sql}")

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
            for name in [*self._tables, *self._made]:
                self._drop(name)
        self._tables.clear()
        self._made.clear()
        self._stage_of.clear()
