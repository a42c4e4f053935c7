"""Fixtures: an app on a clean database per test, on SQLite and on PostgreSQL; an HTTP client
that speaks forms with their CSRF token; a SQL statement counter; live gunicorn servers.

The services: `TEST_DATABASE_URL` and `TEST_REDIS_URL` name them; unset, a server answering
at the default address (support.DEFAULT_*_URL) is used, so a plain `make test` on a machine
with PostgreSQL and Redis runs everything. What could not run is listed at the end with the
reason. Under `CI=true` a missing service fails the run instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask

from storefront import create_app
from storefront.extensions import db
from tests import support
from tests.support import ShopClient, base_config

IN_CI = support.IN_CI
TEST_DATABASE_URL, POSTGRES_MISSING = support.TEST_DATABASE_URL, support.POSTGRES_MISSING
TEST_REDIS_URL, REDIS_MISSING = support.TEST_REDIS_URL, support.REDIS_MISSING
DATABASES = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])
# Groups of tests and the reason each could not run, for the summary at the end.
SKIPPED_GROUPS: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not TEST_DATABASE_URL:
        raise pytest.UsageError(f"CI=true: the suite must also run on PostgreSQL: "
                                f"{POSTGRES_MISSING}")
    if IN_CI and not TEST_REDIS_URL:
        raise pytest.UsageError(f"CI=true: the shared-limit tests need Redis: {REDIS_MISSING}")
    if POSTGRES_MISSING:
        SKIPPED_GROUPS["PostgreSQL (second run of every database test, row-level security, "
                       "live workers on PostgreSQL)"] = POSTGRES_MISSING
    if REDIS_MISSING:
        SKIPPED_GROUPS["Redis (limits shared across workers)"] = REDIS_MISSING


def note_skipped_group(group: str, reason: str) -> None:
    SKIPPED_GROUPS.setdefault(group, reason)


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if TEST_DATABASE_URL or TEST_REDIS_URL:
        used = [f"PostgreSQL at {TEST_DATABASE_URL}" if TEST_DATABASE_URL else "",
                f"Redis at {TEST_REDIS_URL}" if TEST_REDIS_URL else ""]
        terminalreporter.write_line("services used: " + ", ".join(part for part in used if part))
    if SKIPPED_GROUPS:
        terminalreporter.section("groups not run")
        for group, reason in SKIPPED_GROUPS.items():
            terminalreporter.write_line(f"{group}: {reason}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated SQLite file; each test gets a copy (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    support.migrate(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this run, migrated once, dropped at the end."""
    try:
        database = support.create_postgres_database(TEST_DATABASE_URL, "storefront_test")
    except Exception as error:
        message = f"PostgreSQL at {TEST_DATABASE_URL} is unusable: {error}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield database.url
    finally:
        database.drop()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    """A clean, migrated database for one test."""
    if request.param == "sqlite":
        return support.copy_sqlite(request.getfixturevalue("sqlite_template"), tmp_path).url
    url = request.getfixturevalue("postgres_url")
    support.truncate_postgres(url)
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
        with support.recorded_statements(db.engine) as statements:
            yield statements

    return counter


@pytest.fixture
def redis_url() -> str:
    """The Redis server for shared-limit tests (skipped with the reason when none answers)."""
    if not TEST_REDIS_URL:
        pytest.skip(REDIS_MISSING)
    return TEST_REDIS_URL


@pytest.fixture
def start_live_server(request: pytest.FixtureRequest, tmp_path):  # noqa: ANN001, ANN201
    """Start gunicorn on a fresh migrated database (PostgreSQL when the suite has one)."""
    started = []

    def start(kind: str = support.LIVE_KIND, workers: int = 2, **env: str) -> support.LiveServer:
        if kind == "postgresql" and not TEST_DATABASE_URL:
            pytest.skip(POSTGRES_MISSING)
        template = request.getfixturevalue("sqlite_template") if kind == "sqlite" else ""
        database = support.new_live_database(kind, template, tmp_path)
        try:
            server = support.start_server(database.url, tmp_path, workers, env=env)
        except Exception:
            database.drop()
            raise
        started.append((server, database))
        return server

    yield start
    for server, database in started:
        server.stop()
        database.drop()


@pytest.fixture
def mailbox() -> Iterator[support.Mailbox]:
    """A real SMTP server on a free port of 127.0.0.1, stopped after the test."""
    box = support.Mailbox().start()
    yield box
    box.stop()
