"""Hot-path statements: SQLAlchemy Core compiled once per dialect, run on the driver's cursor.

Built per call, a Core ``update().where().values()`` costs more than SQLite's work on it
(coercion, cache keys, the execution context: about 0.3 ms a statement, measured on a paper
order's walk). A :class:`Prepared` keeps the statement as Core (one definition for SQLite and
MariaDB), compiles it the first time a dialect runs it, and then hands the SQL and the
positional parameters straight to the DBAPI cursor of the transaction's connection (inside
:func:`storage.db.transaction`: the SQLite writer's thread, or ``run_sync`` on MariaDB).

Only for plain integer and text columns: no type processing happens on the way in or out.
Driver errors come out as SQLAlchemy's (``IntegrityError`` …) as from ``Connection.execute``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, exc
from sqlalchemy.sql import ClauseElement


class Prepared:
    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...]]] = {}

    def _sql(self, conn: Connection) -> tuple[str, tuple[str, ...]]:
        dialect = conn.dialect
        got = self._compiled.get(dialect.name)
        if got is None:
            compiled = self.statement.compile(dialect=dialect)
            if compiled.positiontup is None:
                raise TypeError(f"{dialect.name} does not take positional parameters")
            got = self._compiled[dialect.name] = (compiled.string, tuple(compiled.positiontup))
        return got

    def run(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Execute once; the driver's cursor (``lastrowid``, ``rowcount``, ``fetchone`` …)."""
        sql, names = self._sql(conn)
        args = tuple(params[n] for n in names)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, args)
        except conn.dialect.loaded_dbapi.Error as error:
            raise exc.DBAPIError.instance(sql, args, error, conn.dialect.loaded_dbapi.Error,
                                          hide_parameters=True, dialect=conn.dialect) from error
        return cursor

    def insert(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Execute an INSERT; the new row's id."""
        cursor = self.run(conn, params)
        try:
            return int(cursor.lastrowid)
        finally:
            cursor.close()

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Execute; the rows it matched."""
        cursor = self.run(conn, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def run_many(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        sql, names = self._sql(conn)
        args = [tuple(row[n] for n in names) for row in rows]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, args)
        except conn.dialect.loaded_dbapi.Error as error:
            raise exc.DBAPIError.instance(sql, args, error, conn.dialect.loaded_dbapi.Error,
                                          hide_parameters=True, dialect=conn.dialect) from error
        finally:
            cursor.close()

    def one(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row (a tuple in the statement's column order), or None."""
        cursor = self.run(conn, params)
        try:
            return cursor.fetchone()  # type: ignore[no-any-return]
        finally:
            cursor.close()
