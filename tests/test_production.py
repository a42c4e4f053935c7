"""Production paths: shared rate limits in Redis, database outages, the TLS proxy, request logs."""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid
from urllib.parse import urlencode, urlsplit

import pytest
import requests
import sqlalchemy as sa

from storefront import accounts, create_app
from storefront.config import MAX_CONTENT_LENGTH_BYTES
from storefront.extensions import db
from storefront.models import User, UserSession
from tests.factories import make_user
from tests.support import PASSWORD, LiveServer, ShopClient, app_on, base_config, csrf_token_of

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "").strip()
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture
def redis_url() -> str:
    if not TEST_REDIS_URL:
        if IN_CI:
            pytest.fail("CI=true but TEST_REDIS_URL is not set", pytrace=False)
        pytest.skip("needs TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    return TEST_REDIS_URL


def failed_sign_in(server: LiveServer, email: str, address: str) -> int:
    """One wrong password on a fresh connection, so requests spread over the workers."""
    http = requests.Session()
    http.headers.update({"X-Forwarded-For": address, "Connection": "close"})
    page = http.get(server.url + "/auth/login", timeout=10).text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    response = http.post(server.url + "/auth/login", allow_redirects=False, timeout=30, data={
        "csrf_token": token, "email": email, "password": "not the password"})
    return response.status_code


# Rate limits shared across workers --------------------------------------------------------------

def test_the_per_account_limit_holds_across_two_workers_with_redis(start_live_server, redis_url):
    server = start_live_server(workers=2, TRUST_PROXY_HOPS="1", RATELIMIT_STORAGE_URI=redis_url)
    email = f"target-{uuid.uuid4().hex[:8]}@example.com"
    statuses = [failed_sign_in(server, email, f"10.30.0.{n}") for n in range(1, 13)]
    assert statuses[:10] == [422] * 10
    assert statuses[10:] == [429, 429]
    workers = set(re.findall(r"Booting worker with pid: (\d+)", server.log()))
    assert len(workers) == 2


def test_a_dead_redis_does_not_break_sign_in_pages(start_live_server):
    server = start_live_server(workers=1, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    assert requests.get(server.url + "/auth/login", timeout=10).status_code == 200
    assert failed_sign_in(server, "nobody@example.com", "10.31.0.1") == 422


def test_memory_storage_with_several_workers_warns_at_start_up(start_live_server):
    server = start_live_server(workers=2, RATELIMIT_STORAGE_URI="memory://")
    assert "rate limits are counted per process" in server.log()


# Database outages -------------------------------------------------------------------------------

def test_pages_and_health_answer_503_when_the_database_is_unreachable():
    app = create_app(base_config("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1"))
    client = app.test_client()
    page = client.get("/products/anything")
    assert page.status_code == 503
    assert "briefly unavailable" in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)
    assert page.headers["Retry-After"]
    assert client.get("/healthz").status_code == 503
    with client.session_transaction() as session:  # a guest cart: its page must ask the database
        session["cart"] = {"token": "t" * 16, "lines": [[1, 1]]}
    api = client.get("/api/cart")
    assert api.status_code == 503 and api.get_json()["error"]


def _admin(server: LiveServer) -> tuple[sa.Engine, str]:
    url = sa.make_url(server.database_url)
    return sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT"), url.database


def test_the_app_recovers_when_its_connections_are_killed(start_live_server):
    server = start_live_server("postgresql", workers=2)
    assert requests.get(server.url + "/", timeout=10).status_code == 200
    admin, name = _admin(server)
    with admin.connect() as connection:
        killed = connection.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name}).scalar()
    assert killed >= 1
    # pool_pre_ping finds the dead connections and opens new ones: no 500, no restart.
    for _ in range(6):
        assert requests.get(server.url + "/", timeout=10).status_code == 200
    assert requests.get(server.url + "/healthz", timeout=10).json() == {
        "status": "ok", "database": "ok"}
    admin.dispose()


def test_an_outage_gives_503_and_the_shop_comes_back_without_restart(start_live_server):
    server = start_live_server("postgresql", workers=2)
    admin, name = _admin(server)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            connection.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
        for path in ("/", "/?q=tea", "/products/some-product"):
            response = requests.get(server.url + path, timeout=20)
            assert response.status_code == 503, path
            assert "briefly unavailable" in response.text
        health = requests.get(server.url + "/healthz", timeout=20)
        assert health.status_code == 503 and health.json()["database"] == "unavailable"
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    for _ in range(4):
        assert requests.get(server.url + "/", timeout=10).status_code == 200
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    assert "Traceback" not in server.log()
    admin.dispose()


# Behind a TLS proxy -----------------------------------------------------------------------------

@pytest.fixture
def proxied(database_url):  # noqa: ANN001, ANN201
    app = create_app(base_config(database_url, TRUST_PROXY_HOPS=1, SESSION_COOKIE_SECURE=True))
    app.test_client_class = ShopClient
    with app.app_context():
        yield app


