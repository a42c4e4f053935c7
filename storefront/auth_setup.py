"""Flask-Login wiring: the cookie's session token resolves to a user through `user_sessions`,
and a remembered session's cookie ends exactly when its row does."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Flask, flash, jsonify, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask_login import login_user

from storefront import accounts
from storefront.extensions import login_manager

SESSION_ENDS_KEY = "_ends"  # a remembered session's end, as a Unix time
SIGNED_IN_AT_KEY = "_signed_in_at"  # when this browser last signed in, as a Unix time
# An account without a password confirms a destructive action by a sign-in this recent.
FRESH_SIGN_IN_SECONDS = 600
SIGN_IN_FIRST = "Sign in to use this."


@login_manager.user_loader
def load_user(token: str):  # noqa: ANN201
    return accounts.load_session(token)


class ShopSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, whose expiry for a remembered session is the session row's
    `expires_at` (30 days from sign-in), not "30 days from the last request"."""

    def get_expiration_time(self, app: Flask, session: SessionMixin) -> datetime | None:
        ends = session.get(SESSION_ENDS_KEY) if session.permanent else None
        if isinstance(ends, int):
            return datetime.fromtimestamp(ends, UTC)
        return super().get_expiration_time(app, session)


def start_session(signed: accounts.SignedIn) -> None:
    """Swap the cookie to a new session token (sign-in, sign-up, password change): nothing from
    before survives, CSRF token included."""
    session.clear()
    user = signed.user
    user.session_id, user.session_token = signed.session_id, signed.token
    user.session_remember = signed.remember
    login_user(user)
    session[SIGNED_IN_AT_KEY] = int(time.time())
    session.permanent = signed.remember
    if signed.remember:
        session[SESSION_ENDS_KEY] = int(signed.expires_at.timestamp())


def signed_in_recently() -> bool:
    """This browser signed in (by any method) within the last FRESH_SIGN_IN_SECONDS."""
    at = session.get(SIGNED_IN_AT_KEY)
    return isinstance(at, int) and 0 <= time.time() - at <= FRESH_SIGN_IN_SECONDS


@login_manager.unauthorized_handler
def unauthorized():  # noqa: ANN201
    if request.path.startswith("/api/"):
        return jsonify(error=SIGN_IN_FIRST), 401
    flash("Please sign in to see that page.", "info")
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target))


def register(app: Flask) -> None:
    # Our sessions are server-side rows; Flask-Login's own protection and remember cookie
    # are not used ("remember me" makes the signed session permanent instead).
    login_manager.session_protection = None
    login_manager.login_view = "auth.login"
    app.session_interface = ShopSessionInterface()
