"""Database plumbing shared by every service: the declarative base, SQLite settings,
write transactions, the dialect-aware upsert, and database errors as a log may keep them."""

from __future__ import annotations

from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Engine, Integer, MetaData, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# expire_on_commit=False: a request keeps its loaded user and products after a service
# commits, instead of paying one more query to reload them.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


def begin_write() -> None:
    """Start the session's transaction as a writer (SQLite: BEGIN IMMEDIATE).

    A read transaction already open (the user loader's) is ended first: on SQLite a deferred
    transaction that has read cannot wait for the write lock, it fails at once. PostgreSQL
    has no such lock, so there the open transaction simply carries on (no extra round trips).
    """
    if db.engine.dialect.name != "sqlite":
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
