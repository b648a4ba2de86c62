"""Prepared statements: the few statements every update runs, on the driver's own connection.

A Core statement executed through SQLAlchemy costs about 100 microseconds of Python on top of
the database's own work (execution context, parameter processing, the result's metadata), which
for the turn's handful of statements was more than SQLite took to run them. A `Prepared`
statement is compiled once per dialect (SQL text with positional parameters, the order of the
parameters, each parameter's bind processor and each result column's result processor, taken
from the column types exactly as SQLAlchemy would use them: storage/types.py's AwareDateTime
included) and then runs on the session's connection's driver connection:

- SQLite: sqlite3 directly, on the event loop's thread, with the busy retries of
  storage/inline_sqlite.py (the statements take part in the session's transaction: sqlite3's own
  implicit BEGIN before a write, as through SQLAlchemy);
- PostgreSQL: asyncpg, inside the transaction SQLAlchemy's adapter keeps (begun here if this is
  the session's first statement), with the adapter's cache of prepared statements.

Driver errors come out as SQLAlchemy's exceptions (`OperationalError`, `IntegrityError`, ...), as
from `connection.execute`. Every statement is announced to the engine's `before_cursor_execute`
and `after_cursor_execute` listeners, when there are any, so whoever counts statements
(tests/test_turn_counts.py) still sees each one. Other connections (aiosqlite's thread, a
dialect without a fast path) run the statement through SQLAlchemy as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import DateTime, bindparam, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.util import greenlet_spawn

from storage.inline_sqlite import InlineConnection

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # For each positional parameter: its name and the column type's bind processor.
    params: tuple[tuple[str, Processor, Any], ...]
    # For each result column, its result processor (None: the driver's value as it is).
    results: tuple[Processor, ...]
    sqlalchemy_statement: Any

    def bind(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        bound = []
        for name, processor, fixed in self.params:
            value = values[name] if fixed is _REQUIRED else values.get(name, fixed)
            bound.append(processor(value) if processor is not None else value)
        return tuple(bound)

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        if not any(self.results):
            return [tuple(row) for row in raw]
        return [tuple(value if p is None else p(value) for p, value in zip(self.results, row)) for row in raw]


_REQUIRED = object()


class Prepared:
    """One Core statement, compiled once per dialect and run on the driver's connection.

    `column_keys` are the parameters an INSERT or UPDATE is given (as `connection.execute`'s
    parameters would be); the statement's own bound values (literals) are kept as compiled."""

    def __init__(self, statement: Any, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        key = dialect.name
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=self.column_keys)
        required = {name for name, bind in compiled.binds.items() if bind.required}
        # IN (...) of fixed values rendered into the SQL text; the given parameters stay positional.
        expanded = compiled.construct_expanded_state({name: None for name in required})
        processors = {**compiled._bind_processors, **expanded.processors}
        params = []
        for name in expanded.positiontup or ():
            fixed = _REQUIRED if name in required else expanded.parameters[name]
            processor = processors.get(name)
            if processor is not None and name in compiled.binds and _is_datetime(compiled.binds[name].type):
                processor = _last_one(processor)
            params.append((name, processor, fixed))
        results = tuple(column_type._cached_result_processor(dialect, None)
                        for _key, _name, _objects, column_type in compiled._result_columns)
        return _Compiled(expanded.statement, tuple(params), results, compiled)


def _is_datetime(column_type: Any) -> bool:
    return isinstance(getattr(column_type, "impl", column_type), DateTime)


