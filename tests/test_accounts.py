"""The accounts service: one transaction per action, sessions as revocable rows."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update
from werkzeug.security import generate_password_hash

from storefront import accounts, events
from storefront.emails import canonical_email
from storefront.exceptions import EmailTaken, InvalidCredentials, NotFound, WrongPassword
from storefront.extensions import db
from storefront.models import REMEMBER_SESSION_DAYS, Event, Profile, User, UserSession, utcnow
from tests.factories import make_user
from tests.support import PASSWORD, count_rows


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


def test_revoking_another_accounts_session_is_not_found(app):
    ada = make_user("ada@example.com")
    bob = make_user("bob@example.com")
    bob_session = accounts.sign_in(bob.email, PASSWORD)
    with pytest.raises(NotFound):
        accounts.revoke_session(ada.id, bob_session.session_id)
    assert accounts.load_session(bob_session.token) is not None


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
    assert (fixed.profiles_created, fixed.sessions_purged) == (1, 1)
    assert not accounts.check_accounts().broken
    assert count_rows(UserSession) == 1


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
