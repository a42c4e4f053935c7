"""Single-use tokens for mailed links: address verification, password reset, e-mail change.

Only the SHA-256 of a `secrets.token_urlsafe(32)` is stored, bound to one purpose and one
account. A token is consumed by one guarded UPDATE (unused, not expired): of two
simultaneous uses exactly one succeeds. Tokens are minted by the mail worker when it sends
the mail that carries them (storefront/mail.py), so they exist in clear only in that mail.

Before the account is known, a request reaches a token row (and its account, read-only)
through the hash of the token it holds (`rls.find_by_email_token`), the way a session token
finds its session.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import insert, select, update

from storefront import rls
from storefront.database import db
from storefront.exceptions import InvalidToken
from storefront.models import (
    EMAIL_TOKEN_BYTES,
    EMAIL_TOKEN_MAX_CHARS,
    RESET_TOKEN_HOURS,
    VERIFY_TOKEN_DAYS,
    EmailToken,
    User,
    utcnow,
)

VERIFY = "verify"
RESET = "reset"
EMAIL_CHANGE = "email_change"
LIFETIMES = {
    VERIFY: timedelta(days=VERIFY_TOKEN_DAYS),
    RESET: timedelta(hours=RESET_TOKEN_HOURS),
    EMAIL_CHANGE: timedelta(days=VERIFY_TOKEN_DAYS),
}
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Holder:
    """Whom a live token names: the account, its current address, the token's purpose and,
    for an e-mail change, the new address."""

    user_id: int
    email: str
    purpose: str
    new_email: str | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def well_formed(token: object) -> bool:
    """Could this be one of our tokens at all (so it may be kept in a session)?"""
    return (isinstance(token, str) and 0 < len(token) <= EMAIL_TOKEN_MAX_CHARS
            and TOKEN_SHAPE.fullmatch(token) is not None)


def mint(user_id: int, purpose: str, new_email: str | None = None) -> str:
    """A new token for the account, added to the current transaction; returns it in clear.

    A new reset token ends the account's older unused ones: only the latest link works.
    """
    now = utcnow()
    if purpose == RESET:
        _end_unused(user_id, (RESET,))
    token = secrets.token_urlsafe(EMAIL_TOKEN_BYTES)
    db.session.execute(insert(EmailToken.__table__).inline().values(
        user_id=user_id, purpose=purpose, token_hash=hash_token(token), new_email=new_email,
        created_at=now, expires_at=now + LIFETIMES[purpose],
    ))
    return token


def _end_unused(user_id: int, purposes: tuple[str, ...]) -> None:
    db.session.execute(
        update(EmailToken)
        .where(EmailToken.user_id == user_id, EmailToken.purpose.in_(purposes),
               EmailToken.used_at.is_(None))
        .values(used_at=utcnow())
    )


def end_unused(user_id: int, purposes: tuple[str, ...]) -> None:
    """Make the account's unused tokens of these purposes unusable (in the caller's
    transaction): the address they were sent to is no longer the account's, say."""
    _end_unused(user_id, purposes)


def peek(token: str, purposes: tuple[str, ...]) -> Holder:
    """Whom a live token of one of these purposes names, without using it; `InvalidToken`
    for a token unknown, malformed, used, expired, of another purpose or of a disabled
    account."""
    if not well_formed(token):
        raise InvalidToken
    token_hash = hash_token(token)
    rls.find_by_email_token(token_hash)
    row = db.session.execute(
        select(EmailToken.user_id, User.email, EmailToken.purpose, EmailToken.new_email)
        .join(User, User.id == EmailToken.user_id)
        .where(EmailToken.token_hash == token_hash, EmailToken.purpose.in_(purposes),
               EmailToken.used_at.is_(None), EmailToken.expires_at > utcnow(), User.is_active)
    ).first()
    if row is None:
        raise InvalidToken
    return Holder(row.user_id, row.email, row.purpose, row.new_email)


def consume(token: str, purposes: tuple[str, ...]) -> Holder:
    """Use a token, in the caller's (write) transaction; the request then acts for its
    account (the caller restores its own scope). `InvalidToken` as `peek`, and for the
    loser of two simultaneous uses: the guarded UPDATE lets exactly one through."""
    holder = peek(token, purposes)
    token_hash = hash_token(token)
    rls.act_as(holder.user_id, email_token_hash=token_hash)
    used = db.session.execute(
        update(EmailToken)
        .where(EmailToken.token_hash == token_hash, EmailToken.purpose == holder.purpose,
               EmailToken.used_at.is_(None), EmailToken.expires_at > utcnow())
        .values(used_at=utcnow())
    ).rowcount
    if used != 1:
        raise InvalidToken
    return holder
