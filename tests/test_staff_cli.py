"""`flask users make-staff` / `revoke-staff`."""

from sqlalchemy import select

from storefront.extensions import db
from storefront.models import AuditEvent, User
from tests.factories import make_user


def is_staff(email: str) -> bool:
    db.session.expire_all()
    return db.session.scalar(select(User.is_staff).where(User.email == email))


def test_make_staff_and_revoke_staff(app, runner):
    make_user("Ada@Example.com")
    result = runner.invoke(args=["users", "make-staff", "ada@example.COM"])
    assert result.exit_code == 0, result.output
    assert "Ada@Example.com is now staff." in result.output
    assert is_staff("Ada@Example.com")
    result = runner.invoke(args=["users", "revoke-staff", "ADA@example.com"])
    assert result.exit_code == 0
    assert not is_staff("Ada@Example.com")
    rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(row.action, row.before, row.after, row.actor_id) for row in rows] == [
        ("grant_staff", {"is_staff": False}, {"is_staff": True}, None),
        ("revoke_staff", {"is_staff": True}, {"is_staff": False}, None)]


def test_an_unknown_email_exits_1(app, runner):
    for command in ("make-staff", "revoke-staff"):
        result = runner.invoke(args=["users", command, "nobody@example.com"])
        assert result.exit_code == 1
        assert "no account has the e-mail nobody@example.com" in result.output
    assert db.session.scalar(select(AuditEvent.id)) is None


def test_new_accounts_are_not_staff(app):
    make_user("bob@example.com")
    assert not is_staff("bob@example.com")
