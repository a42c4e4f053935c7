"""The accounts service: one transaction per action, sessions as revocable rows."""

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import NoResultFound
from werkzeug.security import generate_password_hash

from storefront import accounts, carts, events, mail, tokens
from storefront.emails import canonical_email
from storefront.exceptions import (
    EmailNotVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidToken,
    LastSignInMethod,
    LinkNeedsPassword,
    NotFound,
    WrongPassword,
)
from storefront.extensions import db
from storefront.models import (
    BROWSER_SESSION_HOURS,
    EMAIL_MAX_CHARS,
    REMEMBER_SESSION_DAYS,
    STALE_SESSION_DAYS,
    EmailToken,
    Event,
    OAuthIdentity,
    OutboxMail,
    Passkey,
    Profile,
    User,
    UserCart,
    UserSession,
    utcnow,
)
from tests.factories import make_product, make_user
from tests.support import PASSWORD, count_rows

NEW_PASSWORD = "a new long secret"  # noqa: S105 - a test value


def test_register_writes_user_profile_session_and_events_together(app):
    signed = accounts.register("Ada@Example.com", PASSWORD, "Ada", "Lovelace")
    user = db.session.get(User, signed.user.id)
    assert user.email == "Ada@Example.com"  # stored as typed
    assert db.session.get(Profile, user.id).first_name == "Ada"
    assert db.session.scalar(select(UserSession.user_id)) == user.id
    assert accounts.load_session(signed.token).id == user.id
    kinds = set(db.session.scalars(select(Event.kind).where(Event.ok)))
    assert kinds == {"registration", "login"}


def test_register_is_one_transaction(app, monkeypatch):
    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("session table on fire")

    monkeypatch.setattr(accounts, "_start_session", broken)
    with pytest.raises(RuntimeError):
        accounts.register("ada@example.com", PASSWORD, "Ada", "Lovelace")
    db.session.rollback()
    assert (count_rows(User), count_rows(Profile), count_rows(Event)) == (0, 0, 0)


def test_duplicate_email_in_another_case_is_refused(app):
    make_user("ada@example.com")
    with pytest.raises(EmailTaken):
        accounts.register("ADA@example.COM", PASSWORD, "Other", "Person")
    assert (count_rows(User), count_rows(Profile)) == (1, 1)
    failed = db.session.scalar(select(Event).where(Event.kind == "registration", ~Event.ok))
    assert failed.detail == "email_taken"


