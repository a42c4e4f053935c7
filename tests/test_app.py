"""The app's frame: configuration, security headers, cookies, error pages, health check."""

import io
import re
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from flask import abort

from storefront import create_app
from storefront.config import MAX_CONTENT_LENGTH_BYTES, ConfigError, load_config
from storefront.errors import MESSAGES, wait_in_words
from storefront.extensions import db
from storefront.models import UserSession
from storefront.rate_limits import TooManyAttempts
from tests.factories import make_product, make_user
from tests.support import PASSWORD, ShopClient, base_config, count_rows

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


# Every header the shop sets on a response it renders, with its exact value.
CSP_DIRECTIVES = frozenset({
    "default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'",
    "form-action 'self'",
})
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
HSTS = "max-age=31536000; includeSubDomains"


def assert_security_headers(response) -> None:  # noqa: ANN001
    """Each header once, with exactly its value; the policy with exactly its directives."""
    policies = response.headers.getlist("Content-Security-Policy")
    assert len(policies) == 1, policies
    assert {directive.strip() for directive in policies[0].split(";")} == CSP_DIRECTIVES
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.getlist(name) == [value], name
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP here


def over_the_limit(client: ShopClient):  # noqa: ANN201
    return client.post_form("/cart/add", {"blob": "x" * (MAX_CONTENT_LENGTH_BYTES + 1)})


# (how to get the response, the status it has): pages, error pages of every origin, the API.
RESPONSES = {
    "catalog page": (lambda client: client.get("/"), 200),
    "product page": (lambda client: client.get(f"/products/{make_product().slug}"), 200),
    "404 page": (lambda client: client.get("/nowhere"), 404),
    "400 from the request guard": (lambda client: client.get("/?q=a%00b"), 400),
    "400 from the CSRF check": (lambda client: client.post("/cart/add", data={}), 400),
    "405 page": (lambda client: client.delete("/"), 405),
    "413 page": (over_the_limit, 413),
    "API JSON": (lambda client: client.get("/api/cart"), 200),
    "API 404": (lambda client: client.get("/api/nothing-here"), 404),
    "API 400 from the request guard": (lambda client: client.get("/api/cart?q=%00"), 400),
    "API 401": (lambda client: client.put("/api/profile", json={}), 401),
}


@pytest.mark.parametrize("situation", RESPONSES)
def test_every_security_header_and_directive_on_pages_errors_and_the_api(client, situation):
    send, status = RESPONSES[situation]
    response = send(client)
    assert response.status_code == status
    assert_security_headers(response)


def test_security_headers_on_a_500_page(database_url):
    app = create_app(base_config(database_url, PROPAGATE_EXCEPTIONS=False))

    @app.get("/boom")
    def boom():  # noqa: ANN202
        raise RuntimeError("crash")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert_security_headers(response)


@pytest.mark.parametrize(
    ("secure_cookies", "scheme", "hsts"),
    [(True, "https", HSTS), (True, "http", None), (False, "https", None), (False, "http", None)],
)
def test_hsts_only_with_secure_cookies_over_https(database_url, secure_cookies, scheme, hsts):
    app = create_app(base_config(database_url, SESSION_COOKIE_SECURE=secure_cookies))
    client = app.test_client()
    for path in ("/", "/nowhere", "/api/cart"):
        response = client.get(path, base_url=f"{scheme}://shop.example")
        assert response.headers.getlist("Strict-Transport-Security") == (
            [hsts] if hsts else []), path


def test_page_has_no_external_asset_or_inline_script(client):
    """Scripts come from the shop's own static/ (the CSP allows no other); the only script
    element with content is a product page's structured data, which is data, not code."""
    product = make_product()
    body = client.get("/").get_data(as_text=True)
    assert re.findall(r"<script[^>]*>", body) == [
        '<script src="/static/shop.js" defer>']
    assert "http://" not in body and "https://" not in body and "//cdn" not in body
    page = client.get(f"/products/{product.slug}").get_data(as_text=True)
    assert re.findall(r"<script[^>]*>", page) == [
        '<script src="/static/shop.js" defer>', '<script type="application/ld+json">']


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
    assert response.get_json() == {"error": MESSAGES[404]}


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