def _last_one(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`processor` remembering its last value: a turn binds the same `now` to most of its
    timestamps, and SQLite's DATETIME formats each one anew (2 us a time)."""
    last: list[tuple[Any, Any]] = [(_REQUIRED, None)]  # one pair, replaced whole (thread-safe)

    def process(value: Any) -> Any:
        seen, result = last[0]
        if value is not seen:
            result = processor(value)
            last[0] = (value, result)
        return result

    return process


async def execute(where: AsyncSession | Unit, statement: Prepared, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Run `statement` with `values` in the transaction of a session or a unit of work; the rows
    it returns (none for a statement without RETURNING), each a tuple in the order of the
    statement's columns."""
    target = await where.target() if isinstance(where, Unit) else await _target(where)
    return await _run(target, statement, [values], many=False)


async def execute_many(where: AsyncSession | Unit, statement: Prepared,
                       rows: Sequence[Mapping[str, Any]]) -> None:
    """Run `statement` once per row of parameters (no RETURNING), in one driver call."""
    if rows:
        target = await where.target() if isinstance(where, Unit) else await _target(where)
        await _run(target, statement, rows, many=True)


class Unit:
    """One turn's work: one pooled connection, one transaction, one commit, and an ORM session
    only if something asks for one.

    Most turns need no ORM at all: their statements are `Prepared` ones run on the driver's
    connection, and the AsyncSession (its identity map, its transaction bookkeeping, its
    commit through SQLAlchemy's greenlet) cost a tenth of the turn. A unit checks out one
    connection and begins SQLAlchemy's transaction on it (which sends nothing to the server:
    SQLite and asyncpg begin at the first write or statement); `session` is an AsyncSession
    joined to that very transaction, created the first time a route asks for it, whose own
    commit leaves the transaction to the unit. `commit` flushes that session, if any, and
    commits once.

    `alone` runs a statement outside any transaction when none has begun on the server yet
    (PostgreSQL; elsewhere it is `execute`): the turn's preload, and its writes when they are
    one statement, so that the usual PostgreSQL turn is two round trips instead of four
    (BEGIN and COMMIT). Under PostgreSQL's READ COMMITTED every statement sees its own
    snapshot anyway, and one statement is atomic by itself."""

    def __init__(self, connection: AsyncConnection, sessionmaker: Any) -> None:
        self.connection = connection
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        self._target: _Target | None = None

    @classmethod
    @asynccontextmanager
    async def open(cls, engine: AsyncEngine, sessionmaker: Any) -> AsyncIterator[Unit]:
        async with engine.connect() as connection:
            await connection.begin()
            unit = cls(connection, sessionmaker)
            try:
                yield unit
            finally:
                if unit._session is not None:
                    await unit._session.close()

    @property
    def session(self) -> AsyncSession:
        """The ORM session of this unit's transaction (created on first use)."""
        if self._session is None:
            self._session = self._sessionmaker(bind=self.connection, join_transaction_mode="rollback_only")
        return self._session

    async def target(self) -> _Target:
        if self._target is None:
            sync = self.connection.sync_connection
            assert sync is not None
            raw = await self.connection.get_raw_connection()
            adapted, driver, dialect = raw.dbapi_connection, raw.driver_connection, sync.dialect
            self._target = _Target(None, self.connection, sync, dialect, adapted, driver,
                                   _runner(dialect, adapted, driver, in_transaction=True))
        return self._target

    async def alone(self, statement: Prepared, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """`statement` as its own transaction when the server has none open for this unit (see
        the class's docstring); inside the unit's transaction otherwise. The session's pending
        objects are flushed first, so that they are written in the same transaction."""
        target = await self.target()
        if target.runner is _asyncpg:
            if self._session is not None and (self._session.new or self._session.dirty or self._session.deleted):
                await self._session.flush()
            if target.adapted._transaction is None:
                return await _run(dataclasses.replace(target, runner=_asyncpg_alone), statement, [values], many=False)
        return await _run(target, statement, [values], many=False)

    async def commit(self) -> None:
        if self._session is not None:
            await self._session.commit()  # flushes; the transaction is the unit's (joined)
        await self.connection.commit()



async def read(engine: AsyncEngine, statement: Prepared, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Run one read-only `statement` on a connection of `engine`'s pool, outside any session
    and transaction (the statement is its own snapshot), for the reads every update makes:
    a session around a single SELECT cost several times the SELECT."""
    raw = await engine.raw_connection()
    try:
        adapted, driver, dialect = raw.dbapi_connection, raw.driver_connection, engine.dialect
        runner = _runner(dialect, adapted, driver, in_transaction=False)
        if runner is not None:
            # The engine stands in for the connection: its listeners hear the statement.
            target = _Target(None, None, engine.sync_engine, dialect, adapted, driver, runner)
            return await _run(target, statement, [values], many=False)
    finally:
        # Back to the pool (its reset on return may talk to the driver: in SQLAlchemy's greenlet).
        await greenlet_spawn(raw.close)
    # A connection without a fast path (aiosqlite's thread, another dialect): through SQLAlchemy,
    # once the raw connection is back in the pool.
    async with engine.connect() as connection:
        return await _through_sqlalchemy(connection, statement.compiled(engine.dialect), [values], False)


@dataclass(frozen=True)
class _Target:
    """The session's connection down to the driver, for as long as its transaction lasts (for
    `read`: a pooled driver connection, with no session, connection or transaction around it)."""

    transaction: Any
    connection: AsyncConnection | None
    sync: Any
    dialect: Dialect
    adapted: Any
    driver: Any
    runner: Any


async def _target(session: AsyncSession) -> _Target:
    # Looking the driver's connection up again costs two greenlet switches: it is kept in the
    # session's `info` until the transaction that checked it out ends.
    kept: _Target | None = session.info.get(__name__)
    transaction = session.sync_session.get_transaction()
    if kept is not None and kept.transaction is transaction and transaction is not None and transaction.is_active:
        return kept
    connection = await session.connection()
    sync = connection.sync_connection
    assert sync is not None
    raw = await connection.get_raw_connection()
    adapted, driver = raw.dbapi_connection, raw.driver_connection
    dialect = sync.dialect
    runner = _runner(dialect, adapted, driver, in_transaction=True)
    target = _Target(session.sync_session.get_transaction(), connection, sync, dialect, adapted, driver, runner)
    session.info[__name__] = target
    return target


async def _run(target: _Target, statement: Prepared, values: Sequence[Mapping[str, Any]],
               many: bool) -> list[tuple[Any, ...]]:
    sync, dialect = target.sync, target.dialect
    compiled = statement.compiled(dialect)
    if target.runner is None:
        assert target.connection is not None  # only a session's target lacks a runner
        return await _through_sqlalchemy(target.connection, compiled, values, many)
    bound = [compiled.bind(v) for v in values]
    parameters: Any = bound if many else bound[0]
    announce = sync._has_events or sync.engine._has_events
    if announce:
        sync.dispatch.before_cursor_execute(sync, None, compiled.sql, parameters, None, many)
    try:
        rows = await target.runner(target.adapted, target.driver, compiled.sql, bound, many)
    except Exception as problem:  # noqa: BLE001 - re-raised as SQLAlchemy raises it
        raise _translated(dialect, target.adapted, compiled.sql, problem) from problem
    if announce:
        sync.dispatch.after_cursor_execute(sync, None, compiled.sql, parameters, None, many)
    return compiled.rows(rows)


def _runner(dialect: Dialect, adapted: Any, driver: Any, in_transaction: bool) -> Any:
    """How to run a statement on this driver connection (None: through SQLAlchemy instead);
    `in_transaction`: inside the session's transaction (begun if need be), or each on its own."""
    if dialect.name == "sqlite" and isinstance(driver, InlineConnection):
        return _sqlite  # sqlite3 begins a transaction before a write by itself
    if dialect.name == "postgresql" and hasattr(adapted, "_start_transaction"):
        return _asyncpg if in_transaction else _asyncpg_alone
    return None


async def _sqlite(_adapted: Any, driver: InlineConnection, sql: str, bound: list[tuple[Any, ...]],
                  many: bool) -> Sequence[Sequence[Any]]:
    database = driver._connection
    assert database is not None

    def run() -> list[Any]:
        if many:
            database.executemany(sql, bound).close()
            return []
        cursor = database.execute(sql, bound[0])
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    return await driver._execute(run)


async def _asyncpg(adapted: Any, driver: Any, sql: str, bound: list[tuple[Any, ...]],
                   many: bool) -> Sequence[Sequence[Any]]:
    async with adapted._execute_mutex:
        if adapted._transaction is None:
            await adapted._start_transaction()
        if many:
            await driver.executemany(sql, bound)
            return []
        prepared, _attributes = await adapted._prepare(sql, adapted._invalidate_schema_cache_asof)
        return await prepared.fetch(*bound[0])


async def _asyncpg_alone(adapted: Any, driver: Any, sql: str, bound: list[tuple[Any, ...]],
                         many: bool) -> Sequence[Sequence[Any]]:
    """asyncpg outside any transaction (a read that is its own snapshot)."""
    async with adapted._execute_mutex:
        prepared, _attributes = await adapted._prepare(sql, adapted._invalidate_schema_cache_asof)
        return await prepared.fetch(*bound[0])


async def _through_sqlalchemy(connection: AsyncConnection, compiled: _Compiled, values: Sequence[Mapping[str, Any]],
                              many: bool) -> list[tuple[Any, ...]]:
    result = await connection.execute(compiled.sqlalchemy_statement.statement,
                                      [dict(v) for v in values] if many else dict(values[0]))
    return [tuple(row) for row in result.all()] if result.returns_rows else []


def _translated(dialect: Dialect, adapted: Any, sql: str, problem: Exception) -> Exception:
    """A driver's error as SQLAlchemy's exception of the same name (parameters hidden)."""
    dbapi = dialect.loaded_dbapi
    if not isinstance(problem, dbapi.Error):
        try:
            adapted._handle_exception(problem)  # asyncpg's errors: the adapter's translation
        except Exception as translated:  # noqa: BLE001 - what the adapter made of it
            problem = translated
    if not isinstance(problem, dbapi.Error):
        return problem
    return exc.DBAPIError.instance(sql, None, problem, dbapi.Error, hide_parameters=True, dialect=dialect)


class PreparedRows:
    """A multi-row INSERT (one statement for any number of rows, as SQLAlchemy's
    "insertmanyvalues" sends it): `build(values)` makes the statement from a list of per-row
    {column: bindparam}; one `Prepared` is kept per number of rows."""

    def __init__(self, table: Any, keys: Sequence[str], build: Callable[[list[dict[str, Any]]], Any]) -> None:
        self.table, self.keys, self.build = table, tuple(keys), build
        self._by_count: dict[int, Prepared] = {}

    def for_rows(self, count: int) -> Prepared:
        found = self._by_count.get(count)
        if found is None:
            rows = [{key: bindparam(f"{key}__{n}", type_=self.table.c[key].type) for key in self.keys}
                    for n in range(count)]
            found = self._by_count[count] = Prepared(self.build(rows))
        return found

    async def execute(self, where: AsyncSession | Unit, rows: Sequence[Mapping[str, Any]],
                      others: Mapping[str, Any] | None = None, alone: bool = False) -> list[tuple[Any, ...]]:
        """Insert `rows` (each with every one of `keys`); the rows the statement returns.
        `others`: the statement's other parameters (those of the CTEs `build` adds); `alone`:
        through `Unit.alone` (`where` is a unit)."""
        if not rows:
            return []
        values = {f"{key}__{n}": row[key] for n, row in enumerate(rows) for key in self.keys}
        if others:
            values.update(others)
        if alone:
            assert isinstance(where, Unit)
            return await where.alone(self.for_rows(len(rows)), values)
        return await execute(where, self.for_rows(len(rows)), values)