def test_registration_race_gives_one_account(app, database_url):
    """Two threads register one email at once: exactly one user and one profile."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(email: str) -> None:
        with app.app_context():
            barrier.wait()
            try:
                accounts.register(email, PASSWORD, "Race", "Runner")
                outcomes.append("created")
            except EmailTaken:
                outcomes.append("taken")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(email,))
               for email in ("race@example.com", "RACE@example.com")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "taken"]
    assert (count_rows(User), count_rows(Profile)) == (1, 1)


def test_authenticate_says_nothing_about_which_part_was_wrong(app, monkeypatch):
    make_user("ada@example.com")
    checks: list[str] = []
    real_check = accounts.check_password_hash

    def spy(pwhash: str, password: str) -> bool:
        checks.append(pwhash)
        return real_check(pwhash, password)

    monkeypatch.setattr(accounts, "check_password_hash", spy)
    for email, password in [("nobody@example.com", PASSWORD), ("ada@example.com", "wrong pass 1")]:
        with pytest.raises(InvalidCredentials):
            accounts.authenticate(email, password)
    assert len(checks) == 2  # the unknown email paid one hash check too


def test_disabled_account_cannot_sign_in(app):
    user = make_user()
    db.session.execute(update(User).where(User.id == user.id).values(is_active=False))
    db.session.commit()
    with pytest.raises(InvalidCredentials):
        accounts.sign_in("ada@example.com", PASSWORD)


def test_sign_in_upgrades_an_old_hash(app):
    user = make_user()
    old = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    db.session.execute(update(User).where(User.id == user.id).values(password_hash=old))
    db.session.commit()
    accounts.sign_in("ada@example.com", PASSWORD)
    stored = db.session.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored.startswith(app.config["PASSWORD_HASH_METHOD"] + "$")


def test_sign_in_keeps_a_hash_of_the_current_method(app):
    user = make_user()
    current = db.session.scalar(select(User.password_hash).where(User.id == user.id))
    accounts.sign_in("ada@example.com", PASSWORD)
    assert db.session.scalar(select(User.password_hash).where(User.id == user.id)) == current


def test_sign_in_records_when_the_account_last_signed_in(app):
    user = make_user()
    db.session.execute(update(User).where(User.id == user.id)
                       .values(last_login_at=utcnow() - timedelta(days=30)))
    db.session.commit()
    before = utcnow()
    accounts.sign_in("ada@example.com", PASSWORD)
    last_login = db.session.scalar(select(User.last_login_at).where(User.id == user.id))
    assert last_login is not None and before <= last_login <= utcnow()


@pytest.mark.parametrize("field", ["revoked_at", "expires_at"])
def test_revoked_or_expired_session_loads_nobody(app, field):
    signed = accounts.sign_in(make_user().email, PASSWORD)
    db.session.execute(
        update(UserSession).where(UserSession.id == signed.session_id)
        .values(**{field: utcnow() - timedelta(seconds=1)})
    )
    db.session.commit()
    assert accounts.load_session(signed.token) is None


def test_browser_session_lasts_12_hours_remembered_30_days(app):
    make_user()
    short = accounts.sign_in("ada@example.com", PASSWORD)
    long = accounts.sign_in("ada@example.com", PASSWORD, remember=True)
    rows = {row.id: row for row in db.session.scalars(select(UserSession))}
    assert rows[short.session_id].expires_at - rows[short.session_id].created_at == timedelta(hours=12)
    assert rows[long.session_id].expires_at - rows[long.session_id].created_at == timedelta(days=30)


def test_last_seen_is_written_at_most_once_a_minute(app, count_queries):
    signed = accounts.sign_in(make_user().email, PASSWORD)
    with count_queries() as statements:
        accounts.load_session(signed.token)
    assert len(statements) == 1
    db.session.execute(
        update(UserSession).where(UserSession.id == signed.session_id)
        .values(last_seen_at=utcnow() - timedelta(minutes=5))
    )
    db.session.commit()
    with count_queries() as statements:
        accounts.load_session(signed.token)
    assert len(statements) == 2 and statements[1].startswith("UPDATE")


def test_change_password_revokes_other_sessions_and_rotates_this_one(app):
    user = make_user()
    here = accounts.sign_in(user.email, PASSWORD)
    elsewhere = accounts.sign_in(user.email, PASSWORD)
    continued = accounts.change_password(user.id, here.session_id, PASSWORD, "a new long secret")
    assert accounts.load_session(elsewhere.token) is None
    assert accounts.load_session(here.token) is None
    assert accounts.load_session(continued.token).session_id == here.session_id
    assert (continued.session_id, continued.expires_at) == (here.session_id, here.expires_at)
    with pytest.raises(InvalidCredentials):
        accounts.sign_in(user.email, PASSWORD)
    assert accounts.sign_in(user.email, "a new long secret")


def test_change_password_needs_the_current_one(app):
    user = make_user()
    here = accounts.sign_in(user.email, PASSWORD)
    with pytest.raises(WrongPassword):
        accounts.change_password(user.id, here.session_id, "not it at all", "a new long secret")
    assert accounts.load_session(here.token) is not None


def test_a_password_change_leaves_other_accounts_sessions_alone(app):
    ada = make_user("ada@example.com")
    here = accounts.sign_in(ada.email, PASSWORD)
    bob = accounts.sign_in(make_user("bob@example.com").email, PASSWORD)
    accounts.change_password(ada.id, here.session_id, PASSWORD, NEW_PASSWORD)
    assert accounts.load_session(bob.token).id == bob.user.id


def end_session(session_id: int, days_ago: int) -> datetime:
    """End a session `days_ago` days ago, as a sign-out then would have; when it ended."""
    ended = utcnow() - timedelta(days=days_ago)
    db.session.execute(update(UserSession).where(UserSession.id == session_id)
                       .values(revoked_at=ended))
    db.session.commit()
    return ended


def session_ended_at(session_id: int) -> datetime | None:
    return db.session.scalar(select(UserSession.revoked_at).where(UserSession.id == session_id))


def test_a_password_change_keeps_the_time_an_earlier_session_ended(app):
    user = make_user()
    here = accounts.sign_in(user.email, PASSWORD)
    old = accounts.sign_in(user.email, PASSWORD)
    ended = end_session(old.session_id, days_ago=3)
    accounts.change_password(user.id, here.session_id, PASSWORD, NEW_PASSWORD)
    assert session_ended_at(old.session_id) == ended


def test_a_password_change_never_continues_another_accounts_session(app):
    ada = make_user("ada@example.com")
    bob = accounts.sign_in(make_user("bob@example.com").email, PASSWORD)
    with pytest.raises(NoResultFound):
        accounts.change_password(ada.id, bob.session_id, PASSWORD, NEW_PASSWORD)
    db.session.rollback()
    assert accounts.load_session(bob.token).id == bob.user.id
    assert accounts.sign_in(ada.email, PASSWORD)  # nothing changed


def test_a_password_change_marks_this_session_seen_now(app):
    user = make_user()
    here = accounts.sign_in(user.email, PASSWORD)
    db.session.execute(update(UserSession).where(UserSession.id == here.session_id)
                       .values(last_seen_at=utcnow() - timedelta(hours=2)))
    db.session.commit()
    before = utcnow()
    accounts.change_password(user.id, here.session_id, PASSWORD, NEW_PASSWORD)
    seen = db.session.scalar(
        select(UserSession.last_seen_at).where(UserSession.id == here.session_id))
    assert seen >= before


def test_a_password_change_tells_the_address_the_account_has_by_then(app, monkeypatch):
    """The e-mail changes (its link used in another tab) while the new password is hashed:
    the notice goes to the address the account has now, under the account's name."""
    user = make_user("ada@example.com")
    here = accounts.sign_in(user.email, PASSWORD)
    real_hash = accounts._hash_password

    def hash_while_the_address_moves(password: str) -> str:
        with db.engine.begin() as connection:
            connection.execute(update(User).where(User.id == user.id).values(
                email="new@example.com", email_canonical="new@example.com"))
        return real_hash(password)

    monkeypatch.setattr(accounts, "_hash_password", hash_while_the_address_moves)
    accounts.change_password(user.id, here.session_id, PASSWORD, NEW_PASSWORD)
    notice = db.session.execute(select(OutboxMail.recipient, OutboxMail.user_id)
                                .where(OutboxMail.kind == mail.PASSWORD_CHANGED)).one()
    assert tuple(notice) == ("new@example.com", user.id)


