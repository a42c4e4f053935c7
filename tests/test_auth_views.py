"""Registration, sign-in and sign-out over HTTP, as a browser does them."""

import html
import itertools
import re
import threading
import uuid
from datetime import timedelta
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

import pytest
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select, update

from storefront import accounts, create_app
from storefront.config import ConfigError, load_config
from storefront.extensions import db
from storefront.models import (
    BROWSER_SESSION_HOURS,
    REMEMBER_SESSION_DAYS,
    Event,
    Profile,
    User,
    UserSession,
    utcnow,
)
from tests import support
from tests.factories import make_product, make_user
from tests.support import FIELD_ERRORS, PASSWORD, ShopClient, base_config, count_rows, flashes

CSRF_TOKENS = re.compile(r'(content|value)="[\w.-]{40,}"')
SIGN_IN_FAILED = "The email or password is incorrect."
EMAIL_REFUSED = ("This email cannot be used for a new account. If it is yours, sign in "
                 "instead.")
LONG_KEY = "real-fallback-key-of-32-bytes-or-more"
# Spellings of one address, each pair one account (emails.canonical_email).
ONE_ADDRESS = [
    pytest.param("j\u00fcrgen@example.com", "ju\u0308rgen@example.com", id="nfc-nfd"),
    pytest.param("J\u00dcRGEN@example.com", "j\u00fcrgen@example.com", id="upper-non-ascii"),
    pytest.param("ada@xn--bcher-kva.example", "ada@b\u00fccher.example", id="idna-unicode"),
    pytest.param("\uff41\uff44\uff41@example.com", "ada@example.com", id="full-width"),
    pytest.param("\u0130da@example.com", "i\u0307da@example.com", id="dotted-capital-i"),
]


@pytest.fixture
def app_config(request):  # noqa: ANN001, ANN201
    """Settings for one test's app: `indirect` parametrisation may set some."""
    return dict(getattr(request, "param", {}))


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("id"):
            self.inputs[values["id"]] = values


def input_attributes(body: str) -> dict[str, dict[str, str | None]]:
    """Each `<input>` of a page with an id, by id: its attributes."""
    parser = _Inputs()
    parser.feed(body)
    return parser.inputs


def link_href(body: str, text: str) -> str:
    """The href of the header's link with this text, unescaped as a browser reads it."""
    match = re.search(r'<a href="([^"]*)">' + re.escape(text) + "</a>", body)
    assert match, f"no {text!r} link on the page"
    return html.unescape(match.group(1))


def cookie_expires(set_cookie: str):  # noqa: ANN201
    """The Expires of a Set-Cookie header as an aware datetime, or None (a browser session)."""
    match = re.search(r"Expires=([^;]+)", set_cookie)
    return parsedate_to_datetime(match.group(1)) if match else None


def latest_session() -> UserSession:
    return db.session.scalar(select(UserSession).order_by(UserSession.id.desc()).limit(1))


def failed_sign_ins() -> int:
    return db.session.scalar(
        select(func.count()).select_from(Event).where(Event.kind == "login", ~Event.ok))


# Registration -----------------------------------------------------------------------------

def test_register_page_has_the_contract_fields(client):
    body = client.page("/auth/register")
    for name in ("email", "password", "confirm_password", "first_name", "last_name"):
        assert f'name="{name}"' in body
    assert 'for="email"' in body  # every field has a label


