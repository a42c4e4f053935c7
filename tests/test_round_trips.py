"""What a page costs in round trips to PostgreSQL, counted from libpq's own trace: a guest
page one, a signed-in page two (the session look-up, which also reads the header's count,
and the page's query), row-level scope and transactions included; and a dead connection is
replaced at checkout, without a round trip of pool_pre_ping's on every request."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from storefront.database import needs_transaction
from storefront.extensions import db
from tests.factories import make_product
from tests.support import ShopClient, round_trips


@pytest.fixture
def postgres_only(database_url):  # noqa: ANN001, ANN201
    if not database_url.startswith("postgresql"):
        pytest.skip("round trips are PostgreSQL's (SQLite is in-process)")


@pytest.fixture
def shop(app, postgres_only):  # noqa: ANN001, ANN201
    products = [make_product(name=f"Tea {number}") for number in range(30)]
    db.session.remove()  # the test's own connection back in the pool, untraced
    return products


def trips_of(client: ShopClient, path: str, status: int = 200) -> int:
    with round_trips(db.engine) as trips:
        response = client.get(path)
    assert response.status_code == status, path
    return trips.count


@pytest.mark.parametrize("path", ["/", "/?page=2", "/?q=tea", "/products/{slug}", "/cart",
                                  "/api/cart", "/healthz"])
def test_a_new_visitors_page_costs_one_round_trip(client, shop, path):
    client.get("/")
    assert trips_of(client, path.format(slug=shop[0].slug)) <= 1


def test_a_guests_cart_page_costs_one_round_trip(client, shop):
    for product in shop[:10]:
        client.post_form("/cart/add", {"product_id": product.id})
    assert trips_of(client, "/cart") == 1


@pytest.mark.parametrize("path", ["/", "/products/{slug}", "/cart", "/account", "/api/cart",
                                  "/account/sessions", "/account/profile"])
def test_a_signed_in_page_costs_two_round_trips(client, shop, path):
    assert client.register().status_code == 303
    for product in shop[:10]:
        client.post_form("/cart/add", {"product_id": product.id})
    assert trips_of(client, path.format(slug=shop[0].slug)) == 2


def test_the_session_look_up_brings_the_headers_count(client, shop):
    assert client.register().status_code == 303
    client.post_form("/cart/add", {"product_id": shop[0].id, "quantity": "3"})
    with round_trips(db.engine) as trips:
        body = client.page("/")
    assert 'data-cart-count="3"' in body
    assert trips.count == 2  # the look-up (with the count) and the catalog: no count query


def test_the_scope_travels_with_its_statement(client, shop):
    """No BEGIN, set_config or ROLLBACK of their own: a guest page's one round trip holds
    the row-level scope and the page's query, under one Sync."""
    client.get("/")
    with round_trips(db.engine) as trips:
        assert client.get("/").status_code == 200
    assert trips.count == 1 and len(trips.sent("Sync")) == 1
    assert "set_config('role', 'storefront_app', true)" in " ".join(trips.sent("Parse"))
    assert "FROM products" in trips.text
    assert "BEGIN" not in trips.text and "ROLLBACK" not in trips.text and not trips.sent("Query")


def test_an_add_to_cart_costs_four_round_trips(client, shop):
    assert client.register().status_code == 303
    token = client.csrf_token()
    with round_trips(db.engine) as trips:
        response = client.post("/cart/add", data={"product_id": shop[0].id, "csrf_token": token})
    assert response.status_code == 303
    # The look-up; BEGIN, scope and the locking read; the upsert; COMMIT.
    assert trips.count == 4


def test_a_connection_the_server_closed_is_replaced_before_a_request_uses_it(
        client, shop, database_url):
    client.get("/")
    admin = create_engine(database_url)
    with admin.connect() as connection:
        killed = connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    admin.dispose()
    assert killed >= 1
    for _ in range(3):
        assert client.get("/").status_code == 200


@pytest.mark.parametrize(("statement", "needs"), [
    ("SELECT * FROM products", False),
    ("  select id from products where id = 1", False),
    ("WITH hits AS MATERIALIZED (SELECT id FROM products) SELECT * FROM hits", False),
    ("SELECT products.updated_at FROM products", False),
    ("SELECT * FROM users FOR UPDATE OF users", True),
    ("SELECT * FROM users FOR NO KEY UPDATE", True),
    ("SELECT * FROM users FOR SHARE", True),
    ("WITH gone AS (DELETE FROM user_carts RETURNING 1) SELECT count(*) FROM gone", True),
    ("INSERT INTO events (kind) VALUES ('x')", True),
    ("UPDATE users SET is_active = false", True),
    ("DELETE FROM user_carts", True),
    ("SAVEPOINT sa_savepoint_1", True),
    ("CREATE TABLE t (id int)", True),
])
def test_only_plain_reads_run_outside_a_transaction(statement, needs):
    assert needs_transaction(statement) is needs


def test_a_write_outside_begin_write_is_still_one_transaction(app, postgres_only):
    """Autocommit is for plain reads only: a write opens a transaction that a rollback
    undoes, as it always did."""
    make_product()
    db.session.execute(text("DELETE FROM products"))
    db.session.execute(text("UPDATE products SET stock = 0"))
    db.session.rollback()
    assert db.session.scalar(text("SELECT count(*) FROM products WHERE stock > 0")) == 1



@pytest.mark.parametrize("path", ["/", "/?q=tea", "/products/{slug}", "/account"])
def test_a_returning_guests_page_costs_one_round_trip_with_its_count(client, shop, path):
    """The header's count of a guest cart rides with the page's own query."""
    for product in shop[:10]:
        client.post_form("/cart/add", {"product_id": product.id})
    with round_trips(db.engine) as trips:
        response = client.get(path.format(slug=shop[0].slug))
    body = response.get_data(as_text=True)
    if path == "/account":  # a redirect to sign in: no query, no count
        assert response.status_code == 302 and trips.count == 0
        return
    assert 'data-cart-count="10"' in body
    assert trips.count == 1