def test_revoking_another_accounts_session_is_not_found(app):
    ada = make_user("ada@example.com")
    bob = make_user("bob@example.com")
    bob_session = accounts.sign_in(bob.email, PASSWORD)
    with pytest.raises(NotFound):
        accounts.revoke_session(ada.id, bob_session.session_id)
    assert accounts.load_session(bob_session.token) is not None


def test_revoking_a_session_already_ended_is_not_found_and_keeps_its_end(app):
    user = make_user()
    old = accounts.sign_in(user.email, PASSWORD)
    ended = end_session(old.session_id, days_ago=2)
    with pytest.raises(NotFound):
        accounts.revoke_session(user.id, old.session_id)
    assert session_ended_at(old.session_id) == ended


def test_signing_out_a_session_already_ended_keeps_when_it_ended(app):
    old = accounts.sign_in(make_user().email, PASSWORD)
    ended = end_session(old.session_id, days_ago=2)
    accounts.sign_out(old.session_id)
    assert session_ended_at(old.session_id) == ended


def test_the_sessions_list_holds_this_accounts_live_sessions_only(app):
    registered = accounts.register("ada@example.com", PASSWORD, "Ada", "Lovelace")
    make_user("bob@example.com")
    revoked = accounts.sign_in("ada@example.com", PASSWORD)
    accounts.sign_out(revoked.session_id)
    expired = accounts.sign_in("ada@example.com", PASSWORD)
    db.session.execute(update(UserSession).where(UserSession.id == expired.session_id)
                       .values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    live = accounts.sign_in("ada@example.com", PASSWORD)
    listed = {row.id for row in accounts.list_sessions(registered.user.id)}
    assert listed == {registered.session_id, live.session_id}


def test_a_session_ending_at_this_very_moment_is_not_listed(app, monkeypatch):
    registered = accounts.register("ada@example.com", PASSWORD, "Ada", "Lovelace")
    now = utcnow()
    db.session.execute(update(UserSession).where(UserSession.id == registered.session_id)
                       .values(expires_at=now))
    db.session.commit()
    monkeypatch.setattr(accounts, "utcnow", lambda: now)
    assert accounts.list_sessions(registered.user.id) == []


def test_sessions_are_listed_most_recently_seen_first_then_newest_first(app):
    first = accounts.register("ada@example.com", PASSWORD, "Ada", "Lovelace")
    second = accounts.sign_in("ada@example.com", PASSWORD)
    third = accounts.sign_in("ada@example.com", PASSWORD)
    earlier = utcnow() - timedelta(hours=1)
    db.session.execute(update(UserSession).values(last_seen_at=earlier))
    db.session.execute(update(UserSession).where(UserSession.id == first.session_id)
                       .values(last_seen_at=utcnow()))
    db.session.commit()
    listed = [row.id for row in accounts.list_sessions(first.user.id)]
    assert listed == [first.session_id, third.session_id, second.session_id]


def test_delete_account_removes_everything_it_owns(app):
    user = make_user()
    signed = accounts.sign_in(user.email, PASSWORD)
    with pytest.raises(WrongPassword):
        accounts.delete_account(user.id, "wrong password")
    accounts.delete_account(user.id, PASSWORD)
    assert (count_rows(User), count_rows(Profile), count_rows(UserSession)) == (0, 0, 0)
    assert accounts.load_session(signed.token) is None
    assert count_rows(Event) > 0  # the figures keep their counts
    assert db.session.scalar(select(Event.user_id).limit(1)) is None


def test_deleting_an_account_forgets_its_mail_and_no_one_elses(app):
    """Outside a request (a command) the outbox rows go by a plain DELETE."""
    ada = make_user("ada@example.com")  # each sign-up queued a verification mail
    make_user("bob@example.com")
    db.session.add(OutboxMail(user_id=None, kind="order_placed", recipient="guest@example.com",
                              subject="s", body_text="t", body_html="h"))
    db.session.commit()
    accounts.delete_account(ada.id, PASSWORD)
    assert sorted(db.session.scalars(select(OutboxMail.recipient))) == [
        "bob@example.com", "guest@example.com"]


def test_check_finds_and_fixes_a_user_without_profile_and_stale_sessions(app):
    whole = make_user("whole@example.com")
    orphan = make_user("orphan@example.com")
    db.session.delete(db.session.get(Profile, orphan.id))
    db.session.execute(
        update(UserSession).where(UserSession.user_id == whole.id)
        .values(revoked_at=utcnow() - timedelta(days=31))
    )
    db.session.commit()
    found = accounts.check_accounts()
    assert found.broken and found.users_without_profile == [orphan.id]
    assert found.stale_sessions == 1
    fixed = accounts.check_accounts(fix=True)
    assert (fixed.profiles_created, fixed.sessions_purged, fixed.stale_sessions) == (1, 1, 1)
    assert not accounts.check_accounts().broken
    assert count_rows(UserSession) == 1
    created = db.session.execute(select(Profile.first_name, Profile.last_name)
                                 .where(Profile.user_id == orphan.id)).one()
    assert tuple(created) == ("", "")  # for the shopper to fill in


def test_check_counts_and_purges_sessions_expired_over_30_days_ago(app):
    make_user()
    db.session.execute(update(UserSession).values(
        expires_at=utcnow() - timedelta(days=STALE_SESSION_DAYS + 1)))
    db.session.commit()
    assert accounts.check_accounts().stale_sessions == 1
    assert accounts.check_accounts(fix=True).sessions_purged == 1
    assert count_rows(UserSession) == 0


@pytest.mark.parametrize("field", ["revoked_at", "expires_at"])
def test_a_session_that_ended_exactly_30_days_ago_is_not_stale_yet(app, monkeypatch, field):
    make_user()
    now = utcnow()
    db.session.execute(update(UserSession).values(
        **{field: now - timedelta(days=STALE_SESSION_DAYS)}))
    db.session.commit()
    monkeypatch.setattr(accounts, "utcnow", lambda: now)
    assert accounts.check_accounts().stale_sessions == 0
    assert accounts.check_accounts(fix=True).sessions_purged == 0


def add_user_without_profile(user_id: int, email: str, canonical: str | None) -> None:
    """A user row as an old migration or a restore leaves it: no profile, and an id given,
    so the table's own order need not be the ids' order."""
    db.session.execute(insert(User).values(id=user_id, email=email, email_canonical=canonical,
                                           password_hash="x"))
    db.session.commit()


def test_check_lists_users_without_profile_by_id(app):
    add_user_without_profile(20, "later@example.com", "later@example.com")
    add_user_without_profile(10, "earlier@example.com", "earlier@example.com")
    assert accounts.check_accounts().users_without_profile == [10, 20]


def test_report_counts_real_figures(app):
    make_user("a@example.com")
    make_user("b@example.com")
    with pytest.raises(EmailTaken):
        accounts.register("A@example.com", PASSWORD, "A", "A")
    with pytest.raises(InvalidCredentials):
        accounts.sign_in("a@example.com", "wrong password")
    old = accounts.sign_in("b@example.com", PASSWORD)
    db.session.execute(
        update(UserSession).where(UserSession.id == old.session_id).values(
            created_at=utcnow() - timedelta(hours=3), last_seen_at=utcnow()
        )
    )
    db.session.commit()
    accounts.sign_out(old.session_id)
    report = events.build_report(30)
    assert report.registration_attempts == 3 and report.accounts_created == 2
    assert report.registration_success_rate == pytest.approx(2 / 3, abs=1e-3)
    assert report.profile_creation_success_rate == 1.0
    assert (report.sign_ins, report.failed_sign_ins) == (3, 1)
    assert (report.sessions_started, report.sessions_revoked, report.sessions_active) == (3, 1, 2)
    assert report.session_persistence_rate == pytest.approx(1 / 3, abs=1e-3)
    assert report.cart_merge_success_rate is None


def test_common_password_list_is_shipped():
    assert accounts.is_common_password("password1")
    assert accounts.is_common_password("Baseball")
    assert not accounts.is_common_password("correct horse battery staple")
    assert len(accounts.common_passwords()) > 3000


# One canonical e-mail -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("j\u00fcrgen@example.com", "ju\u0308rgen@example.com"),
        ("J\u00dcRGEN@example.com", "j\u00fcrgen@example.com"),
        ("ada@xn--bcher-kva.example", "ada@b\u00fccher.example"),
        ("\uff41\uff44\uff41@example.com", "ada@example.com"),
        ("\u0130da@example.com", "i\u0307da@example.com"),
    ],
)
def test_each_spelling_of_an_address_is_one_account(app, first, second):
    user = make_user(first)
    with pytest.raises(EmailTaken):
        accounts.register(second, PASSWORD, "Other", "Person")
    assert (count_rows(User), count_rows(Profile)) == (1, 1)
    stored = db.session.get(User, user.id)
    assert stored.email == first  # kept as typed, for display and mail
    assert stored.email_canonical == canonical_email(second)
    assert accounts.sign_in(second, PASSWORD).user.id == user.id


