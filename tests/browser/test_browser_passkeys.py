"""Passkeys in Chromium with the DevTools WebAuthn virtual authenticator (a platform
authenticator with resident keys and user verification): add one on the security page, sign
out, sign in with it, remove it; and an assertion replayed is refused.

The live server's EXTERNAL_BASE_URL is the page's origin, http://localhost:<port>: a secure
context for WebAuthn, and `localhost` is the RP id (an IP address cannot be one)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from tests import support
from tests.browser.ui import flash, register, sign_out, unique_email

pytestmark = pytest.mark.browser


@pytest.fixture
def passkey_shop(start_live_server, monkeypatch):  # noqa: ANN001, ANN201
    port = support.free_port()
    monkeypatch.setattr(support, "free_port", lambda: port)
    server = start_live_server(EXTERNAL_BASE_URL=f"http://localhost:{port}")
    server.origin = f"http://localhost:{port}"
    return server


def with_authenticator(page: Page) -> str:
    """A virtual platform authenticator in this page's browser; returns its id."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    answer = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    page.cdp = cdp  # keep the session (and so the authenticator) alive with the page
    return answer["authenticatorId"]


def add_passkey(page: Page, origin: str, name: str) -> None:
    page.goto(f"{origin}/account/security")
    box = page.locator("[data-passkey-register]")
    expect(box).to_be_visible()
    box.get_by_label("Name for a new passkey").fill(name)
    box.get_by_role("button", name="Add a passkey").click()
    expect(flash(page, "success")).to_contain_text(f"“{name}” was added")
    expect(page.locator("[data-passkey-id]")).to_have_count(1)
    expect(page.locator("[data-passkey-id]")).to_contain_text(name)


def sign_in_with_passkey(page: Page, origin: str) -> None:
    page.goto(f"{origin}/auth/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url("**/account")
    expect(flash(page, "success")).to_have_text("You are signed in with your passkey.")


def test_add_a_passkey_sign_out_sign_in_with_it_and_remove_it(passkey_shop, new_page):  # noqa: ANN001
    origin = passkey_shop.origin
    page = new_page()
    with_authenticator(page)
    page.goto(origin)
    email = unique_email("key")
    register(page, email)
    add_passkey(page, origin, "Laptop")
    sign_out(page)

    sign_in_with_passkey(page, origin)
    expect(page.locator(f'header [data-user-email="{email}"]')).to_be_visible()

    page.goto(f"{origin}/account/security")
    expect(page.locator("[data-passkey-id]")).to_contain_text("last used")
    page.locator("[data-passkey-id]").get_by_role("button", name="Remove").click()
    expect(flash(page, "success")).to_have_text("The passkey was removed.")
    expect(page.locator("[data-passkey-id]")).to_have_count(0)


def test_without_webauthn_the_passkey_buttons_stay_hidden(passkey_shop, new_page):  # noqa: ANN001
    page = new_page()
    page.add_init_script("delete window.PublicKeyCredential;")
    page.goto(f"{passkey_shop.origin}/auth/login")
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_hidden()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()


def test_a_replayed_assertion_is_refused(passkey_shop, new_page):  # noqa: ANN001
    origin = passkey_shop.origin
    page = new_page()
    with_authenticator(page)
    page.goto(origin)
    email = unique_email("replay")
    register(page, email)
    add_passkey(page, origin, "Phone")
    sign_out(page)

    posted: list[str] = []
    page.on("request", lambda request: posted.append(request.post_data or "")
            if request.url.endswith("/auth/passkey/verify") else None)
    sign_in_with_passkey(page, origin)
    assert len(posted) == 1
    assertion = json.loads(posted[0])
    assert assertion["credential"]["response"]["signature"]
    sign_out(page)

    # The same assertion posted again: its challenge was used up, so it is refused ...
    page.goto(f"{origin}/auth/login")
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    headers = {"Content-Type": "application/json", "X-CSRFToken": token}
    replay = page.request.post(f"{origin}/auth/passkey/verify", data=posted[0],
                               headers=headers)
    assert replay.status == 400
    assert "could not sign you in" in replay.json()["error"]
    # ... and also with a fresh challenge waiting in the session (it is not the one signed).
    assert page.request.post(f"{origin}/auth/passkey/options", headers=headers).ok
    replay = page.request.post(f"{origin}/auth/passkey/verify", data=posted[0],
                               headers=headers)
    assert replay.status == 400
    page.goto(f"{origin}/account")
    expect(page.locator("header [data-user-email]")).to_have_count(0)
