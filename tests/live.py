"""Real servers for tests: gunicorn workers on a migrated database of their own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Database:
    """A migrated database for one server; `drop()` removes it."""

    url: str
    admin_url: str | None = None
    name: str | None = None

    def drop(self) -> None:
        if self.admin_url and self.name:
            engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            engine.dispose()


def new_database(kind: str, sqlite_template: str | None, tmp_dir: Path, server_url: str = "") -> Database:
    """A fresh, migrated database: a copy of the SQLite template, or a new PostgreSQL one."""
    if kind == "sqlite":
        path = tmp_dir / f"live-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(sqlite_template, path)
        return Database(f"sqlite:///{path}")
    from tests.conftest import _migrate  # the suite's own migration helper

    server = sa.make_url(server_url)
    name = f"storefront_live_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    url = server.set(database=name).render_as_string(hide_password=False)
    _migrate(url)
    return Database(url, server.render_as_string(hide_password=False), name)


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


def start_server(database_url: str, log_dir: Path, workers: int = 2, **env: str) -> LiveServer:
    """gunicorn serving wsgi:app the way a shop owner runs it; waits for /healthz."""
    port = free_port()
    environment = {
        **os.environ,
        "SECRET_KEY": "live-test-secret-" + "k" * 40,
        "DATABASE_URL": database_url,
        "SESSION_COOKIE_SECURE": "0",
        "RATELIMIT_STORAGE_URI": "memory://",
        "FLASK_DEBUG": "0",
        **env,
    }
    log_path = log_dir / f"gunicorn-{port}.log"
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--graceful-timeout", "2", "wsgi:app"],
        cwd=PROJECT_ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return LiveServer(url, database_url, process, log_path)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gunicorn did not answer within {START_TIMEOUT_SECONDS}s:\n{log_path.read_text()}")