def test_sign_in_finds_the_account_in_any_letter_case(app):
    user = make_user("ada@example.com")
    assert accounts.authenticate("Ada@Example.COM", PASSWORD).id == user.id
    assert accounts.sign_in("ADA@EXAMPLE.COM", PASSWORD).user.id == user.id


def test_check_reports_accounts_that_collide_in_canonical_form(app):
    holder = make_user("j\u00fcrgen@example.com")
    # As migration 0005 leaves an account it could not give the canonical form to.
    db.session.execute(insert(User).values(
        email="ju\u0308rgen@example.com", email_canonical=None, password_hash="x"))
    db.session.commit()
    colliding = db.session.scalar(select(User.id).where(User.email_canonical.is_(None)))
    db.session.add(Profile(user_id=colliding, first_name="J", last_name="Two"))
    db.session.commit()
    found = accounts.check_accounts()
    assert found.email_collisions == [(colliding, holder.id)]
    assert found.broken and found.users_without_profile == []
    fixed = accounts.check_accounts(fix=True)
    assert fixed.email_collisions == [(colliding, holder.id)]  # a person's call, never "fixed"
    assert count_rows(User) == 2


def test_check_lists_colliding_accounts_by_id(app):
    holder = make_user("j\u00fcrgen@example.com")
    add_user_without_profile(20, "J\u00fcrgen@example.com", None)
    add_user_without_profile(10, "ju\u0308rgen@example.com", None)
    assert accounts.check_accounts().email_collisions == [(10, holder.id), (20, holder.id)]


