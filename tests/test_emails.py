"""One canonical form of an e-mail address (storefront/emails.py), and migration 0005, which
fills `users.email_canonical` for the accounts that existed before it."""

import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from storefront.emails import canonical_email
from storefront.extensions import db
from tests import support

# Pairs of spellings of one address, as a shopper or an attacker may type them.
ONE_ADDRESS = [
    pytest.param("j\u00fcrgen@example.com", "ju\u0308rgen@example.com", id="nfc-nfd"),
    pytest.param("J\u00dcRGEN@EXAMPLE.COM", "j\u00fcrgen@example.com", id="upper-non-ascii"),
    pytest.param("ada@xn--bcher-kva.example", "ada@b\u00fccher.example", id="idna-unicode"),
    pytest.param("ADA@XN--BCHER-KVA.EXAMPLE", "ada@B\u00dcCHER.example", id="idna-any-case"),
    pytest.param("\uff41\uff44\uff41@example.com", "ada@example.com", id="full-width"),
    pytest.param("\u0130da@example.com", "i\u0307da@example.com", id="dotted-capital-i"),
    pytest.param("\u0130da@example.com", "I\u0307da@example.com", id="dotted-capital-i-nfd"),
    pytest.param("  Ada@Example.COM ", "ada@example.com", id="spaces-and-ascii-case"),
]


@pytest.mark.parametrize(("typed", "other"), ONE_ADDRESS)
def test_spellings_of_one_address_share_one_canonical_form(typed, other):
    assert canonical_email(typed) == canonical_email(other)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("  J\u00fcrgen@XN--BCHER-KVA.Example ", "j\u00fcrgen@b\u00fccher.example"),
        ("ju\u0308rgen@example.com", "j\u00fcrgen@example.com"),  # NFC, composed
        ("\uff21\uff24\uff21@\uff25xample.com", "ada@example.com"),
        ("\u0130da@example.com", "i\u0307da@example.com"),  # Python's full case-fold
        ("ada\uff20XN--BCHER-KVA.example", "ada@b\u00fccher.example"),  # full-width @
        ("stra\u00dfe@example.com", "strasse@example.com"),
        ("not-an-address", "not-an-address"),
        ("ada@xn--invalid--.example", "ada@xn--invalid--.example"),  # kept, still folded
    ],
)
def test_canonical_form_is_nfc_casefolded_with_a_unicode_domain(typed, canonical):
    assert canonical_email(typed) == canonical


@pytest.mark.parametrize(
    ("one", "another"),
    [
        ("ada@example.com", "ada@example.org"),
        ("ada@example.com", "ada.lovelace@example.com"),
        ("ida@example.com", "\u0131da@example.com"),  # dotless i is a letter of its own
        ("j\u00fcrgen@example.com", "jurgen@example.com"),  # accents are not stripped
    ],
)
def test_different_addresses_stay_different(one, another):
    assert canonical_email(one) != canonical_email(another)


@pytest.mark.parametrize("letter", ["\u01f0", "\u0390", "\u1e96", "\u0130"])
def test_canonical_form_is_normalised_after_case_folding(letter):
    """Case-folding may decompose (`ǰ` folds to `j` + combining caron): the stored form is
    normalised again, so it is NFC whatever the fold did."""
    canonical = canonical_email(f"{letter}da@example.com")
    assert unicodedata.is_normalized("NFKC", canonical)


def test_canonical_form_is_stable():
    for typed in ("J\u00dcRGEN@XN--BCHER-KVA.example", "\uff41\uff44\uff41@example.com",
                  "\u0130da@example.com"):
        once = canonical_email(typed)
        assert canonical_email(once) == once


# Migration 0005 ---------------------------------------------------------------------------

USERS = sa.table(
    "users", sa.column("id", sa.Integer), sa.column("email", sa.String),
    sa.column("password_hash", sa.String), sa.column("created_at", sa.DateTime(timezone=True)),
)
PROFILES = sa.table(
    "profiles", sa.column("user_id", sa.Integer), sa.column("first_name", sa.String),
    sa.column("last_name", sa.String), sa.column("updated_at", sa.DateTime(timezone=True)),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # noqa: ANN001
    """A database with no schema at all, to be migrated step by step by the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'before-0005.db'}"
        return
    if not support.TEST_DATABASE_URL:
        pytest.skip(support.POSTGRES_MISSING)
    database = support.create_postgres_database(
        support.TEST_DATABASE_URL, "storefront_0005", migrated=False)
    try:
        yield database.url
    finally:
        database.drop()


def test_migration_fills_canonical_emails_and_keeps_colliding_accounts(empty_database_url):
    """Accounts written before the column came whose addresses differ only in normal form or
    width: the migration keeps all of them, gives the oldest the canonical form, and
    `flask accounts check` names each collision (exit 1), and the account whose canonical
    form is too long to store."""
    emails = [
        "j\u00fcrgen@example.com",  # 1: NFC
        "ju\u0308rgen@example.com",  # 2: NFD of 1
        "ada@example.com",  # 3
        "\uff41\uff44\uff41@example.com",  # 4: full-width of 3
        "Grace@Example.com",  # 5: collides with nobody
        "\ufdfa" * 14 + "@example.com",  # 6: 26 characters, 264 once normalised (NFKC)
    ]
    with support.app_on(empty_database_url) as app:
        upgrade(revision="0004")
        now = datetime.now(UTC)
        for number, email in enumerate(emails, start=1):
            db.session.execute(USERS.insert().values(
                id=number, email=email, password_hash="x", created_at=now))
            db.session.execute(PROFILES.insert().values(
                user_id=number, first_name="N", last_name=str(number), updated_at=now))
        db.session.commit()

        upgrade()

        rows = db.session.execute(
            sa.text("SELECT id, email, email_canonical FROM users ORDER BY id")).all()
        assert [(row.id, row.email) for row in rows] == list(enumerate(emails, start=1))
        assert [row.email_canonical for row in rows] == [
            "j\u00fcrgen@example.com", None, "ada@example.com", None, "grace@example.com", None]
        result = app.test_cli_runner().invoke(args=["accounts", "check"])
        assert result.exit_code == 1, result.output
        assert "user 2: e-mail collides with user 1 in canonical form" in result.output
        assert "user 4: e-mail collides with user 3 in canonical form" in result.output
        assert "user 6: e-mail too long for its column in canonical form" in result.output
        assert "Accounts colliding by e-mail: 3." in result.output
        assert "user 5" not in result.output
        assert "Users without a profile: 0." in result.output
