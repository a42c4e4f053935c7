"""Database plumbing shared by every service: the declarative base, SQLite settings,
PostgreSQL's one-round-trip statements, write transactions, the dialect-aware upsert, and
database errors as a log may keep them."""

from __future__ import annotations

import re
import select
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, Integer, MetaData, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.functions import FunctionElement

# Named constraints: SQLite batch migrations can only alter what has a name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLITE_BUSY_TIMEOUT_MS = 5000
IMMEDIATE = "storefront_begin_immediate"
# Keys of a PostgreSQL connection's `info`: a write transaction asked for and not yet begun,
# and the prefix (row-level scope) already applied in the open transaction.
WRITE_PENDING = "storefront_write_pending"
APPLIED_PREFIX = "storefront_applied_prefix"
# Reads waiting to travel with the next statement (read_with_next_statement).
COMPANIONS = "storefront_companions"
LOCKING_READ = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE|KEY\s+SHARE)\b", re.I)
WRITING = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE)\b", re.I)
# (SQL, parameters) run right before a statement, in its round trip and transaction.
Prefix = tuple[str, tuple[str, ...]]


_BEGIN: Prefix = ("BEGIN", ())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# expire_on_commit=False: a request keeps its loaded user and products after a service
# commits, instead of paying one more query to reload them.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


def begin_write() -> None:
    """Start the session's transaction as a writer: what follows, up to the commit, is one
    transaction, its first read included (a read that decides a write).

    SQLite: BEGIN IMMEDIATE, after ending a read transaction already open (the user
    loader's): a deferred transaction that has read cannot wait for the write lock, it fails
    at once. PostgreSQL: the BEGIN travels with the next statement (`configure_postgresql`).
    """
    if db.engine.dialect.name != "sqlite":
        db.session.connection().info[WRITE_PENDING] = True
        return
    if db.session().in_transaction():
        db.session.commit()
    db.session.connection(execution_options={IMMEDIATE: True})


def configure_sqlite(engine: Engine) -> None:
    """Make SQLite a real multi-process store.

    foreign_keys=ON (else cascades silently do nothing), WAL so readers never block the
    writer, a busy timeout so writers wait instead of failing, and transactions under our
    control (pysqlite's own BEGIN handling breaks SAVEPOINTs): a writing transaction opens
    with BEGIN IMMEDIATE (`begin_write`), so it holds the write lock before its first read.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@lru_cache(maxsize=4096)
def needs_transaction(statement: str) -> bool:
    """Anything but a plain read (a write, a locking read, DDL, a savepoint) runs inside a
    transaction; a plain SELECT (or WITH ... SELECT) runs on its own. SQLAlchemy hands the
    same cached strings again and again, so each is looked at once."""
    text = statement.lstrip()
    head = text[:6].upper()
    if head == "SELECT":
        return LOCKING_READ.search(text) is not None
    if head.startswith("WITH"):
        return LOCKING_READ.search(text) is not None or WRITING.search(text) is not None
    return True


def _socket_closed(dbapi_connection: Any) -> bool:
    """An idle connection has nothing to read; a readable socket means the server has gone
    (its goodbye, or EOF). A poll of the socket, not a round trip like pool_pre_ping's."""
    try:
        readable, _, _ = select.select([dbapi_connection.pgconn.socket], [], [], 0)
    except Exception:  # noqa: BLE001 - psycopg raises on a connection already closed
        return True
    return bool(readable)