# Sessions ---------------------------------------------------------------------------------------

def test_a_disabled_account_loads_nobody_from_its_live_session(app):
    signed = accounts.sign_in(make_user().email, PASSWORD)
    db.session.execute(update(User).where(User.id == signed.user.id).values(is_active=False))
    db.session.commit()
    assert accounts.load_session(signed.token) is None


def test_signing_in_over_a_session_revokes_that_session(app):
    make_user("ada@example.com")
    make_user("bob@example.com")
    ada = accounts.sign_in("ada@example.com", PASSWORD)
    bob = accounts.sign_in("bob@example.com", PASSWORD, ending_session_id=ada.session_id)
    assert accounts.load_session(ada.token) is None
    assert db.session.get(UserSession, ada.session_id).revoked_at is not None
    assert accounts.load_session(bob.token).id == bob.user.id


def test_a_failed_sign_in_over_a_session_keeps_that_session(app):
    make_user("ada@example.com")
    make_user("bob@example.com")
    ada = accounts.sign_in("ada@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials):
        accounts.sign_in("bob@example.com", "not bobs password", ending_session_id=ada.session_id)
    assert db.session.get(UserSession, ada.session_id).revoked_at is None
    assert accounts.load_session(ada.token).id == ada.user.id


def test_remembered_session_ends_30_days_after_sign_in(app):
    make_user()
    before = utcnow()
    signed = accounts.sign_in("ada@example.com", PASSWORD, remember=True)
    row = db.session.get(UserSession, signed.session_id)
    assert row.remember is True
    assert signed.expires_at == row.expires_at
    assert timedelta(0) <= row.expires_at - (before + timedelta(days=REMEMBER_SESSION_DAYS)) \
        < timedelta(seconds=2)


# The report -------------------------------------------------------------------------------------

def test_report_counts_from_events_so_deleted_accounts_change_no_rate(app):
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        make_user(email)
    with pytest.raises(EmailTaken):
        accounts.register("A@EXAMPLE.com", PASSWORD, "A", "Again")
    with pytest.raises(InvalidCredentials):
        accounts.sign_in("c@example.com", "wrong password")
    accounts.sign_in("c@example.com", PASSWORD)
    accounts.delete_account(db.session.scalar(
        select(User.id).where(User.email == "c@example.com")), PASSWORD)
    report = events.build_report(30)
    assert (report.registration_attempts, report.accounts_created) == (4, 3)
    assert report.registration_success_rate == 0.75
    assert (report.sign_ins, report.failed_sign_ins) == (4, 1)
    assert report.sessions_started == 4  # the deleted account's two sessions included
    assert (report.sessions_remaining, report.sessions_of_deleted_accounts) == (2, 2)
    assert (report.accounts_remaining, report.profiles_created) == (2, 2)
    assert report.profile_creation_success_rate == 1.0


# Passwords --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "password",
    ["aaaaaaaa", "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", "AAAAaaaa", "12345678",
     "qwertyuiop", "87654321", "7890123456", "asdfghjkl", "lkjhgfdsa", "zyxwvuts", "abcdefgh",
     "QWERTZUIOP", "1234567890123"],
)
def test_repeated_characters_and_key_runs_count_as_common(password):
    assert accounts.is_common_password(password)


@pytest.mark.parametrize(
    "password", ["correct horse battery staple", "tr0ub4dor&3 x", "13579 24680", "aaaaaaab"])
def test_passwords_that_are_no_run_are_not_common(password):
    assert not accounts.is_common_password(password)


# Profile, and the rows a change locks -----------------------------------------------------------

def test_a_profile_change_works_from_the_row_as_it_is_now(app):
    """The request's copy of the profile is stale (another request saved meanwhile): the
    change applies to the row as it is, and what comes back is the row as saved."""
    user = make_user()
    shown = accounts.get_profile(user.id)  # read for the form, as the profile page does
    with db.engine.begin() as connection:
        connection.execute(update(Profile).where(Profile.user_id == user.id)
                           .values(first_name="Augusta", phone="+1 555 0100"))
    saved = accounts.update_profile(shown.user_id, {"first_name": "Ada"})
    assert (saved.first_name, saved.phone) == ("Ada", "+1 555 0100")
    stored = db.session.execute(select(Profile.first_name, Profile.phone)
                                .where(Profile.user_id == user.id)).one()
    assert tuple(stored) == ("Ada", "+1 555 0100")


