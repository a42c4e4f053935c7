"""Registration, sign-in and sign-out over HTTP, as a browser does them."""

import re

import pytest
from sqlalchemy import select, update

from storefront.extensions import db
from storefront.models import Event, Profile, User, UserSession
from tests.factories import make_user
from tests.support import FIELD_ERRORS, PASSWORD, count_rows, flashes

CSRF_TOKENS = re.compile(r'(content|value)="[\w.-]{40,}"')


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
        ({"password": "p" * 129, "confirm_password": "p" * 129}, "password"),
        ({"password": "password123", "confirm_password": "password123"}, "password"),
        ({"password": "sam@example.com", "confirm_password": "sam@example.com"}, "password"),
        ({"confirm_password": "something else entirely"}, "confirm_password"),
        ({"first_name": "   "}, "first_name"),
        ({"first_name": "x" * 10_000}, "first_name"),
        ({"last_name": "x" * 101}, "last_name"),
        ({"last_name": "Tab\tName"}, "last_name"),
        ({"last_name": "Del\x7fName"}, "last_name"),
        ({"first_name": "\u200b"}, "first_name"),
    ],
)
def test_bad_registration_shows_field_errors_and_writes_nothing(client, fields, bad_field):
    data = {"email": "sam@example.com", "password": PASSWORD, "confirm_password": PASSWORD,
            "first_name": "Sam", "last_name": "Smith", **fields}
    response = client.post_form("/auth/register", data)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert FIELD_ERRORS.findall(body) == [bad_field]
    assert f'aria-describedby="{bad_field}-error"' in body or "aria-describedby=\"" in body
    assert (count_rows(User), count_rows(Profile)) == (0, 0)
    if bad_field != "first_name":
        assert 'value="Sam"' in body  # typed values are kept
    assert PASSWORD not in body  # passwords are not


def test_password_of_128_characters_and_unicode_is_accepted(client):
    password = "é" * 64 + "ü" * 64
    assert client.register(password=password).status_code == 303


def test_duplicate_email_in_another_case_gets_the_form_back(client, make_client):
    client.register("ada@example.com")
    other = make_client()
    response = other.register("ADA@EXAMPLE.COM", first_name="Eve")
    assert response.status_code == 422
    assert FIELD_ERRORS.findall(response.get_data(as_text=True)) == ["email"]
    assert (count_rows(User), count_rows(Profile)) == (1, 1)
    assert other.signed_in_as() is None


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


# Sign-in ------------------------------------------------------------------------------------

def test_sign_in_lands_on_account(client):
    make_user()
    response = client.login()
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert client.signed_in_as() == "ada@example.com"


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


def test_remember_me_makes_a_30_day_cookie(client, make_client):
    make_user()
    short = client.login().headers["Set-Cookie"]
    long = make_client().login(remember=True).headers["Set-Cookie"]
    assert "Expires=" not in short
    assert "Expires=" in long
    rows = db.session.scalars(select(UserSession).order_by(UserSession.id)).all()
    assert [row.remember for row in rows[-2:]] == [False, True]


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
    assert client.signed_in_as() is None
    assert copy.signed_in_as() is None
    latest = db.session.scalar(select(UserSession).order_by(UserSession.id.desc()).limit(1))
    assert latest.revoked_at is not None


def test_logout_needs_csrf_and_post(client):
    make_user()
    client.login()
    assert client.get("/auth/logout").status_code == 405
    assert client.post("/auth/logout").status_code == 400
    assert client.signed_in_as() == "ada@example.com"


def test_wrong_passwords_from_many_addresses_lock_that_account(make_client):
    make_user("ada@example.com")
    make_user("bob@example.com")
    statuses = [make_client(f"10.1.0.{n}").login("ADA@example.com", f"wrong {n:02d} pw").status_code
                for n in range(25)]
    assert statuses[:10] == [422] * 10
    assert set(statuses[10:]) == {429}
    locked = make_client("10.2.0.1").login("ada@example.com", PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert make_client("10.2.0.1").login("bob@example.com", PASSWORD).status_code == 303


def test_unknown_emails_are_throttled_alike(make_client):
    statuses = [make_client(f"10.3.0.{n}").login("ghost@example.com", "whatever pw").status_code
                for n in range(11)]
    assert statuses[-1] == 429


def test_auth_posts_are_limited_per_address(make_client):
    client = make_client("10.4.0.1")
    statuses = [client.login(f"user{n}@example.com", "wrong pw x").status_code for n in range(31)]
    assert statuses[:30] == [422] * 30
    assert statuses[30] == 429
    assert client.get("/auth/login").status_code == 200  # page views are never limited


def test_failed_sign_ins_are_recorded(client):
    client.login("nobody@example.com", "wrong password")
    assert db.session.scalar(select(Event.detail).where(Event.kind == "login", ~Event.ok)) == (
        "invalid_credentials")
