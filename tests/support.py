"""What the tests and the benchmark share: the services they find, throwaway databases, real
gunicorn servers, a SQL statement counter, a client that speaks forms with their CSRF token,
and readers for what a page shows (flashes, the signed-in marker, field errors).

Fixtures live in `conftest.py`; test modules import helpers from here, never from each other.
"""

from __future__ import annotations

import contextvars
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
import sqlalchemy as sa
from flask import Flask, has_app_context
from flask.testing import FlaskClient
from flask_migrate import upgrade

from storefront import create_app
from storefront.extensions import db

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"  # noqa: S105 - a test account's password
# Where `make test` looks for the services when no TEST_*_URL says otherwise.
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT_SECONDS = 30
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CART_LINE = re.compile(r'data-product-id="(\d+)" data-quantity="(\d+)"')
FIELD_ERRORS = re.compile(r'<ul class="field-errors" id="([a-z_]+)-error">')
FLASH = re.compile(r'<div class="flash [^"]*"[^>]*\sdata-category="(\w+)"[^>]*>([^<]*)<')
# Statements that are transaction plumbing, not queries a page pays for.
PLUMBING = (
    "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "SET ", "SELECT SET_CONFIG",
)


# Services ---------------------------------------------------------------------------------------

def postgres_answers(url: str, timeout_seconds: int = 2) -> str | None:
    """None if the PostgreSQL server at `url` answers, else why not (one line)."""
    engine = sa.create_engine(url, connect_args={"connect_timeout": timeout_seconds})
    try:
        with engine.connect():
            return None
    except sa.exc.SQLAlchemyError as error:
        return str(getattr(error, "orig", error)).strip().splitlines()[0]
    finally:
        engine.dispose()


def redis_answers(url: str, timeout_seconds: float = 2) -> str | None:
    """None if the Redis server at `url` answers PING, else why not (one line)."""
    parsed = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379),
                                      timeout=timeout_seconds) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError as error:
        return str(error)
    return None if reply.startswith(b"+PONG") else f"unexpected reply {reply[:20]!r}"


def _service(variable: str, default: str, answers) -> tuple[str, str | None]:  # noqa: ANN001
    """(url, why it is not used): the named service, else the default one if it answers."""
    named = os.environ.get(variable, "").strip()
    if named:
        return named, None
    problem = answers(default)
    if problem is None:
        return default, None
    return "", f"{variable} is not set and nothing answers at {default} ({problem})"


IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
TEST_DATABASE_URL, POSTGRES_MISSING = _service(
    "TEST_DATABASE_URL", DEFAULT_POSTGRES_URL, postgres_answers)
TEST_REDIS_URL, REDIS_MISSING = _service("TEST_REDIS_URL", DEFAULT_REDIS_URL, redis_answers)
# The database the live servers use: PostgreSQL when the suite has one.
LIVE_KIND = "postgresql" if TEST_DATABASE_URL else "sqlite"


# Apps and databases -----------------------------------------------------------------------------

def base_config(database_url: str, **extra: object) -> dict[str, object]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_STORAGE_URI": "memory://",
        "SESSION_COOKIE_SECURE": False,
        **extra,
    }