def test_register_creates_account_and_signs_in(client):
    response = client.register("Ada@Example.com")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    body = client.get("/account").get_data(as_text=True)
    assert ("success", "Welcome! Your account is ready.") in flashes(body)
    assert 'data-user-email="Ada@Example.com"' in body
    assert (count_rows(User), count_rows(Profile), count_rows(UserSession)) == (1, 1, 1)


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a" * 250 + "@example.com"}, "email"),
        ({"email": ""}, "email"),
        ({"password": "short", "confirm_password": "short"}, "password"),
        ({"password": (PASSWORD * 5)[:129], "confirm_password": (PASSWORD * 5)[:129]},
         "password"),
        ({"password": "password123", "confirm_password": "password123"}, "password"),
        ({"password": "sam@example.com", "confirm_password": "sam@example.com"}, "password"),
        ({"password": "SAM@Example.COM", "confirm_password": "SAM@Example.COM"}, "password"),
        ({"password": "aaaaaaaa", "confirm_password": "aaaaaaaa"}, "password"),
        ({"password": "\u00e9" * 8, "confirm_password": "\u00e9" * 8}, "password"),
        ({"password": "12345678", "confirm_password": "12345678"}, "password"),
        ({"password": "qwertyuiop", "confirm_password": "qwertyuiop"}, "password"),
        ({"password": "87654321", "confirm_password": "87654321"}, "password"),
        ({"password": "7890123456", "confirm_password": "7890123456"}, "password"),
        ({"password": "asdfghjkl", "confirm_password": "asdfghjkl"}, "password"),
        ({"confirm_password": "something else entirely"}, "confirm_password"),
        ({"first_name": "   "}, "first_name"),
        ({"first_name": "x" * 10_000}, "first_name"),
        ({"last_name": "x" * 101}, "last_name"),
        ({"last_name": "Tab\tName"}, "last_name"),
        ({"last_name": "Del\x7fName"}, "last_name"),
        ({"first_name": "\u200b"}, "first_name"),
        ({"first_name": " \u200b\u200d\u2060 "}, "first_name"),
        ({"last_name": "\u0301\u0308"}, "last_name"),
        ({"last_name": "\u200e\u0301"}, "last_name"),
    ],
)
def test_bad_registration_shows_field_errors_and_writes_nothing(client, fields, bad_field):
    data = {"email": "sam@example.com", "password": PASSWORD, "confirm_password": PASSWORD,
            "first_name": "Sam", "last_name": "Smith", **fields}
    response = client.post_form("/auth/register", data)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert FIELD_ERRORS.findall(body) == [bad_field]
    inputs = input_attributes(body)
    described = f"{bad_field}-error" if bad_field != "password" else "password-hint password-error"
    assert inputs[bad_field]["aria-describedby"] == described
    assert inputs[bad_field]["aria-invalid"] == "true"
    for name in {"email", "password", "confirm_password", "first_name", "last_name"} - {bad_field}:
        assert "aria-invalid" not in inputs[name]
        assert inputs[name].get("aria-describedby") in (None, "password-hint")
    assert (count_rows(User), count_rows(Profile)) == (0, 0)
    if bad_field != "first_name":
        assert 'value="Sam"' in body  # typed values are kept
    assert PASSWORD not in body  # passwords are not


@pytest.mark.parametrize(
    "password",
    ["\u00e9" * 64 + "\u00fc" * 64, ("Gr\u00fc\u00dfe \U0001f511 \u65e5\u672c " * 20)[:128],
     "\U0001f511\U0001f36a\U0001f511 pass"],
)
def test_long_and_non_ascii_passwords_register_and_then_sign_in(client, make_client, password):
    assert client.register(password=password).status_code == 303
    assert client.logout().status_code == 303
    response = make_client().login(password=password)
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert make_client().login(password=password[:-1]).status_code == 422


def test_duplicate_email_in_another_case_gets_the_form_back(client, make_client):
    client.register("ada@example.com")
    other = make_client()
    response = other.register("ADA@EXAMPLE.COM", first_name="Eve")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert FIELD_ERRORS.findall(body) == ["email"] and EMAIL_REFUSED in body
    assert (count_rows(User), count_rows(Profile)) == (1, 1)
    assert other.signed_in_as() is None


@pytest.mark.parametrize(("first", "second"), ONE_ADDRESS)
def test_each_spelling_of_an_address_is_one_account(client, make_client, first, second):
    assert client.register(first).status_code == 303
    other = make_client()
    response = other.register(second, first_name="Eve")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert FIELD_ERRORS.findall(body) == ["email"] and EMAIL_REFUSED in body
    assert (count_rows(User), count_rows(Profile)) == (1, 1)
    signed_in = make_client().login(second)
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/account"


def test_markup_in_names_is_shown_escaped(client):
    client.register(first_name="<script>alert(1)</script>", last_name="<b>Bold</b>")
    body = client.page("/account")
    assert "<script>alert(1)" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<b>Bold" not in body


def test_registration_without_csrf_token_is_400(client):
    response = client.post("/auth/register", data={
        "email": "a@example.com", "password": PASSWORD, "confirm_password": PASSWORD,
        "first_name": "A", "last_name": "B"})
    assert response.status_code == 400
    assert count_rows(User) == 0


