"""Verification, password reset and e-mail change over HTTP, with the mail read from a real
SMTP server (aiosmtpd) after the worker sent it: what the shopper sees, what the database
holds, and every attack on the links (unknown, expired, used, truncated, tampered, wrong
purpose, replayed, raced), the recipient (Unicode look-alikes, a hostile Host) and the limits."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select, update

from storefront import accounts
from storefront.exceptions import InvalidToken
from storefront.extensions import db
from storefront.models import EmailToken, OutboxMail, User, UserSession, utcnow
from tests.support import PASSWORD, Mailbox, ShopClient, count_rows, field_errors, flashes

BASE_URL = "https://shop.example"
NEW_PASSWORD = "a brand new passphrase 42"  # noqa: S105 - a test value
RESET_LINK_SENT = ("If an account uses that address, a link to reset its password is on its "
                   "way there. It works for one hour.")
PASSWORD_CHANGED = ("Your password was changed and every session of your account was signed "
                    "out. Sign in with your new password.")


@pytest.fixture
def app_config(mailbox: Mailbox) -> dict[str, object]:
    return {"MAIL_URL": mailbox.url, "EXTERNAL_BASE_URL": BASE_URL}


def deliver(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["mail", "deliver", "--once"])
    assert result.exit_code == 0, result.output


def latest_link(app: Flask, mailbox: Mailbox, to: str) -> str:
    """Send what waits, then the path of the link in the newest mail to `to`."""
    deliver(app)
    mails = [m for m in mailbox.to(to) if "/auth/" in m.text]
    assert mails, f"no mail with a link to {to}"
    link = mails[-1].link()
    assert link.startswith(BASE_URL + "/auth/")
    return urlsplit(link).path


def user(email: str) -> User:
    db.session.rollback()
    return db.session.scalar(select(User).where(User.email_canonical == email.lower()))


def without_token(page: str) -> str:
    return re.sub(r'(name="csrf-token" content|name="csrf_token"[^>]*value)="[^"]+"', "", page)


def verified_marker(client: ShopClient) -> str:
    return re.search(r'data-email-verified="(\w+)"', client.page("/account")).group(1)


def panel_form(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the form in a page's panel, as a browser would send it."""
    action, inner = re.search(
        r'<section class="panel"[^>]*>.*?<form action="([^"]+)" method="post"[^>]*>(.*?)</form>',
        page, re.S).groups()
    return action, dict(re.findall(r'name="(\w+)" type="hidden" value="([^"]*)"', inner))


def reset_token_in_session(browser: ShopClient) -> object:
    """What a reset link left in the browser's signed session cookie (None: nothing)."""
    with browser.session_transaction() as session:
        return session.get("reset_token")


# Verification ----------------------------------------------------------------------------------

def test_the_verification_link_shows_a_button_and_only_its_post_verifies(app, client, mailbox):
    assert client.register("ada@example.com").status_code == 303
    assert verified_marker(client) == "false"
    assert "Send the link again" in client.page("/account")
    path = latest_link(app, mailbox, "ada@example.com")
    [mail] = mailbox.to("ada@example.com")
    assert mail.subject == "Confirm your e-mail address · Storefront"

    page = client.get(path)  # a mail scanner's GET changes nothing
    assert page.status_code == 200 and "Confirm my address" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert user("ada@example.com").email_verified_at is None

    answer = client.post_form(path)
    assert answer.status_code == 303 and answer.headers["Location"] == "/account"
    assert ("success", "Thank you: your e-mail address is verified.") in flashes(
        client.page("/account"))
    assert verified_marker(client) == "true"
    assert "Send the link again" not in client.page("/account")
    assert client.post_form(path).status_code == 400  # replayed
    assert client.get(path).status_code == 400