def migrate(database_url: str) -> None:
    app = create_app(base_config(database_url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@contextmanager
def app_on(database_url: str) -> Iterator[Flask]:
    """An app context on a database (a live server's, say), to seed it or read it back."""
    app = create_app(base_config(database_url))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@dataclass
class Database:
    """A throwaway database; `drop()` removes it (a SQLite file goes with its temp dir)."""

    url: str
    admin_url: str | None = None
    name: str | None = None

    def drop(self) -> None:
        if self.admin_url and self.name:
            engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            engine.dispose()


def create_postgres_database(server_url: str, prefix: str, migrated: bool = True) -> Database:
    """A new, empty (or migrated) database on the PostgreSQL server at `server_url`."""
    server = sa.make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    database = Database(server.set(database=name).render_as_string(hide_password=False),
                        server.render_as_string(hide_password=False), name)
    if migrated:
        try:
            migrate(database.url)
        except BaseException:
            database.drop()
            raise
    return database


def copy_sqlite(template: str, tmp_dir: Path) -> Database:
    path = tmp_dir / f"shop-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template, path)
    return Database(f"sqlite:///{path}")


def new_live_database(kind: str, sqlite_template: str, tmp_dir: Path) -> Database:
    """A fresh migrated database for a live server: a SQLite copy or a new PostgreSQL one."""
    if kind == "sqlite":
        return copy_sqlite(sqlite_template, tmp_dir)
    return create_postgres_database(TEST_DATABASE_URL, "storefront_live")


def truncate_postgres(url: str) -> None:
    """Every table of the shop emptied, ids restarted: a clean database for the next test."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        tables = connection.scalars(
            sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ).all()
        if tables:
            names = ", ".join(f'"{table}"' for table in tables)
            connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()


# Real servers -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    database_url: str
    process: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(database_url: str, log_dir: Path, workers: int = 2, *,
                 app_spec: str = "wsgi:app", probe: str = "/healthz",
                 gunicorn_args: tuple[str, ...] = ("--graceful-timeout", "2"),
                 env: Mapping[str, str] | None = None, label: str = "") -> LiveServer:
    """gunicorn serving `app_spec` from the project root, the way a shop owner runs it; returns
    once `probe` answers 200."""
    port = free_port()
    environment = {
        **os.environ,
        "SECRET_KEY": "live-test-secret-" + "k" * 40,
        "DATABASE_URL": database_url,
        "SESSION_COOKIE_SECURE": "0",
        "RATELIMIT_STORAGE_URI": "memory://",
        "FLASK_DEBUG": "0",
        "EXTERNAL_BASE_URL": "https://shop.example",
        **(env or {}),
    }
    log_path = log_dir / f"gunicorn-{label or port}.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
             *gunicorn_args, app_spec],
            cwd=PROJECT_ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", database_url, process, log_path)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early:\n{server.log()}")
        try:
            with urllib.request.urlopen(server.url + probe, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"gunicorn did not answer within {START_TIMEOUT_SECONDS}s:\n{server.log()}")


# Statements -------------------------------------------------------------------------------------

@contextmanager
def recorded_statements(engine: sa.Engine) -> Iterator[list[str]]:
    """The SQL a block runs on `engine`, transaction plumbing aside."""
    statements: list[str] = []

    def listener(_connection: object, _cursor: object, statement: str, *_rest: object) -> None:
        if not statement.lstrip().upper().startswith(PLUMBING):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)


class RoundTrips:
    """What PostgreSQL answered while a block ran, read from libpq's own trace of every
    connection the block checked out: each ReadyForQuery ends one round trip."""

    def __init__(self) -> None:
        self.trace = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by round_trips
        self.text = ""

    @property
    def count(self) -> int:
        return self.text.count("\tReadyForQuery")

    def sent(self, message: str) -> list[str]:
        """The lines of one kind of message the app sent ("Query", "Parse", "Sync"...)."""
        return [line for line in self.text.splitlines() if f"\t{message}\t" in line + "\t"]


@contextmanager
def round_trips(engine: sa.Engine) -> Iterator[RoundTrips]:
    """`with round_trips(db.engine) as trips:` ... `trips.count` (PostgreSQL only)."""
    import psycopg

    trips = RoundTrips()
    flags = psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE

    def trace(dbapi_connection: object, *_rest: object) -> None:
        dbapi_connection.pgconn.trace(trips.trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(flags)

    def untrace(dbapi_connection: object, *_rest: object) -> None:
        dbapi_connection.pgconn.untrace()

    # Connections waiting in the pool are traced now, before a checkout could ping them;
    # new ones from their first message.
    for record in list(engine.pool._pool.queue):  # noqa: SLF001 - a test's look inside
        if record.dbapi_connection is not None:
            trace(record.dbapi_connection)
    sa.event.listen(engine, "connect", trace)
    try:
        yield trips
    finally:
        sa.event.remove(engine, "connect", trace)
        for record in list(engine.pool._pool.queue):  # noqa: SLF001
            if record.dbapi_connection is not None:
                untrace(record.dbapi_connection)
        trips.trace.flush()
        trips.trace.seek(0)
        trips.text = trips.trace.read()
        trips.trace.close()


def count_rows(model: object) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# Pages ------------------------------------------------------------------------------------------

def csrf_token_of(page: str) -> str:
    match = CSRF_META.search(page)
    assert match, "no csrf-token meta on the page"
    return match.group(1)


def flashes(body: str) -> list[tuple[str, str]]:
    """(category, text) of every flash on a page."""
    return FLASH.findall(body)


def field_errors(body: str) -> list[str]:
    """The fields a page marks as wrong, in page order."""
    return FIELD_ERRORS.findall(body)


class ShopClient(FlaskClient):
    """A test client that posts forms the way a browser does: with the session's CSRF token.

    Each request runs in a context of its own, as under a real server: the test's app context
    (its `g`, its database session) is not shared with the request. The test's session ends
    its transaction around each request, so what it reads next is what the request wrote.
    """

    def open(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        if has_app_context():
            db.session.rollback()
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if has_app_context():
            db.session.rollback()
        return response

    def csrf_token(self) -> str:
        return csrf_token_of(self.get("/").get_data(as_text=True))

    def post_form(self, path: str, data: dict[str, object] | None = None, **kwargs):  # noqa: ANN201
        fields = {"csrf_token": self.csrf_token(), **(data or {})}
        return self.post(path, data=fields, **kwargs)

    def register(self, email: str = "ada@example.com", password: str = PASSWORD,  # noqa: ANN201
                 first_name: str = "Ada", last_name: str = "Lovelace", **kwargs):
        return self.post_form("/auth/register", {
            "email": email, "password": password, "confirm_password": password,
            "first_name": first_name, "last_name": last_name,
        }, **kwargs)

    def login(self, email: str = "ada@example.com", password: str = PASSWORD,  # noqa: ANN201
              remember: bool = False, next: str | None = None, **kwargs):  # noqa: A002
        data = {"email": email, "password": password}
        if remember:
            data["remember"] = "y"
        path = "/auth/login" + (f"?next={next}" if next is not None else "")
        return self.post_form(path, data, **kwargs)

    def logout(self):  # noqa: ANN201
        return self.post_form("/auth/logout")

    def page(self, path: str) -> str:
        return self.get(path).get_data(as_text=True)

    def signed_in_as(self) -> str | None:
        """The e-mail in the header's `data-user-email`, or None when anonymous."""
        match = re.search(r'data-user-email="([^"]*)"', self.page("/"))
        return match.group(1) if match else None


# Mail -------------------------------------------------------------------------------------------

LINK = re.compile(r"https?://[^\s<>\"]+")


@dataclass
class Received:
    """One message as the SMTP server got it: the envelope's recipients and the parsed mail."""

    recipients: list[str]
    message: object  # email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()

    @property
    def outbox_id(self) -> int:
        return int(self.message["X-Storefront-Outbox-Id"])

    def link(self) -> str:
        """The one link of a verification, reset or e-mail-change mail."""
        links = [url for url in LINK.findall(self.text) if "/auth/" in url and
                 "/auth/forgot" not in url]
        assert len(links) == 1, self.text
        return links[0]


class Mailbox:
    """A real SMTP server (aiosmtpd's Controller) on 127.0.0.1, keeping what it receives.
    `refuse` holds recipients it answers 550; `delay_seconds` slows each message down."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.refuse: set[str] = set()
        self.delay_seconds = 0.0
        self.controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: ANN001, ANN201, N802
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        import asyncio
        import email
        import email.policy

        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def start(self) -> Mailbox:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[Received]:
        return [mail for mail in self.received if address in mail.recipients]
# Live shoppers -----------------------------------------------------------------------------------

class LiveShopper:
    """One browser against a live server: its own cookie jar and, behind the test proxy
    (TRUST_PROXY_HOPS=1), its own address."""

    def __init__(self, base_url: str, address: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.http.headers["X-Forwarded-For"] = address

    def csrf(self) -> str:
        return CSRF_META.search(self.http.get(self.base_url + "/", timeout=10).text).group(1)

    def post(self, path: str, data: dict[str, str], token: str | None = None) -> requests.Response:
        fields = {"csrf_token": token or self.csrf(), **data}
        return self.http.post(self.base_url + path, data=fields, allow_redirects=False, timeout=30)

    def register(self, email: str) -> requests.Response:
        return self.post("/auth/register", {
            "email": email, "password": PASSWORD, "confirm_password": PASSWORD,
            "first_name": "Live", "last_name": "Shopper"})

    def cart(self) -> dict[int, int]:
        page = self.http.get(self.base_url + "/cart", timeout=10).text
        return {int(pid): int(qty) for pid, qty in CART_LINE.findall(page)}

    def clone(self) -> LiveShopper:
        """Another connection carrying the same cookies (a second tab, a double submit)."""
        twin = type(self)(self.base_url, self.http.headers["X-Forwarded-For"])
        twin.http.cookies.update(self.http.cookies)
        return twin


def all_at_once(tasks: list[Callable[[], object]]) -> list[object]:
    """Run the tasks in threads released together; re-raise the first error."""
    barrier = threading.Barrier(len(tasks))
    results: list[object] = [None] * len(tasks)
    errors: list[BaseException] = []

    def run(index: int, task: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[index] = task()
        except BaseException as error:  # noqa: BLE001 - re-raised below
            errors.append(error)

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(tasks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
