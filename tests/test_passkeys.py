"""Passkeys at the routes, with a software authenticator (a P-256 key, "none" attestation)
that signs exactly what a browser's would: adding one, signing in with one, and each
refusal: replayed or expired challenge, a sign count that did not grow, another origin, no
user verification, an unknown credential, bad JSON, no CSRF header; removing the last way in.

On SQLite and PostgreSQL (the `app` fixture; on PostgreSQL the credential is looked up
through its narrow row-level path)."""

from __future__ import annotations

import hashlib
import json
import os

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update
from webauthn.helpers import bytes_to_base64url

from storefront import passkeys
from storefront.extensions import db
from storefront.models import Event, OAuthIdentity, Passkey, User, UserCart
from tests.factories import make_product

ORIGIN = "http://localhost:5000"
RP_ID = "localhost"


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"EXTERNAL_BASE_URL": ORIGIN}


class SoftAuthenticator:
    """One discoverable credential, user verification on by default."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.count = 0
        self.user_handle = "MQ"

    def _client_data(self, kind: str, options: dict, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": options["challenge"], "origin": origin,
                           "crossOrigin": False}).encode()

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    def create(self, options: dict, origin: str = ORIGIN, verified: bool = True) -> dict:
        self.user_handle = options["user"]["id"]
        client_data = self._client_data("webauthn.create", options, origin)
        flags = 0x01 | 0x40 | (0x04 if verified else 0)
        auth_data = (hashlib.sha256(RP_ID.encode()).digest() + bytes([flags])
                     + self.count.to_bytes(4, "big") + bytes(16)
                     + len(self.credential_id).to_bytes(2, "big") + self.credential_id
                     + self._cose_key())
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {"id": bytes_to_base64url(self.credential_id),
                "rawId": bytes_to_base64url(self.credential_id), "type": "public-key",
                "response": {"clientDataJSON": bytes_to_base64url(client_data),
                             "attestationObject": bytes_to_base64url(attestation),
                             "transports": ["internal"]},
                "clientExtensionResults": {}}

    def get(self, options: dict, origin: str = ORIGIN, verified: bool = True,
            step: int = 1) -> dict:
        self.count += step
        client_data = self._client_data("webauthn.get", options, origin)
        flags = 0x01 | (0x04 if verified else 0)
        auth_data = (hashlib.sha256(RP_ID.encode()).digest() + bytes([flags])
                     + self.count.to_bytes(4, "big"))
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        return {"id": bytes_to_base64url(self.credential_id),
                "rawId": bytes_to_base64url(self.credential_id), "type": "public-key",
                "response": {"clientDataJSON": bytes_to_base64url(client_data),
                             "authenticatorData": bytes_to_base64url(auth_data),
                             "signature": bytes_to_base64url(signature),
                             "userHandle": self.user_handle},
                "clientExtensionResults": {}}


def post_json(client, path: str, body: object = None, csrf: bool = True):  # noqa: ANN001, ANN201
    headers = {"X-CSRFToken": client.csrf_token()} if csrf else {}
    return client.post(path, json=body if body is not None else {}, headers=headers)


def add_passkey(client, authenticator: SoftAuthenticator, name: str = "Laptop"):  # noqa: ANN001, ANN201
    options = post_json(client, "/account/security/passkeys/options").get_json()
    return post_json(client, "/account/security/passkeys",
                     {"name": name, "credential": authenticator.create(options)})


def assertion(client, authenticator: SoftAuthenticator, **kwargs: object) -> dict:  # noqa: ANN001
    options = post_json(client, "/auth/passkey/options").get_json()
    assert options["rpId"] == RP_ID and options["userVerification"] == "required"
    assert options["allowCredentials"] == []  # discoverable credentials
    return {"credential": authenticator.get(options, **kwargs)}


def signed_in_email(client) -> str | None:  # noqa: ANN001
    page = client.get("/").get_data(as_text=True)
    marker = 'data-user-email="'
    return page.split(marker, 1)[1].split('"', 1)[0] if marker in page else None


@pytest.fixture
def keyed(client):  # noqa: ANN001, ANN201
    """Ada, registered, with one passkey, signed out."""
    client.register("ada@example.com")
    authenticator = SoftAuthenticator()
    answer = add_passkey(client, authenticator)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    client.logout()
    return authenticator


def test_adding_a_passkey_lists_it_on_the_security_page(client):
    client.register("ada@example.com")
    answer = add_passkey(client, SoftAuthenticator(), "Work laptop")
    assert answer.get_json() == {"ok": True, "redirect": "/account/security"}
    page = client.get("/account/security").get_data(as_text=True)
    assert "Work laptop" in page and "not used yet" in page
    assert 'data-has-password="true"' in page
    row = db.session.scalar(select(Passkey))
    assert row.transports == "internal" and row.sign_count == 0


def test_signing_in_with_a_passkey_starts_a_session_and_merges_the_cart(client, keyed):
    product = make_product()
    client.post_form("/cart/add", {"product_id": str(product.id)})
    answer = post_json(client, "/auth/passkey/verify", assertion(client, keyed))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json() == {"redirect": "/account"}
    assert signed_in_email(client) == "ada@example.com"
    db.session.rollback()
    user_id = db.session.scalar(select(User.id))
    assert db.session.scalar(select(UserCart.quantity).where(UserCart.user_id == user_id)) == 1
    assert db.session.scalar(select(Passkey.sign_count)) == 1
    assert db.session.scalar(select(Passkey.last_used_at)) is not None
    details = db.session.scalars(select(Event.detail).where(Event.kind == "login",
                                                            Event.ok)).all()
    assert "passkey" in details


def test_a_replayed_assertion_is_refused(client, keyed):
    body = assertion(client, keyed)
    assert post_json(client, "/auth/passkey/verify", body).status_code == 200
    client.logout()
    again = post_json(client, "/auth/passkey/verify", body)  # the challenge was used up
    assert again.status_code == 400 and "error" in again.get_json()
    post_json(client, "/auth/passkey/options")  # a fresh challenge is not the one signed
    assert post_json(client, "/auth/passkey/verify", body).status_code == 400
    assert signed_in_email(client) is None


def test_a_challenge_is_used_once_even_by_a_refused_attempt(client, keyed):
    body = assertion(client, keyed, origin="http://evil.example")
    assert post_json(client, "/auth/passkey/verify", body).status_code == 400
    good = keyed.get({"challenge": body["credential"]["response"]["clientDataJSON"]})
    assert post_json(client, "/auth/passkey/verify", {"credential": good}).status_code == 400


def test_an_expired_challenge_is_refused(client, keyed, monkeypatch):
    body = assertion(client, keyed)
    monkeypatch.setattr(passkeys, "CHALLENGE_MAX_SECONDS", -1)
    assert post_json(client, "/auth/passkey/verify", body).status_code == 400
    assert signed_in_email(client) is None


def test_a_sign_count_that_did_not_grow_is_refused(client, keyed):
    assert post_json(client, "/auth/passkey/verify", assertion(client, keyed)).status_code == 200
    client.logout()
    stale = assertion(client, keyed, step=0)  # the same count as last time (1)
    assert post_json(client, "/auth/passkey/verify", stale).status_code == 400
    assert signed_in_email(client) is None


@pytest.mark.parametrize("kwargs", [{"origin": "http://evil.example"}, {"verified": False}])
def test_another_origin_or_no_user_verification_is_refused(client, keyed, kwargs):
    assert post_json(client, "/auth/passkey/verify",
                     assertion(client, keyed, **kwargs)).status_code == 400
    assert signed_in_email(client) is None


def test_an_unknown_credential_is_refused(client, keyed):
    stranger = SoftAuthenticator()
    assert post_json(client, "/auth/passkey/verify",
                     assertion(client, stranger)).status_code == 400


@pytest.mark.parametrize("body", [{}, {"credential": "x"}, {"credential": {}}, [1, 2],
                                  {"credential": {"id": "", "response": {}}},
                                  {"credential": {"id": "AAAA", "response": "x"}}])
def test_malformed_bodies_are_refused_with_json(client, keyed, body):
    post_json(client, "/auth/passkey/options")
    answer = post_json(client, "/auth/passkey/verify", body)
    assert answer.status_code == 400
    assert "error" in answer.get_json()


def test_a_body_that_is_not_json_or_has_no_csrf_header_is_refused(client, keyed):
    body = assertion(client, keyed)
    token = client.csrf_token()
    assert client.post("/auth/passkey/verify", data="not json",
                       headers={"X-CSRFToken": token, "Content-Type": "application/json"},
                       ).status_code == 400
    assert client.post("/auth/passkey/verify", data={"csrf_token": token}).status_code == 400
    assert post_json(client, "/auth/passkey/verify", body, csrf=False).status_code == 400
    assert signed_in_email(client) is None


def test_registration_refusals(client):
    client.register("ada@example.com")
    authenticator = SoftAuthenticator()
    # No challenge asked for.
    forged = authenticator.create({"challenge": "AAAA", "user": {"id": "MQ"}})
    assert post_json(client, "/account/security/passkeys",
                     {"credential": forged}).status_code == 400
    # Another origin; no user verification; the challenge is then gone.
    for kwargs in ({"origin": "http://evil.example"}, {"verified": False}):
        options = post_json(client, "/account/security/passkeys/options").get_json()
        assert options["authenticatorSelection"]["residentKey"] == "required"
        answer = post_json(client, "/account/security/passkeys",
                           {"credential": authenticator.create(options, **kwargs)})
        assert answer.status_code == 400
    assert db.session.scalar(select(Passkey)) is None


def test_the_last_way_in_cannot_be_removed_and_anothers_passkey_is_404(client, make_client,
                                                                       keyed):
    assert post_json(client, "/auth/passkey/verify", assertion(client, keyed)).status_code == 200
    passkey_id = db.session.scalar(select(Passkey.id))
    db.session.execute(update(User).values(password_hash=None))
    db.session.commit()
    page = client.get("/account/security").get_data(as_text=True)
    assert 'data-has-password="false"' in page
    refused = client.post_form(f"/account/security/passkeys/{passkey_id}/remove")
    assert refused.status_code == 303
    assert db.session.scalar(select(Passkey.id)) == passkey_id
    other = make_client()
    other.register("bob@example.com")
    assert other.post_form(f"/account/security/passkeys/{passkey_id}/remove").status_code == 404
    # With a provider linked, the passkey may go.
    db.session.add(OAuthIdentity(provider="mock", subject="s", user_id=db.session.scalar(
        select(User.id).where(User.email == "ada@example.com"))))
    db.session.commit()
    assert client.post_form(f"/account/security/passkeys/{passkey_id}/remove").status_code == 303
    db.session.rollback()
    assert db.session.scalar(select(Passkey.id)) is None


def test_the_report_counts_passkey_sign_ins(runner, client, keyed):
    post_json(client, "/auth/passkey/verify", assertion(client, keyed))
    result = runner.invoke(args=["report", "--json"])
    assert json.loads(result.output)["sign_ins_by_method"] == {"passkey": 1, "registration": 1}


def test_a_passkey_name_keeps_printable_characters_only(client):
    client.register("ada@example.com")
    assert add_passkey(client, SoftAuthenticator(), "  Lap\ntop\u202e " + "x" * 200
                       ).status_code == 200
    assert db.session.scalar(select(Passkey.name)) == "Laptop " + "x" * 93


def test_the_passkey_pages_load_the_script_from_static_under_the_same_csp(client):
    import re

    from storefront.security import CONTENT_SECURITY_POLICY

    for path in ("/auth/login", "/account/security"):
        if path == "/account/security":
            client.register("ada@example.com")
        response = client.get(path)
        assert re.findall(r"<script[^>]*>", response.get_data(as_text=True)) == [
            '<script src="/static/shop.js" defer>', '<script src="/static/passkeys.js" defer>']
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "hidden" in re.search(r"<div[^>]*data-passkey-[a-z-]+[^>]*>",
                                     response.get_data(as_text=True)).group(0)
    assert client.get("/static/passkeys.js").status_code == 200
