"""Signing in with a passkey (beyond CONTRACT.md): `POST /auth/passkey/options` gives the
options for navigator.credentials.get and keeps their challenge in the session, once;
`POST /auth/passkey/verify` takes `{"credential": {...}}` (JSON, X-CSRFToken header) and
answers `{"redirect": "..."}` after the same session start, events and cart merge as a
password sign-in, or a 400 JSON refusal. Both count against the auth POST limit."""

from __future__ import annotations

import logging

from flask import current_app, flash, jsonify, request, session, url_for
from flask_login import current_user

from storefront import passkeys
from storefront.auth_setup import start_session
from storefront.blueprints.auth import bp
from storefront.blueprints.auth.routes import client
from storefront.blueprints.cart.session_cart import read_guest_cart, settle_guest_cart
from storefront.blueprints.redirects import safe_next
from storefront.blueprints.wishlist.pending import read_pending_wish, settle_pending_wish
from storefront.exceptions import IdentityConflict, InvalidCredentials
from storefront.rate_limits import auth_posts
from storefront.request_guard import accepts_json

log = logging.getLogger(__name__)
CHALLENGE_KEY = "passkey_sign_in"
REFUSED = "This passkey could not sign you in. Please try again or use your password."


def options():  # noqa: ANN201
    text, challenge = passkeys.authentication_options()
    session[CHALLENGE_KEY] = passkeys.new_challenge_record(challenge)
    return current_app.response_class(text, mimetype="application/json")


def verify():  # noqa: ANN201
    record = session.pop(CHALLENGE_KEY, None)  # a challenge is used once, whatever follows
    body = request.get_json(silent=True)
    signed_in = current_user.is_authenticated
    guest = None if signed_in else read_guest_cart()
    wish = None if signed_in else read_pending_wish()
    try:
        credential = passkeys.parse_credential(body)
        challenge = passkeys.challenge_of(record)
        signed = passkeys.sign_in(
            credential, challenge, client(), guest_cart=guest,
            ending_session_id=current_user.session_id if signed_in else None)
    except (passkeys.PasskeyRefused, InvalidCredentials, IdentityConflict) as error:
        log.info("passkey sign-in refused: %s", error or type(error).__name__)
        return jsonify(error=REFUSED), 400
    start_session(signed)
    flash("You are signed in with your passkey.", "success")
    settle_guest_cart(guest, signed.merge)
    settle_pending_wish(signed.user.id, wish)
    next_url = safe_next(body.get("next") if isinstance(body.get("next"), str) else None)
    return jsonify(redirect=next_url or url_for("account.overview"))


bp.add_url_rule("/passkey/options", "passkey_options",
                view_func=accepts_json(auth_posts(options)),
                methods=["POST"])
bp.add_url_rule("/passkey/verify", "passkey_verify", view_func=accepts_json(auth_posts(verify)),
                methods=["POST"])
