"""Prepared statements: the few statements every update runs, on the driver's own connection,
through public APIs only.

A Core statement executed through SQLAlchemy costs about 100 microseconds of Python on top of
the database's own work (execution context, parameter processing, the result's metadata), which
for the turn's handful of statements was more than SQLite took to run them. A `Prepared`
statement is compiled once per dialect with SQLAlchemy's compiler (`construct_expanded_state`:
the SQL text with positional parameters and their order), with each parameter's bind processor
and each result column's result processor taken from the column types exactly as SQLAlchemy
takes them (`TypeEngine.dialect_impl(dialect).bind_processor(dialect)` and
`.result_processor(dialect, None)`: storage/types.py's AwareDateTime included). It then runs on
the driver connection under the session's or the unit's connection, reached through its pooled
DB-API connection (`Connection.connection.driver_connection`):

- SQLite: storage/inline_sqlite.InlineConnection's sqlite3 connection, on the event loop's
  thread, through its `call` (the busy retries): the statements take part in the session's
  transaction, sqlite3 beginning one before a write as it does for SQLAlchemy;
- PostgreSQL: asyncpg's `Connection.fetch` and `executemany` (asyncpg prepares each statement
  once per connection and keeps it), inside the transaction SQLAlchemy's adapter keeps. A
  statement that must be in a transaction runs on the driver when the server already is in one
  (`Connection.is_in_transaction()`); the first one of a transaction goes through the adapter's
  DB-API cursor instead (`PoolProxiedConnection.cursor()`, in `AsyncConnection.run_sync`), which
  begins the transaction the way any statement through SQLAlchemy does -- so the transaction
  stays the one SQLAlchemy knows, commits and rolls back, and that an ORM session joined to the
  same connection uses.

This module once reached into private parts of SQLAlchemy and of its adapters (the compiler's
processors, the adapter's transaction and statement cache): tests/test_public_api.py keeps it
and the rest of the code on public ground, and measured no loss (README, "Databases").

Driver errors come out as SQLAlchemy's exceptions (`OperationalError`, `IntegrityError`, ...), as
from `connection.execute`, parameters hidden. Every statement is announced to the connection's
and the engine's `before_cursor_execute` and `after_cursor_execute` listeners, when there are
any (through the connection's public `dispatch`), so whoever counts statements
(tests/test_turn_counts.py) still sees each one. A connection without a fast path (aiosqlite's
own, in a thread; another dialect) runs the statement through SQLAlchemy as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import DateTime, bindparam, exc, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from storage.inline_sqlite import InlineConnection

Processor = Callable[[Any], Any] | None
Rows = list[tuple[Any, ...]]


@dataclass(frozen=True)
class Compiled:
    """A statement as one dialect runs it: its SQL text, and how values go in and rows come out."""

    sql: str
    # For each positional parameter: its name, the column type's bind processor, and its fixed
    # value (REQUIRED: given at each execution).
    params: tuple[tuple[str, Processor, Any], ...]
    # For each result column, its result processor (None: the driver's value as it is).
    results: tuple[Processor, ...]
    # The Core statement, for a connection without a fast path.
    statement: Any

    def bind(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        bound = []
        for name, processor, fixed in self.params:
            value = values[name] if fixed is REQUIRED else values.get(name, fixed)
            bound.append(processor(value) if processor is not None else value)
        return tuple(bound)

    def rows(self, raw: Sequence[Sequence[Any]]) -> Rows:
        if not any(self.results):
            return [tuple(row) for row in raw]
        return [tuple(value if p is None else p(value) for p, value in zip(self.results, row)) for row in raw]


REQUIRED = object()


class Prepared:
    """One Core statement, compiled once per dialect and run on the driver's connection.

    `column_keys` are the parameters an INSERT or UPDATE is given (as `connection.execute`'s
    parameters would be); the statement's own bound values (literals) are kept as compiled."""

    def __init__(self, statement: Any, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self.by_dialect: dict[str, Compiled] = {}

    def compiled(self, dialect: Dialect) -> Compiled:
        found = self.by_dialect.get(dialect.name)
        if found is None:
            found = self.by_dialect[dialect.name] = compile_for(self.statement, self.column_keys, dialect)
        return found


def compile_for(statement: Any, column_keys: list[str] | None, dialect: Dialect) -> Compiled:
    """`statement` compiled for `dialect`, with its parameters' and columns' processors, from
    SQLAlchemy's public compiler and type APIs."""
    compiled: Any = statement.compile(dialect=dialect, column_keys=column_keys)
    required = {name for name, bind in compiled.binds.items() if bind.required}
    # IN (...) of fixed values rendered into the SQL text; the given parameters stay positional.
    expanded = compiled.construct_expanded_state({name: None for name in required})
    processors: dict[str, Processor] = {
        name: bind.type.dialect_impl(dialect).bind_processor(dialect)
        for bind, name in compiled.bind_names.items() if bind not in compiled.literal_execute_params}
    processors.update(expanded.processors)
    params = []
    for name in expanded.positiontup or ():
        fixed = REQUIRED if name in required else expanded.parameters[name]
        processor = processors.get(name)
        if processor is not None and name in compiled.binds and is_datetime(compiled.binds[name].type):
            processor = last_one(processor)
        params.append((name, processor, fixed))
    results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                    for column in result_columns(statement, compiled))
    return Compiled(expanded.statement, tuple(params), results, statement)