def test_an_anonymous_visitor_can_verify_with_the_link(app, client, make_client, mailbox):
    assert client.register("ada@example.com").status_code == 303
    path = latest_link(app, mailbox, "ada@example.com")
    other = make_client()
    answer = other.post_form(path)
    assert answer.status_code == 303 and answer.headers["Location"] == "/auth/login"
    assert user("ada@example.com").email_verified_at is not None


def test_the_confirm_button_posts_its_own_link_with_the_pages_csrf_token(app, client, mailbox):
    """The form exactly as the page writes it (what a browser sends) verifies the address."""
    assert client.register("ada@example.com").status_code == 303
    path = latest_link(app, mailbox, "ada@example.com")
    action, fields = panel_form(client.page(path))
    assert action == path and list(fields) == ["csrf_token"]
    answer = client.post(action, data=fields)
    assert answer.status_code == 303 and answer.headers["Location"] == "/account"
    assert user("ada@example.com").email_verified_at is not None


def test_resend_sends_a_new_link_once_per_three_minutes(app, client, mailbox):
    assert client.register("ada@example.com").status_code == 303
    answer = client.post_form("/account/verify/resend")
    assert answer.status_code == 303
    assert ("success", "We sent a new confirmation link to ada@example.com.") in flashes(
        client.page("/account"))
    refused = client.post_form("/account/verify/resend")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 100
    deliver(app)
    links = [m.link() for m in mailbox.to("ada@example.com")]
    assert len(links) == 2 and len(set(links)) == 2  # both work until one is used
    assert client.post_form(urlsplit(links[0]).path).status_code == 303
    assert client.post_form(urlsplit(links[1]).path).status_code == 303
    assert verified_marker(client) == "true"


def test_resend_for_a_verified_address_sends_nothing(app, client):
    assert client.register("ada@example.com").status_code == 303
    db.session.execute(update(User).values(email_verified_at=utcnow()))
    db.session.commit()
    before = count_rows(OutboxMail)
    assert client.post_form("/account/verify/resend").status_code == 303
    assert ("info", "Your e-mail address is already verified.") in flashes(
        client.page("/account"))
    assert count_rows(OutboxMail) == before


def test_resend_needs_a_signed_in_shopper(client):
    answer = client.post_form("/account/verify/resend")
    assert answer.status_code == 302 and "/auth/login" in answer.headers["Location"]


# Token attacks ----------------------------------------------------------------------------------

def _fingerprint() -> tuple:
    db.session.rollback()
    return (
        db.session.execute(select(User.email, User.password_hash, User.email_verified_at)
                           .order_by(User.id)).all(),
        db.session.execute(select(EmailToken.id, EmailToken.used_at).order_by(EmailToken.id))
        .all(),
        db.session.execute(select(UserSession.id, UserSession.revoked_at)
                           .order_by(UserSession.id)).all(),
    )


def test_bad_tokens_get_a_400_page_and_change_nothing(app, client, make_client, mailbox):
    assert client.register("ada@example.com").status_code == 303
    verify_path = latest_link(app, mailbox, "ada@example.com")
    client.post_form("/auth/forgot", {"email": "ada@example.com"})
    reset_path = latest_link(app, mailbox, "ada@example.com")
    verify_token = verify_path.rsplit("/", 1)[1]
    reset_token = reset_path.rsplit("/", 1)[1]
    flipped = verify_token[:-1] + ("A" if verify_token[-1] != "A" else "B")
    expired_client = make_client()
    assert expired_client.register("bob@example.com").status_code == 303
    expired_path = latest_link(app, mailbox, "bob@example.com")
    db.session.execute(update(EmailToken).where(EmailToken.user_id == user("bob@example.com").id)
                       .values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    before = _fingerprint()
    stranger = make_client()
    for path in (
        "/auth/verify/" + "x" * 43,  # unknown
        "/auth/verify/" + verify_token[:-1],  # truncated
        "/auth/verify/" + flipped,  # tampered
        "/auth/verify/" + "a" * 65,  # longer than any token
        "/auth/verify/" + reset_token,  # a reset token used to verify
        expired_path,  # expired
    ):
        for send in (stranger.get, stranger.post_form):
            answer = send(path)
            assert answer.status_code == 400, (path, send)
            assert "This link cannot be used" in answer.get_data(as_text=True)
    for token in ("x" * 43, reset_token[:-1], verify_token, "bad.token", "a" * 65):
        stranger.get(f"/auth/reset/{token}")
        page = stranger.get("/auth/reset")
        assert page.status_code == 400, token
        answer = stranger.post_form("/auth/reset", {"new_password": NEW_PASSWORD,
                                                    "confirm_password": NEW_PASSWORD})
        assert answer.status_code == 400, token
    assert _fingerprint() == before


def test_two_simultaneous_uses_of_a_token_succeed_once(app, client, mailbox):
    assert client.register("ada@example.com").status_code == 303
    token = latest_link(app, mailbox, "ada@example.com").rsplit("/", 1)[1]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def use() -> None:
        with app.app_context():
            barrier.wait()
            try:
                accounts.confirm_email(token)
                outcomes.append("used")
            except InvalidToken:
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "used"]