def test_behind_a_trusted_proxy_https_and_client_addresses_are_right(proxied):
    make_user()
    client = proxied.test_client()
    # Over HTTPS Flask-WTF also checks the Referer, as a browser sends it.
    client.environ_base.update({"HTTP_X_FORWARDED_PROTO": "https",
                                "HTTP_X_FORWARDED_FOR": "203.0.113.7",
                                "HTTP_REFERER": "https://localhost/"})
    response = client.get("/")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    signed_in = client.login()
    assert signed_in.status_code == 303
    assert "; Secure" in signed_in.headers["Set-Cookie"]
    assert "203.0.113.7" in client.page("/account/sessions")


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(client):
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers
    statuses = []
    for number in range(31):
        statuses.append(client.post_form(
            "/auth/login", {"email": f"u{number}@example.com", "password": "wrong pass"},
            headers={"X-Forwarded-For": f"198.51.100.{number}"}).status_code)
    # A spoofed address does not dodge the per-address limit: exactly its 30 pass.
    assert statuses == [422] * 30 + [429]


# Logs --------------------------------------------------------------------------------------------

def test_one_structured_line_per_request_with_its_id(client, caplog):
    caplog.set_level(logging.INFO, logger="storefront.request")
    response = client.get("/products/nothing-here", headers={"X-Request-ID": "abc12345-proxy"})
    assert response.headers["X-Request-ID"] == "abc12345-proxy"
    lines = [r.getMessage() for r in caplog.records if r.name == "storefront.request"]
    assert len(lines) == 1
    assert re.fullmatch(
        r"request_id=abc12345-proxy method=GET path=/products/nothing-here status=404 "
        r"duration_ms=\d+\.\d user=-", lines[0])
    fresh = client.get("/", headers={"X-Request-ID": "bad id; forged=1"})
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["X-Request-ID"])


def test_signed_in_requests_log_the_user_id(client, caplog):
    client.register()
    caplog.set_level(logging.INFO, logger="storefront.request")
    client.get("/account")
    line = [r.getMessage() for r in caplog.records if r.name == "storefront.request"][-1]
    assert line.endswith("user=1")


def test_no_password_token_or_cookie_reaches_any_log_line(client, caplog):
    caplog.set_level(logging.DEBUG)
    new_password = "another strong passphrase"  # noqa: S105
    client.register("ada@example.com")
    client.logout()
    client.login()
    signed_in_cookie = client.get_cookie("session").value
    token = client.csrf_token()
    client.post("/account/password", data={
        "csrf_token": token, "current_password": PASSWORD,
        "new_password": new_password, "confirm_password": new_password})
    cookie = client.get_cookie("session").value
    secrets = [PASSWORD, new_password, token, signed_in_cookie, cookie, max(cookie.split("."), key=len)]
    assert all(len(secret) > 8 for secret in secrets), [len(s) for s in secrets]
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "request_id=" in text
    for secret in secrets:
        assert secret not in text
    for token_hash in db.session.scalars(sa.select(UserSession.token_hash)):
        assert token_hash not in text
    assert "/account/password" in text  # the password change was logged, without secrets


def request_lines(caplog) -> list[str]:  # noqa: ANN001
    return [r.getMessage() for r in caplog.records if r.name == "storefront.request"]


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/a%0aforged", r"/a\nforged"),
        ("/a%0d%0arequest_id=0", r"/a\r\nrequest_id=0"),
        ("/a%1b[31mred", r"/a\x1b[31mred"),
        ("/a%20status=200%20user=1", r"/a\x20status=200\x20user=1"),
        ("/caf%C3%A9%E2%80%AE", r"/caf\xe9\u202e"),
    ],
)
def test_client_text_in_a_path_cannot_forge_a_log_line_or_field(client, caplog, path, logged):
    caplog.set_level(logging.INFO, logger="storefront.request")
    assert client.get(path).status_code in (400, 404)
    lines = request_lines(caplog)
    assert len(lines) == 1
    assert re.fullmatch(r"request_id=[0-9a-f]{32} method=GET path=(\S+) status=40[04] "
                        r"duration_ms=\d+\.\d user=-", lines[0]).group(1) == logged


def test_a_crash_on_a_hostile_path_logs_it_escaped(database_url, caplog):
    app = create_app(base_config(database_url, PROPAGATE_EXCEPTIONS=False))

    @app.get("/boom/<word>")
    def boom(word: str):  # noqa: ANN202
        raise RuntimeError("crash")

    caplog.set_level(logging.INFO)
    assert app.test_client().get("/boom/x%E2%80%AE%20y").status_code == 500
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].endswith(r" on GET /boom/x\u202e\x20y")


def test_the_engine_hides_statement_parameters(app):
    assert db.engine.hide_parameters is True


