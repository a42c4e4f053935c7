"""The app's frame: configuration, security headers, cookies, error pages, health check."""

import pytest
from flask import abort

from storefront import create_app
from storefront.config import ConfigError, load_config
from tests.factories import make_product
from tests.support import ShopClient, base_config

PRODUCTION_ENV = {"SECRET_KEY": "s" * 64}


def test_missing_secret_key_stops_production_start_up():
    with pytest.raises(ConfigError) as caught:
        load_config("/srv/instance", env={})
    assert "SECRET_KEY" in str(caught.value.code)
    assert "\n" not in str(caught.value.code)


def test_development_and_tests_run_without_secret_key():
    assert load_config("/srv/instance", env={"FLASK_DEBUG": "1"})["SECRET_KEY"]
    assert load_config("/srv/instance", {"TESTING": True}, env={})["SECRET_KEY"]


@pytest.mark.parametrize(
    ("raw", "value"), [("ON", True), ("no", False), ("1", True), ("False", False)]
)
def test_boolean_variables_accept_the_usual_words(raw, value):
    config = load_config("/srv/instance", env={**PRODUCTION_ENV, "SESSION_COOKIE_SECURE": raw})
    assert config["SESSION_COOKIE_SECURE"] is value


@pytest.mark.parametrize("name", ["SESSION_COOKIE_SECURE", "FLASK_DEBUG"])
def test_a_bad_boolean_stops_start_up(name):
    with pytest.raises(ConfigError):
        load_config("/srv/instance", env={**PRODUCTION_ENV, name: "maybe"})


def test_production_defaults():
    config = load_config("/srv/instance", env=PRODUCTION_ENV)
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["SQLALCHEMY_DATABASE_URI"] == "sqlite:////srv/instance/storefront.db"
    assert config["TRUST_PROXY_HOPS"] == 0
    assert config["MAX_CONTENT_LENGTH"] == 1024 * 1024


def test_security_headers_on_every_page(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers


def test_page_has_no_external_asset_or_inline_script(client):
    make_product()
    body = client.get("/").get_data(as_text=True)
    assert "<script" not in body
    assert "http://" not in body and "https://" not in body and "//cdn" not in body


def test_session_cookie_flags(database_url):
    for secure in (False, True):
        app = create_app(base_config(database_url, SESSION_COOKIE_SECURE=secure))
        with app.app_context():
            make_product()
        cookie = app.test_client().get("/").headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure


@pytest.fixture
def echo_app(database_url):
    """An app with one extra POST route, to exercise the request-wide protections."""
    app = create_app(base_config(database_url))

    @app.post("/echo")
    def echo():  # noqa: ANN202
        return "posted"

    app.test_client_class = ShopClient
    with app.app_context():
        yield app


def test_post_without_or_with_wrong_csrf_token_is_400(echo_app):
    client = echo_app.test_client()
    assert client.post("/echo").status_code == 400
    assert client.post("/echo", data={"csrf_token": "forged"}).status_code == 400
    assert client.post_form("/echo").get_data(as_text=True) == "posted"


def test_404_page_is_html_in_the_shop_layout(client):
    response = client.get("/nowhere")
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "We could not find that page." in body and 'data-cart-count="0"' in body
    assert "<h1>Not Found</h1>" in body and "<title>Not Found" in body


def test_domain_404_and_503_and_500_pages_name_their_status(client, database_url):
    """The handlers for a service's NotFound, a database outage and a crash title their page
    with the status's name, not the repr of a class attribute."""
    body = client.get("/products/no-such-product").get_data(as_text=True)
    assert "<h1>Not Found</h1>" in body and "property" not in body
    down = create_app(base_config("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1"))
    assert "<h1>Service Unavailable</h1>" in down.test_client().get("/").get_data(as_text=True)


def test_405_answers_with_allow(client):
    response = client.delete("/")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_body_over_one_megabyte_is_413(echo_app):
    client = echo_app.test_client()
    response = client.post_form("/echo", {"blob": "x" * (1024 * 1024 + 10)})
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


def test_errors_under_api_are_json(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.is_json and "error" in response.get_json()


def test_unhandled_error_is_a_500_page_without_traceback(database_url):
    app = create_app(base_config(database_url, PROPAGATE_EXCEPTIONS=False))

    @app.get("/boom")
    def boom():  # noqa: ANN202
        raise RuntimeError("secret internals")

    @app.get("/api/boom")
    def api_boom():  # noqa: ANN202
        abort(500)

    client = app.test_client()
    response = client.get("/boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Traceback" not in body and "secret internals" not in body
    assert "Reference:" in body and "<h1>Internal Server Error</h1>" in body
    assert client.get("/api/boom").get_json()["error"]


def test_healthz_reports_database_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_reports_database_unavailable():
    app = create_app(base_config("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unavailable"


def test_pages_answer_503_when_the_database_is_down():
    app = create_app(base_config("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1"))
    response = app.test_client().get("/")
    assert response.status_code == 503
    assert "briefly unavailable" in response.get_data(as_text=True)


# The unique index on lower(email) is an expression, which reflection cannot compare: known.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_migrations_match_the_models(runner):
    """`flask db check`: the models and the migrated schema agree (on each database)."""
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