# Password reset ---------------------------------------------------------------------------------

def test_forgot_answers_alike_for_known_and_unknown_addresses(app, client, make_client, mailbox):
    assert client.register("ada@example.com").status_code == 303
    answers = []
    for email in ("ada@example.com", "nobody@example.com"):
        visitor = make_client()
        answer = visitor.post_form("/auth/forgot", {"email": email})
        page = visitor.get(answer.headers["Location"])
        answers.append((answer.status_code, answer.headers["Location"], page.status_code,
                        without_token(page.get_data(as_text=True))))
    assert answers[0] == answers[1]
    assert answers[0][:3] == (303, "/auth/forgot", 200)
    assert flashes(answers[0][3]) == [("info", RESET_LINK_SENT)]
    deliver(app)
    assert [m.recipients for m in mailbox.received if "reset" in m.subject.lower()] == [
        ["ada@example.com"]]


def test_the_reset_journey_ends_every_session_and_does_not_sign_in(app, client, make_client,
                                                                    mailbox):
    assert client.register("ada@example.com").status_code == 303
    phone = make_client()
    assert phone.login("ada@example.com").status_code == 303
    visitor = make_client()
    assert visitor.post_form("/auth/forgot", {"email": "ada@example.com"}).status_code == 303
    path = latest_link(app, mailbox, "ada@example.com")
    [reset_mail] = [m for m in mailbox.received if m.subject.startswith("Reset")]
    assert reset_mail.recipients == ["ada@example.com"]
    assert "1 hour" in reset_mail.text

    moved = visitor.get(path)
    assert moved.status_code == 303 and moved.headers["Location"] == "/auth/reset"
    assert moved.headers["Referrer-Policy"] == "no-referrer"
    form = visitor.get("/auth/reset")
    assert form.status_code == 200 and form.headers["Referrer-Policy"] == "no-referrer"
    assert path.rsplit("/", 1)[1] not in form.get_data(as_text=True)

    weak = visitor.post_form("/auth/reset", {"new_password": "12345678",
                                             "confirm_password": "12345678"})
    assert weak.status_code == 422 and "new_password" in field_errors(weak.get_data(as_text=True))
    own_email = visitor.post_form("/auth/reset", {"new_password": "ADA@example.com",
                                                  "confirm_password": "ADA@example.com"})
    assert own_email.status_code == 422
    done = visitor.post_form("/auth/reset", {"new_password": NEW_PASSWORD,
                                             "confirm_password": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/auth/login"
    assert flashes(visitor.page("/auth/login")) == [("success", PASSWORD_CHANGED)]
    assert visitor.signed_in_as() is None  # not signed in
    assert client.signed_in_as() is None and phone.signed_in_as() is None  # all ended
    assert visitor.login("ada@example.com", PASSWORD).status_code == 422
    assert visitor.login("ada@example.com", NEW_PASSWORD).status_code == 303
    deliver(app)
    assert [m.subject for m in mailbox.to("ada@example.com")][-1] == (
        "Your password was changed · Storefront")
    # The link, replayed: used.
    again = make_client()
    again.get(path)
    assert again.get("/auth/reset").status_code == 400


def test_the_reset_page_without_a_link_is_400_and_looks_up_no_token(client, count_queries):
    with count_queries() as statements:
        answer = client.get("/auth/reset")
    assert answer.status_code == 400
    assert "This link cannot be used" in answer.get_data(as_text=True)
    assert statements == []


def test_a_used_reset_link_leaves_no_token_in_the_session(app, client, make_client, mailbox):
    assert client.register("ada@example.com").status_code == 303
    client.post_form("/auth/forgot", {"email": "ada@example.com"})
    path = latest_link(app, mailbox, "ada@example.com")
    visitor = make_client()
    visitor.get(path)
    assert reset_token_in_session(visitor) == path.rsplit("/", 1)[1]
    assert visitor.post_form("/auth/reset", {"new_password": NEW_PASSWORD,
                                             "confirm_password": NEW_PASSWORD}
                             ).status_code == 303
    assert reset_token_in_session(visitor) is None


def test_a_refused_reset_link_leaves_no_token_in_the_session(client):
    client.get("/auth/reset/" + "x" * 43)
    assert reset_token_in_session(client) == "x" * 43
    assert client.get("/auth/reset").status_code == 400
    assert reset_token_in_session(client) is None


def test_a_reset_link_used_in_another_tab_meanwhile_gets_the_400_page(
        app, client, make_client, mailbox, monkeypatch):
    """The link checked, then used by another tab before this form is saved: this one is
    refused, changes nothing, and its token leaves the session."""
    assert client.register("ada@example.com").status_code == 303
    visitor = make_client()
    visitor.post_form("/auth/forgot", {"email": "ada@example.com"})
    visitor.get(latest_link(app, mailbox, "ada@example.com"))
    assert visitor.get("/auth/reset").status_code == 200
    other_tab_password = "the other tab's passphrase"  # noqa: S105 - a test value
    real_check = accounts.get_reset_holder

    def then_used_elsewhere(token: str):  # noqa: ANN202
        holder = real_check(token)
        monkeypatch.setattr(accounts, "get_reset_holder", real_check)
        accounts.reset_password(token, other_tab_password)
        return holder

    token = visitor.csrf_token()  # fetched before the race is armed
    monkeypatch.setattr(accounts, "get_reset_holder", then_used_elsewhere)
    answer = visitor.post("/auth/reset", data={"csrf_token": token,
                                               "new_password": NEW_PASSWORD,
                                               "confirm_password": NEW_PASSWORD})
    assert answer.status_code == 400
    assert "This link cannot be used" in answer.get_data(as_text=True)
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert reset_token_in_session(visitor) is None
    assert visitor.login("ada@example.com", NEW_PASSWORD).status_code == 422
    assert visitor.login("ada@example.com", other_tab_password).status_code == 303


def test_asking_again_makes_the_older_reset_link_unusable(app, client, mailbox):
    assert client.register("ada@example.com").status_code == 303
    client.post_form("/auth/forgot", {"email": "ada@example.com"})
    first = latest_link(app, mailbox, "ada@example.com")
    client.post_form("/auth/forgot", {"email": "ada@example.com"})
    second = latest_link(app, mailbox, "ada@example.com")
    assert first != second
    client.get(first)
    assert client.get("/auth/reset").status_code == 400
    client.get(second)
    assert client.get("/auth/reset").status_code == 200


def test_a_reset_clears_the_failed_sign_in_throttle(app, client, make_client, mailbox):
    assert client.register("ada@example.com").status_code == 303
    for _ in range(10):
        assert make_client().login("ada@example.com", "wrong password!").status_code == 422
    assert make_client().login("ada@example.com", PASSWORD).status_code == 429
    client.post_form("/auth/forgot", {"email": "ada@example.com"})
    visitor = make_client()
    visitor.get(latest_link(app, mailbox, "ada@example.com"))
    assert visitor.post_form("/auth/reset", {"new_password": NEW_PASSWORD,
                                             "confirm_password": NEW_PASSWORD}
                             ).status_code == 303
    assert visitor.login("ada@example.com", NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize(("stored", "typed", "same_account"), [
    ("mike@example.org", "mıke@example.org", False),  # dotless ı: another address
    ("mıke@example.org", "mike@example.org", False),
    ("strasse@example.org", "straße@example.org", True),  # ß folds to ss: the same account
    ("ada@example.org", "ａｄａ@example.org", True),  # full-width letters: the same account
    ("ADA@example.org", "ada@EXAMPLE.org", True),
])
def test_a_reset_goes_only_to_the_stored_address_never_the_typed_one(
        app, make_client, mailbox, stored, typed, same_account):
    assert make_client().register(stored).status_code == 303
    deliver(app)  # the verification mail
    mailbox.received.clear()
    assert make_client().post_form("/auth/forgot", {"email": typed}).status_code == 303
    deliver(app)
    recipients = [address for m in mailbox.received for address in m.recipients]
    assert typed not in recipients
    assert recipients == ([stored] if same_account else [])


def test_a_hostile_host_header_does_not_change_the_link(app, client, make_client, mailbox):
    app.config["TRUST_PROXY_HOPS"] = 1
    assert client.register("ada@example.com").status_code == 303
    attacker = make_client()
    attacker.post_form("/auth/forgot", {"email": "ada@example.com"},
                       headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    deliver(app)
    for received in mailbox.received:
        assert "evil" not in received.text and "evil" not in received.html
    assert all(m.link().startswith(BASE_URL + "/auth/") for m in mailbox.received)


def test_flooding_forgot_gets_429_alike_for_known_and_unknown_addresses(app, client,
                                                                        make_client):
    assert client.register("ada@example.com").status_code == 303
    answers = {}
    for email in ("ada@example.com", "nobody@example.com"):
        statuses = [make_client(f"10.0.{len(answers)}.{n}").post_form(
            "/auth/forgot", {"email": email}).status_code for n in range(4)]
        answers[email] = statuses
    assert answers["ada@example.com"] == answers["nobody@example.com"] == [303, 303, 303, 429]
    one_address = make_client("10.9.9.9")
    statuses = [one_address.post_form("/auth/forgot", {"email": f"x{n}@example.com"})
                .status_code for n in range(6)]
    assert statuses == [303] * 5 + [429]
    refused = one_address.post_form("/auth/forgot", {"email": "y@example.com"})
    assert int(refused.headers["Retry-After"]) > 3000


def test_forgot_refuses_an_empty_or_overlong_address(client):
    for email in ("", "a" * 250 + "@example.com"):
        answer = client.post_form("/auth/forgot", {"email": email})
        assert answer.status_code == 422 and field_errors(answer.get_data(as_text=True)) == [
            "email"]


# E-mail change ----------------------------------------------------------------------------------

def test_an_e_mail_change_applies_when_its_link_is_used(app, client, mailbox):
    assert client.register("ada@example.com").status_code == 303
    old_verify = latest_link(app, mailbox, "ada@example.com")
    answer = client.post_form("/account/email", {"new_email": "Ada.New@example.com",
                                                 "password": PASSWORD})
    assert answer.status_code == 303
    assert client.signed_in_as() == "ada@example.com"  # not yet
    path = latest_link(app, mailbox, "Ada.New@example.com")
    [change] = mailbox.to("Ada.New@example.com")
    assert change.subject == "Confirm your new e-mail address · Storefront"
    page = client.get(path)
    assert page.status_code == 200 and "Ada.New@example.com" in page.get_data(as_text=True)
    answer = client.post_form(path)
    assert answer.status_code == 303 and answer.headers["Location"] == "/account"
    assert flashes(client.page("/account")) == [
        ("success", "Your e-mail address is now Ada.New@example.com.")]
    assert client.signed_in_as() == "Ada.New@example.com"
    assert verified_marker(client) == "true"  # proven by this very link
    deliver(app)
    [notice] = [m for m in mailbox.to("ada@example.com") if "changed" in m.subject]
    assert "Ada.New@example.com" in notice.text
    # The old address's pending verification link no longer works.
    assert client.post_form(old_verify).status_code == 400
    assert client.post_form(path).status_code == 400
    assert make_login(client, "Ada.New@example.com")


def make_login(client: ShopClient, email: str) -> bool:
    client.logout()
    return client.login(email).status_code == 303


@pytest.mark.parametrize(("new_email", "password", "field"), [
    ("ADA@example.com", PASSWORD, "new_email"),  # the same address
    ("bob@example.com", PASSWORD, "new_email"),  # another account's
    ("ＢＯＢ@example.com", PASSWORD, "new_email"),  # another account's, full-width
    ("new@example.com", "wrong password!", "password"),
    ("not an address", PASSWORD, "new_email"),
])
def test_an_e_mail_change_that_cannot_be_made_sends_nothing(app, client, make_client,
                                                            new_email, password, field):
    assert make_client().register("bob@example.com").status_code == 303
    assert client.register("ada@example.com").status_code == 303
    before = count_rows(OutboxMail)
    answer = client.post_form("/account/email", {"new_email": new_email, "password": password})
    assert answer.status_code == 422
    assert field_errors(answer.get_data(as_text=True)) == [field]
    assert count_rows(OutboxMail) == before


def test_an_address_taken_meanwhile_makes_the_link_say_so_and_change_nothing(
        app, client, make_client, mailbox):
    assert client.register("ada@example.com").status_code == 303
    client.post_form("/account/email", {"new_email": "new@example.com", "password": PASSWORD})
    path = latest_link(app, mailbox, "new@example.com")
    assert make_client().register("NEW@example.com").status_code == 303  # taken meanwhile
    answer = client.post_form(path)
    assert answer.status_code == 409
    assert "Another account uses this e-mail address" in answer.get_data(as_text=True)
    assert client.signed_in_as() == "ada@example.com"
    assert user("ada@example.com") is not None


def test_the_email_page_needs_a_signed_in_shopper(client):
    assert client.get("/account/email").status_code == 302


def test_a_links_token_never_reaches_the_request_log(app, client, make_client, mailbox,
                                                      caplog):
    assert client.register("ada@example.com").status_code == 303
    verify_path = latest_link(app, mailbox, "ada@example.com")
    client.post_form("/auth/forgot", {"email": "ada@example.com"})
    reset_path = latest_link(app, mailbox, "ada@example.com")
    with caplog.at_level("INFO", logger="storefront.request"):
        visitor = make_client()
        visitor.get(verify_path)
        visitor.post_form(verify_path)
        visitor.get(reset_path)
        visitor.get("/auth/reset")
    lines = [record.getMessage() for record in caplog.records
             if record.name == "storefront.request"]
    assert any("path=/auth/verify/[token]" in line for line in lines)
    assert any("path=/auth/reset/[token]" in line for line in lines)
    for path in (verify_path, reset_path):
        assert not any(path.rsplit("/", 1)[1] in line for line in lines)


def test_a_password_change_on_the_account_page_tells_the_account_by_mail(app, client, mailbox):
    assert client.register("ada@example.com").status_code == 303
    answer = client.post_form("/account/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert answer.status_code == 303
    deliver(app)
    assert [m.subject for m in mailbox.to("ada@example.com")] == [
        "Confirm your e-mail address · Storefront", "Your password was changed · Storefront"]


def test_links_written_for_an_old_address_are_not_sent_after_an_e_mail_change(
        app, client, mailbox):
    """A reset asked for (or a verification resent) before the change, still waiting in the
    outbox: the old mailbox must not get a working link once the address has moved."""
    assert client.register("ada@example.com").status_code == 303
    client.post_form("/account/email", {"new_email": "new@example.com", "password": PASSWORD})
    path = latest_link(app, mailbox, "new@example.com")
    mailbox.received.clear()
    client.post_form("/auth/forgot", {"email": "ada@example.com"})  # queued for ada@
    assert client.post_form(path).status_code == 303  # the address moves to new@
    deliver(app)
    assert [m.subject for m in mailbox.to("ada@example.com")] == [
        "Your e-mail address was changed · Storefront"]
    dropped = db.session.scalar(select(OutboxMail).where(OutboxMail.kind == "password_reset"))
    assert dropped.failed_at is not None and "address changed" in dropped.last_error


def test_a_disabled_account_gets_no_reset_mail_and_its_links_stop_working(app, client,
                                                                          make_client, mailbox):
    assert client.register("ada@example.com").status_code == 303
    path = latest_link(app, mailbox, "ada@example.com")
    db.session.execute(update(User).values(is_active=False))
    db.session.commit()
    mailbox.received.clear()
    visitor = make_client()
    assert visitor.post_form("/auth/forgot", {"email": "ada@example.com"}).status_code == 303
    deliver(app)
    assert mailbox.received == []
    assert visitor.get(path).status_code == 400
    assert visitor.post_form(path).status_code == 400


# Order mails (the orders issue's confirmation and cancellation, through this outbox) ------------

def test_placing_an_order_mails_its_confirmation_with_the_payment_instructions(
        app, client, mailbox):
    from tests.checkout_support import ORDER_MARKER, buyer, place
    from tests.factories import make_product

    product = make_product(name="Blue mug", sku="MUG-1", price="12.50", stock=5)
    address_id = buyer(client, "ada@example.com")
    client.post_form("/cart/add", {"product_id": str(product.id), "quantity": "2"})
    placed = place(client, address_id, payment_method="bank_transfer")
    assert placed.status_code == 303
    number, _status, _total = ORDER_MARKER.search(client.page(placed.location)).groups()
    deliver(app)
    [confirmation] = [m for m in mailbox.to("ada@example.com") if number in m.subject + m.text]
    assert "2 x Blue mug (MUG-1)" in confirmation.text
    assert number in confirmation.text  # the bank transfer's reference names the order
    assert f"{BASE_URL}/account/orders/{number}" in confirmation.text
    assert "Blue mug" in confirmation.html


def test_cancelling_an_order_mails_a_notice_and_a_rolled_back_placement_mails_nothing(
        app, client, mailbox):
    from tests.checkout_support import ORDER_MARKER, buyer, place
    from tests.factories import make_product

    product = make_product(name="Red cup", price="5.00", stock=3)
    address_id = buyer(client, "ada@example.com")
    client.post_form("/cart/add", {"product_id": str(product.id), "quantity": "1"})
    refused = place(client, address_id, payment_method="no_such_method")
    assert refused.status_code in (400, 422)
    before = count_rows(OutboxMail)
    placed = place(client, address_id, payment_method="cash_on_delivery")
    number, _status, _total = ORDER_MARKER.search(client.page(placed.location)).groups()
    assert count_rows(OutboxMail) == before + 1
    assert client.post_form(f"/account/orders/{number}/cancel").status_code == 303
    deliver(app)
    subjects = [m.subject for m in mailbox.to("ada@example.com")]
    assert any("cancelled" in subject for subject in subjects), subjects
    [notice] = [m for m in mailbox.to("ada@example.com") if "cancelled" in m.subject]
    assert number in notice.text and "Red cup" in notice.text
