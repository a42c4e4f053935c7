"""The account area and its JSON twin: each shopper reaches only their own data."""

import json
import re
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import delete, func, select, update

from storefront import accounts
from storefront.extensions import db
from storefront.models import Event, Profile, User, UserSession
from tests.support import FIELD_ERRORS, PASSWORD, count_rows, flashes

ACCOUNT_PAGES = ["/account", "/account/profile", "/account/password", "/account/sessions"]
NEW_PASSWORD = "a brand new passphrase"  # noqa: S105
WRONG_PASSWORD = "That is not your current password."
PASSWORD_CHANGED = ("success", "Your password was changed. Your other sessions were signed out.")
# Names that hold nothing visible: a zero-width space, joiners, marks with no letter to carry.
INVISIBLE_NAMES = ["\u200b", " \u200b\u200d ", "\u0301\u0308", "\u200e\u0301", "\u2060\ufeff"]


@pytest.fixture
def ada(client):  # noqa: ANN001, ANN201
    """A browser signed in as Ada, who registered through the form."""
    assert client.register("ada@example.com", first_name="Ada", last_name="Lovelace").status_code == 303
    return client


@pytest.fixture
def bob(make_client):  # noqa: ANN001, ANN201
    browser = make_client()
    assert browser.register("bob@example.com", first_name="Bob", last_name="Builder").status_code == 303
    return browser


def user_id(email: str) -> int:
    return db.session.scalar(select(User.id).where(User.email == email))


def password_hash(email: str = "ada@example.com") -> str:
    return db.session.scalar(select(User.password_hash).where(User.email == email))


def change_password(client, current: str, new: str):  # noqa: ANN001, ANN201
    return client.post_form("/account/password", {
        "current_password": current, "new_password": new, "confirm_password": new})


def delete_user_now(email: str = "ada@example.com") -> None:
    """Delete the account behind the request's back, as another request would: its own
    connection, committed at once (profile and sessions go by cascade)."""
    with db.engine.begin() as connection:
        connection.execute(delete(User).where(User.email == email))


@pytest.mark.parametrize("path", ACCOUNT_PAGES)
def test_account_pages_send_anonymous_visitors_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/auth/login?next={path}"


def test_sign_in_from_the_redirect_returns_to_the_page(client):
    client.register()
    client.logout()
    location = client.get("/account/sessions").headers["Location"]
    response = client.post_form(location, {"email": "ada@example.com", "password": PASSWORD})
    assert response.headers["Location"] == "/account/sessions"


def test_overview_shows_name_email_and_member_since(ada):
    body = ada.page("/account")
    assert "Ada Lovelace" in body and "ada@example.com" in body and "Member since" in body
    assert 'action="/account/delete"' in body
    assert ada.get("/account").headers["Cache-Control"] == "no-store"


def test_profile_edit_saves_and_ignores_fields_it_does_not_own(ada):
    response = ada.post_form("/account/profile", {
        "first_name": "  Augusta ", "last_name": "King", "phone": "+1 555 0100",
        "marketing_opt_in": "y", "email": "evil@example.com", "user_id": "999", "is_admin": "1",
    })
    assert response.status_code == 303
    body = ada.get(response.headers["Location"]).get_data(as_text=True)
    assert ("success", "Your profile was saved.") in flashes(body)
    profile = db.session.get(Profile, user_id("ada@example.com"))
    assert (profile.first_name, profile.last_name, profile.phone, profile.marketing_opt_in) == (
        "Augusta", "King", "+1 555 0100", True)
    assert count_rows(User) == 1 and user_id("ada@example.com") is not None


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "call me maybe"}, "phone"),
        ({"phone": "1" * 16}, "phone"),
        ({"phone": "+" + "1" * 40}, "phone"),
        ({"first_name": ""}, "first_name"),
        ({"last_name": "y" * 10_000}, "last_name"),
        *[({"first_name": name}, "first_name") for name in INVISIBLE_NAMES],
        *[({"last_name": name}, "last_name") for name in INVISIBLE_NAMES],
    ],
)
def test_bad_profile_input_is_422_with_field_errors(ada, fields, bad_field):
    data = {"first_name": "Ada", "last_name": "Lovelace", "phone": "", **fields}
    response = ada.post_form("/account/profile", data)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert FIELD_ERRORS.findall(body) == [bad_field]
    assert f'aria-describedby="{bad_field}-error"' in body
    profile = db.session.get(Profile, user_id("ada@example.com"))
    assert (profile.first_name, profile.last_name, profile.phone) == ("Ada", "Lovelace", None)


