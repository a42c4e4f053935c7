"""Passkeys (WebAuthn) with py_webauthn: adding one to an account, signing in with one,
removing one (never the account's last way in).

The relying party is the shop's public address: the RP id is EXTERNAL_BASE_URL's host name
and the only origin accepted is EXTERNAL_BASE_URL's scheme, host and port, whatever the
request's Host says. Credentials are discoverable (the browser offers the account) and user
verification is required. A challenge is kept in the signed session cookie (bound to the
browser), used once (taken out before it is checked) and refused after 5 minutes. A sign
count that does not grow (when either side counts) is refused, and the stored count moves
on by a guarded UPDATE, so one assertion signs in once even when posted twice at once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from storefront import accounts, carts, events, rls
from storefront.database import begin_write, db
from storefront.exceptions import (
    IdentityConflict,
    InvalidCredentials,
    NotFound,
)
from storefront.models import (
    CREDENTIAL_ID_MAX_CHARS,
    PASSKEY_NAME_MAX_CHARS,
    Passkey,
    User,
    utcnow,
)

CHALLENGE_MAX_SECONDS = 300
METHOD = "passkey"
MAX_PASSKEYS = 20
TRANSPORTS = {"usb", "nfc", "ble", "internal", "hybrid", "cable", "smart-card"}


class PasskeyRefused(Exception):
    """An attestation or assertion that cannot be used: its reason is for the log."""


@dataclass(frozen=True)
class RelyingParty:
    id: str
    origin: str
    name: str


def relying_party() -> RelyingParty:
    parts = urlsplit(current_app.config["EXTERNAL_BASE_URL"])
    return RelyingParty(parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}",
                        current_app.config.get("SHOP_NAME", "Storefront"))


def new_challenge_record(challenge: bytes) -> dict[str, Any]:
    return {"challenge": bytes_to_base64url(challenge), "at": int(time.time())}


def challenge_of(record: object) -> bytes:
    """The challenge a session record holds, if it is still fresh; `PasskeyRefused` else."""
    if not isinstance(record, dict):
        raise PasskeyRefused("no challenge in this session (used already, or never asked)")
    at = record.get("at")
    if not isinstance(at, int) or time.time() - at > CHALLENGE_MAX_SECONDS:
        raise PasskeyRefused("the challenge expired")
    try:
        return base64url_to_bytes(str(record.get("challenge", "")))
    except ValueError:
        raise PasskeyRefused("malformed challenge") from None


def registration_options(user: User) -> tuple[str, bytes]:
    """Options for navigator.credentials.create (JSON) and the challenge to keep."""
    rp = relying_party()
    existing = db.session.scalars(select(Passkey.credential_id)
                                  .where(Passkey.user_id == user.id)).all()
    options = generate_registration_options(
        rp_id=rp.id, rp_name=rp.name, user_name=user.email, user_id=str(user.id).encode(),
        user_display_name=user.email,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(cid))
                             for cid in existing],
    )
    return options_to_json(options), options.challenge


def _transports(credential: dict[str, Any]) -> str:
    response = credential.get("response")
    listed = response.get("transports") if isinstance(response, dict) else None
    if not isinstance(listed, list):
        return ""
    return ",".join(sorted({t for t in listed if isinstance(t, str) and t in TRANSPORTS}))


def _clean_name(name: str) -> str:
    """A passkey's name as shown: printable characters only, trimmed, at most 100."""
    text = "".join(char for char in name if char.isprintable()).strip()
    return text[:PASSKEY_NAME_MAX_CHARS] or "Passkey"