def test_registrations_are_limited_per_address(make_client):
    client = make_client("10.0.0.9")
    for number in range(10):
        assert client.register(f"user{number}@example.com").status_code == 303
        client.logout()
    response = client.register("one-more@example.com")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert count_rows(User) == 10
    assert client.signed_in_as() is None


# Sign-in ------------------------------------------------------------------------------------

def test_sign_in_lands_on_account(client):
    make_user()
    response = client.login()
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    body = client.page("/account")
    assert ("success", "You are signed in.") in flashes(body)
    assert 'data-user-email="ada@example.com"' in body


def test_sign_in_finds_the_account_whatever_the_letter_case(client):
    make_user("ada@example.com")
    response = client.login("Ada@Example.COM")
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert client.signed_in_as() == "ada@example.com"  # shown as registered


def test_failed_sign_in_is_the_same_for_unknown_wrong_and_disabled(client, make_client):
    make_user("ada@example.com")
    disabled = make_user("off@example.com")
    db.session.execute(update(User).where(User.id == disabled.id).values(is_active=False))
    db.session.commit()
    answers = []
    for email, password in [("nobody@example.com", PASSWORD), ("ada@example.com", "wrong pw 1"),
                            ("off@example.com", PASSWORD)]:
        response = make_client().login(email, password)
        body = CSRF_TOKENS.sub("", response.get_data(as_text=True)).replace(email, "EMAIL")
        answers.append((response.status_code, body))
    assert answers[0][0] == 422
    assert answers[0] == answers[1] == answers[2]
    assert "The email or password is incorrect." in answers[0][1]