def test_password_change_signs_out_other_sessions_only(ada, make_client):
    other = make_client()
    other.login("ada@example.com")
    copy_of_old_cookie = make_client()
    copy_of_old_cookie.set_cookie("session", ada.get_cookie("session").value)
    response = change_password(ada, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 303
    assert PASSWORD_CHANGED in flashes(ada.page(response.headers["Location"]))
    assert ada.signed_in_as() == "ada@example.com"
    assert other.signed_in_as() is None
    assert copy_of_old_cookie.signed_in_as() is None
    assert make_client().login("ada@example.com", NEW_PASSWORD).status_code == 303


def test_a_password_change_keeps_a_remembered_sessions_end(ada):
    ada.logout()
    assert ada.login("ada@example.com", remember=True).status_code == 303
    row_id = db.session.scalar(select(func.max(UserSession.id)))
    ends = db.session.get(UserSession, row_id).expires_at
    response = change_password(ada, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 303
    expires = re.search(r"Expires=([^;]+)", response.headers["Set-Cookie"]).group(1)
    assert parsedate_to_datetime(expires) == ends.replace(microsecond=0)
    assert db.session.get(UserSession, row_id).expires_at == ends
    assert ada.signed_in_as() == "ada@example.com"


def test_password_change_with_wrong_current_password_is_422(ada):
    before = password_hash()
    response = change_password(ada, "not my password", NEW_PASSWORD)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert FIELD_ERRORS.findall(body) == ["current_password"] and WRONG_PASSWORD in body
    assert password_hash() == before
    assert ada.signed_in_as() == "ada@example.com"


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("ada@example.com", "Your password must not be your email address."),
        ("ADA@Example.COM", "Your password must not be your email address."),
        ("\uff41\uff44\uff41@example.com", "Your password must not be your email address."),
        (PASSWORD, "Choose a password different from your current one."),
        *[(weak, "This password is too common or too easy to guess.")
          for weak in ("aaaaaaaa", "\u00e9" * 8, "12345678", "qwertyuiop", "87654321",
                       "7890123456", "asdfghjkl", "password1")],
        ((NEW_PASSWORD * 6)[:129], "Use 8 to 128 characters."),
    ],
)
def test_password_change_refuses_the_email_the_current_and_weak_passwords(ada, new, message):
    before = password_hash()
    response = change_password(ada, PASSWORD, new)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert FIELD_ERRORS.findall(body) == ["new_password"] and message in body
    assert 'aria-describedby="new_password-hint new_password-error"' in body
    assert password_hash() == before
    assert count_rows(Event) == 2  # the sign-up's: nothing else happened


def test_a_password_of_128_characters_can_be_changed_to_and_used(ada, make_client):
    new = ("Gr\u00fc\u00dfe \U0001f511 " * 20)[:128]
    assert change_password(ada, PASSWORD, new).status_code == 303
    assert make_client().login("ada@example.com", new).status_code == 303


