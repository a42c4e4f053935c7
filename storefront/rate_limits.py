"""The shop's throttles (CONTRACT.md, "Limits"), as Flask-Limiter decorators.

Counters live in RATELIMIT_STORAGE_URI: per worker with memory://, shared with Redis.
Page views (GET) are never limited.
"""

from __future__ import annotations

from flask import Response, g, request
from flask_login import current_user

from storefront.extensions import limiter
from storefront.models import EMAIL_MAX_CHARS

AUTH_POSTS_PER_ADDRESS = "30 per minute"
REGISTRATIONS_PER_ADDRESS = "10 per hour"
FAILED_SIGN_INS_PER_ACCOUNT = "10 per 15 minutes"
FAILED_REAUTHS_PER_ACCOUNT = "5 per 15 minutes"


def _sign_in_account_key() -> str:
    # Unknown emails are counted alike, else a 429 would reveal which accounts exist.
    email = request.form.get("email", "").strip().lower()[:EMAIL_MAX_CHARS]
    return f"sign-in:{email}"


def _reauth_account_key() -> str:
    return f"reauth:{current_user.get_id() and current_user.id}"


def _flagged(name: str):  # noqa: ANN202
    def deduct_when(_response: Response) -> bool:
        return bool(g.get(name, False))

    return deduct_when


def note_failed_sign_in() -> None:
    g.sign_in_failed = True


def note_failed_reauth() -> None:
    g.reauth_failed = True


def note_registration_attempt() -> None:
    g.registration_attempted = True


auth_posts = limiter.shared_limit(AUTH_POSTS_PER_ADDRESS, scope="auth-posts", methods=["POST"])
registrations = limiter.limit(
    REGISTRATIONS_PER_ADDRESS, methods=["POST"],
    deduct_when=_flagged("registration_attempted"),
)
failed_sign_ins = limiter.limit(
    FAILED_SIGN_INS_PER_ACCOUNT, key_func=_sign_in_account_key, methods=["POST"],
    deduct_when=_flagged("sign_in_failed"),
)
# One budget for every page that re-checks the password (password change, deletion).
failed_reauths = limiter.shared_limit(
    FAILED_REAUTHS_PER_ACCOUNT, scope="reauth", key_func=_reauth_account_key, methods=["POST"],
    deduct_when=_flagged("reauth_failed"),
)
