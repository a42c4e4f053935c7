"""Accounts: registration with its profile, sign-in sessions, profile, password, deletion.

Each public function is one transaction. Sessions are rows in `user_sessions`; the cookie
carries a random token and the table keeps only its SHA-256, so a copied cookie stops
working the moment its row is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from importlib import resources

from flask import current_app, has_request_context
from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.security import check_password_hash, generate_password_hash

from storefront import carts, events, mail, media, orders, rls, tokens
from storefront.database import begin_write, db
from storefront.emails import canonical_email
from storefront.exceptions import (
    AlreadyVerified,
    EmailNotVerified,
    EmailTaken,
    EmailUnchanged,
    IdentityConflict,
    InvalidCredentials,
    LastSignInMethod,
    LinkNeedsPassword,
    NotFound,
    WrongPassword,
)
from storefront.models import (
    BROWSER_SESSION_HOURS,
    EMAIL_MAX_CHARS,
    IP_MAX_CHARS,
    LAST_SEEN_WRITE_SECONDS,
    NAME_MAX_CHARS,
    REMEMBER_SESSION_DAYS,
    SESSION_TOKEN_BYTES,
    STALE_SESSION_DAYS,
    USER_AGENT_MAX_CHARS,
    OAuthIdentity,
    OutboxMail,
    Passkey,
    Profile,
    User,
    UserSession,
    utcnow,
)

PROFILE_FIELDS = ("first_name", "last_name", "phone", "marketing_opt_in")


@dataclass(frozen=True)
class SignedIn:
    """A started session: the user, the token for the cookie, its row id and its end."""

    user: User
    token: str
    session_id: int
    remember: bool
    expires_at: datetime
    merge: carts.MergeResult = carts.MergeResult()


@dataclass(frozen=True)
class Client:
    """Where a sign-in comes from, as shown on the sessions page."""

    user_agent: str = ""
    ip: str = ""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


@cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of very common passwords, lower-cased."""
    text = resources.files("storefront").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line and not line.startswith("#")
    )


# Rows of keys and runs of digits and letters: a password that is a stretch of one of them,
# forwards or backwards, wrapping round (`7890123`), is as guessable as a common one.
KEYBOARD_RUNS = (
    "0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm",
    "qwertzuiop", "azertyuiop", "qwertyuiopasdfghjklzxcvbnm", "1qaz2wsx3edc4rfv5tgb6yhn7ujm",
)