# The 429 page says how long, from the number in Retry-After ---------------------------------------

@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "about 1 second"), (2, "about 2 seconds"), (44, "about 44 seconds"),
        (45, "about a minute"), (60, "about a minute"), (89, "about a minute"),
        (90, "about 2 minutes"), (600, "about 10 minutes"), (871, "about 15 minutes"),
        (900, "about 15 minutes"), (929, "about 15 minutes"), (3569, "about 59 minutes"),
        (3570, "about an hour"), (5399, "about an hour"), (5400, "about 2 hours"),
        (7200, "about 2 hours"),
    ],
)
def test_wait_in_words(seconds, words):
    assert wait_in_words(seconds) == words


@pytest.fixture
def throttled_app(database_url):  # noqa: ANN001, ANN201
    """An app with a page and an API route whose budget is spent for `seconds` more."""
    app = create_app(base_config(database_url))

    @app.get("/throttled/<int:seconds>")
    def throttled(seconds: int):  # noqa: ANN202
        raise TooManyAttempts(seconds)

    @app.get("/api/throttled/<int:seconds>")
    def api_throttled(seconds: int):  # noqa: ANN202
        raise TooManyAttempts(seconds)

    app.test_client_class = ShopClient
    with app.app_context():
        yield app


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(900, "about 15 minutes"), (60, "about a minute"), (20, "about 20 seconds")],
)
def test_429_page_and_json_say_the_wait_of_retry_after_in_words(throttled_app, seconds, words):
    client = throttled_app.test_client()
    sentence = f"Too many attempts. Please wait {words} and try again."
    page = client.get(f"/throttled/{seconds}")
    assert page.status_code == 429
    assert page.headers["Retry-After"] == str(seconds)
    assert f"<p>{sentence}</p>" in page.get_data(as_text=True)
    api = client.get(f"/api/throttled/{seconds}")
    assert api.status_code == 429
    assert api.headers["Retry-After"] == str(seconds)
    assert api.get_json() == {"error": sentence}


def wait_sentence(response) -> str:  # noqa: ANN001
    """The sentence the 429 page should show for the response's own Retry-After."""
    words = wait_in_words(int(response.headers["Retry-After"]))
    return f"Too many attempts. Please wait {words} and try again."


def test_the_spent_sign_in_budget_says_about_15_minutes_as_retry_after_does(client):
    make_user()
    for _ in range(10):
        assert client.login(password="not the password").status_code == 422
    refused = client.login(password="not the password")
    assert refused.status_code == 429
    assert 880 <= int(refused.headers["Retry-After"]) <= 900  # a 15-minute window just opened
    body = refused.get_data(as_text=True)
    assert wait_sentence(refused) in body
    assert "Please wait about 15 minutes and try again." in body


def test_the_per_address_limit_says_its_wait_as_retry_after_does(client):
    for number in range(30):
        assert client.post_form("/auth/login", {
            "email": f"u{number}@example.com", "password": "wrong pass"}).status_code == 422
    refused = client.post_form("/auth/login", {"email": "u@example.com", "password": "x"})
    assert refused.status_code == 429
    # The one-minute window; Flask-Limiter rounds its reset up to the next whole second.
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert wait_sentence(refused) in refused.get_data(as_text=True)


# A chunked body is held to MAX_CONTENT_LENGTH too -------------------------------------------------

@pytest.fixture
def chunked_client(app, client, monkeypatch):  # noqa: ANN001, ANN201
    """The client, with the app behind what a server hands it for `Transfer-Encoding: chunked`:
    no CONTENT_LENGTH, and `wsgi.input_terminated` (the stream ends where the body does)."""
    inner = app.wsgi_app

    def as_a_server_hands_chunked_bodies(environ, start_response):  # noqa: ANN001, ANN202
        if environ.get("HTTP_TRANSFER_ENCODING") == "chunked":
            environ.pop("CONTENT_LENGTH", None)
            environ["wsgi.input_terminated"] = True
        return inner(environ, start_response)

    monkeypatch.setattr(app, "wsgi_app", as_a_server_hands_chunked_bodies)
    return client


