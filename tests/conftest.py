"""Fixtures: an app on a clean database per test, on SQLite and (with TEST_DATABASE_URL) on
PostgreSQL; an HTTP client that speaks forms with their CSRF token; a SQL statement counter."""

from __future__ import annotations

import contextvars
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from flask import Flask, has_app_context
from flask.testing import FlaskClient
from flask_migrate import upgrade

from storefront import create_app
from storefront.extensions import db
from tests.live import new_database, start_server

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
DATABASES = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])
PASSWORD = "correct horse battery staple"  # noqa: S105 - a test account's password
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
# Statements that are transaction plumbing, not queries a page pays for.
PLUMBING = (
    "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "SET ", "SELECT SET_CONFIG",
)


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not TEST_DATABASE_URL:
        raise pytest.UsageError(
            "CI=true but TEST_DATABASE_URL is not set: the suite must also run on PostgreSQL "
            "(e.g. TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres)"
        )


def base_config(database_url: str, **extra: object) -> dict[str, object]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_STORAGE_URI": "memory://",
        "SESSION_COOKIE_SECURE": False,
        **extra,
    }


def _migrate(database_url: str) -> None:
    app = create_app(base_config(database_url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated SQLite file; each test gets a copy (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this run, migrated once, dropped at the end."""
    server = sa.make_url(TEST_DATABASE_URL)
    name = f"storefront_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        where = server.render_as_string(hide_password=True)
        message = f"PostgreSQL at {where} is unreachable: {error}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _truncate_postgres(url: str) -> None:
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


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    """A clean, migrated database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "shop.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def app_config() -> dict[str, object]:
    """Extra settings for one test's app (override in a test module)."""
    return {}


@pytest.fixture
def app(database_url: str, app_config: dict[str, object]) -> Iterator[Flask]:
    app = create_app(base_config(database_url, **app_config))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


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
        page = self.get("/").get_data(as_text=True)
        match = CSRF_META.search(page)
        assert match, "no csrf-token meta on the catalog page"
        return match.group(1)

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


@pytest.fixture
def client(app: Flask) -> ShopClient:
    app.test_client_class = ShopClient
    return app.test_client()  # type: ignore[return-value]


@pytest.fixture
def make_client(app: Flask):  # noqa: ANN201
    """More browsers: each call is a client with its own cookie jar."""
    app.test_client_class = ShopClient

    def new_client(remote_addr: str = "127.0.0.1") -> ShopClient:
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = remote_addr
        return browser  # type: ignore[return-value]

    return new_client


@pytest.fixture
def runner(app: Flask):  # noqa: ANN201
    return app.test_cli_runner()


@pytest.fixture
def count_queries(app: Flask):  # noqa: ANN201
    """`with count_queries() as statements:` collects the SQL a block runs (plumbing aside)."""

    @contextmanager
    def counter() -> Iterator[list[str]]:
        statements: list[str] = []

        def listener(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
            if not statement.lstrip().upper().startswith(PLUMBING):
                statements.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            yield statements
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)

    return counter


LIVE_KIND = "postgresql" if TEST_DATABASE_URL else "sqlite"


@pytest.fixture
def start_live_server(request: pytest.FixtureRequest, tmp_path):  # noqa: ANN001, ANN201
    """Start gunicorn on a fresh migrated database (PostgreSQL when the suite has one)."""
    started = []

    def start(kind: str = LIVE_KIND, workers: int = 2, **env: str):  # noqa: ANN202
        if kind == "postgresql" and not TEST_DATABASE_URL:
            pytest.skip("needs TEST_DATABASE_URL (PostgreSQL)")
        template = request.getfixturevalue("sqlite_template") if kind == "sqlite" else None
        database = new_database(kind, template, tmp_path, TEST_DATABASE_URL)
        try:
            server = start_server(database.url, tmp_path, workers, **env)
        except Exception:
            database.drop()
            raise
        started.append((server, database))
        return server

    yield start
    for server, database in started:
        server.stop()
        database.drop()


@contextmanager
def app_on(database_url: str) -> Iterator[Flask]:
    """An app context on a live server's database, to seed it or read it back."""
    app = create_app(base_config(database_url))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