@pytest.mark.parametrize(
    ("next_url", "location"),
    [
        ("/cart", "/cart"),
        ("/account/profile?tab=1", "/account/profile?tab=1"),
        ("//evil.example", "/account"),
        ("https://evil.example", "/account"),
        ("/\\evil.example", "/account"),
        ("javascript:alert(1)", "/account"),
        ("/\x7fSet-Cookie:x", "/account"),
    ],
)
def test_next_is_followed_only_within_the_site(client, next_url, location):
    make_user()
    response = client.post_form(
        "/auth/login", {"email": "ada@example.com", "password": PASSWORD},
        query_string={"next": next_url},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == location


def test_a_next_with_a_line_break_is_refused_before_signing_in(client):
    make_user()
    response = client.post_form(
        "/auth/login", {"email": "ada@example.com", "password": PASSWORD},
        query_string={"next": "/\r\nSet-Cookie:x"},
    )
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers.get("Location", "")
    assert client.signed_in_as() is None


def test_sign_in_renews_the_csrf_token(client):
    make_user()
    before = client.csrf_token()
    client.login()
    response = client.post("/auth/logout", data={"csrf_token": before})
    assert response.status_code == 400
    assert client.signed_in_as() == "ada@example.com"


def test_sign_in_starts_a_fresh_session_dict(client):
    make_user()
    with client.session_transaction() as session:
        session["left_over"] = "from the guest"
    client.login()
    with client.session_transaction() as session:
        assert "left_over" not in session


def test_remember_me_cookie_and_row_end_30_days_after_sign_in(client, monkeypatch):
    """Signed in with "remember me" a day ago: the row and the cookie end 30 days after that
    sign-in, and today's response (which rewrites the cookie) does not push the end."""
    make_user()
    signed_in_at = utcnow().replace(microsecond=0) - timedelta(days=1)
    with monkeypatch.context() as clock:
        clock.setattr(accounts, "utcnow", lambda: signed_in_at)
        response = client.login(remember=True)
    ends = signed_in_at + timedelta(days=REMEMBER_SESSION_DAYS)
    row = latest_session()
    assert (row.remember, row.created_at, row.expires_at) == (True, signed_in_at, ends)
    assert cookie_expires(response.headers["Set-Cookie"]) == ends
    today = client.get("/account")
    assert today.status_code == 200 and 'data-user-email="ada@example.com"' in today.text
    assert cookie_expires(today.headers["Set-Cookie"]) == ends


def test_without_remember_me_the_cookie_ends_with_the_browser_and_the_row_in_12_hours(client):
    make_user()
    before = utcnow()
    response = client.login()
    assert cookie_expires(response.headers["Set-Cookie"]) is None
    row = latest_session()
    assert row.remember is False
    assert row.expires_at - row.created_at == timedelta(hours=BROWSER_SESSION_HOURS)
    assert timedelta(0) <= row.created_at - before < timedelta(seconds=2)
    later = client.get("/account")
    assert later.status_code == 200
    assert cookie_expires(later.headers["Set-Cookie"]) is None


def test_tampered_session_cookie_is_anonymous(client):
    make_user()
    client.login()
    cookie = client.get_cookie("session")
    client.set_cookie("session", cookie.value[:-4] + "AAAA")
    response = client.get("/")
    assert response.status_code == 200
    assert client.signed_in_as() is None
    assert client.get("/account").status_code == 302


def test_copied_cookie_is_anonymous_after_sign_out(client, make_client):
    make_user()
    client.login()
    copy = make_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert copy.signed_in_as() == "ada@example.com"
    response = client.logout()
    assert response.status_code == 303
    assert ("info", "You have signed out.") in flashes(client.page(response.headers["Location"]))
    assert client.signed_in_as() is None
    assert copy.signed_in_as() is None
    latest = db.session.scalar(select(UserSession).order_by(UserSession.id.desc()).limit(1))
    assert latest.revoked_at is not None


def test_signing_out_lands_on_the_catalogue_with_a_notice(client):
    make_user()
    client.login()
    response = client.logout()
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert ("info", "You have signed out.") in flashes(client.page("/"))


def test_logout_needs_csrf_and_post(client):
    make_user()
    client.login()
    assert client.get("/auth/logout").status_code == 405
    assert client.post("/auth/logout").status_code == 400
    assert client.signed_in_as() == "ada@example.com"
    assert latest_session().revoked_at is None


def test_signing_in_as_someone_else_ends_the_session_left_behind(client, make_client):
    make_user("ada@example.com")
    make_user("bob@example.com")
    client.login("ada@example.com")
    ada_session = latest_session().id
    copy = make_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert copy.signed_in_as() == "ada@example.com"
    response = client.login("bob@example.com")
    assert response.status_code == 303
    assert client.signed_in_as() == "bob@example.com"
    assert db.session.get(UserSession, ada_session).revoked_at is not None
    assert copy.signed_in_as() is None
    assert copy.get("/account").status_code == 302


def test_a_failed_sign_in_as_someone_else_keeps_the_session(client):
    make_user("ada@example.com")
    make_user("bob@example.com")
    client.login("ada@example.com")
    assert client.login("bob@example.com", "not bobs password").status_code == 422
    assert client.signed_in_as() == "ada@example.com"
    assert latest_session().revoked_at is None


def test_wrong_passwords_from_many_addresses_lock_that_account(make_client):
    make_user("ada@example.com")
    make_user("bob@example.com")
    responses = [make_client(f"10.1.0.{n}").login("ADA@example.com", f"wrong {n:02d} pw")
                 for n in range(25)]
    assert [response.status_code for response in responses] == [422] * 10 + [429] * 15
    assert all(int(response.headers["Retry-After"]) > 0 for response in responses[10:])
    assert failed_sign_ins() == 10  # the refused ones never reached a password check
    locked = make_client("10.2.0.1").login("ada@example.com", PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert make_client("10.2.0.1").login("bob@example.com", PASSWORD).status_code == 303


def test_unknown_emails_are_throttled_alike(make_client):
    responses = [make_client(f"10.3.0.{n}").login(email, "whatever pw")
                 for n, email in enumerate(["ghost@example.com", "GHOST@example.com"] * 6)]
    assert [response.status_code for response in responses] == [422] * 10 + [429] * 2
    assert all(SIGN_IN_FAILED in response.text for response in responses[:10])
    assert all(int(response.headers["Retry-After"]) > 0 for response in responses[10:])
    assert failed_sign_ins() == 10


def test_auth_posts_are_limited_per_address(make_client):
    client = make_client("10.4.0.1")
    responses = [client.login(f"user{n}@example.com", "wrong pw x") for n in range(31)]
    assert [response.status_code for response in responses] == [422] * 30 + [429]
    assert int(responses[30].headers["Retry-After"]) > 0
    assert failed_sign_ins() == 30
    assert client.get("/auth/login").status_code == 200  # page views are never limited
    assert make_client("10.4.0.2").login("user0@example.com", "wrong pw x").status_code == 422


# Every spelling of an address and every form encoding spend the account's one budget.
SPELLINGS = {
    "ada@example.com": ["ADA@example.com", "ada@EXAMPLE.com", "\uff41\uff44\uff41@example.com"],
    "j\u00fcrgen@example.com": ["J\u00dcRGEN@example.com", "ju\u0308rgen@EXAMPLE.com",
                                "j\u00fcrgen@example.com"],
}
BODY_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data"]


@pytest.mark.parametrize("account", list(SPELLINGS))
def test_every_spelling_and_body_type_spends_the_one_sign_in_budget(make_client, account):
    make_user(account)
    attempts = list(itertools.product(SPELLINGS[account], BODY_TYPES)) * 3
    responses = [
        make_client(f"10.5.0.{n}").login(email, f"wrong {n:02d} pw", content_type=body_type)
        for n, (email, body_type) in enumerate(attempts)
    ]
    assert [response.status_code for response in responses] == [422] * 10 + [429] * 8
    assert all(int(response.headers["Retry-After"]) > 0 for response in responses[10:])
    assert failed_sign_ins() == 10
    for body_type in BODY_TYPES:
        locked = make_client("10.5.1.1").login(account, PASSWORD, content_type=body_type)
        assert locked.status_code == 429


def test_a_json_sign_in_is_refused_and_spends_nothing(make_client):
    make_user()
    for n in range(12):
        browser = make_client(f"10.5.2.{n}")
        token = browser.csrf_token()
        response = browser.post("/auth/login", headers={"X-CSRFToken": token}, json={
            "email": "ada@example.com", "password": f"wrong pw {n}", "csrf_token": token})
        assert response.status_code == 400
    assert failed_sign_ins() == 0
    assert make_client("10.5.3.1").login().status_code == 303


def wrong_passwords_at_once(app, account: str, count: int) -> list:  # noqa: ANN001
    """`count` browsers, each from its own address, post a wrong password at the same moment."""
    app.test_client_class = ShopClient
    barrier = threading.Barrier(count)
    responses: list = [None] * count

    def attempt(number: int) -> None:
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = f"10.6.{number // 250}.{number % 250 + 1}"
        token = browser.csrf_token()
        barrier.wait()
        responses[number] = browser.post("/auth/login", data={
            "csrf_token": token, "email": account.upper(), "password": f"wrong {number:02d} pw"})

    threads = [threading.Thread(target=attempt, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


@pytest.mark.parametrize(
    "app_config",
    [
        pytest.param({}, id="memory"),
        pytest.param({"RATELIMIT_STORAGE_URI": support.TEST_REDIS_URL,
                      "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}"}, id="redis",
                     marks=pytest.mark.skipif(not support.TEST_REDIS_URL,
                                              reason=support.REDIS_MISSING or "no Redis")),
    ],
    indirect=True,
)
def test_thirty_wrong_passwords_at_once_let_exactly_the_limit_through(app, app_config):
    account = f"target-{uuid.uuid4().hex[:8]}@example.com"  # a fresh key in a shared store
    make_user(account)
    responses = wrong_passwords_at_once(app, account, 30)
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [422] * 10 + [429] * 20
    assert failed_sign_ins() == 10
    assert all(int(response.headers["Retry-After"]) > 0
               for response in responses if response.status_code == 429)


# Where sign-in and registration return to -----------------------------------------------------

@pytest.mark.parametrize("link", ["Sign in", "Register"])
@pytest.mark.parametrize("page", ["/products/the-teapot", "/cart?x=1", "/?q=tea&page=1"])
def test_header_links_return_the_shopper_to_the_page(client, link, page):
    make_product(slug="the-teapot", name="The teapot")
    href = link_href(client.page(page), link)
    path, _, query = href.partition("?")
    assert path == ("/auth/login" if link == "Sign in" else "/auth/register")
    assert query.startswith("next=")
    if link == "Sign in":
        make_user()
        response = client.post_form(href, {"email": "ada@example.com", "password": PASSWORD})
    else:
        response = client.post_form(href, {
            "email": "ada@example.com", "password": PASSWORD, "confirm_password": PASSWORD,
            "first_name": "Ada", "last_name": "Lovelace"})
    assert response.status_code == 303
    assert response.headers["Location"] == page
    assert client.signed_in_as() == "ada@example.com"


@pytest.mark.parametrize("page", ["/auth/login", "/auth/register", "/auth/login?next=/cart"])
def test_auth_pages_do_not_send_the_shopper_back_to_themselves(client, page):
    body = client.page(page)
    assert link_href(body, "Sign in") == "/auth/login"
    assert link_href(body, "Register") == "/auth/register"
    make_user()
    response = client.post_form(link_href(body, "Sign in"),
                                {"email": "ada@example.com", "password": PASSWORD})
    assert response.headers["Location"] == "/account"


def test_the_login_form_keeps_the_next_it_was_given(client):
    body = client.page("/auth/login?next=/cart%3Fx%3D1")
    assert 'action="/auth/login?next=/cart?x%3D1"' in body
    assert link_href(body, "Create an account") == "/auth/register?next=/cart?x%3D1"


# Signing keys -------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["k" * 31, "\u00e9" * 15 + "k", "short"])  # 31, 31, 5 bytes
@pytest.mark.parametrize("env", [{}, {"FLASK_DEBUG": "1"}])
def test_a_secret_key_under_32_bytes_stops_start_up_even_in_development(key, env):
    with pytest.raises(ConfigError) as caught:
        load_config("/srv/instance", env={**env, "SECRET_KEY": key})
    assert "SECRET_KEY" in str(caught.value.code) and "32 bytes" in str(caught.value.code)
    with pytest.raises(ConfigError):
        load_config("/srv/instance", {"TESTING": True, "SECRET_KEY": key}, env={})


def test_a_secret_key_of_32_bytes_starts():
    assert load_config("/srv/instance", env={"SECRET_KEY": "k" * 32})["SECRET_KEY"] == "k" * 32
    # 16 characters, 32 bytes: the length is counted in bytes, as the signer uses it.
    assert load_config("/srv/instance", env={"SECRET_KEY": "\u00e9" * 16})["SECRET_KEY"]


def test_create_app_exits_on_a_short_secret_key(database_url):
    with pytest.raises(SystemExit) as caught:
        create_app(base_config(database_url, SECRET_KEY="k" * 31))
    assert caught.value.code != 0


def test_a_short_fallback_key_stops_start_up():
    with pytest.raises(ConfigError):
        load_config("/srv/instance", env={"SECRET_KEY": "k" * 40, "SECRET_KEY_FALLBACKS": "short"})


def test_blank_fallback_keys_are_dropped():
    config = load_config("/srv/instance", env={
        "SECRET_KEY": "k" * 40, "SECRET_KEY_FALLBACKS": f" , ,{LONG_KEY}, "})
    assert config["SECRET_KEY_FALLBACKS"] == [LONG_KEY]
    assert "SECRET_KEY_FALLBACKS" not in load_config(
        "/srv/instance", env={"SECRET_KEY": "k" * 40, "SECRET_KEY_FALLBACKS": " , "})


def signed_session(data: dict, key: str) -> str:
    """`data` as a session cookie signed with `key`, the way Flask signs one."""
    interface = SecureCookieSessionInterface()
    serializer = URLSafeTimedSerializer(
        key, salt=interface.salt, serializer=interface.serializer,
        signer_kwargs={"key_derivation": interface.key_derivation,
                       "digest_method": interface.digest_method})
    return serializer.dumps(data)


def test_a_cookie_signed_with_a_blank_fallback_key_is_anonymous(database_url, monkeypatch):
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", f" , ,{LONG_KEY}")
    app = create_app(base_config(database_url))
    app.test_client_class = ShopClient
    with app.app_context():
        make_user()
        browser = app.test_client()
        assert browser.login().status_code == 303
        session = app.session_interface.get_signing_serializer(app).loads(
            browser.get_cookie("session").value)
        assert session["_user_id"]  # the session token a forger would put in
        for key, signed_in in (("", None), (LONG_KEY, "ada@example.com")):
            forged = app.test_client()
            forged.set_cookie("session", signed_session(session, key))
            assert forged.signed_in_as() == signed_in
        forged = app.test_client()
        forged.set_cookie("session", signed_session(session, ""))
        assert forged.get("/account").status_code == 302
        db.session.remove()
        db.engine.dispose()


def test_failed_sign_ins_are_recorded(client):
    client.login("nobody@example.com", "wrong password")
    assert db.session.scalar(select(Event.detail).where(Event.kind == "login", ~Event.ok)) == (
        "invalid_credentials")