def test_profile_password_and_sign_in_method_changes_lock_their_row_first(app, database_url,
                                                                          count_queries):
    """Two requests at once wait for each other: each read that decides a write is a
    SELECT ... FOR UPDATE (on SQLite, BEGIN IMMEDIATE already locks the whole database)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite's writer holds the database")
    user = make_user()
    here = accounts.sign_in(user.email, PASSWORD)
    passkey = add_passkey(user.id, "credential-1")

    def locked_reads(action) -> list[str]:  # noqa: ANN001
        with count_queries() as statements:
            action()
        return [statement for statement in statements
                if statement.startswith("SELECT") and "FOR UPDATE" in statement]

    assert any("FROM profiles" in read for read in locked_reads(
        lambda: accounts.update_profile(user.id, {"first_name": "Augusta"})))
    assert any("FROM users" in read for read in locked_reads(
        lambda: accounts.change_password(user.id, here.session_id, PASSWORD, NEW_PASSWORD)))
    assert any("FROM users" in read for read in locked_reads(
        lambda: accounts.remove_sign_in_method(user.id, Passkey, passkey)))


# Mailed links: password reset, verification, e-mail change --------------------------------------

def mint(user_id: int, purpose: str, new_email: str | None = None) -> str:
    """A link's token, as the mail worker makes it when it sends the mail."""
    token = tokens.mint(user_id, purpose, new_email)
    db.session.commit()
    return token


def test_a_reset_ends_this_accounts_live_sessions_only(app):
    ada = accounts.register("ada@example.com", PASSWORD, "Ada", "Lovelace")
    old = accounts.sign_in("ada@example.com", PASSWORD)
    ended = end_session(old.session_id, days_ago=3)
    bob = accounts.sign_in(make_user("bob@example.com").email, PASSWORD)
    accounts.reset_password(mint(ada.user.id, tokens.RESET), NEW_PASSWORD)
    assert accounts.load_session(ada.token) is None
    assert accounts.load_session(bob.token).id == bob.user.id
    assert session_ended_at(old.session_id) == ended


def test_a_reset_ends_the_accounts_other_reset_links_and_tells_it(app):
    user = make_user()
    used = mint(user.id, tokens.RESET)
    # A second live link, as two mail workers minting at once leave them (neither saw the
    # other's row to end it).
    other = "another-live-reset-link"
    db.session.add(EmailToken(user_id=user.id, purpose=tokens.RESET,
                              token_hash=tokens.hash_token(other),
                              expires_at=utcnow() + timedelta(hours=1)))
    db.session.commit()
    accounts.reset_password(used, NEW_PASSWORD)
    with pytest.raises(InvalidToken):
        accounts.get_reset_holder(other)
    notice = db.session.execute(select(OutboxMail.recipient, OutboxMail.user_id)
                                .where(OutboxMail.kind == mail.PASSWORD_CHANGED)).one()
    assert tuple(notice) == ("ada@example.com", user.id)


def verified_at(user_id: int):  # noqa: ANN201
    return db.session.scalar(select(User.email_verified_at).where(User.id == user_id))


def test_a_verification_link_verifies_its_own_account_only(app):
    ada = make_user("ada@example.com")
    bob = make_user("bob@example.com")
    accounts.confirm_email(mint(bob.id, tokens.VERIFY))
    assert verified_at(bob.id) is not None
    assert verified_at(ada.id) is None


def test_a_second_verification_link_keeps_the_first_ones_time(app, monkeypatch):
    user = make_user()
    first, second = mint(user.id, tokens.VERIFY), mint(user.id, tokens.VERIFY)
    accounts.confirm_email(first)
    verified = verified_at(user.id)
    monkeypatch.setattr(accounts, "utcnow", lambda: verified + timedelta(days=1))
    accounts.confirm_email(second)
    assert verified_at(user.id) == verified


def test_an_e_mail_change_notice_goes_to_the_old_address_in_the_accounts_name(app):
    user = make_user("ada@example.com")
    accounts.confirm_email(mint(user.id, tokens.EMAIL_CHANGE, "new@example.com"))
    notice = db.session.execute(select(OutboxMail.recipient, OutboxMail.user_id)
                                .where(OutboxMail.kind == mail.EMAIL_CHANGED)).one()
    assert tuple(notice) == ("ada@example.com", user.id)


# Sign-in methods: providers and passkeys ---------------------------------------------------------

def add_passkey(user_id: int, credential_id: str, passkey_id: int | None = None) -> int:
    """A passkey row as the registration ceremony stores it; its id."""
    passkey = Passkey(id=passkey_id, user_id=user_id, credential_id=credential_id,
                      public_key=b"key", sign_count=0, name="Key", transports="")
    db.session.add(passkey)
    db.session.commit()
    return passkey.id


