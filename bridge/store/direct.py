"""Reads on the per-request hot path, run straight on a pooled DB-API connection.

Serving a cached feed costs one token lookup. Through a SQLAlchemy `Connection` that lookup
spends most of its time around the query (pool events, BEGIN, the execution context, the
ROLLBACK on return): about 130 µs on SQLite against about 15 µs for the query itself. A
`DirectQuery` compiles its statement once for the engine's dialect and runs it on a DB-API
connection from the same pool, then converts each value with the column's own SQLAlchemy
type, so rows come back exactly as a `Connection` would give them.

A single SELECT needs no explicit transaction: it reads one consistent snapshot by itself.
So on PostgreSQL the queries go through an engine of their own (`direct_read_engine`) in
autocommit mode and without the store's pre-ping: a lookup is one round trip rather than three
(ping, query, rollback). A connection the server dropped is replaced and the query run again
once. On SQLite the store's engine is already autocommit (see bridge.store.engine).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, Select, create_engine

# The direct engine's pool on PostgreSQL: room for every request thread of a worker (gunicorn
# gthread, `calbridge serve --threads`, 8 by default) to hold a connection at once.
DIRECT_POOL_SIZE = 10


def direct_read_engine(engine: Engine) -> Engine:
    """The engine DirectQuery reads through: the store's own on SQLite, a second pool in
    autocommit mode without pre-ping on other databases (dispose of it with the store's)."""
    if engine.dialect.name == "sqlite":
        return engine
    return create_engine(
        engine.url, isolation_level="AUTOCOMMIT", pool_size=DIRECT_POOL_SIZE, max_overflow=10
    )


class DirectQuery:
    """A SELECT built once and run on the DB-API with named parameters."""

    def __init__(self, engine: Engine, statement: Select[Any]) -> None:
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self._engine = engine
        self._sql = str(compiled)
        self._positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        columns = list(statement.selected_columns)
        self._row = namedtuple("Row", [column.key for column in columns])  # type: ignore[misc]
        processors: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        self._processors = tuple(enumerate(processors))

    def all(self, **parameters: Any) -> list[Any]:
        """Every row, as named tuples keyed like the statement's selected columns."""
        arguments: Any = parameters
        if self._positions is not None:
            arguments = tuple(parameters[name] for name in self._positions)
        dialect = self._engine.dialect
        for attempt in (1, 2):
            connection = self._engine.raw_connection()
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(self._sql, arguments)
                    fetched = cursor.fetchall()
                finally:
                    cursor.close()
            except dialect.loaded_dbapi.Error as error:
                dropped = dialect.is_disconnect(error, connection.dbapi_connection, None)
                if attempt == 2 or not dropped:
                    raise
                connection.invalidate()  # the server dropped it: a new connection, once more
            else:
                return [self._convert(values) for values in fetched]
            finally:
                connection.close()  # back to the pool
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _convert(self, values: tuple[Any, ...]) -> Any:
        converted = list(values)
        for index, processor in self._processors:
            if processor is not None and converted[index] is not None:
                converted[index] = processor(converted[index])
        return self._row._make(converted)
