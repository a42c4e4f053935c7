"""Production paths: shared rate limits in Redis, database outages, the TLS proxy, request logs."""

from __future__ import annotations

import logging
import os
import re
import uuid

import pytest
import requests
import sqlalchemy as sa

from storefront import create_app
from storefront.extensions import db
from storefront.models import UserSession
from tests.factories import make_user
from tests.support import PASSWORD, LiveServer, ShopClient, base_config

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
    assert statuses[-1] == 429  # a spoofed address does not dodge the per-address limit


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