def test_failed_password_rechecks_are_limited_but_never_lock_sign_in(ada, make_client):
    before = password_hash()
    responses = [change_password(ada, "nope nope", NEW_PASSWORD) for _ in range(6)]
    assert [response.status_code for response in responses] == [422] * 5 + [429]
    assert all(WRONG_PASSWORD in response.text for response in responses[:5])
    assert int(responses[5].headers["Retry-After"]) > 0
    refused = ada.post_form("/account/delete", {"password": PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert count_rows(User) == 1 and password_hash() == before
    assert make_client().login("ada@example.com").status_code == 303


def test_successful_password_changes_are_limited_per_account(ada, make_client):
    """Every change costs slow hashes: the 11th in 15 minutes waits, though each was right."""
    current = PASSWORD
    for number in range(10):
        new = f"{NEW_PASSWORD} {number}"
        response = change_password(ada, current, new)
        assert response.status_code == 303, number
        current = new
    before = password_hash()
    refused = change_password(ada, current, f"{NEW_PASSWORD} eleven")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Please wait about 15 minutes" in refused.text
    assert password_hash() == before
    deleting = ada.post_form("/account/delete", {"password": current})
    assert deleting.status_code == 429 and count_rows(User) == 1
    assert ada.signed_in_as() == "ada@example.com"
    assert make_client().login("ada@example.com", current).status_code == 303


def test_sessions_page_lists_devices_and_marks_this_one(ada, make_client):
    phone = make_client("10.9.9.9")
    phone.login("ada@example.com", headers={
        "User-Agent": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile"})
    body = ada.page("/account/sessions")
    assert "Chrome on Android" in body and "10.9.9.9" in body
    assert body.count("(this device)") == 1
    assert len(re.findall(r"data-session-id=", body)) == 2


def test_revoking_a_session_signs_that_device_out(ada, make_client):
    other = make_client()
    other.login("ada@example.com")
    other_id = db.session.scalar(select(func.max(UserSession.id)))
    response = ada.post_form(f"/account/sessions/{other_id}/revoke")
    assert response.status_code == 303
    assert ("success", "The session was signed out.") in flashes(
        ada.page(response.headers["Location"]))
    assert db.session.get(UserSession, other_id).revoked_at is not None
    assert other.signed_in_as() is None and ada.signed_in_as() == "ada@example.com"


def test_revoking_another_accounts_session_is_404(ada, bob):
    bob_session = db.session.scalar(
        select(UserSession.id).where(UserSession.user_id == user_id("bob@example.com")))
    assert ada.post_form(f"/account/sessions/{bob_session}/revoke").status_code == 404
    assert db.session.get(UserSession, bob_session).revoked_at is None
    assert bob.signed_in_as() == "bob@example.com"


@pytest.mark.parametrize("bad_id", ["0", "-1", "abc", "99999999999999999999", "2147483648"])
def test_revoke_with_a_bad_id_is_404(ada, bad_id):
    assert ada.post_form(f"/account/sessions/{bad_id}/revoke").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(UserSession)
                             .where(UserSession.revoked_at.is_not(None))) == 0
    assert ada.signed_in_as() == "ada@example.com"


def test_delete_account_needs_the_password(ada):
    response = ada.post_form("/account/delete", {"password": "wrong one"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert FIELD_ERRORS.findall(body) == ["password"] and WRONG_PASSWORD in body
    assert (count_rows(User), count_rows(Profile)) == (1, 1)
    assert ada.signed_in_as() == "ada@example.com"


def test_delete_account_removes_everything_and_signs_out(ada, make_client):
    copy = make_client()
    copy.set_cookie("session", ada.get_cookie("session").value)
    response = ada.post_form("/account/delete", {"password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert ("info", "Your account and everything it held were deleted.") in flashes(
        ada.page("/"))
    assert (count_rows(User), count_rows(Profile), count_rows(UserSession)) == (0, 0, 0)
    assert ada.signed_in_as() is None and copy.signed_in_as() is None


def test_an_account_disabled_while_signed_in_is_anonymous_at_once(ada):
    assert ada.signed_in_as() == "ada@example.com"
    db.session.execute(update(User).where(User.email == "ada@example.com").values(is_active=False))
    db.session.commit()
    body = ada.page("/")
    assert "data-user-email" not in body and "Sign in" in body
    response = ada.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/account"
    assert ada.get("/api/me").status_code == 401


def test_each_account_sees_only_its_own_pages(ada, bob):
    for path in ACCOUNT_PAGES:
        ada_page, bob_page = ada.page(path), bob.page(path)
        assert "bob@example.com" not in ada_page and "Builder" not in ada_page
        assert "ada@example.com" not in bob_page and "Lovelace" not in bob_page


# JSON ---------------------------------------------------------------------------------------

def test_api_me_and_profile_need_sign_in_and_answer_json(client):
    for path in ("/api/me", "/api/profile"):
        response = client.get(path)
        assert response.status_code == 401 and response.is_json
        assert "error" in response.get_json()


def test_api_me_returns_the_user_and_profile(ada, bob):
    me = ada.get("/api/me").get_json()
    assert me == {"id": user_id("ada@example.com"), "email": "ada@example.com", "profile": {
        "first_name": "Ada", "last_name": "Lovelace", "phone": None, "marketing_opt_in": False},
        "avatar_url": None}
    assert bob.get("/api/me").get_json()["email"] == "bob@example.com"


def put_profile(client, payload, token=True):  # noqa: ANN001, ANN201
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-CSRFToken"] = client.csrf_token()
    return client.put("/api/profile", data=json.dumps(payload), headers=headers)


def test_api_profile_put_is_a_partial_update_ignoring_unknown_keys(ada, bob):
    response = put_profile(ada, {"phone": "+44 20 7946 0000", "marketing_opt_in": True,
                                 "email": "x@example.com", "user_id": 2})
    assert response.status_code == 200
    assert response.get_json() == {"first_name": "Ada", "last_name": "Lovelace",
                                   "phone": "+44 20 7946 0000", "marketing_opt_in": True}
    assert bob.get("/api/profile").get_json()["phone"] is None
    assert ada.get("/api/me").get_json()["email"] == "ada@example.com"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"first_name": ""}, "first_name"),
        ({"first_name": 42}, "first_name"),
        ({"last_name": "z" * 101}, "last_name"),
        ({"phone": "abc"}, "phone"),
        ({"marketing_opt_in": "yes"}, "marketing_opt_in"),
    ],
)
def test_api_profile_put_with_bad_values_is_422_and_changes_nothing(ada, payload, field):
    response = put_profile(ada, {**payload, "last_name": payload.get("last_name", "Changed")})
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert ada.get("/api/profile").get_json()["last_name"] == "Lovelace"


@pytest.mark.parametrize("body", ["[1, 2]", "not json", '"text"', "null"])
def test_api_profile_put_with_a_body_that_is_not_an_object_is_400_json(ada, body):
    response = ada.put("/api/profile", data=body, headers={
        "Content-Type": "application/json", "X-CSRFToken": ada.csrf_token()})
    assert response.status_code == 400 and response.is_json
    assert "error" in response.get_json()
    assert ada.get("/api/profile").get_json()["first_name"] == "Ada"


@pytest.mark.parametrize("name", INVISIBLE_NAMES)
@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_api_profile_put_refuses_a_name_with_nothing_visible(ada, field, name):
    response = put_profile(ada, {field: name})
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == [field]
    assert ada.get("/api/profile").get_json() == {
        "first_name": "Ada", "last_name": "Lovelace", "phone": None, "marketing_opt_in": False}


@pytest.mark.parametrize("token", [None, "not-the-token", "wrong." * 10])
def test_api_profile_put_when_anonymous_is_401_before_any_csrf_check(client, token):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-CSRFToken"] = token
    response = client.put("/api/profile", data=json.dumps({"first_name": "Mallory"}),
                          headers=headers)
    assert response.status_code == 401 and response.is_json
    assert response.get_json() == {"error": "Sign in to use this."}
    assert count_rows(Profile) == 0


@pytest.mark.parametrize("token", [None, "", "not-the-token", "forged"])
def test_api_profile_put_without_the_right_csrf_header_is_400_naming_it(ada, bob, token):
    headers = {"Content-Type": "application/json"}
    if token == "forged":  # a real token, of another session
        headers["X-CSRFToken"] = bob.csrf_token()
    elif token is not None:
        headers["X-CSRFToken"] = token
    response = ada.put("/api/profile", data=json.dumps({"first_name": "Mallory"}),
                       headers=headers)
    assert response.status_code == 400 and response.is_json
    error = response.get_json()
    assert list(error) == ["error"] and "X-CSRFToken" in error["error"]
    assert ada.get("/api/profile").get_json()["first_name"] == "Ada"
    profile = db.session.get(Profile, user_id("ada@example.com"))
    assert (profile.first_name, profile.last_name) == ("Ada", "Lovelace")


# An account deleted while one of its requests is on the way ------------------------------------

def send_profile_change(client, kind: str):  # noqa: ANN001, ANN201
    if kind == "api":
        return put_profile(client, {"first_name": "Ghost"})
    return client.post_form("/account/profile", {"first_name": "Ghost", "last_name": "Writer"})


def delete_when_reached(monkeypatch, name: str) -> None:  # noqa: ANN001
    """Delete Ada's account the first time the request calls `accounts.<name>`, right after it
    returns: as if another request deleted it at that moment."""
    real = getattr(accounts, name)
    armed = [True]

    def then_delete(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        result = real(*args, **kwargs)
        if armed[0]:
            armed[0] = False
            delete_user_now()
        return result

    monkeypatch.setattr(accounts, name, then_delete)


@pytest.mark.parametrize("kind", ["api", "form"])
def test_a_profile_change_after_its_account_was_deleted_is_anonymous(ada, kind):
    delete_user_now()
    response = send_profile_change(ada, kind)
    if kind == "api":
        assert response.status_code == 401 and response.is_json
    else:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/auth/login")
    assert (count_rows(User), count_rows(Profile), count_rows(UserSession)) == (0, 0, 0)


@pytest.mark.parametrize("moment", ["load_session", "get_profile"])
@pytest.mark.parametrize("kind", ["api", "form"])
def test_a_profile_change_racing_its_accounts_deletion_is_404(ada, monkeypatch, kind, moment):
    token = ada.csrf_token()  # fetched before the race is armed
    delete_when_reached(monkeypatch, moment)
    if kind == "api":
        response = ada.put("/api/profile", data=json.dumps({"first_name": "Ghost"}),
                           headers={"Content-Type": "application/json", "X-CSRFToken": token})
    else:
        response = ada.post("/account/profile", data={
            "csrf_token": token, "first_name": "Ghost", "last_name": "Writer"})
    assert response.status_code == 404
    assert response.is_json is (kind == "api")
    assert (count_rows(User), count_rows(Profile), count_rows(UserSession)) == (0, 0, 0)
    assert ada.signed_in_as() is None


# CLI ------------------------------------------------------------------------------------------

def test_accounts_check_passes_after_registrations(ada, bob, runner):
    result = runner.invoke(args=["accounts", "check"])
    assert result.exit_code == 0, result.output
    assert "Users without a profile: 0." in result.output


def test_accounts_check_exits_1_on_a_user_without_profile_and_fix_repairs(ada, runner):
    db.session.delete(db.session.get(Profile, user_id("ada@example.com")))
    db.session.commit()
    result = runner.invoke(args=["accounts", "check"])
    assert result.exit_code == 1 and "no profile" in result.output
    fixed = runner.invoke(args=["accounts", "check", "--fix"])
    assert fixed.exit_code == 0 and "Profiles created: 1." in fixed.output
    assert runner.invoke(args=["accounts", "check"]).exit_code == 0


def test_report_figures_survive_deleted_accounts_and_each_has_its_label(client, make_client,
                                                                       runner):
    """Three sign-ups, one refused duplicate, one wrong password, then one account deleted:
    every figure is labelled, and created accounts, attempts and their rate agree."""
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        assert make_client().register(email).status_code == 303
    assert make_client().register("A@EXAMPLE.COM").status_code == 422
    assert make_client().login("b@example.com", "wrong password").status_code == 422
    leaving = make_client()
    assert leaving.login("c@example.com").status_code == 303
    assert leaving.post_form("/account/delete", {"password": PASSWORD}).status_code == 303

    text = runner.invoke(args=["report"])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0] == "Figures for the last 30 day(s)"
    assert ("  registration success rate    75.0%  (3 accounts created / 4 valid registration "
            "attempts)") in lines
    assert "  sign-ins                     4 successful (sign-ups included)" in lines
    assert "  failed sign-ins              1" in lines
    assert "  sessions started             4 (one per successful sign-in)" in lines
    assert ("  profile creation rate        100.0%  (2 with a profile / 2 accounts created in "
            "the period)") in lines
    assert any(line.startswith("  sessions started, now        2 of existing accounts:")
               and "2 of accounts deleted since" in line for line in lines)
    for line in lines[1:]:  # every figure follows its label
        if any(char.isdigit() for char in line):
            assert re.match(r"  [a-z][a-z ,-]+[a-z]  +\S", line), line

    data = json.loads(runner.invoke(args=["report", "--json"]).output)
    assert (data["accounts_created"], data["registration_attempts"]) == (3, 4)
    assert data["registration_success_rate"] == 0.75
    assert (data["sign_ins"], data["failed_sign_ins"]) == (4, 1)
    assert data["sessions_started"] == 4
    assert data["sessions_of_deleted_accounts"] == 2
    assert data["profile_creation_success_rate"] == 1.0


def test_report_prints_figures_and_json(ada, bob, runner):
    text = runner.invoke(args=["report", "--days", "7"])
    assert text.exit_code == 0
    assert ("registration success rate    100.0%  (2 accounts created / 2 valid registration "
            "attempts)") in text.output
    assert "failed sign-ins              0" in text.output
    data = json.loads(runner.invoke(args=["report", "--json"]).output)
    assert data["registration_success_rate"] == 1.0
    assert data["profile_creation_success_rate"] == 1.0
    assert data["cart_merge_success_rate"] is None
    assert data["sessions_started"] == 2
    assert "session_persistence_rate" in data
    assert runner.invoke(args=["report", "--days", "0"]).exit_code != 0


@pytest.mark.parametrize("moment", ["load_session", "check_password_hash"])
def test_a_password_change_racing_its_accounts_deletion_is_404(ada, monkeypatch, moment):
    token = ada.csrf_token()
    delete_when_reached(monkeypatch, moment)
    response = ada.post("/account/password", data={
        "csrf_token": token, "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert response.status_code == 404
    assert (count_rows(User), count_rows(Profile), count_rows(UserSession)) == (0, 0, 0)
    assert ada.signed_in_as() is None
