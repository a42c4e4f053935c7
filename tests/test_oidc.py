"""Signing in with OpenID Connect against a real provider: `oidc-provider-mock` (built on
Authlib) runs in a thread on a free port of this machine, with each test's claims set
through its `PUT /users/<sub>`. The shop talks to it over HTTP exactly as to a real one:
discovery, the authorization redirect, the token request, the signing keys.

On SQLite and PostgreSQL (the `app` fixture)."""

from __future__ import annotations

import html
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
import werkzeug.serving
from oidc_provider_mock import app as provider_app
from oidc_provider_mock import run_server_in_thread
from sqlalchemy import func, select
from werkzeug.test import Client as WsgiClient
from werkzeug.wrappers import Request, Response

from storefront import auth_setup, oidc
from storefront.extensions import db
from storefront.models import Event, OAuthIdentity, OutboxMail, Profile, User, UserCart
from tests.factories import make_product, make_user
from tests.support import PASSWORD, Mailbox, flashes

# The provider (oidc-provider-mock) calls Authlib APIs that Authlib now marks deprecated.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

AUTHORIZE_LINK = re.compile(r'href="([^"]+)" data-oidc-authorize')
SHOP = "http://shop.test"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The provider's base address (its issuer)."""
    with run_server_in_thread(require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


def provider_settings(base: str, discovery_path: str = "") -> dict[str, dict[str, str]]:
    return {"mock": {"discovery_url": f"{base}{discovery_path}/.well-known/openid-configuration",
                     "client_id": "storefront", "client_secret": "s3cret",
                     "title": "Mock ID"}}


@pytest.fixture
def app_config(provider: str, mailbox: Mailbox) -> dict[str, object]:
    return {"OIDC_PROVIDERS": provider_settings(provider), "EXTERNAL_BASE_URL": SHOP,
            "MAIL_URL": mailbox.url}


def set_claims(base: str, sub: str, **claims: object) -> None:
    response = requests.put(f"{base}/users/{sub}", json=claims, timeout=10)
    assert response.status_code == 204, response.text


def begin(client, provider_name: str = "mock", next_url: str | None = None) -> str:  # noqa: ANN001
    """Press the provider's button; returns the authorization URL the page moves on to."""
    path = f"/auth/oidc/{provider_name}/start" + (f"?next={next_url}" if next_url else "")
    response = client.post_form(path)
    assert response.status_code == 200, response.status_code
    match = AUTHORIZE_LINK.search(response.get_data(as_text=True))
    assert match
    return html.unescape(match.group(1))


def authorize(url: str, sub: str, **form: str) -> str:
    """The shopper approves at the provider (as `sub`); returns the callback path+query."""
    response = requests.post(url, data={"sub": sub, **form}, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == SHOP
    return f"{location.path}?{location.query}"


def sign_in_with_provider(client, base: str, sub: str, **claims: object):  # noqa: ANN001, ANN201
    if claims:
        set_claims(base, sub, **claims)
    return client.get(authorize(begin(client), sub))


def user_by_email(email: str) -> User | None:
    db.session.rollback()
    return db.session.scalar(select(User).where(User.email_canonical == email))


def identities() -> list[tuple[str, str, int]]:
    db.session.rollback()
    return [tuple(row) for row in db.session.execute(
        select(OAuthIdentity.provider, OAuthIdentity.subject, OAuthIdentity.user_id))]


def signed_in_as(client) -> str | None:  # noqa: ANN001
    match = re.search(r'data-user-email="([^"]*)"', client.get("/").get_data(as_text=True))
    return html.unescape(match.group(1)) if match else None


# The buttons and the start -----------------------------------------------------------------------

def test_the_sign_in_pages_offer_each_configured_provider_by_a_post_form(client):
    for path in ("/auth/login", "/auth/register"):
        page = client.get(path).get_data(as_text=True)
        assert 'action="/auth/oidc/mock/start"' in page
        assert 'data-oidc-provider="mock"' in page and "Mock ID" in page


@pytest.mark.parametrize("app_config", [{}])
def test_without_providers_there_are_no_buttons_and_no_flow(client):
    assert "data-oidc-providers" not in client.get("/auth/login").get_data(as_text=True)
    assert client.post_form("/auth/oidc/mock/start").status_code == 404


def test_the_flow_starts_only_with_a_post_carrying_the_csrf_token(client):
    assert client.get("/auth/oidc/mock/start").status_code == 405
    assert client.post("/auth/oidc/mock/start").status_code == 400
    assert client.post_form("/auth/oidc/nobody/start").status_code == 404


def test_the_authorization_request_carries_pkce_state_nonce_and_the_registered_callback(
        client, provider):
    url = urlsplit(begin(client))
    params = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}" == provider
    assert params["response_type"] == "code"
    assert params["client_id"] == "storefront"
    assert params["redirect_uri"] == f"{SHOP}/auth/oidc/mock/callback"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 40 and len(params["nonce"]) >= 40
    assert set(params["scope"].split()) == {"openid", "email", "profile"}


# New account, linking ----------------------------------------------------------------------------

def test_a_new_verified_identity_creates_the_account_signs_in_and_merges_the_cart(
        client, provider):
    product = make_product()
    client.post_form("/cart/add", {"product_id": str(product.id), "quantity": "2"})
    response = sign_in_with_provider(client, provider, "new-1", email="Nia@Example.com",
                                     email_verified=True, given_name="Nia",
                                     family_name="Okafor")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    assert signed_in_as(client) == "Nia@Example.com"
    user = user_by_email("nia@example.com")
    assert user.password_hash is None and user.email_verified_at is not None
    profile = db.session.get(Profile, user.id)
    assert (profile.first_name, profile.last_name) == ("Nia", "Okafor")
    assert identities() == [("mock", "new-1", user.id)]
    assert db.session.scalar(select(UserCart.quantity).where(UserCart.user_id == user.id)) == 2
    kinds = set(db.session.execute(select(Event.kind, Event.detail).where(Event.ok)).all())
    assert {("registration", "oidc:mock"), ("login", "oidc:mock")} <= kinds
    # The next time, the same identity signs the same account in (found by its subject).
    client.logout()
    assert sign_in_with_provider(client, provider, "new-1").status_code == 303
    assert signed_in_as(client) == "Nia@Example.com"
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_an_identity_is_found_by_its_subject_never_by_its_email(client, provider):
    make_user("ada@example.com")
    sign_in_with_provider(client, provider, "ada-sub", email="ada@example.com",
                          email_verified=True)  # not linked: ada's address is not verified
    assert identities() == []
    # Another subject claiming a new address gets its own account, not Ada's.
    client.logout()
    sign_in_with_provider(client, provider, "eve-sub", email="eve@example.com",
                          email_verified=True)
    assert signed_in_as(client) == "eve@example.com"


def test_a_verified_email_links_to_an_account_whose_address_is_verified(client, provider):
    user = make_user("ada@example.com")
    db.session.execute(User.__table__.update().values(email_verified_at=func.now()))
    db.session.commit()
    response = sign_in_with_provider(client, provider, "ada-at-mock", email="ADA@example.com",
                                     email_verified=True)
    assert response.status_code == 303
    assert signed_in_as(client) == "ada@example.com"
    assert identities() == [("mock", "ada-at-mock", user.id)]
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    assert user_by_email("ada@example.com").password_hash is not None  # the password stays


@pytest.mark.parametrize("who_verified", ["provider only", "shop only", "neither"])
def test_an_unverified_email_asks_for_the_password_once_then_links(client, provider,
                                                                    who_verified):
    user = make_user("ada@example.com")
    if who_verified == "shop only":
        db.session.execute(User.__table__.update().values(email_verified_at=func.now()))
        db.session.commit()
    response = sign_in_with_provider(
        client, provider, f"ada-{who_verified}", email="ada@example.com",
        email_verified=who_verified == "provider only")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/auth/login")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert any("password once" in text for _category, text in flashes(page))
    assert signed_in_as(client) is None
    assert identities() == []
    # The password sign-in links it ...
    assert client.login("ada@example.com", PASSWORD).status_code == 303
    assert identities() == [("mock", f"ada-{who_verified}", user.id)]
    # ... and from then on the provider alone signs in.
    client.logout()
    assert sign_in_with_provider(client, provider, f"ada-{who_verified}").status_code == 303
    assert signed_in_as(client) == "ada@example.com"


def test_the_password_sign_in_links_the_identity_with_the_address_the_provider_gave(
        client, provider):
    make_user("ada@example.com")
    sign_in_with_provider(client, provider, "ada-typed", email="ADA@example.com",
                          email_verified=False)
    response = client.login("ada@example.com", PASSWORD)
    assert ("success", "Your Mock ID sign-in is now linked: next time, use it to sign in.") in (
        flashes(client.get(response.headers["Location"]).get_data(as_text=True)))
    db.session.rollback()
    assert db.session.execute(select(OAuthIdentity.subject, OAuthIdentity.email)).all() == [
        ("ada-typed", "ADA@example.com")]


def test_a_provider_removed_before_the_password_sign_in_links_nothing(app, client, provider):
    make_user("ada@example.com")
    sign_in_with_provider(client, provider, "ada-gone", email="ada@example.com",
                          email_verified=False)
    app.config["OIDC_PROVIDERS"] = {}  # the shop restarted without it meanwhile
    assert client.login("ada@example.com", PASSWORD).status_code == 303
    assert signed_in_as(client) == "ada@example.com"
    assert identities() == []


def test_a_wrong_password_links_nothing(client, provider):
    make_user("ada@example.com")
    sign_in_with_provider(client, provider, "ada-x", email="ada@example.com",
                          email_verified=False)
    assert client.login("ada@example.com", "wrong password!").status_code == 422
    assert identities() == []


def test_a_new_identity_with_an_unverified_email_creates_no_account(client, provider):
    response = sign_in_with_provider(client, provider, "unverified", email="new@example.com",
                                     email_verified=False)
    assert response.status_code == 400
    assert "has not confirmed" in response.get_data(as_text=True)
    assert user_by_email("new@example.com") is None and identities() == []


def test_a_provider_account_has_no_password_to_sign_in_with(client, provider):
    sign_in_with_provider(client, provider, "nopw", email="nopw@example.com",
                          email_verified=True)
    client.logout()
    assert client.login("nopw@example.com", PASSWORD).status_code == 422
    assert signed_in_as(client) is None


# Refusals: never a 500 ---------------------------------------------------------------------------

def test_a_disabled_accounts_provider_sign_in_is_refused_and_recorded(client, provider):
    provider_account(client, provider, "off")
    client.logout()
    db.session.execute(User.__table__.update().values(is_active=False))
    db.session.commit()
    response = sign_in_with_provider(client, provider, "off")
    assert response.status_code == 400
    assert "This account cannot sign in" in response.get_data(as_text=True)
    assert signed_in_as(client) is None
    failures = db.session.execute(select(Event.kind, Event.user_id, Event.detail)
                                  .where(Event.ok.is_(False))).all()
    assert [tuple(failure) for failure in failures] == [("login", None, "oidc:mock disabled")]


def test_a_replayed_callback_is_refused(client, make_client, provider):
    set_claims(provider, "replay", email="replay@example.com", email_verified=True)
    callback = authorize(begin(client), "replay")
    assert client.get(callback).status_code == 303
    client.logout()
    again = client.get(callback)
    assert again.status_code == 400
    assert "could not be used" in again.get_data(as_text=True)
    assert signed_in_as(client) is None
    # Nor does it work in another browser (state is bound to the session that began it).
    assert make_client().get(callback).status_code == 400


def test_a_callback_for_another_browser_is_refused(client, make_client, provider):
    set_claims(provider, "victim", email="victim@example.com", email_verified=True)
    callback = authorize(begin(client), "victim")
    other = make_client()
    begin(other)  # the other browser has a flow of its own, with another state
    assert other.get(callback).status_code == 400
    assert signed_in_as(other) is None
    assert user_by_email("victim@example.com") is None


def test_a_tampered_state_is_refused(client, provider):
    set_claims(provider, "tamper", email="tamper@example.com", email_verified=True)
    callback = authorize(begin(client), "tamper")
    path, query = callback.split("?", 1)
    params = {key: values[0] for key, values in parse_qs(query).items()}
    params["state"] = params["state"][:-2] + "xx"
    assert client.get(f"{path}?{urlencode(params)}").status_code == 400
    assert user_by_email("tamper@example.com") is None


def test_a_wrong_nonce_is_refused(client, provider):
    """The nonce in the ID token is not the one this browser's flow sent."""
    set_claims(provider, "nonce", email="nonce@example.com", email_verified=True)
    url = urlsplit(begin(client))
    params = {key: values[0] for key, values in parse_qs(url.query).items()}
    params["nonce"] = "an-injected-nonce-" + "x" * 30
    callback = authorize(urlunsplit(url._replace(query=urlencode(params))), "nonce")
    response = client.get(callback)
    assert response.status_code == 400
    assert signed_in_as(client) is None
    assert user_by_email("nonce@example.com") is None


def test_a_late_callback_is_refused(client, provider, monkeypatch):
    set_claims(provider, "late", email="late@example.com", email_verified=True)
    callback = authorize(begin(client), "late")
    monkeypatch.setattr(oidc, "FLOW_MAX_SECONDS", -1)
    assert client.get(callback).status_code == 400
    assert user_by_email("late@example.com") is None


def test_an_error_from_the_provider_is_a_clear_page(client, provider):
    callback = authorize(begin(client), "denier", action="deny")
    assert "error=access_denied" in callback
    response = client.get(callback)
    assert response.status_code == 400
    assert "Back to sign in" in response.get_data(as_text=True)


def test_a_callback_without_any_flow_or_with_garbage_is_refused(client):
    for query in ("", "?code=x&state=y", "?error=server_error", "?state=%00&code=%ff"):
        assert client.get(f"/auth/oidc/mock/callback{query}").status_code == 400, query
    assert client.get("/auth/oidc/nobody/callback?code=x&state=y").status_code == 404


# A provider whose issuer is not the one its ID tokens name ---------------------------------------

@contextmanager
def serve(wsgi_app) -> Iterator[int]:  # noqa: ANN001
    server = werkzeug.serving.make_server("localhost", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def tenant_provider():  # noqa: ANN201
    """A real provider whose discovery document at /tenant/... names the issuer
    `<base>/tenant` (consistent with its own address), while its ID tokens say `<base>`."""
    inner = provider_app(require_nonce=True)

    def wsgi(environ, start_response):  # noqa: ANN001, ANN202
        request = Request(environ)
        if request.path == "/tenant/.well-known/openid-configuration":
            answer = WsgiClient(inner).get("/.well-known/openid-configuration",
                                           base_url=request.host_url)
            document = json.loads(answer.get_data())
            document["issuer"] = request.host_url.rstrip("/") + "/tenant"
            return Response(json.dumps(document), mimetype="application/json")(
                environ, start_response)
        return inner(environ, start_response)

    return wsgi


def test_an_id_token_from_another_issuer_is_refused(app, client):
    with serve(tenant_provider()) as port:
        base = f"http://localhost:{port}"
        app.config["OIDC_PROVIDERS"] = provider_settings(base, "/tenant")
        set_claims(base, "iss", email="iss@example.com", email_verified=True)
        response = client.get(authorize(begin(client), "iss"))
    assert response.status_code == 400
    assert user_by_email("iss@example.com") is None


def test_a_discovery_document_naming_another_issuer_is_refused(app, client, provider):
    app.config["OIDC_PROVIDERS"] = {"mock": provider_settings(provider)["mock"] | {
        "discovery_url": f"{provider}/elsewhere/.well-known/openid-configuration"}}
    # Not a document at all there (404): the provider is unusable, and says so.
    assert client.post_form("/auth/oidc/mock/start").status_code == 503


# A provider that is down -------------------------------------------------------------------------

def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_provider_that_is_down_answers_503_at_the_start(app, client):
    app.config["OIDC_PROVIDERS"] = provider_settings(f"http://127.0.0.1:{closed_port()}")
    response = client.post_form("/auth/oidc/mock/start")
    assert response.status_code == 503
    assert "not answering" in response.get_data(as_text=True)


def test_a_token_endpoint_that_is_down_answers_503_at_the_callback(app, client):
    with serve(provider_app(require_nonce=True)) as port:
        base = f"http://localhost:{port}"
        app.config["OIDC_PROVIDERS"] = provider_settings(base)
        set_claims(base, "down", email="down@example.com", email_verified=True)
        callback = authorize(begin(client), "down")
    response = client.get(callback)  # the provider has stopped meanwhile
    assert response.status_code == 503
    assert user_by_email("down@example.com") is None


# An account without a password -------------------------------------------------------------------

def provider_account(client, provider: str, sub: str = "nopw") -> None:  # noqa: ANN001
    sign_in_with_provider(client, provider, sub, email=f"{sub}@example.com",
                          email_verified=True)
    assert signed_in_as(client) == f"{sub}@example.com"


def test_the_security_page_lists_the_provider_and_no_password(client, provider):
    provider_account(client, provider)
    page = client.get("/account/security").get_data(as_text=True)
    assert 'data-has-password="false"' in page
    assert 'data-identity-provider="mock"' in page and "nopw@example.com" in page


def test_deletion_without_a_password_needs_a_recent_sign_in(client, provider, monkeypatch):
    provider_account(client, provider)
    overview = client.get("/account").get_data(as_text=True)
    assert 'data-fresh-sign-in="true"' in overview and 'name="password"' not in overview
    monkeypatch.setattr(auth_setup, "FRESH_SIGN_IN_SECONDS", -1)
    stale = client.post_form("/account/delete")
    assert stale.status_code == 422
    assert 'data-fresh-sign-in="false"' in stale.get_data(as_text=True)
    assert user_by_email("nopw@example.com") is not None
    monkeypatch.undo()
    assert client.post_form("/account/delete").status_code == 303
    assert user_by_email("nopw@example.com") is None and identities() == []


def test_an_email_change_without_a_password_needs_a_recent_sign_in(client, provider,
                                                                    monkeypatch):
    provider_account(client, provider)
    monkeypatch.setattr(auth_setup, "FRESH_SIGN_IN_SECONDS", -1)
    assert client.post_form("/account/email", {"new_email": "new@example.com"}
                            ).status_code == 422
    monkeypatch.undo()
    assert client.post_form("/account/email", {"new_email": "new@example.com"}
                            ).status_code == 303
    db.session.rollback()
    assert "new@example.com" in db.session.scalars(select(OutboxMail.recipient)).all()


def test_the_reset_flow_sets_a_password_for_an_account_without_one(app, client, provider,
                                                                    mailbox):
    provider_account(client, provider)
    client.logout()
    assert client.post_form("/auth/forgot", {"email": "nopw@example.com"}).status_code == 303
    result = app.test_cli_runner().invoke(args=["mail", "deliver", "--once"])
    assert result.exit_code == 0, result.output
    link = [m for m in mailbox.to("nopw@example.com") if "/auth/reset/" in m.text][-1].link()
    client.get(urlsplit(link).path)
    new_password = "a brand new passphrase 42"
    assert client.post_form("/auth/reset", {"new_password": new_password,
                                            "confirm_password": new_password}
                            ).status_code == 303
    assert client.login("nopw@example.com", new_password).status_code == 303
    assert 'data-has-password="true"' in client.get("/account/security").get_data(as_text=True)


def test_the_report_counts_sign_ins_by_method(runner, client, make_client, provider):
    make_client().register("pat@example.com")  # a password sign-up
    other = make_client()
    other.login("pat@example.com", PASSWORD)  # a password sign-in
    provider_account(client, provider, "rep")  # a provider's sign-up
    client.logout()
    sign_in_with_provider(client, provider, "rep")  # and sign-in
    result = runner.invoke(args=["report", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["sign_ins_by_method"] == {
        "oidc:mock": 2, "password": 1, "registration": 1}
    text = runner.invoke(args=["report"]).output
    assert "sign-ins by method           oidc:mock 2, password 1, registration 1" in text


def test_the_data_export_names_the_linked_provider(client, provider):
    provider_account(client, provider, "exp")
    answer = client.post_form("/account/data")
    assert answer.status_code == 200
    methods = json.loads(answer.get_data())["sign_in_methods"]
    assert methods["password"] is False and methods["passkeys"] == []
    assert [(p["provider"], p["subject"], p["email"]) for p in methods["providers"]] == [
        ("mock", "exp", "exp@example.com")]


def test_a_signed_in_shopper_links_a_provider_from_the_security_page(client, make_client,
                                                                      provider):
    client.register("pat@example.com")
    page = client.get("/account/security").get_data(as_text=True)
    assert 'action="/auth/oidc/mock/start"' in page
    set_claims(provider, "pat-at-mock", email="other-address@example.com",
               email_verified=False)
    response = client.get(authorize(begin(client), "pat-at-mock"))
    assert response.status_code == 303 and response.headers["Location"] == "/account/security"
    pat = user_by_email("pat@example.com")
    assert identities() == [("mock", "pat-at-mock", pat.id)]
    # Linked already: to this account, or to another one; nothing changes.
    client.get(authorize(begin(client), "pat-at-mock"))
    other = make_client()
    other.register("sam@example.com")
    answer = other.get(authorize(begin(other), "pat-at-mock"))
    assert any("linked already" in text
               for _category, text in flashes(other.get(answer.headers["Location"])
                                              .get_data(as_text=True)))
    assert identities() == [("mock", "pat-at-mock", pat.id)]
    # Signed out, the provider signs Pat in (found by its subject).
    client.logout()
    sign_in_with_provider(client, provider, "pat-at-mock")
    assert signed_in_as(client) == "pat@example.com"


@pytest.mark.parametrize("email", ["nul\u0000@example.com", "not an address",
                                   "a" * 250 + "@example.com", "", 42])
def test_an_unusable_email_claim_makes_no_account_and_no_500(client, provider, email):
    response = sign_in_with_provider(client, provider, "odd-email", email=email,
                                     email_verified=True, given_name="Nul\u0000\u202e")
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize("sub", ["bad\u0001sub", "x" * 256, "caf\u00e9"])
def test_an_unusable_subject_is_refused(client, provider, sub):
    response = client.get(authorize(begin(client), sub))
    assert response.status_code == 400
    assert identities() == []


# Configuration -----------------------------------------------------------------------------------

def test_providers_come_from_the_environment(tmp_path):
    from storefront.config import load_config

    env = {"OIDC_PROVIDERS": " Google , my-idp ",
           "OIDC_GOOGLE_DISCOVERY_URL": "https://accounts.google.com/.well-known/openid-configuration",
           "OIDC_GOOGLE_CLIENT_ID": "id-1", "OIDC_GOOGLE_CLIENT_SECRET": "secret-1",
           "OIDC_MY_IDP_DISCOVERY_URL": "https://id.example.com/.well-known/openid-configuration",
           "OIDC_MY_IDP_CLIENT_ID": "id-2"}
    config = load_config(str(tmp_path), {"TESTING": True}, env)
    assert config["OIDC_PROVIDERS"] == {
        "google": {"discovery_url": env["OIDC_GOOGLE_DISCOVERY_URL"], "client_id": "id-1",
                   "client_secret": "secret-1"},
        "my-idp": {"discovery_url": env["OIDC_MY_IDP_DISCOVERY_URL"], "client_id": "id-2",
                   "client_secret": ""}}
    assert load_config(str(tmp_path), {"TESTING": True}, {})["OIDC_PROVIDERS"] == {}


@pytest.mark.parametrize("env", [
    {"OIDC_PROVIDERS": "google"},
    {"OIDC_PROVIDERS": "google", "OIDC_GOOGLE_DISCOVERY_URL": "https://x/.well-known/x"},
    {"OIDC_PROVIDERS": "bad name", "OIDC_BAD NAME_CLIENT_ID": "x"},
    {"OIDC_PROVIDERS": "g", "OIDC_G_DISCOVERY_URL": "ftp://x", "OIDC_G_CLIENT_ID": "x"},
])
def test_an_incomplete_provider_setting_stops_start_up(tmp_path, env):
    from storefront.config import ConfigError, load_config

    with pytest.raises(ConfigError):
        load_config(str(tmp_path), {"TESTING": True}, env)


def test_a_sign_up_through_a_provider_spends_the_sign_up_budget(client, make_client, provider):
    for number in range(10):  # registrations: 10 an hour per address
        assert make_client().register(f"shopper{number}@example.com").status_code == 303
    response = sign_in_with_provider(client, provider, "one-too-many",
                                     email="late@example.com", email_verified=True)
    assert response.status_code == 429 and response.headers["Retry-After"]
    assert user_by_email("late@example.com") is None


def test_a_provider_is_unlinked_unless_it_is_the_last_way_in(client, make_client, provider):
    provider_account(client, provider, "only")
    identity_id = db.session.scalar(select(OAuthIdentity.id))
    refused = client.post_form(f"/account/security/providers/{identity_id}/unlink")
    assert refused.status_code == 303
    page = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert any("only way to sign in" in text for _category, text in flashes(page))
    assert len(identities()) == 1
    stranger = make_client()
    stranger.register("sam@example.com")
    assert stranger.post_form(f"/account/security/providers/{identity_id}/unlink"
                              ).status_code == 404
    # An account with a password may unlink it; the provider then signs in no one.
    stranger.get(authorize(begin(stranger), "sam-at-mock"))
    sams = db.session.scalar(select(OAuthIdentity.id).where(OAuthIdentity.subject == "sam-at-mock"))
    assert stranger.post_form(f"/account/security/providers/{sams}/unlink").status_code == 303
    assert [subject for _provider, subject, _user in identities()] == ["only"]