@pytest.mark.parametrize(("claims", "names"), [
    ({"given_name": "Ada", "family_name": "Lovelace", "name": "Augusta Ada King"},
     ("Ada", "Lovelace")),
    ({"given_name": "Ada", "name": "Augusta Ada King"}, ("Ada", "")),
    ({"family_name": "Lovelace", "name": "Augusta Ada King"}, ("Shopper", "Lovelace")),
    ({"name": "Augusta Ada King"}, ("Augusta", "Ada King")),
    ({"given_name": 42, "family_name": ["King"], "name": "Ada Lovelace"}, ("Ada", "Lovelace")),
    ({}, ("Shopper", "")),
])
def test_profile_names_come_from_given_and_family_name_else_the_full_name(claims, names):
    assert accounts.names_from_claims(claims) == names


def test_linking_a_provider_says_whether_it_was_new_and_records_when(app, monkeypatch):
    ada = make_user("ada@example.com")
    bob = make_user("bob@example.com")
    linked_at = utcnow() - timedelta(minutes=5)
    monkeypatch.setattr(accounts, "utcnow", lambda: linked_at)
    claims = accounts.ProviderClaims("mock", "ada-at-mock", email="ada@example.com")
    assert accounts.link_identity(ada.id, claims) is True
    assert accounts.link_identity(bob.id, claims) is False  # linked already, to Ada
    row = db.session.execute(select(OAuthIdentity.user_id, OAuthIdentity.email,
                                    OAuthIdentity.created_at, OAuthIdentity.last_used_at)).one()
    assert tuple(row) == (ada.id, "ada@example.com", linked_at, linked_at)


def test_signing_in_with_a_known_identity_records_when_and_the_address_it_gave(app,
                                                                               monkeypatch):
    ada = make_user("ada@example.com")
    linked_at = utcnow() - timedelta(days=3)
    monkeypatch.setattr(accounts, "utcnow", lambda: linked_at)
    accounts.link_identity(ada.id, accounts.ProviderClaims("mock", "ada-sub",
                                                           email="ada@example.com"))
    used_at = linked_at + timedelta(days=2)
    monkeypatch.setattr(accounts, "utcnow", lambda: used_at)
    signed = accounts.sign_in_with_provider(accounts.ProviderClaims(
        "mock", "ada-sub", email="ada@mail.example.com"))
    assert signed.user.id == ada.id
    row = db.session.execute(select(OAuthIdentity.email, OAuthIdentity.created_at,
                                    OAuthIdentity.last_used_at)).one()
    assert tuple(row) == ("ada@mail.example.com", linked_at, used_at)


@pytest.mark.parametrize(("provider", "subject"), [("other", "ada-sub"), ("mock", "eve-sub")],
                         ids=["same subject elsewhere", "another subject at the same provider"])
def test_a_provider_sign_in_finds_the_identity_by_provider_and_subject_together(
        app, provider, subject):
    ada = make_user("ada@example.com")
    accounts.link_identity(ada.id, accounts.ProviderClaims("mock", "ada-sub",
                                                           email="ada@example.com"))
    signed = accounts.sign_in_with_provider(accounts.ProviderClaims(
        provider, subject, email="eve@example.com", email_verified=True, first_name="Eve"))
    assert signed.user.email == "eve@example.com"  # a new account, not Ada's
    rows = db.session.execute(select(OAuthIdentity.provider, OAuthIdentity.subject,
                                     OAuthIdentity.user_id)).all()
    assert {tuple(row) for row in rows} == {("mock", "ada-sub", ada.id),
                                            (provider, subject, signed.user.id)}


PROVIDER_PATHS = ["known identity", "verified address links", "new account"]


def provider_claims_for(path: str) -> accounts.ProviderClaims:
    """Claims that take `path` through sign_in_with_provider: Ada's verified account (and
    her linked identity) made first where the path needs them."""
    if path != "new account":
        ada = make_user("ada@example.com")
        db.session.execute(update(User).where(User.id == ada.id)
                           .values(email_verified_at=utcnow()))
        db.session.commit()
        if path == "known identity":
            accounts.link_identity(ada.id, accounts.ProviderClaims("mock", "ada-sub",
                                                                   email="ada@example.com"))
    return accounts.ProviderClaims("mock", "ada-sub", email="ada@example.com",
                                   email_verified=True, first_name="Ada")


@pytest.mark.parametrize("path", PROVIDER_PATHS)
def test_a_provider_sign_in_ends_the_session_left_behind_and_is_never_remembered(app, path):
    make_user("bob@example.com")
    bob = accounts.sign_in("bob@example.com", PASSWORD)
    signed = accounts.sign_in_with_provider(provider_claims_for(path),
                                            ending_session_id=bob.session_id)
    assert accounts.load_session(bob.token) is None
    assert accounts.load_session(signed.token).email == "ada@example.com"
    row = db.session.get(UserSession, signed.session_id)
    assert (signed.remember, row.remember) == (False, False)
    assert row.expires_at - row.created_at == timedelta(hours=BROWSER_SESSION_HOURS)