def configure_postgresql(engine: Engine, prefix_of: Callable[[], Prefix | None]) -> None:
    """One round trip a statement on PostgreSQL, row-level scope and transactions included.

    The connections run in psycopg's autocommit mode, so psycopg sends no BEGIN of its own
    (a round trip each) and a plain read runs alone, in the implicit transaction of its
    round trip. What a statement needs first travels with it in one psycopg pipeline (one
    network round trip, one Sync, so one transaction): a BEGIN when it writes or locks, or
    when `begin_write` asked for one, and `prefix_of()` (the request's row-level scope,
    storefront/rls.py). In an open transaction the prefix is sent again only if it changed.
    COMMIT and ROLLBACK are sent by psycopg when a transaction is open, and not otherwise.
    A connection that runs psycopg's own transactions (migrations) gets the prefix alone.

    Dead connections (a database restart, a killed backend) are found at checkout by a poll
    of their socket, and replaced before the request uses them.
    """

    @event.listens_for(engine, "checkout")
    def _replace_dead(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if _socket_closed(dbapi_connection):
            raise DisconnectionError("the server closed the connection")

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _transaction_over(connection: Any) -> None:
        connection.info.pop(WRITE_PENDING, None)
        connection.info.pop(APPLIED_PREFIX, None)

    @event.listens_for(engine, "checkin")
    def _forget(_dbapi_connection: Any, record: Any) -> None:
        for key in (WRITE_PENDING, APPLIED_PREFIX, COMPANIONS):
            record.info.pop(key, None)

    def run(cursor: Any, statement: str, context: Any, execute: Callable[[], Any]) -> bool:
        raw = cursor.connection
        try:
            info = context.root_connection.info
        except NotImplementedError:  # SQLAlchemy's first look at a new server: plain reads
            return False
        prefix = prefix_of()
        if not raw.autocommit:  # psycopg runs the transaction itself: the prefix goes alone
            if prefix is not None and prefix != info.get(APPLIED_PREFIX):
                raw.execute(*prefix)
                info[APPLIED_PREFIX] = prefix
            return False
        steps: list[Prefix] = []
        if raw.info.transaction_status == TransactionStatus.IDLE:
            begins = info.pop(WRITE_PENDING, False) or needs_transaction(statement)
            if begins:
                steps.append(_BEGIN)
            if prefix is not None:
                steps.append(prefix)
            info[APPLIED_PREFIX] = prefix if begins else None
        elif prefix is not None and prefix != info.get(APPLIED_PREFIX):
            steps.append(prefix)
            info[APPLIED_PREFIX] = prefix
        companions = info.pop(COMPANIONS, [])
        if not steps and not companions:
            return False
        with raw.pipeline():
            for sql, parameters in steps:
                raw.execute(sql, parameters)
            reads = [_send_companion(raw, context, companion) for companion in companions]
            execute()
        for (_clause, _parameters, deliver), read in zip(companions, reads, strict=True):
            deliver(read.fetchall())
        return True

    @event.listens_for(engine, "do_execute")
    def _execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        return run(cursor, statement, context, lambda: cursor.execute(statement, parameters))

    @event.listens_for(engine, "do_execute_no_params")
    def _execute_no_params(cursor: Any, statement: str, context: Any) -> bool:
        return run(cursor, statement, context, lambda: cursor.execute(statement))

    @event.listens_for(engine, "do_executemany")
    def _executemany(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        return run(cursor, statement, context, lambda: cursor.executemany(statement, parameters))


@lru_cache(maxsize=64)
def _postgresql_sql(clause: Any) -> str:
    """A constant SQL text in psycopg's own placeholders, compiled once."""
    return str(clause.compile(dialect=postgresql.dialect()))


def _send_companion(raw: Any, context: Any, companion: tuple[Any, Any, Any]) -> Any:
    """Queue a companion read in the open pipeline; its cursor, for the rows after the Sync.
    Statement counters (before_cursor_execute) see it like any other statement."""
    clause, parameters, _deliver = companion
    sql = _postgresql_sql(clause)
    connection = context.root_connection
    connection.dispatch.before_cursor_execute(connection, None, sql, parameters, context, False)
    return raw.execute(sql, parameters)


def read_with_next_statement(clause: Any, parameters: dict[str, Any],
                             deliver: Callable[[list[Any]], None]) -> bool:
    """On PostgreSQL, have a constant read (a `text()` in PostgreSQL's SQL) travel with the
    session's next statement, in its round trip and scope; its rows go to `deliver` once
    they are back, and `run_pending_reads` sends what is still waiting. Returns False, and
    queues nothing, on another database: the caller reads the usual way there."""
    if db.engine.dialect.name != "postgresql":
        return False
    db.session.connection().info.setdefault(COMPANIONS, []).append((clause, parameters, deliver))
    return True


def run_pending_reads() -> None:
    """Send the reads still waiting for a statement to travel with (one round trip each)."""
    if db.engine.dialect.name != "postgresql":
        return
    for clause, parameters, deliver in db.session.connection().info.pop(COMPANIONS, []):
        deliver(db.session.execute(clause, parameters).all())


def engine_options(database_url: str) -> dict[str, Any]:
    """SQLAlchemy engine settings. hide_parameters: a database error's message never carries
    form data into a log. PostgreSQL connections run in autocommit (configure_postgresql)."""
    options: dict[str, Any] = {"hide_parameters": True}
    if database_url.startswith("postgresql"):
        options["isolation_level"] = "AUTOCOMMIT"
    return options


class least(FunctionElement):  # noqa: N801 - reads like the SQL function it renders
    """The smallest of its arguments: LEAST() on PostgreSQL, the scalar MIN() on SQLite."""

    type = Integer()
    inherit_cache = True


@compiles(least)
def _least_default(element: least, compiler: Any, **kw: Any) -> str:
    return f"LEAST({compiler.process(element.clauses, **kw)})"


@compiles(least, "sqlite")
def _least_sqlite(element: least, compiler: Any, **kw: Any) -> str:
    return f"MIN({compiler.process(element.clauses, **kw)})"


def insert(model: Any) -> Any:
    """An INSERT that knows ON CONFLICT, in the dialect of the current connection."""
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(model)


class DatabaseError(Exception):
    """A database error as the log keeps it: the driver's error class, SQLSTATE and statement."""


def loggable_error(error: BaseException) -> BaseException:
    """The error to log, with the causes it chains: a SQLAlchemy error is replaced by its
    kind, SQLSTATE and statement, as its text can quote the values sent (`invalid input
    syntax for type integer: "<form value>"`) where `hide_parameters` does not reach;
    tracebacks are kept. Other errors are logged as they are."""
    if isinstance(error, SQLAlchemyError):
        driver_error = getattr(error, "orig", None) or error
        sqlstate = getattr(driver_error, "sqlstate", None) or "-"
        summary = f"{type(driver_error).__name__} (SQLSTATE {sqlstate})"
        if getattr(error, "statement", None):
            summary += f" in: {error.statement}"
        return DatabaseError(summary).with_traceback(error.__traceback__)
    # The request is over: its error may be rewired to carry the cleaned chain.
    if error.__cause__ is not None:
        error.__cause__ = loggable_error(error.__cause__)
    elif error.__context__ is not None and not error.__suppress_context__:
        error.__context__ = loggable_error(error.__context__)
    return error
