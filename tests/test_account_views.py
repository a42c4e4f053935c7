"""The account area and its JSON twin: each shopper reaches only their own data."""

import json
import re

import pytest
from sqlalchemy import func, select

from storefront.extensions import db
from storefront.models import Profile, User, UserSession
from tests.support import FIELD_ERRORS, PASSWORD, count_rows, flashes

ACCOUNT_PAGES = ["/account", "/account/profile", "/account/password", "/account/sessions"]
NEW_PASSWORD = "a brand new passphrase"  # noqa: S105




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
    response = ada.post_form("/account/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
    })
    assert response.status_code == 303
    assert ada.signed_in_as() == "ada@example.com"
    assert other.signed_in_as() is None
    assert copy_of_old_cookie.signed_in_as() is None
    assert make_client().login("ada@example.com", NEW_PASSWORD).status_code == 303


def test_password_change_with_wrong_current_password_is_422(ada):
    response = ada.post_form("/account/password", {
        "current_password": "not my password", "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
    })
    assert response.status_code == 422
    assert "That is not your current password." in response.get_data(as_text=True)
    assert make_client_login_works(ada)


def make_client_login_works(client) -> bool:  # noqa: ANN001
    return client.signed_in_as() == "ada@example.com"


def test_failed_password_rechecks_are_limited_but_never_lock_sign_in(ada, make_client):
    wrong = {"current_password": "nope nope", "new_password": NEW_PASSWORD,
             "confirm_password": NEW_PASSWORD}
    statuses = [ada.post_form("/account/password", wrong).status_code for _ in range(6)]
    assert statuses == [422] * 5 + [429]
    assert ada.post_form("/account/delete", {"password": PASSWORD}).status_code == 429
    assert make_client().login("ada@example.com").status_code == 303


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
    assert other.signed_in_as() is None and ada.signed_in_as() == "ada@example.com"


def test_revoking_another_accounts_session_is_404(ada, bob):
    bob_session = db.session.scalar(
        select(UserSession.id).where(UserSession.user_id == user_id("bob@example.com")))
    assert ada.post_form(f"/account/sessions/{bob_session}/revoke").status_code == 404
    assert bob.signed_in_as() == "bob@example.com"


@pytest.mark.parametrize("bad_id", ["0", "-1", "abc", "99999999999999999999", "2147483648"])
def test_revoke_with_a_bad_id_is_404(ada, bad_id):
    assert ada.post_form(f"/account/sessions/{bad_id}/revoke").status_code == 404


def test_delete_account_needs_the_password(ada):
    response = ada.post_form("/account/delete", {"password": "wrong one"})
    assert response.status_code == 422
    assert "That is not your current password." in response.get_data(as_text=True)
    assert count_rows(User) == 1


def test_delete_account_removes_everything_and_signs_out(ada, make_client):
    copy = make_client()
    copy.set_cookie("session", ada.get_cookie("session").value)
    response = ada.post_form("/account/delete", {"password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert (count_rows(User), count_rows(Profile), count_rows(UserSession)) == (0, 0, 0)
    assert ada.signed_in_as() is None and copy.signed_in_as() is None


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
        "first_name": "Ada", "last_name": "Lovelace", "phone": None, "marketing_opt_in": False}}
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


def test_api_profile_put_without_csrf_header_is_400_json(ada):
    response = put_profile(ada, {"first_name": "Mallory"}, token=False)
    assert response.status_code == 400 and response.is_json
    assert ada.get("/api/profile").get_json()["first_name"] == "Ada"


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
