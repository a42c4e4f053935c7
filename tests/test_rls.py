"""Row-level security on PostgreSQL: inside a shopper's request even a deliberately unscoped
statement reaches only that shopper's rows, and with nobody signed in, no rows at all."""

import pytest
from flask import abort, jsonify
from flask_login import current_user
from sqlalchemy import func, select, text

from storefront import create_app
from storefront.extensions import db
from storefront.models import User
from tests.factories import make_product
from tests.support import ShopClient, base_config

OWNED_TABLES = ("profiles", "user_carts", "user_sessions", "cart_merges")


@pytest.fixture
def probe_app(database_url):  # noqa: ANN001, ANN201
    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's (a no-op on SQLite)")
    app = create_app(base_config(database_url))

    @app.get("/_probe/<table>")
    def probe(table: str):  # noqa: ANN202
        if table not in OWNED_TABLES:
            abort(404)
        current_user.is_authenticated  # noqa: B018 - load the user, as every page does
        # Deliberately unscoped: no WHERE user_id = ... anywhere.
        seen = db.session.scalars(text(f"SELECT user_id FROM {table}")).all()  # noqa: S608
        updated = db.session.scalars(
            text(f"UPDATE {table} SET user_id = user_id RETURNING user_id")  # noqa: S608
        ).all()
        deleted = db.session.scalars(text(f"DELETE FROM {table} RETURNING user_id")).all()  # noqa: S608
        role = db.session.scalar(text("SELECT current_user"))
        db.session.rollback()
        return jsonify(seen=sorted(set(seen)), updated=sorted(set(updated)),
                       deleted=sorted(set(deleted)), role=role)

    app.test_client_class = ShopClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def shopper(app, email: str, product_id: int) -> ShopClient:  # noqa: ANN001
    """A registered shopper who owns a row in every owned table (the guest cart merged)."""
    client = app.test_client()
    client.post_form("/cart/add", {"product_id": str(product_id)})
    assert client.register(email).status_code == 303
    return client


def test_each_table_shows_a_request_only_its_own_users_rows(probe_app):
    product = make_product()
    ada = shopper(probe_app, "ada@example.com", product.id)
    bob = shopper(probe_app, "bob@example.com", product.id)
    ids = dict(db.session.execute(select(User.email, User.id)).all())
    for client, email in ((ada, "ada@example.com"), (bob, "bob@example.com")):
        for table in OWNED_TABLES:
            answer = client.get(f"/_probe/{table}").get_json()
            assert answer["seen"] == [ids[email]], (table, answer)
            assert answer["updated"] == [ids[email]], (table, answer)
            assert answer["deleted"] == [ids[email]], (table, answer)
            assert answer["role"] == "storefront_app"


def test_with_nobody_signed_in_no_owned_row_is_reachable(probe_app):
    product = make_product()
    shopper(probe_app, "ada@example.com", product.id)
    anonymous = probe_app.test_client()
    for table in OWNED_TABLES:
        assert anonymous.get(f"/_probe/{table}").get_json() | {"role": None} == {
            "seen": [], "updated": [], "deleted": [], "role": None}, table


def test_nothing_was_really_deleted_by_the_probes(probe_app):
    product = make_product()
    ada = shopper(probe_app, "ada@example.com", product.id)
    for table in OWNED_TABLES:
        ada.get(f"/_probe/{table}")
    for table in OWNED_TABLES:
        assert db.session.scalar(select(func.count()).select_from(text(table))) == 1  # noqa: S608


def test_maintenance_commands_see_every_account(probe_app):
    product = make_product()
    shopper(probe_app, "ada@example.com", product.id)
    shopper(probe_app, "bob@example.com", product.id)
    result = probe_app.test_cli_runner().invoke(args=["report", "--json"])
    assert '"profiles_created": 2' in result.output
    assert probe_app.test_cli_runner().invoke(args=["accounts", "check"]).exit_code == 0