def post_chunked(client: ShopClient, path: str, fields: dict[str, str], padding: int):  # noqa: ANN201
    """The form (with its CSRF token) and then `padding` bytes more, sent chunked."""
    body = urlencode({"csrf_token": client.csrf_token(), **fields, "padding": "x" * padding})
    return client.post(path, input_stream=io.BytesIO(body.encode()),
                       content_type="application/x-www-form-urlencoded",
                       headers={"Transfer-Encoding": "chunked"})


def test_a_chunked_body_over_the_limit_is_413_not_cut_and_processed(chunked_client):
    make_user()
    sessions_before = count_rows(UserSession)
    # The credentials come first: a body cut at the limit would still sign in.
    response = post_chunked(chunked_client, "/auth/login",
                            {"email": "ada@example.com", "password": PASSWORD},
                            padding=MAX_CONTENT_LENGTH_BYTES)
    assert response.status_code == 413
    assert MESSAGES[413] in response.get_data(as_text=True)
    assert count_rows(UserSession) == sessions_before
    assert chunked_client.signed_in_as() is None


def test_a_chunked_body_under_the_limit_is_processed(chunked_client):
    make_user()
    response = post_chunked(chunked_client, "/auth/login",
                            {"email": "ada@example.com", "password": PASSWORD}, padding=1000)
    assert response.status_code == 303
    assert chunked_client.signed_in_as() == "ada@example.com"


# A NUL in the query string is refused before any query --------------------------------------------

@pytest.fixture
def every_statement(app):  # noqa: ANN001, ANN201
    """Every statement sent to the database, transaction plumbing (set_config too) included."""
    statements: list[str] = []

    def record(_connection, _cursor, statement, *_rest) -> None:  # noqa: ANN001
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    yield statements
    sa.event.remove(db.engine, "before_cursor_execute", record)


@pytest.mark.parametrize("query", ["q=a%00b", "q=%00", "page=1&q=tea%00", "q=%01", "q=%1b[2J"])
def test_a_control_character_in_the_search_is_the_400_page_before_any_query(
        client, every_statement, query):
    make_product(name="Green tea")
    client.register()
    every_statement.clear()
    response = client.get(f"/?{query}")
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert '<section class="error-page" data-status="400">' in body
    assert MESSAGES[400] in body and 'data-cart-count="0"' in body
    assert every_statement == []


def test_a_nul_in_an_api_query_is_400_json_before_any_query(client, every_statement):
    client.register()
    every_statement.clear()
    response = client.get("/api/cart?q=%00")
    assert response.status_code == 400
    assert response.get_json() == {"error": MESSAGES[400]}
    assert every_statement == []


def test_templates_url_for_is_remembered_per_arguments_and_script_root(app):
    """Templates' `url_for` keeps what it built, keyed by every argument and the script root;
    `_external` and the other options are built afresh each time."""
    from flask import render_template_string

    page = ("{{ url_for('catalog.product', slug=s) }}|{{ url_for('catalog.index', q=s) }}|"
            "{{ url_for('catalog.index', _external=True) }}")
    with app.test_request_context("/", base_url="http://shop.example"):
        assert render_template_string("{{ url_for('catalog.index', page=1) }} "
                                      "{{ url_for('catalog.index', page=1.0) }}") == (
            "/?page=1 /?page=1.0")
        assert render_template_string(page, s="a") == "/products/a|/?q=a|http://shop.example/"
        assert render_template_string(page, s="b") == "/products/b|/?q=b|http://shop.example/"
    with app.test_request_context("/", base_url="https://other.example/shop"):
        assert render_template_string(page, s="a") == (
            "/shop/products/a|/shop/?q=a|https://other.example/shop/")