def add_passkey(user_id: int, credential: dict[str, Any], challenge: bytes, name: str) -> Passkey:
    """Check a new credential's attestation (challenge, origin, RP id, user verification) and
    keep it. `PasskeyRefused`, or `IdentityConflict` when the credential is kept already."""
    rp = relying_party()
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, require_user_verification=True)
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise PasskeyRefused(f"registration: {error}") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if len(credential_id) > CREDENTIAL_ID_MAX_CHARS:
        raise PasskeyRefused("credential id too long")
    begin_write()
    user = db.session.get(User, user_id, with_for_update=True)
    if user is None:
        db.session.rollback()
        raise NotFound(f"user {user_id}")
    count = db.session.scalar(select(func.count()).select_from(Passkey)
                              .where(Passkey.user_id == user_id))
    if count >= MAX_PASSKEYS:
        db.session.rollback()
        raise PasskeyRefused("too many passkeys")
    passkey = Passkey(user_id=user_id, credential_id=credential_id,
                      public_key=verified.credential_public_key,
                      sign_count=verified.sign_count,
                      name=_clean_name(name),
                      transports=_transports(credential), created_at=utcnow())
    db.session.add(passkey)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise IdentityConflict from None
    db.session.commit()
    return passkey


def authentication_options() -> tuple[str, bytes]:
    """Options for navigator.credentials.get: no credential list (discoverable ones), user
    verification required."""
    options = generate_authentication_options(
        rp_id=relying_party().id, user_verification=UserVerificationRequirement.REQUIRED)
    return options_to_json(options), options.challenge


def sign_in(
    credential: dict[str, Any], challenge: bytes,
    client: accounts.Client = accounts.Client(),  # noqa: B008 - frozen, so safe
    guest_cart: carts.GuestCart | None = None, ending_session_id: int | None = None,
) -> accounts.SignedIn:
    """Check an assertion against the passkey its credential id names and sign its account
    in through the same session start, events and cart merge as a password sign-in.
    An unknown credential, a failed check or a disabled account: `InvalidCredentials`
    (recorded as a failed sign-in)."""
    credential_id = credential.get("id")
    if not isinstance(credential_id, str) or not 0 < len(credential_id) <= CREDENTIAL_ID_MAX_CHARS:
        raise PasskeyRefused("no credential id")
    scope = rls.current_scope()
    rls.find_by_credential(credential_id)
    passkey = db.session.scalar(select(Passkey).where(Passkey.credential_id == credential_id))
    user = None
    if passkey is not None:
        rls.act_as(passkey.user_id)
        user = db.session.get(User, passkey.user_id)
    rls.restore(scope)
    if passkey is None or user is None or not user.is_active:
        db.session.rollback()
        events.record_failure(events.LOGIN, detail=f"{METHOD} unknown or disabled")
        raise InvalidCredentials
    rp = relying_party()
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count, require_user_verification=True)
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        db.session.rollback()
        events.record_failure(events.LOGIN, detail=f"{METHOD} refused")
        raise PasskeyRefused(f"assertion: {error}") from None
    passkey_id, old_count = passkey.id, passkey.sign_count

    def move_count(_user_id: int) -> None:
        moved = db.session.execute(
            update(Passkey).where(Passkey.id == passkey_id, Passkey.sign_count == old_count)
            .values(sign_count=verified.new_sign_count, last_used_at=utcnow())).rowcount
        if moved != 1:  # another request used this very assertion (or a later one) first
            db.session.rollback()
            raise IdentityConflict

    return accounts.open_session(user, client, False, guest_cart, ending_session_id, METHOD,
                                 also=move_count)


def remove_passkey(user_id: int, passkey_id: int) -> None:
    """Remove one of the account's passkeys (accounts.remove_sign_in_method)."""
    accounts.remove_sign_in_method(user_id, Passkey, passkey_id)


def parse_credential(body: object) -> dict[str, Any]:
    """The `credential` object of a JSON body; `PasskeyRefused` for anything else."""
    if not isinstance(body, dict) or not isinstance(body.get("credential"), dict):
        raise PasskeyRefused("no credential object")
    credential = body["credential"]
    if len(json.dumps(credential)) > 64_000:
        raise PasskeyRefused("credential too large")
    return credential
