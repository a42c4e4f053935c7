"""Mail journeys in Chromium against gunicorn, with the mail sent by the real worker
(`flask mail deliver --once`) to a real SMTP server (aiosmtpd) and its link followed."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.ui import flash, open_account, register, sign_in, sign_out, unique_email
from tests.support import PROJECT_ROOT, Mailbox

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a brand new passphrase 42"  # noqa: S105 - a test value
BASE_URL = "https://shop.example"


@pytest.fixture
def mail_shop(start_live_server, mailbox: Mailbox):  # noqa: ANN001, ANN201
    return start_live_server(MAIL_URL=mailbox.url, EXTERNAL_BASE_URL=BASE_URL)


def run_worker(shop, mailbox: Mailbox) -> None:  # noqa: ANN001
    env = {**os.environ, "DATABASE_URL": shop.database_url, "MAIL_URL": mailbox.url,
           "EXTERNAL_BASE_URL": BASE_URL, "SECRET_KEY": "worker-secret-" + "w" * 40,
           "FLASK_DEBUG": "0"}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "mail", "deliver",
                             "--once"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def follow(page: Page, shop, link: str) -> None:  # noqa: ANN001
    """Open a mailed link (its public address mapped to this test's server)."""
    assert link.startswith(BASE_URL + "/auth/")
    page.goto(shop.url + urlsplit(link).path)


def test_forgotten_password_mail_new_password_sign_in(mail_shop, mailbox, new_page) -> None:  # noqa: ANN001
    email = unique_email("forgetful")
    page = new_page()
    page.goto(mail_shop.url)
    register(page, email)
    sign_out(page)

    page.locator("header").get_by_role("link", name="Sign in", exact=True).click()
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    page.get_by_label("Email").fill(email.upper())
    page.get_by_role("button", name="Send me a link").click()
    expect(flash(page, "info")).to_contain_text("a link to reset its password is on its way")

    run_worker(mail_shop, mailbox)
    [reset] = [m for m in mailbox.to(email) if m.subject.startswith("Reset your password")]
    assert reset.recipients == [email]  # the stored address, not the one typed
    follow(page, mail_shop, reset.link())
    page.wait_for_url("**/auth/reset")  # the token left the address bar
    assert reset.link().rsplit("/", 1)[1] not in page.url
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()
    page.wait_for_url("**/auth/login")
    expect(flash(page, "success")).to_contain_text("Your password was changed")
    expect(page.locator("header [data-user-email]")).to_have_count(0)  # not signed in

    token = reset.link().rsplit("/", 1)[1]
    assert token not in mail_shop.log()  # gunicorn's access log and the shop's own
    assert "/auth/reset/[token]" in mail_shop.log()

    page.goto(mail_shop.url)
    sign_in(page, email, NEW_PASSWORD)
    run_worker(mail_shop, mailbox)
    assert any(m.subject.startswith("Your password was changed") for m in mailbox.to(email))


def test_the_verification_mail_link_verifies_the_address(mail_shop, mailbox, new_page) -> None:  # noqa: ANN001
    email = unique_email("verifier")
    page = new_page()
    page.goto(mail_shop.url)
    register(page, email)
    open_account(page)
    expect(page.locator("[data-email-verified]")).to_have_attribute("data-email-verified",
                                                                    "false")
    run_worker(mail_shop, mailbox)
    [verify] = mailbox.to(email)
    follow(page, mail_shop, verify.link())
    page.get_by_role("button", name="Confirm my address").click()
    page.wait_for_url("**/account")
    expect(flash(page, "success")).to_contain_text("your e-mail address is verified")
    expect(page.locator("[data-email-verified]")).to_have_attribute("data-email-verified",
                                                                    "true")
    expect(page.get_by_role("button", name="Send the link again")).to_have_count(0)