def _is_run(text: str) -> bool:
    for run in KEYBOARD_RUNS:
        wrapped = run * (len(text) // len(run) + 2)
        if text in wrapped or text in wrapped[::-1]:
            return True
    return False


def is_common_password(password: str) -> bool:
    """One of the shipped common passwords, one character repeated, or a plain run of keys
    or digits (`12345678`, `qwertyuiop`, `zyxwvuts`); any letter case."""
    text = password.lower()
    return text in common_passwords() or len(set(text)) <= 1 or _is_run(text)


def _find_user_by_email(email: str) -> User | None:
    canonical = canonical_email(email)
    rls.find_by_email(canonical)
    return db.session.scalar(select(User).where(User.email_canonical == canonical))


def session_lifetime(remember: bool) -> timedelta:
    """30 days with "remember me", else 12 hours (and the cookie ends with the browser)."""
    return (timedelta(days=REMEMBER_SESSION_DAYS) if remember
            else timedelta(hours=BROWSER_SESSION_HOURS))


def _start_session(user_id: int, remember: bool, client: Client) -> tuple[str, UserSession]:
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    now = utcnow()
    row = UserSession(
        user_id=user_id,
        token_hash=hash_token(token),
        remember=remember,
        created_at=now,
        last_seen_at=now,
        expires_at=now + session_lifetime(remember),
        user_agent=client.user_agent[:USER_AGENT_MAX_CHARS],
        ip=client.ip[:IP_MAX_CHARS],
    )
    db.session.add(row)
    db.session.flush()
    return token, row


def register(
    email: str, password: str, first_name: str, last_name: str,
    client: Client = Client(), remember: bool = False,  # noqa: B008 - frozen, so safe
    guest_cart: carts.GuestCart | None = None,
) -> SignedIn:
    """Create a user and their profile in one transaction, start a session, and merge the
    guest cart into the new saved cart (in a savepoint: a failed merge never fails the sign-up).

    The email is stored as typed, and unique in its canonical form (emails.canonical_email):
    the unique index decides, so two simultaneous sign-ups for one address, however each is
    written, give one account and an `EmailTaken` for the other (recorded as a failed
    registration). The password is hashed before anything is checked, so a taken address
    answers no faster than a free one.
    """
    return _create_account(email, _hash_password(password), first_name, last_name, client,
                           remember, guest_cart)


def _create_account(
    email: str, password_hash: str | None, first_name: str, last_name: str, client: Client,
    remember: bool, guest_cart: carts.GuestCart | None, method: str = "",
    verified: bool = False, also: Callable[[int], None] | None = None,
) -> SignedIn:
    """Registration's one transaction: by password (`method` empty) or through a provider
    (`method` "oidc:<name>", no password, the address verified by the provider, `also`
    adding the identity row under the new user's scope)."""
    canonical = canonical_email(email)
    begin_write()
    rls.act_as(None, email=canonical)
    try:
        user = User(email=email, email_canonical=canonical, password_hash=password_hash,
                    last_login_at=utcnow(), email_verified_at=utcnow() if verified else None)
        db.session.add(user)
        db.session.flush()
        rls.act_as(user.id)
        db.session.add(
            Profile(user_id=user.id, first_name=first_name, last_name=last_name)
        )
        token, row = _start_session(user.id, remember, client)
        if not verified:
            mail.queue(mail.VERIFY, user.id, email)
        if also is not None:
            also(user.id)
        events.record(events.REGISTRATION, True, user.id, method)
        events.record(events.LOGIN, True, user.id, method or "registration")
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        events.record_failure(events.REGISTRATION, detail="email_taken")
        raise EmailTaken(email) from None
    merge = carts.merge_safely(user.id, guest_cart)
    db.session.commit()
    return SignedIn(user, token, row.id, remember, row.expires_at, merge)


def authenticate(email: str, password: str) -> User:
    """The active user with this email and password; `InvalidCredentials` otherwise.

    An unknown email still costs one hash check, so timing does not tell which emails exist.
    """
    method = current_app.config["PASSWORD_HASH_METHOD"]
    user = _find_user_by_email(email)
    if user is None or user.password_hash is None:  # no account, or one without a password
        check_password_hash(_dummy_hash(method), password)
        raise InvalidCredentials
    if not check_password_hash(user.password_hash, password) or not user.is_active:
        raise InvalidCredentials
    return user


def sign_in(
    email: str, password: str,
    client: Client = Client(), remember: bool = False,  # noqa: B008 - frozen, so safe
    guest_cart: carts.GuestCart | None = None, ending_session_id: int | None = None,
) -> SignedIn:
    """Check the credentials, start a session (a new `user_sessions` row) and merge the guest
    cart into the saved cart, all in one transaction (the merge in a savepoint of its own).

    `ending_session_id` is the session this browser was signed in with (signing in as
    someone else, or again): it is revoked in the same transaction, so its cookie, wherever
    it was copied, is anonymous from now on. Raises `InvalidCredentials` (recorded as a
    failed sign-in) for an unknown email, a wrong password or a disabled account alike; the
    old session then stays. A hash made with an older method is upgraded.
    """
    try:
        user = authenticate(email, password)
    except InvalidCredentials:
        db.session.rollback()
        events.record_failure(events.LOGIN, detail="invalid_credentials")
        raise
    return open_session(user, client, remember, guest_cart, ending_session_id,
                         password=password)


def open_session(
    user: User, client: Client, remember: bool, guest_cart: carts.GuestCart | None,
    ending_session_id: int | None, method: str = "", password: str | None = None,
    also: Callable[[int], None] | None = None,
) -> SignedIn:
    """Every way in ends here (password, provider, passkey): in one transaction, the old
    session ends, a new one starts, the sign-in event records its `method` ("" for a
    password, "oidc:<name>", "passkey"), `also` writes what the method needs (a passkey's
    count, an identity's link) under the user's scope, and the guest cart merges."""
    begin_write()  # the credential check ran outside the write lock; now write
    if ending_session_id is not None:
        _revoke(ending_session_id)  # still in the old session's scope: its own row
    rls.act_as(user.id)
    if password is not None and not (user.password_hash or "").startswith(
            current_app.config["PASSWORD_HASH_METHOD"] + "$"):
        user.password_hash = _hash_password(password)
    user.last_login_at = utcnow()
    # A staff member's session is never remembered: it ends with the browser, and after
    # 12 hours at most (the admin gate also ends older ones).
    remember = remember and not user.is_staff
    token, row = _start_session(user.id, remember, client)
    if also is not None:
        try:
            also(user.id)
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise IdentityConflict from None
    events.record(events.LOGIN, True, user.id, method)
    merge = carts.merge_safely(user.id, guest_cart)
    db.session.commit()
    return SignedIn(user, token, row.id, remember, row.expires_at, merge)


def load_session(token: str) -> User | None:
    """The user behind a live session token (one query), or None. The query also reads the
    saved cart's count for the header (`User.cart_count`), so a page pays nothing more for it.

    Revoked, expired or disabled: None. `last_seen_at` is written at most once a minute, and
    losing that write to a busy database is harmless.
    """
    now = utcnow()
    token_hash = hash_token(token)
    rls.act_as(None, token_hash)
    row = db.session.execute(
        select(User, UserSession.id, UserSession.last_seen_at, UserSession.remember,
               carts.saved_cart_count(User.id).label("cart_count"))
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            UserSession.token_hash == token_hash,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
            User.is_active,
        )
    ).first()
    if row is None:
        return None
    user = row.User
    # The request's user is a snapshot: a rollback later in the request (or the account's
    # deletion by another request meanwhile) must not make reading it query or fail.
    db.session.expunge(user)
    rls.act_as(user.id, token_hash)
    user.session_id = row.id
    user.session_token = token
    user.session_remember = row.remember
    user.cart_count = row.cart_count
    if now - row.last_seen_at > timedelta(seconds=LAST_SEEN_WRITE_SECONDS):
        try:
            db.session.execute(
                update(UserSession).where(UserSession.id == row.id).values(last_seen_at=now)
            )
            db.session.commit()
        except OperationalError:
            db.session.rollback()
    return user