@pytest.mark.parametrize("path", PROVIDER_PATHS)
def test_a_provider_sign_in_merges_the_guest_cart_and_is_recorded_as_that_provider(app, path):
    product = make_product()
    signed = accounts.sign_in_with_provider(provider_claims_for(path),
                                            guest_cart=carts.GuestCart("guest", {product.id: 2}))
    assert db.session.execute(select(UserCart.product_id, UserCart.quantity)
                              .where(UserCart.user_id == signed.user.id)).all() == [
        (product.id, 2)]
    logins = db.session.execute(select(Event.user_id, Event.detail)
                                .where(Event.kind == events.LOGIN, Event.ok)).all()
    assert (signed.user.id, "oidc:mock") in [tuple(login) for login in logins]


def test_a_provider_sign_up_without_a_given_name_calls_the_shopper_shopper(app):
    signed = accounts.sign_in_with_provider(accounts.ProviderClaims(
        "mock", "nameless", email="nia@example.com", email_verified=True, last_name="Okafor"))
    profile = db.session.get(Profile, signed.user.id)
    assert (profile.first_name, profile.last_name) == ("Shopper", "Okafor")


@pytest.mark.parametrize(("extra_chars", "made"), [(0, True), (1, False)],
                         ids=["at the limit", "one over"])
def test_a_provider_address_up_to_the_longest_allowed_makes_an_account(app, extra_chars,
                                                                       made):
    domain = ".".join(["d" * 60, "e" * 60, "f" * 63, "com"])
    email = "a" * (EMAIL_MAX_CHARS - len(domain) - 1 + extra_chars) + "@" + domain
    assert len(email) == EMAIL_MAX_CHARS + extra_chars
    claims = accounts.ProviderClaims("mock", "long", email=email, email_verified=True)
    if made:
        assert accounts.sign_in_with_provider(claims).user.email == email
    else:
        with pytest.raises(EmailNotVerified):
            accounts.sign_in_with_provider(claims)
    assert count_rows(User) == int(made)


def test_a_new_identity_naming_a_disabled_accounts_address_is_refused_and_recorded(app):
    ada = make_user("ada@example.com")
    db.session.execute(update(User).where(User.id == ada.id)
                       .values(is_active=False, email_verified_at=utcnow()))
    db.session.commit()
    with pytest.raises(InvalidCredentials):
        accounts.sign_in_with_provider(accounts.ProviderClaims(
            "mock", "ada-sub", email="ada@example.com", email_verified=True))
    assert count_rows(OAuthIdentity) == 0
    failures = db.session.execute(select(Event.kind, Event.user_id, Event.detail)
                                  .where(Event.ok.is_(False))).all()
    assert [tuple(failure) for failure in failures] == [("login", None, "oidc:mock disabled")]


def test_a_link_waiting_for_the_password_names_the_address_the_account_has(app):
    make_user("Ada@Example.com")  # not verified by the shop: the password must confirm it
    with pytest.raises(LinkNeedsPassword) as refused:
        accounts.sign_in_with_provider(accounts.ProviderClaims(
            "mock", "ada-sub", email="ada@example.com", email_verified=True))
    assert refused.value.email == "Ada@Example.com"
    assert count_rows(OAuthIdentity) == 0


def test_sign_in_methods_list_passkeys_and_providers_by_id(app):
    user = make_user()
    for passkey_id in (20, 10):  # added in another order than their ids (a restore, say)
        add_passkey(user.id, f"credential-{passkey_id}", passkey_id)
    for identity_id in (20, 10):
        db.session.add(OAuthIdentity(id=identity_id, provider="mock", subject=f"s{identity_id}",
                                     user_id=user.id))
        db.session.commit()
    methods = accounts.sign_in_methods(user.id)
    assert [passkey.id for passkey in methods.passkeys] == [10, 20]
    assert [identity.id for identity in methods.identities] == [10, 20]


def test_removing_another_accounts_passkey_is_not_found(app):
    ada = make_user("ada@example.com")
    add_passkey(ada.id, "credential-of-ada")
    bobs = add_passkey(make_user("bob@example.com").id, "credential-of-bob")
    with pytest.raises(NotFound):
        accounts.remove_sign_in_method(ada.id, Passkey, bobs)
    assert db.session.scalar(select(Passkey.user_id).where(Passkey.id == bobs)) is not None


def test_removing_one_passkey_keeps_the_others(app):
    user = make_user()
    first, second = add_passkey(user.id, "credential-1"), add_passkey(user.id, "credential-2")
    accounts.remove_sign_in_method(user.id, Passkey, first)
    assert list(db.session.scalars(select(Passkey.id))) == [second]


def test_another_accounts_passkey_is_no_way_in_for_this_one(app):
    ada = make_user("ada@example.com")
    only = add_passkey(ada.id, "credential-of-ada")
    add_passkey(make_user("bob@example.com").id, "credential-of-bob")
    db.session.execute(update(User).where(User.id == ada.id).values(password_hash=None))
    db.session.commit()
    with pytest.raises(LastSignInMethod):
        accounts.remove_sign_in_method(ada.id, Passkey, only)
    assert db.session.scalar(select(Passkey.user_id).where(Passkey.id == only)) == ada.id