def result_columns(statement: Any, compiled: Any) -> list[Any]:
    """The columns of the rows `statement` returns, in order: an INSERT's or UPDATE's RETURNING
    as compiled (with the primary key PostgreSQL's INSERT returns unasked), or a SELECT's."""
    returning = compiled.effective_returning
    return list(returning if returning is not None else getattr(statement, "selected_columns", ()))


def is_datetime(column_type: Any) -> bool:
    return isinstance(getattr(column_type, "impl", column_type), DateTime)


def last_one(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`processor` remembering its last value: a turn binds the same `now` to most of its
    timestamps, and SQLite's DATETIME formats each one anew (2 us a time)."""
    last: list[tuple[Any, Any]] = [(REQUIRED, None)]  # one pair, replaced whole (thread-safe)

    def process(value: Any) -> Any:
        seen, result = last[0]
        if value is not seen:
            result = processor(value)
            last[0] = (value, result)
        return result

    return process


async def execute(where: AsyncSession | Unit, statement: Prepared, values: Mapping[str, Any]) -> Rows:
    """Run `statement` with `values` in the transaction of a session or a unit of work; the rows
    it returns (none for a statement without RETURNING), each a tuple in the order of the
    statement's columns."""
    target = await where.target() if isinstance(where, Unit) else await session_target(where)
    return await target.run(statement, [values], many=False, alone=False)


async def execute_many(where: AsyncSession | Unit, statement: Prepared, rows: Sequence[Mapping[str, Any]],
                       alone: bool = False) -> None:
    """Run `statement` once per row of parameters (no RETURNING), in one driver call. `alone`
    (a unit's): on PostgreSQL, when the unit has no transaction open, asyncpg's `executemany`
    on its own, which is atomic by itself (one round trip, no BEGIN or COMMIT)."""
    if rows:
        if isinstance(where, Unit):
            await (await where.target()).run(statement, rows, many=True, alone=alone)
        else:
            await (await session_target(where)).run(statement, rows, many=True, alone=False)


class Later:
    """An INSERT a turn may write at its end instead of at once (`Unit.write_later`): its
    parameters are named after it (`<name>__<column>`), so that on PostgreSQL it can join the
    turn's last statement as one of its data-modifying CTEs (handlers/turn.Turn.finish): a
    consent, a new person or a new conversation costs no round trip, no BEGIN and no COMMIT of
    its own. Only for rows nothing else in the turn reads back."""

    def __init__(self, name: str, table: Any, columns: Sequence[str]) -> None:
        self.name = name
        self.columns = tuple(columns)
        self.statement = insert(table).values({column: bindparam(f"{name}__{column}", type_=table.c[column].type)
                                               for column in self.columns})
        self.prepared = Prepared(self.statement)

    def values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        return {f"{self.name}__{column}": given[column] for column in self.columns}


class Unit:
    """One turn's work: one pooled connection, one transaction, one commit, and an ORM session
    only if something asks for one.

    Most turns need no ORM at all: their statements are `Prepared` ones run on the driver's
    connection, and the AsyncSession (its identity map, its transaction bookkeeping, its
    commit through SQLAlchemy's greenlet) cost a tenth of the turn. A unit checks out one
    connection; the transaction begins where the database begins it: sqlite3 before the first
    write, and on PostgreSQL SQLAlchemy's adapter at the first statement that needs one (which
    begins SQLAlchemy's transaction on the connection as well). `session` is an AsyncSession
    on that connection, created the first time a route asks for it, which joins the
    transaction (or begins it, and then commits it with the unit). `commit` commits the
    session, if any, then whatever is still open: SQLAlchemy's transaction, and on SQLite the
    driver's, committed by the driver itself (announced to the engine's `commit` listeners, as
    SQLAlchemy announces its own) -- for the usual turn no SQLAlchemy transaction at all.

    `alone` runs a statement outside any transaction when none has begun on the server yet
    (PostgreSQL; elsewhere it is `execute`): the turn's preload, and its writes when they are
    one statement, so that the usual PostgreSQL turn is two round trips instead of four
    (BEGIN and COMMIT). Under PostgreSQL's READ COMMITTED every statement sees its own
    snapshot anyway, and one statement is atomic by itself."""

    def __init__(self, connection: AsyncConnection, sessionmaker: Any) -> None:
        self.connection = connection
        self.sessionmaker = sessionmaker
        self.orm: AsyncSession | None = None
        self.driver: Target | None = None
        # INSERTs written at the turn's end (`write_later`), with their parameters.
        self.later: list[tuple[Later, dict[str, Any]]] = []

    @classmethod
    @asynccontextmanager
    async def open(cls, engine: AsyncEngine, sessionmaker: Any) -> AsyncIterator[Unit]:
        async with engine.connect() as connection:
            unit = cls(connection, sessionmaker)
            try:
                yield unit
            finally:
                if unit.orm is not None:
                    await unit.orm.close()

    @property
    def session(self) -> AsyncSession:
        """The ORM session of this unit's transaction (created on first use)."""
        if self.orm is None:
            self.orm = self.sessionmaker(bind=self.connection, join_transaction_mode="rollback_only")
        return self.orm

    def write_later(self, statement: Later, values: Mapping[str, Any]) -> None:
        """`statement` with `values`, written in this unit's transaction before it commits: by
        `write_now`, or as part of the turn's last statement (handlers/turn.Turn.finish)."""
        self.later.append((statement, statement.values(values)))

    def take_later(self) -> list[tuple[Later, dict[str, Any]]]:
        """The writes `write_later` holds, handed to the caller, who writes them."""
        later, self.later = self.later, []
        return later

    async def write_now(self) -> None:
        """Write what `write_later` holds now, in order (before anything that might read it)."""
        for statement, values in self.take_later():
            await execute(self, statement.prepared, values)

    async def target(self) -> Target:
        if self.driver is None:
            self.driver = await target_of(self.connection, None)
        return self.driver

    async def alone(self, statement: Prepared, values: Mapping[str, Any]) -> Rows:
        """`statement` as its own transaction when the server has none open for this unit (see
        the class's docstring); inside the unit's transaction otherwise. The session's pending
        objects are flushed first, so that they are written in the same transaction."""
        target = await self.target()
        if target.kind == POSTGRESQL and self.orm is not None and (self.orm.new or self.orm.dirty or self.orm.deleted):
            await self.orm.flush()
        return await target.run(statement, [values], many=False, alone=True)

    async def commit(self) -> None:
        await self.write_now()
        if self.orm is not None:
            await self.orm.commit()  # flushes; commits the transaction if the session began it
        if self.connection.in_transaction():
            await self.connection.commit()
        target = self.driver
        if target is not None and target.kind == SQLITE and target.driver.in_transaction:
            await target.driver.commit()
            if target.sync.dispatch.commit:
                target.sync.dispatch.commit(target.sync)


async def read(engine: AsyncEngine, statement: Prepared, values: Mapping[str, Any]) -> Rows:
    """Run one read-only `statement` on a connection of `engine`'s pool, outside any session
    and transaction (the statement is its own snapshot), for the reads every update makes:
    a session around a single SELECT cost several times the SELECT."""
    async with engine.connect() as connection:
        target = await target_of(connection, None)
        return await target.run(statement, [values], many=False, alone=True)


SQLITE, POSTGRESQL, OTHER = "sqlite", "postgresql", "other"


@dataclass(frozen=True)
class Target:
    """A connection down to its driver, for as long as its transaction lasts: the SQLAlchemy
    connection (its dialect, its listeners), and the driver connection under it."""

    # The session transaction this was looked up for (None: a unit's, or `read`'s connection).
    transaction: Any
    connection: AsyncConnection
    sync: Connection
    dialect: Dialect
    driver: Any
    kind: str

    async def run(self, statement: Prepared, values: Sequence[Mapping[str, Any]], many: bool, alone: bool) -> Rows:
        """`statement` once per item of `values` (`many`) or once; `alone`: PostgreSQL may run
        it outside any transaction when none is open (see `Unit`)."""
        compiled = statement.compiled(self.dialect)
        if self.kind == OTHER:
            return await through_sqlalchemy(self.connection, compiled, values, many)
        bound = [compiled.bind(v) for v in values]
        parameters: Any = bound if many else bound[0]
        dispatch = self.sync.dispatch
        announce = bool(dispatch.before_cursor_execute) or bool(dispatch.after_cursor_execute)
        if announce:
            dispatch.before_cursor_execute(self.sync, None, compiled.sql, parameters, None, many)
        try:
            if self.kind == SQLITE:
                rows = await self.driver.call(on_sqlite, self.driver.open_database(), compiled.sql, bound, many)
            elif alone or self.driver.is_in_transaction():
                rows = await on_asyncpg(self.driver, compiled.sql, bound, many)
            else:
                rows = await self.connection.run_sync(beginning, compiled.sql, bound, many)
        except Exception as problem:  # noqa: BLE001 - re-raised as SQLAlchemy raises it
            error = translated(self.dialect, compiled.sql, problem)
            if isinstance(getattr(error, "orig", None), DriverError):
                raise error from None  # asyncpg's own message names the values (its DETAIL)
            raise error from problem
        if announce:
            dispatch.after_cursor_execute(self.sync, None, compiled.sql, parameters, None, many)
        return compiled.rows(rows)


async def target_of(connection: AsyncConnection, transaction: Any) -> Target:
    sync = connection.sync_connection
    assert sync is not None
    # The pooled connection as the sync Connection holds it (no greenlet hop), unless SQLAlchemy
    # must first replace an invalidated one.
    raw = sync.connection if not sync.invalidated else await connection.get_raw_connection()
    driver = raw.driver_connection
    dialect = connection.dialect
    if dialect.name == "sqlite" and isinstance(driver, InlineConnection):
        kind = SQLITE
    elif dialect.name == "postgresql" and dialect.driver == "asyncpg":
        kind = POSTGRESQL
    else:
        kind = OTHER
    return Target(transaction, connection, sync, dialect, driver, kind)


async def session_target(session: AsyncSession) -> Target:
    # Looking the driver's connection up again costs two greenlet switches: it is kept in the
    # session's `info` until the transaction that checked it out ends.
    kept: Target | None = session.info.get(__name__)
    transaction = session.sync_session.get_transaction()
    if kept is not None and kept.transaction is transaction and transaction is not None and transaction.is_active:
        return kept
    connection = await session.connection()
    target = await target_of(connection, session.sync_session.get_transaction())
    session.info[__name__] = target
    return target


async def writing(session: AsyncSession) -> bool:
    """Whether the session's connection has an open transaction on the database: on SQLite one
    that began with a write (sqlite3 begins none for a read), on PostgreSQL any. True when the
    driver cannot tell (then the caller assumes the worst)."""
    target = await session_target(session)
    if target.kind == SQLITE:
        return bool(target.driver.in_transaction)
    if target.kind == POSTGRESQL:
        return bool(target.driver.is_in_transaction())
    return True


def on_sqlite(database: Any, sql: str, bound: list[tuple[Any, ...]], many: bool) -> list[Any]:
    """sqlite3's own calls (sqlite3 begins a transaction before a write by itself)."""
    if many:
        database.executemany(sql, bound).close()
        return []
    cursor = database.execute(sql, bound[0])
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


async def on_asyncpg(driver: Any, sql: str, bound: list[tuple[Any, ...]], many: bool) -> Sequence[Sequence[Any]]:
    """asyncpg's public calls: in the server's open transaction if there is one, else on their
    own (a statement is its own transaction)."""
    if many:
        await driver.executemany(sql, bound)
        return []
    return await driver.fetch(sql, *bound[0])


def beginning(sync: Connection, sql: str, bound: list[tuple[Any, ...]], many: bool) -> list[Any]:
    """The first statement of a transaction, through the DB-API cursor of SQLAlchemy's adapter
    (in SQLAlchemy's greenlet): the adapter begins the transaction, SQLAlchemy's connection
    begins its own around it, and commits both."""
    if not sync.in_transaction():
        sync.begin()
    cursor = sync.connection.cursor()
    try:
        if many:
            cursor.executemany(sql, bound)
            return []
        cursor.execute(sql, bound[0])
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        cursor.close()


async def through_sqlalchemy(connection: AsyncConnection, compiled: Compiled, values: Sequence[Mapping[str, Any]],
                             many: bool) -> Rows:
    result = await connection.execute(compiled.statement, [dict(v) for v in values] if many else dict(values[0]))
    return [tuple(row) for row in result.all()] if result.returns_rows else []


class DriverError(Exception):
    """asyncpg's error as it may be shown and logged: its class and first message line, and the
    SQLSTATE. PostgreSQL's DETAIL ("Key (channel_user)=(...) already exists") names the values,
    and is left out, as SQLAlchemy's asyncpg dialect leaves it out of its own errors."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = self.pgcode = sqlstate


def translated(dialect: Dialect, sql: str, problem: Exception) -> Exception:
    """A driver's error as SQLAlchemy's exception of the same kind, parameters hidden: sqlite3's
    and the adapter's (DB-API errors) as SQLAlchemy wraps them; asyncpg's own by their class, as
    SQLAlchemy's asyncpg dialect maps them (`asyncpg_exception_kinds`), their message as
    `DriverError` (their `orig`)."""
    dbapi = dialect.loaded_dbapi
    if isinstance(problem, dbapi.Error):
        return exc.DBAPIError.instance(sql, None, problem, dbapi.Error, hide_parameters=True, dialect=dialect)
    if dialect.name == "postgresql":
        for kind, wrapper in asyncpg_exception_kinds():
            if isinstance(problem, kind):
                first = str(problem.args[0] if problem.args else "").splitlines()[0:1]
                shown = DriverError(f"{type(problem).__name__}: {''.join(first)}", getattr(problem, "sqlstate", None))
                return wrapper(sql, None, shown, hide_parameters=True)
    return problem


def asyncpg_exception_kinds() -> list[tuple[type[BaseException], type[exc.DBAPIError]]]:
    """asyncpg's exception classes (its public `asyncpg.exceptions`), most specific first, and
    the SQLAlchemy exception each becomes."""
    from asyncpg import exceptions

    return [(exceptions.IntegrityConstraintViolationError, exc.IntegrityError),
            (exceptions.SyntaxOrAccessError, exc.ProgrammingError),
            (exceptions.InternalServerError, exc.InternalError),
            (exceptions.InterfaceError, exc.InterfaceError),
            (exceptions.PostgresError, exc.DBAPIError)]


class PreparedRows:
    """A multi-row INSERT (one statement for any number of rows, as SQLAlchemy's
    "insertmanyvalues" sends it): `build(values)` makes the statement from a list of per-row
    {column: bindparam}; one `Prepared` is kept per number of rows."""

    def __init__(self, table: Any, keys: Sequence[str], build: Callable[[list[dict[str, Any]]], Any]) -> None:
        self.table, self.keys, self.build = table, tuple(keys), build
        self.by_count: dict[int, Prepared] = {}

    def for_rows(self, count: int) -> Prepared:
        found = self.by_count.get(count)
        if found is None:
            rows = [{key: bindparam(f"{key}__{n}", type_=self.table.c[key].type) for key in self.keys}
                    for n in range(count)]
            found = self.by_count[count] = Prepared(self.build(rows))
        return found

    async def execute(self, where: AsyncSession | Unit, rows: Sequence[Mapping[str, Any]],
                      others: Mapping[str, Any] | None = None, alone: bool = False) -> Rows:
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