def _revoke(session_id: int) -> int:
    return db.session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount


def sign_out(session_id: int) -> None:
    """Revoke one session, so its cookie is anonymous from now on."""
    begin_write()
    _revoke(session_id)
    db.session.commit()


def get_profile(user_id: int) -> Profile:
    profile = db.session.get(Profile, user_id)
    if profile is None:
        raise NotFound(f"profile of user {user_id}")
    return profile


def update_profile(user_id: int, changes: dict[str, object]) -> Profile:
    """Apply the given profile fields (others in `changes` are ignored) and save.

    Values arrive validated by a form; this function decides which keys may change. Raises
    `NotFound` when the account was deleted meanwhile (by another request, say).
    """
    begin_write()
    # Read afresh and locked: a copy the request read before may belong to an account
    # deleted since, and writing it back would match no row.
    profile = db.session.get(Profile, user_id, populate_existing=True, with_for_update=True)
    if profile is None:
        raise NotFound(f"profile of user {user_id}")
    for name in PROFILE_FIELDS:
        if name in changes:
            setattr(profile, name, changes[name])
    profile.updated_at = utcnow()
    db.session.commit()
    return profile


def _check_password(user_id: int, password: str | None) -> User:
    """The user, once the password matches. `None` stands for "no password to check": only
    accepted for an account that has none (the caller has checked a recent sign-in)."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id}")
    if password is None:
        if user.password_hash is not None:
            raise WrongPassword
        return user
    if user.password_hash is None or not check_password_hash(user.password_hash, password):
        raise WrongPassword
    return user


def verify_password(user_id: int, password: str) -> None:
    """Re-check a signed-in user's password before a destructive action (the staff area);
    raises `WrongPassword`."""
    _check_password(user_id, password)


def change_password(user_id: int, session_id: int, current: str, new: str) -> SignedIn:
    """Set a new password after checking the current one; returns this session, continued.

    Every other session of the account is revoked, and this one continues under a fresh token
    (same end as before) so a copy of the old cookie is anonymous too. Raises `WrongPassword`,
    or `NotFound` when the account was deleted meanwhile.
    """
    _check_password(user_id, current)
    new_hash = _hash_password(new)
    begin_write()
    # Read afresh and locked, as in update_profile: the account may be gone since the check.
    user = db.session.get(User, user_id, populate_existing=True, with_for_update=True)
    if user is None:
        raise NotFound(f"user {user_id}")
    user.password_hash = new_hash
    now = utcnow()
    db.session.execute(
        update(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.id != session_id,
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    mail.queue(mail.PASSWORD_CHANGED, user_id, user.email)
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    remember, expires_at = db.session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.user_id == user_id)
        .values(token_hash=hash_token(token), last_seen_at=now)
        .returning(UserSession.remember, UserSession.expires_at)
    ).one()
    db.session.commit()
    return SignedIn(user, token, session_id, remember, expires_at)


def list_sessions(user_id: int) -> list[UserSession]:
    """The account's live sessions, most recently seen first."""
    return list(
        db.session.scalars(
            select(UserSession)
            .where(
                UserSession.user_id == user_id,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > utcnow(),
            )
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        )
    )