# A statement that fails with the typed password as a bound parameter, and one whose failure
# PostgreSQL words by quoting the value it could not read.
BOUND = ("INSERT INTO events (kind, ok, created_at, detail) "
         "VALUES (:value, NULL, CURRENT_TIMESTAMP, '')")
QUOTED = "SELECT CAST(:value AS integer)"
FAILING_STATEMENTS = {
    "bound parameter": BOUND,
    "quoted by the database": QUOTED,
    # The view fails while handling the database's error: the log shows both.
    "failing while handling it": QUOTED,
}


@pytest.mark.parametrize("failure", FAILING_STATEMENTS)
def test_a_database_error_never_logs_the_form_data_it_carried(database_url, monkeypatch, caplog,
                                                              failure):
    if FAILING_STATEMENTS[failure] == QUOTED and not database_url.startswith("postgresql"):
        pytest.skip("SQLite's CAST reads any text")
    app = create_app(base_config(database_url, PROPAGATE_EXCEPTIONS=False))
    app.test_client_class = ShopClient

    def authenticate(email: str, password: str) -> User:
        try:
            db.session.execute(sa.text(FAILING_STATEMENTS[failure]), {"value": password})
        except sa.exc.DBAPIError:
            if failure == "failing while handling it":
                raise RuntimeError("the fallback failed too")  # noqa: B904 - the context is the point
            raise
        raise AssertionError("the statement was meant to fail")

    monkeypatch.setattr(accounts, "authenticate", authenticate)
    secret = f"hunter2-{uuid.uuid4().hex}"  # noqa: S105 - a value to look for in the logs
    caplog.set_level(logging.DEBUG)
    with app.app_context():
        response = app.test_client().login("ada@example.com", secret)
        db.engine.dispose()
    assert response.status_code == 500
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].getMessage().startswith("unhandled error ")
    assert "(SQLSTATE " in caplog.text  # the database error was logged, by its kind
    assert secret not in caplog.text
    for record in caplog.records:
        assert secret not in record.getMessage() and secret not in str(record.exc_info)


# A real server: chunked bodies and hostile paths ------------------------------------------------

def send_chunked(server: LiveServer, path: str, cookie: str, body: bytes) -> int:
    """POST `body` with `Transfer-Encoding: chunked` over a raw socket; the answer's status.

    The server may answer (413) and close before the whole body is sent: what it answered
    is read all the same."""
    address = urlsplit(server.url)
    head = (f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nCookie: session={cookie}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    chunk_bytes = 64 * 1024
    chunks = [body[i:i + chunk_bytes] for i in range(0, len(body), chunk_bytes)]
    reply = b""
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        try:
            sock.sendall(head)
            for chunk in chunks:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # it answered early; the answer is waiting to be read
        try:
            while data := sock.recv(64 * 1024):
                reply += data
        except ConnectionResetError:
            pass
    return int(reply.split(b" ", 2)[1])


def registration_body(http: requests.Session, server: LiveServer, email: str,
                      padding: int) -> tuple[str, bytes]:
    """The session cookie and a registration form for `email`, `padding` bytes longer."""
    token = csrf_token_of(http.get(server.url + "/auth/register", timeout=10).text)
    form = {"csrf_token": token, "email": email, "password": PASSWORD,
            "confirm_password": PASSWORD, "first_name": "Ada", "last_name": "Lovelace",
            "padding": "x" * padding}
    return http.cookies["session"], urlencode(form).encode()


def test_a_live_server_refuses_a_chunked_body_over_the_limit_and_takes_one_under_it(
        start_live_server):
    server = start_live_server(workers=1)
    http = requests.Session()
    cookie, body = registration_body(http, server, "big@example.com", MAX_CONTENT_LENGTH_BYTES)
    assert send_chunked(server, "/auth/register", cookie, body) == 413
    cookie, body = registration_body(http, server, "small@example.com", 1000)
    assert send_chunked(server, "/auth/register", cookie, body) == 303
    with app_on(server.database_url):
        emails = db.session.scalars(sa.select(User.email)).all()
    assert emails == ["small@example.com"]  # the refused body registered no one


def test_a_live_servers_log_has_one_escaped_line_per_hostile_path(start_live_server):
    server = start_live_server(workers=1)
    for path in ("/a%0aforged=1", "/b%0d%0aforged=2", "/c%1b[2Jforged=3", "/d%20forged=4"):
        assert requests.get(server.url + path, timeout=10).status_code in (400, 404)
    lines = server.log().splitlines()
    logged = [line for line in lines
              if " storefront.request " in line and " path=/healthz " not in line]
    assert [line.split(" path=")[1].split(" ")[0] for line in logged] == [
        r"/a\nforged=1", r"/b\r\nforged=2", r"/c\x1b[2Jforged=3", r"/d\x20forged=4"]
    assert not [line for line in lines if line.startswith("forged") or "\x1b" in line]