def revoke_session(user_id: int, session_id: int) -> None:
    """End one of the account's own live sessions; `NotFound` for anyone else's."""
    begin_write()
    result = db.session.execute(
        update(UserSession)
        .where(
            UserSession.id == session_id,
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise NotFound(f"session {session_id}")
    db.session.commit()


def delete_account(user_id: int, password: str | None) -> None:
    """Delete the user and, by cascade, the profile, sessions, saved cart, address book,
    e-mail tokens, wishlist and its share link; the account's mails (queued or sent) and the
    profile picture's files go too.

    Needs the password (`WrongPassword` otherwise; `None` for an account without one, whose
    recent sign-in the caller checked). Events keep their counts without the user.
    Orders stay for the shop's books, detached from the person in the same transaction
    (orders.detach_orders: name, e-mail, street addresses and phones removed; totals, lines
    and countries kept).
    """
    _check_password(user_id, password)
    begin_write()
    avatar_key = db.session.scalar(
        select(User.avatar_key).where(User.id == user_id).with_for_update())
    orders.detach_orders(user_id)
    _forget_mail(user_id)
    db.session.execute(delete(User).where(User.id == user_id))
    db.session.commit()
    if avatar_key:  # files go once the account is gone for good
        media.delete_avatar(avatar_key)


def _forget_mail(user_id: int) -> None:
    """Remove the account's mails, queued or sent, inside the deletion's transaction. The app
    role may not touch the outbox: on PostgreSQL a SECURITY DEFINER function (migration 0014)
    deletes the rows of `storefront.user_id`, and nothing else."""
    if db.engine.dialect.name == "postgresql" and has_request_context():
        db.session.execute(text("SELECT storefront_forget_mail()"))
        return
    # SQLite, or a command outside a request (the connecting role, no row-level scope).
    db.session.execute(delete(OutboxMail).where(OutboxMail.user_id == user_id))


@dataclass(frozen=True)
class AccountsCheck:
    users_without_profile: list[int]
    stale_sessions: int
    # (user, the user holding its canonical e-mail): accounts that collided when the
    # canonical column came. Not repaired automatically: which one to keep is a person's call.
    email_collisions: list[tuple[int, int | None]] = field(default_factory=list)
    profiles_created: int = 0
    sessions_purged: int = 0
    # Numbers of orders whose totals do not equal their lines: never repaired automatically.
    orders_with_wrong_totals: list[str] = field(default_factory=list)

    @property
    def broken(self) -> bool:
        return bool(self.users_without_profile or self.email_collisions
                    or self.orders_with_wrong_totals)


def _email_collisions() -> list[tuple[int, int | None]]:
    """Users without a canonical e-mail, each with the user who holds that form (None: the
    form is too long for its column, so migration 0005 could store it for nobody)."""
    uncanonical = db.session.execute(
        select(User.id, User.email).where(User.email_canonical.is_(None)).order_by(User.id)
    ).all()
    return [
        (user_id, db.session.scalar(
            select(User.id).where(User.email_canonical == canonical_email(email))))
        for user_id, email in uncanonical
    ]


def check_accounts(fix: bool = False) -> AccountsCheck:
    """Find users without a profile, accounts whose e-mail collides with another's in
    canonical form, and session rows expired or revoked over 30 days ago.

    With `fix`, create the missing profiles (names empty, for the shopper to fill in) and
    purge the stale session rows, in one transaction; collisions stay for a person to settle.
    """
    cutoff = utcnow() - timedelta(days=STALE_SESSION_DAYS)
    stale = or_(UserSession.revoked_at < cutoff, UserSession.expires_at < cutoff)
    if fix:
        begin_write()
    orphans = list(
        db.session.scalars(
            select(User.id)
            .outerjoin(Profile, Profile.user_id == User.id)
            .where(Profile.user_id.is_(None))
            .order_by(User.id)
        )
    )
    stale_count = db.session.scalar(select(func.count()).select_from(UserSession).where(stale))
    collisions = _email_collisions()
    wrong_totals = orders.orders_with_wrong_totals()
    if not fix:
        db.session.rollback()
        return AccountsCheck(orphans, stale_count, collisions,
                             orders_with_wrong_totals=wrong_totals)
    for user_id in orphans:
        db.session.add(Profile(user_id=user_id, first_name="", last_name=""))
    purged = db.session.execute(delete(UserSession).where(stale)).rowcount
    db.session.commit()
    return AccountsCheck(
        orphans, stale_count, collisions, profiles_created=len(orphans), sessions_purged=purged,
        orders_with_wrong_totals=wrong_totals,
    )


# Mail: verification, password reset, e-mail change (issue 13) ----------------------------------

def request_password_reset(email: str) -> None:
    """Queue a reset mail for the active account this address names in canonical form, sent
    to the address stored for it, never to the one typed. The same work, one INSERT ...
    SELECT, whether or not such an account exists; the worker mints the link's token, and a
    new reset link ends the older ones."""
    canonical = canonical_email(email)
    begin_write()
    rls.find_by_email(canonical)
    mail.queue_to_account(mail.RESET, canonical)
    db.session.commit()


def get_reset_holder(token: str) -> tokens.Holder:
    """The account a live reset token names; `InvalidToken` otherwise."""
    return tokens.peek(token, (tokens.RESET,))


def reset_password(token: str, new_password: str) -> tokens.Holder:
    """Set a new password with a reset token, used up in the same transaction: every session
    of the account ends, its other reset links die, and a notice goes to its address.
    Returns the account's holder (the caller clears its sign-in throttle). `InvalidToken`
    for a token unknown, used, expired or for another purpose; nothing changes then."""
    new_hash = _hash_password(new_password)
    scope = rls.current_scope()
    begin_write()
    try:
        holder = tokens.consume(token, (tokens.RESET,))
        now = utcnow()
        db.session.execute(update(User).where(User.id == holder.user_id)
                           .values(password_hash=new_hash))
        db.session.execute(
            update(UserSession)
            .where(UserSession.user_id == holder.user_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        tokens.end_unused(holder.user_id, (tokens.RESET,))
        mail.queue(mail.PASSWORD_CHANGED, holder.user_id, holder.email)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        rls.restore(scope)
    return holder


def get_link_holder(token: str) -> tokens.Holder:
    """The account a live verification or e-mail-change token names; `InvalidToken`
    otherwise."""
    return tokens.peek(token, (tokens.VERIFY, tokens.EMAIL_CHANGE))


def confirm_email(token: str) -> tokens.Holder:
    """Use a verification link (the address is verified) or an e-mail-change link (the
    account moves to the new address, verified by this very link, and the old address is
    told). The unique canonical column decides: if another account holds the new address
    by now, `EmailTaken` and nothing changes (the link stays usable). Other pending links of
    the account for the old address die. `InvalidToken` as in `reset_password`."""
    scope = rls.current_scope()
    begin_write()
    try:
        holder = tokens.consume(token, (tokens.VERIFY, tokens.EMAIL_CHANGE))
        now = utcnow()
        if holder.purpose == tokens.VERIFY:
            db.session.execute(
                update(User).where(User.id == holder.user_id,
                                   User.email_verified_at.is_(None))
                .values(email_verified_at=now)
            )
        else:
            new_email = holder.new_email or ""
            try:
                db.session.execute(
                    update(User).where(User.id == holder.user_id)
                    .values(email=new_email, email_canonical=canonical_email(new_email),
                            email_verified_at=now)
                )
            except IntegrityError:
                db.session.rollback()
                raise EmailTaken(new_email) from None
            tokens.end_unused(holder.user_id, (tokens.VERIFY, tokens.EMAIL_CHANGE))
            mail.queue(mail.EMAIL_CHANGED, holder.user_id, holder.email, new_email=new_email)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        rls.restore(scope)
    return holder


def resend_verification(user_id: int) -> None:
    """Queue the verification mail again; `AlreadyVerified` when there is nothing to prove."""
    begin_write()
    row = db.session.execute(
        select(User.email, User.email_verified_at).where(User.id == user_id)
    ).first()
    if row is None:
        db.session.rollback()
        raise NotFound(f"user {user_id}")
    if row.email_verified_at is not None:
        db.session.rollback()
        raise AlreadyVerified
    mail.queue(mail.VERIFY, user_id, row.email)
    db.session.commit()


def request_email_change(user_id: int, password: str | None, new_email: str) -> None:
    """After checking the password, mail a link to the new address; the change applies when
    it is used (`confirm_email`). `WrongPassword`; `EmailUnchanged` for the account's own
    address in any spelling; `EmailTaken` when another account holds it now (checked again
    when the link is used)."""
    user = _check_password(user_id, password)
    canonical = canonical_email(new_email)
    if canonical == user.email_canonical:
        raise EmailUnchanged
    scope = rls.current_scope()
    begin_write()
    rls.find_by_email(canonical)
    try:
        taken = db.session.scalar(select(User.id).where(User.email_canonical == canonical))
    finally:
        rls.restore(scope)
    if taken is not None:
        db.session.rollback()
        raise EmailTaken(new_email)
    mail.queue(mail.EMAIL_CHANGE, user_id, new_email)
    db.session.commit()


# Sign-in methods: OpenID Connect identities (issue 18) ------------------------------------------

@dataclass(frozen=True)
class ProviderClaims:
    """What a provider's checked ID token (and user info) says about the shopper."""

    provider: str
    subject: str
    email: str = ""
    email_verified: bool = False
    first_name: str = ""
    last_name: str = ""


def oidc_method(provider: str) -> str:
    return f"oidc:{provider}"


def _clean_name(value: object) -> str:
    text = value if isinstance(value, str) else ""
    text = "".join(char for char in text if char.isprintable()).strip()
    return text[:NAME_MAX_CHARS]


def names_from_claims(claims: dict[str, object]) -> tuple[str, str]:
    """Profile names from the standard claims (given and family name, else the full name)."""
    first, last = _clean_name(claims.get("given_name")), _clean_name(claims.get("family_name"))
    if not first and not last:
        full = _clean_name(claims.get("name"))
        first, _space, last = full.partition(" ")
    return first or "Shopper", last


def _find_identity(provider: str, subject: str) -> OAuthIdentity | None:
    rls.find_by_identity(provider, subject)
    return db.session.scalar(select(OAuthIdentity).where(
        OAuthIdentity.provider == provider, OAuthIdentity.subject == subject))


def _add_identity(claims: ProviderClaims) -> Callable[[int], None]:
    def add(user_id: int) -> None:
        now = utcnow()
        db.session.add(OAuthIdentity(
            provider=claims.provider, subject=claims.subject, user_id=user_id,
            email=claims.email[:EMAIL_MAX_CHARS] or None, created_at=now, last_used_at=now))
    return add


def sign_in_with_provider(
    claims: ProviderClaims, client: Client = Client(),  # noqa: B008 - frozen, so safe
    guest_cart: carts.GuestCart | None = None, ending_session_id: int | None = None,
    before_sign_up: Callable[[], None] | None = None,
) -> SignedIn:
    """Sign in with a provider's checked identity, found by (provider, subject) only.

    A known identity signs its account in. A new one: whose verified e-mail names no account
    creates one (no password; registration's transaction); whose e-mail names an account is
    linked to it only when the provider and the account have both verified that address,
    else `LinkNeedsPassword`; an unverified (or absent) e-mail and no account:
    `EmailNotVerified`. A disabled account: `InvalidCredentials` (recorded as a failed
    sign-in). Every success goes through `open_session` (or registration's) like a password
    sign-in; `before_sign_up` runs before an account is created (the sign-up throttle)."""
    method = oidc_method(claims.provider)
    identity = _find_identity(claims.provider, claims.subject)
    if identity is not None:
        identity_id, user_id = identity.id, identity.user_id
        scope = rls.current_scope()
        rls.act_as(user_id)
        try:
            user = db.session.get(User, user_id)
        finally:
            rls.restore(scope)  # the old session (if any) ends in its own scope
        if user is None or not user.is_active:
            db.session.rollback()
            events.record_failure(events.LOGIN, detail=f"{method} disabled")
            raise InvalidCredentials

        def touch(_user_id: int) -> None:
            db.session.execute(update(OAuthIdentity).where(OAuthIdentity.id == identity_id)
                               .values(last_used_at=utcnow(), email=claims.email or None))

        return open_session(user, client, False, guest_cart, ending_session_id, method,
                             also=touch)
    email = claims.email
    if not email or len(email) > EMAIL_MAX_CHARS:
        raise EmailNotVerified
    user = _find_user_by_email(email)
    if user is None:
        if not claims.email_verified:
            raise EmailNotVerified
        if before_sign_up is not None:
            before_sign_up()
        if ending_session_id is not None:
            sign_out(ending_session_id)
        first_name, last_name = claims.first_name or "Shopper", claims.last_name
        return _create_account(email, None, first_name, last_name, client, False, guest_cart,
                               method, verified=True, also=_add_identity(claims))
    if not user.is_active:
        db.session.rollback()
        events.record_failure(events.LOGIN, detail=f"{method} disabled")
        raise InvalidCredentials
    if claims.email_verified and user.email_verified_at is not None:
        return open_session(user, client, False, guest_cart, ending_session_id, method,
                             also=_add_identity(claims))
    db.session.rollback()
    raise LinkNeedsPassword(user.email)


def link_identity(user_id: int, claims: ProviderClaims) -> bool:
    """Link a provider's identity to the signed-in account (after the password sign-in that a
    `LinkNeedsPassword` asked for). False when it is linked already (to any account)."""
    begin_write()
    rls.act_as(user_id)
    try:
        _add_identity(claims)(user_id)
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return False
    db.session.commit()
    return True


@dataclass(frozen=True)
class SignInMethods:
    has_password: bool
    passkeys: list[Passkey]
    identities: list[OAuthIdentity]

    @property
    def count(self) -> int:
        return int(self.has_password) + len(self.passkeys) + len(self.identities)


def sign_in_methods(user_id: int) -> SignInMethods:
    """The account's ways in: a password or not, its passkeys and linked providers."""
    has_password = db.session.scalar(
        select(User.password_hash.is_not(None)).where(User.id == user_id))
    passkeys = list(db.session.scalars(
        select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id)))
    identities = list(db.session.scalars(
        select(OAuthIdentity).where(OAuthIdentity.user_id == user_id)
        .order_by(OAuthIdentity.id)))
    return SignInMethods(bool(has_password), passkeys, identities)


def remove_sign_in_method(user_id: int, kind: type[Passkey] | type[OAuthIdentity],
                          object_id: int) -> None:
    """Remove one of the account's passkeys or linked providers; `NotFound` for anyone
    else's, and `LastSignInMethod` when the account would be left with no way in (no
    password, no other passkey, no provider). Under the account's row lock, so two removals
    at once cannot leave it with none."""
    begin_write()
    user = db.session.get(User, user_id, with_for_update=True)
    if user is None:
        db.session.rollback()
        raise NotFound(f"user {user_id}")
    mine = db.session.scalar(select(kind.id).where(kind.id == object_id,
                                                   kind.user_id == user_id))
    if mine is None:
        db.session.rollback()
        raise NotFound(f"{kind.__tablename__} {object_id}")
    others = sum(
        db.session.scalar(select(func.count()).select_from(table).where(
            table.user_id == user_id, *([table.id != object_id] if table is kind else [])))
        for table in (Passkey, OAuthIdentity))
    if user.password_hash is None and not others:
        db.session.rollback()
        raise LastSignInMethod
    db.session.execute(delete(kind).where(kind.id == object_id, kind.user_id == user_id))
    db.session.commit()
