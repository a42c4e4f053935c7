"""Row-level security on PostgreSQL: inside a shopper's request even a deliberately unscoped
statement reaches only that shopper's rows, and with nobody signed in, no rows at all.

Every table and every verb is probed as the app role, with and without a user set (and with
only a session token or an e-mail being looked up); every transaction of every request,
error pages, CSRF failures and 413s included, runs as that role."""

import pytest
from flask import Flask, abort, has_request_context, jsonify
from flask_login import current_user
from flask_sqlalchemy.session import Session
from sqlalchemy import delete, event, func, select, text
from sqlalchemy.exc import DBAPIError

from storefront import accounts, create_app, rls, tokens
from storefront.extensions import db
from storefront.models import (
    Address,
    CartMerge,
    Category,
    EmailToken,
    OAuthIdentity,
    Order,
    OrderLine,
    OutboxMail,
    Passkey,
    ProductCategory,
    Profile,
    User,
    UserCart,
    UserSession,
    WishlistItem,
    WishlistShare,
    utcnow,
)
from tests.factories import make_product, make_user
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


def test_only_a_requests_statements_carry_a_scope_and_it_starts_as_nobody():
    """What rls hands the engine: nothing outside a request (maintenance commands and
    migrations run as the connecting role), else the request's scope, nobody's until set.
    Needs no database, so it also runs where PostgreSQL is absent."""
    app = Flask(__name__)
    with app.app_context():  # a maintenance command's
        assert rls.scope_prefix() is None
    with app.test_request_context():
        assert rls.scope_prefix() == (rls.SET_SCOPE, rls.NOBODY)
        rls.act_as(7)
        assert rls.scope_prefix() == (rls.SET_SCOPE, ("7", "", "", "", "", "", "", ""))


# Every table, every verb, as the app role --------------------------------------------------------

REFUSED = "refused"  # permission denied, or a policy's WITH CHECK: SQLSTATE 42501
NOBODY = {}


@pytest.fixture
def shop(app, database_url):  # noqa: ANN001, ANN201
    """Ada and Bob own a row in every owned table; Cy has an account but no profile and no
    cart, so a row written for Cy clashes with nothing and only a policy can refuse it.
    Made as the connecting role, outside any request. Returns the ids by name."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's (a no-op on SQLite)")
    first, second = make_product(), make_product()
    ids = {"p1": first.id, "p2": second.id}
    for name in ("ada", "bob", "cy"):
        ids[name] = make_user(f"{name}@example.com").id
    for name in ("ada", "bob"):
        db.session.add(UserCart(user_id=ids[name], product_id=first.id, quantity=1))
        db.session.add(CartMerge(guest_token=f"guest-of-{name}", user_id=ids[name],
                                 lines_in=1, lines_kept=1))
        db.session.add(EmailToken(user_id=ids[name], purpose="reset",
                                  token_hash=f"email-token-of-{name}",
                                  expires_at=utcnow()))
        db.session.add(Address(user_id=ids[name], full_name=name, line1="1 Road", city="C",
                               country="GB"))
        db.session.add(WishlistItem(user_id=ids[name], product_id=first.id, quantity=1))
        db.session.add(WishlistShare(user_id=ids[name], key_hash=f"share-key-of-{name}"))
        db.session.add(OAuthIdentity(provider="idp", subject=f"sub-of-{name}", user_id=ids[name],
                                     email=f"{name}@example.com"))
        db.session.add(Passkey(user_id=ids[name], credential_id=f"credential-of-{name}",
                               public_key=b"key", sign_count=0, name="Key", transports=""))
        order = Order(number=f"SF-{name.upper():A<4}-AAAA", user_id=ids[name], status="placed",
                      payment_method="cash_on_delivery", currency="EUR", subtotal=10,
                      shipping=0, total=10, **{f"{kind}_{part}": "x" for kind in ("ship", "bill")
                                                for part in ("name", "line1", "line2", "city",
                                                             "postal_code", "region")},
                      ship_country="GB", bill_country="GB")
        db.session.add(order)
        db.session.flush()
        ids[f"{name}_order"] = order.id
        db.session.add(OrderLine(order_id=order.id, product_id=first.id, sku="S", name="N",
                                 unit_price=10, quantity=1))
    db.session.execute(delete(Profile).where(Profile.user_id == ids["cy"]))
    category = Category(name="Tea", slug="tea")
    db.session.add(category)
    db.session.flush()
    ids["c1"] = category.id
    db.session.add(ProductCategory(product_id=first.id, category_id=category.id))
    db.session.commit()
    return ids


def as_app_role(statement: str, scope: dict[str, object], **params: object) -> object:
    """Run one statement as `storefront_app` in a scope set as storefront/rls.py sets it
    (`user_id`, `token_hash`, `email`, `email_token_hash`, `staff`, `share_key_hash`,
    `identity_key`, `credential_id`), in a transaction rolled back at once.

    Returns the first column of the rows it returned (sorted, distinct), the number of rows
    it changed, or REFUSED; any other error is raised."""
    with db.engine.connect() as connection:
        connection.exec_driver_sql("SET LOCAL ROLE storefront_app")
        connection.execute(text(
            "SELECT set_config('storefront.user_id', :user_id, true), "
            "set_config('storefront.token_hash', :token_hash, true), "
            "set_config('storefront.email', :email, true), "
            "set_config('storefront.email_token_hash', :email_token_hash, true), "
            "set_config('storefront.staff', :staff, true), "
            "set_config('storefront.share_key_hash', :share_key_hash, true), "
            "set_config('storefront.identity_key', :identity_key, true), "
            "set_config('storefront.credential_id', :credential_id, true)"
        ), {"share_key_hash": scope.get("share_key_hash") or "",
            "identity_key": scope.get("identity_key") or "",
            "credential_id": scope.get("credential_id") or "",
            "user_id": str(scope.get("user_id") or ""),
            "token_hash": scope.get("token_hash") or "", "email": scope.get("email") or "",
            "email_token_hash": scope.get("email_token_hash") or "",
            "staff": "1" if scope.get("staff") else ""})
        try:
            result = connection.execute(text(statement), params)
            return sorted(set(result.scalars())) if result.returns_rows else result.rowcount
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != "42501":
                raise
            return REFUSED
        finally:
            connection.rollback()


NEW_IDENTITY = ("INSERT INTO oauth_identities (provider, subject, user_id, created_at) "
                "VALUES ('idp', 'new-subject', :owner, now())")
NEW_PASSKEY = ("INSERT INTO passkeys (user_id, credential_id, public_key, sign_count, name, "
               "transports, created_at) VALUES (:owner, 'new-credential', 'k', 0, 'K', '', "
               "now())")
NEW_SESSION = ("INSERT INTO user_sessions (user_id, token_hash, remember, created_at, "
               "last_seen_at, expires_at, user_agent, ip) VALUES (:owner, "
               "md5('probe') || md5('probe-2'), false, now(), now(), now() + interval '1 hour', "
               "'', '')")
NEW_USER = ("INSERT INTO users (email, email_canonical, password_hash, is_active, created_at) "
            "VALUES (:email, :email, 'x', true, now())")
NEW_EMAIL_TOKEN = ("INSERT INTO email_tokens (user_id, purpose, token_hash, created_at, "
                   "expires_at) VALUES (:owner, 'reset', 'probe', now(), now())")
NEW_MAIL = ("INSERT INTO outbox (user_id, kind, recipient, subject, body_text, body_html, "
            "created_at, attempts, next_attempt_at) VALUES (:owner, 'probe', 'x@example.com', "
            "'s', 't', 'h', now(), 0, now())")
NEW_ORDER = ("INSERT INTO orders (number, user_id, status, payment_method, currency, subtotal, "
             "shipping, total, ship_name, ship_line1, ship_line2, ship_city, ship_postal_code, "
             "ship_region, ship_country, bill_name, bill_line1, bill_line2, bill_city, "
             "bill_postal_code, bill_region, bill_country, placed_at, updated_at) VALUES "
             "('SF-NEWW-NEWW', :owner, 'placed', 'cash_on_delivery', 'EUR', 1, 0, 1, '', '', '', "
             "'', '', '', 'GB', '', '', '', '', '', '', 'GB', now(), now())")
NEW_LINE = ("INSERT INTO order_lines (order_id, product_id, sku, name, unit_price, quantity) "
            "VALUES (:order, :p2, 'S', 'N', 1, 1)")
NEW_ADDRESS = ("INSERT INTO addresses (user_id, full_name, line1, line2, city, postal_code, "
               "region, country, default_shipping, default_billing, created_at, updated_at) "
               "VALUES (:owner, 'X', '1', '', 'C', '', '', 'GB', false, false, now(), now())")
NEW_AUDIT = ("INSERT INTO audit_events (actor_id, actor_email, action, object_type, object_id, "
             "created_at) VALUES (:owner, 'x', 'probe', 'product', '1', now())")
NEW_ADJUSTMENT = ("INSERT INTO stock_adjustments (product_id, actor_id, delta, stock_after, "
                  "reason, created_at) VALUES (:p2, :owner, 1, 1, 'probe', now())")
# (table, verb, statement, outcome with nobody signed in, outcome signed in as Ada).
# An outcome is the owners (by name) of the rows a SELECT returns, the number of rows a write
# changed, or REFUSED. `:owner` is Ada or, where the verb names him, Cy. The writes read no
# column (no WHERE, no RETURNING), so only the policies of their own verb decide, not SELECT's.
NEW_LINK = ("INSERT INTO product_categories (product_id, category_id) "
            "VALUES (:p2, (SELECT min(id) FROM categories))")

PROBES = [
    ("products", "SELECT", "SELECT id FROM products", ["p1", "p2"], ["p1", "p2"]),
    # Placing and cancelling orders take and return stock: that column only.
    ("products", "UPDATE stock", "UPDATE products SET stock = stock", 2, 2),
    ("products", "UPDATE", "UPDATE products SET price = 1", REFUSED, REFUSED),
    ("products", "UPDATE", "UPDATE products SET active = false", REFUSED, REFUSED),
    ("products", "DELETE", "DELETE FROM products", REFUSED, REFUSED),
    ("products", "INSERT", "INSERT INTO products (sku, slug, name, description, price, stock, "
     "active, created_at) VALUES ('NEW', 'new', 'New', '', 1, 1, true, now())", REFUSED, REFUSED),
    ("products", "TRUNCATE", "TRUNCATE products CASCADE", REFUSED, REFUSED),

    # Categories are shop data: everyone reads them, only staff link products (issue 16).
    ("categories", "SELECT", "SELECT id FROM categories", ["c1"], ["c1"]),
    ("categories", "INSERT", "INSERT INTO categories (name, slug, position) "
     "VALUES ('X', 'x', 0)", REFUSED, REFUSED),
    ("categories", "UPDATE", "UPDATE categories SET name = 'X'", REFUSED, REFUSED),
    ("categories", "DELETE", "DELETE FROM categories", REFUSED, REFUSED),
    ("categories", "TRUNCATE", "TRUNCATE categories CASCADE", REFUSED, REFUSED),
    ("product_categories", "SELECT", "SELECT category_id FROM product_categories",
     ["c1"], ["c1"]),
    ("product_categories", "INSERT", NEW_LINK, REFUSED, REFUSED),
    ("product_categories", "UPDATE", "UPDATE product_categories SET category_id = category_id",
     REFUSED, REFUSED),
    ("product_categories", "DELETE", "DELETE FROM product_categories", 0, 0),
    ("product_categories", "TRUNCATE", "TRUNCATE product_categories", REFUSED, REFUSED),

    ("users", "SELECT", "SELECT id FROM users", [], ["ada"]),
    ("users", "UPDATE", "UPDATE users SET is_active = true", 0, 1),
    ("users", "DELETE", "DELETE FROM users", 0, 1),
    ("users", "INSERT an account", NEW_USER, REFUSED, REFUSED),
    ("users", "TRUNCATE", "TRUNCATE users CASCADE", REFUSED, REFUSED),

    ("profiles", "SELECT", "SELECT user_id FROM profiles", [], ["ada"]),
    ("profiles", "UPDATE", "UPDATE profiles SET first_name = 'X'", 0, 1),
    ("profiles", "DELETE", "DELETE FROM profiles", 0, 1),
    ("profiles", "INSERT for cy", "INSERT INTO profiles (user_id, first_name, last_name, "
     "marketing_opt_in, updated_at) VALUES (:owner, 'Cy', 'Young', false, now())",
     REFUSED, REFUSED),
    ("profiles", "UPDATE to cy", "UPDATE profiles SET user_id = :owner", 0, REFUSED),
    ("profiles", "TRUNCATE", "TRUNCATE profiles", REFUSED, REFUSED),

    ("user_sessions", "SELECT", "SELECT user_id FROM user_sessions", [], ["ada"]),
    ("user_sessions", "UPDATE", "UPDATE user_sessions SET revoked_at = now()", 0, 1),
    ("user_sessions", "DELETE", "DELETE FROM user_sessions", 0, 1),
    ("user_sessions", "INSERT for ada", NEW_SESSION, REFUSED, 1),
    ("user_sessions", "INSERT for cy", NEW_SESSION, REFUSED, REFUSED),
    ("user_sessions", "UPDATE to cy", "UPDATE user_sessions SET user_id = :owner", 0, REFUSED),
    ("user_sessions", "TRUNCATE", "TRUNCATE user_sessions", REFUSED, REFUSED),

    ("events", "SELECT", "SELECT user_id FROM events", [], ["ada"]),
    ("events", "UPDATE", "UPDATE events SET ok = true", 0, 0),
    ("events", "DELETE", "DELETE FROM events", 0, 0),
    ("events", "INSERT for nobody", "INSERT INTO events (kind, ok, user_id, created_at, detail) "
     "VALUES ('probe', true, NULL, now(), '')", 1, 1),
    ("events", "INSERT for ada", "INSERT INTO events (kind, ok, user_id, created_at, detail) "
     "VALUES ('probe', true, :owner, now(), '')", REFUSED, 1),
    ("events", "INSERT for cy", "INSERT INTO events (kind, ok, user_id, created_at, detail) "
     "VALUES ('probe', true, :owner, now(), '')", REFUSED, REFUSED),
    ("events", "UPDATE to cy", "UPDATE events SET user_id = :owner", 0, 0),
    ("events", "TRUNCATE", "TRUNCATE events", REFUSED, REFUSED),

    ("wishlist_items", "SELECT", "SELECT user_id FROM wishlist_items", [], ["ada"]),
    ("wishlist_items", "UPDATE", "UPDATE wishlist_items SET quantity = 2", 0, 1),
    ("wishlist_items", "DELETE", "DELETE FROM wishlist_items", 0, 1),
    ("wishlist_items", "INSERT for cy", "INSERT INTO wishlist_items (user_id, product_id, "
     "quantity, added_at) VALUES (:owner, :p2, 1, now())", REFUSED, REFUSED),
    ("wishlist_items", "INSERT for ada", "INSERT INTO wishlist_items (user_id, product_id, "
     "quantity, added_at) VALUES (:owner, :p2, 1, now())", REFUSED, 1),
    ("wishlist_items", "UPDATE to cy", "UPDATE wishlist_items SET user_id = :owner", 0, REFUSED),
    ("wishlist_items", "TRUNCATE", "TRUNCATE wishlist_items", REFUSED, REFUSED),

    ("wishlist_shares", "SELECT", "SELECT user_id FROM wishlist_shares", [], ["ada"]),
    ("wishlist_shares", "UPDATE", "UPDATE wishlist_shares SET key_hash = key_hash", 0, 1),
    ("wishlist_shares", "DELETE", "DELETE FROM wishlist_shares", 0, 1),
    ("wishlist_shares", "INSERT for cy", "INSERT INTO wishlist_shares (user_id, key_hash, "
     "created_at) VALUES (:owner, 'new', now())", REFUSED, REFUSED),
    ("wishlist_shares", "UPDATE to cy", "UPDATE wishlist_shares SET user_id = :owner", 0,
     REFUSED),
    ("wishlist_shares", "TRUNCATE", "TRUNCATE wishlist_shares", REFUSED, REFUSED),

    ("oauth_identities", "SELECT", "SELECT user_id FROM oauth_identities", [], ["ada"]),
    ("oauth_identities", "UPDATE", "UPDATE oauth_identities SET last_used_at = now()", 0, 1),
    ("oauth_identities", "DELETE", "DELETE FROM oauth_identities", 0, 1),
    ("oauth_identities", "INSERT for cy", NEW_IDENTITY, REFUSED, REFUSED),
    ("oauth_identities", "INSERT for ada", NEW_IDENTITY, REFUSED, 1),
    ("oauth_identities", "UPDATE to cy", "UPDATE oauth_identities SET user_id = :owner", 0,
     REFUSED),
    ("oauth_identities", "TRUNCATE", "TRUNCATE oauth_identities", REFUSED, REFUSED),

    ("passkeys", "SELECT", "SELECT user_id FROM passkeys", [], ["ada"]),
    ("passkeys", "UPDATE", "UPDATE passkeys SET sign_count = 5", 0, 1),
    ("passkeys", "DELETE", "DELETE FROM passkeys", 0, 1),
    ("passkeys", "INSERT for cy", NEW_PASSKEY, REFUSED, REFUSED),
    ("passkeys", "INSERT for ada", NEW_PASSKEY, REFUSED, 1),
    ("passkeys", "UPDATE to cy", "UPDATE passkeys SET user_id = :owner", 0, REFUSED),
    ("passkeys", "TRUNCATE", "TRUNCATE passkeys", REFUSED, REFUSED),

    ("user_carts", "SELECT", "SELECT user_id FROM user_carts", [], ["ada"]),
    ("user_carts", "UPDATE", "UPDATE user_carts SET quantity = 2", 0, 1),
    ("user_carts", "DELETE", "DELETE FROM user_carts", 0, 1),
    ("user_carts", "INSERT for ada", "INSERT INTO user_carts (user_id, product_id, quantity, "
     "added_at, updated_at) VALUES (:owner, :p2, 1, now(), now())", REFUSED, 1),
    ("user_carts", "INSERT for cy", "INSERT INTO user_carts (user_id, product_id, quantity, "
     "added_at, updated_at) VALUES (:owner, :p2, 1, now(), now())", REFUSED, REFUSED),
    ("user_carts", "UPDATE to cy", "UPDATE user_carts SET user_id = :owner", 0, REFUSED),
    ("user_carts", "TRUNCATE", "TRUNCATE user_carts", REFUSED, REFUSED),

    ("cart_merges", "SELECT", "SELECT user_id FROM cart_merges", [], ["ada"]),
    ("cart_merges", "UPDATE", "UPDATE cart_merges SET lines_in = 2", 0, 1),
    ("cart_merges", "DELETE", "DELETE FROM cart_merges", 0, 1),
    ("cart_merges", "INSERT for ada", "INSERT INTO cart_merges (guest_token, user_id, "
     "merged_at, lines_in, lines_kept) VALUES ('probe', :owner, now(), 1, 1)", REFUSED, 1),
    ("cart_merges", "INSERT for cy", "INSERT INTO cart_merges (guest_token, user_id, "
     "merged_at, lines_in, lines_kept) VALUES ('probe', :owner, now(), 1, 1)", REFUSED, REFUSED),
    ("cart_merges", "UPDATE to cy", "UPDATE cart_merges SET user_id = :owner", 0, REFUSED),
    ("cart_merges", "TRUNCATE", "TRUNCATE cart_merges", REFUSED, REFUSED),

    ("email_tokens", "SELECT", "SELECT user_id FROM email_tokens", [], ["ada"]),
    ("email_tokens", "UPDATE", "UPDATE email_tokens SET used_at = now()", 0, 1),
    ("email_tokens", "DELETE", "DELETE FROM email_tokens", REFUSED, REFUSED),
    ("email_tokens", "INSERT for ada", NEW_EMAIL_TOKEN, REFUSED, REFUSED),
    ("email_tokens", "UPDATE to cy", "UPDATE email_tokens SET user_id = :owner", 0, REFUSED),
    ("email_tokens", "TRUNCATE", "TRUNCATE email_tokens", REFUSED, REFUSED),

    ("outbox", "SELECT", "SELECT user_id FROM outbox", [], []),  # staff only (0012)
    ("outbox", "UPDATE", "UPDATE outbox SET attempts = 0", REFUSED, REFUSED),
    ("outbox", "DELETE", "DELETE FROM outbox", REFUSED, REFUSED),
    ("outbox", "INSERT for nobody", NEW_MAIL.replace(":owner", "NULL"), 1, 1),
    ("outbox", "INSERT for ada", NEW_MAIL, REFUSED, 1),
    ("outbox", "INSERT for cy", NEW_MAIL, REFUSED, REFUSED),
    ("outbox", "TRUNCATE", "TRUNCATE outbox", REFUSED, REFUSED),
    ("addresses", "SELECT", "SELECT user_id FROM addresses", [], ["ada"]),
    ("addresses", "UPDATE", "UPDATE addresses SET city = 'X'", 0, 1),
    ("addresses", "DELETE", "DELETE FROM addresses", 0, 1),
    ("addresses", "INSERT for ada", NEW_ADDRESS, REFUSED, 1),
    ("addresses", "INSERT for cy", NEW_ADDRESS, REFUSED, REFUSED),
    ("addresses", "UPDATE to cy", "UPDATE addresses SET user_id = :owner", 0, REFUSED),
    ("addresses", "TRUNCATE", "TRUNCATE addresses", REFUSED, REFUSED),

    ("orders", "SELECT", "SELECT user_id FROM orders", [], ["ada"]),
    ("orders", "UPDATE", "UPDATE orders SET status = 'cancelled'", 0, 1),
    ("orders", "UPDATE to cy", "UPDATE orders SET user_id = :owner", 0, REFUSED),
    ("orders", "UPDATE to nobody", "UPDATE orders SET user_id = NULL", 0, REFUSED),
    # Only staff move an order on or change what it costs (0013's orders_guard).
    ("orders", "UPDATE status to paid", "UPDATE orders SET status = 'paid'", 0, REFUSED),
    ("orders", "UPDATE tracking", "UPDATE orders SET tracking = 'T-1'", 0, REFUSED),
    ("orders", "UPDATE total", "UPDATE orders SET total = 0, subtotal = 0", 0, REFUSED),
    ("orders", "UPDATE detach", "UPDATE orders SET email = NULL, ship_name = ''", 0, 1),
    ("orders", "DELETE", "DELETE FROM orders", REFUSED, REFUSED),
    ("orders", "INSERT for ada", NEW_ORDER, REFUSED, 1),
    ("orders", "INSERT for cy", NEW_ORDER, REFUSED, REFUSED),
    ("orders", "TRUNCATE", "TRUNCATE orders CASCADE", REFUSED, REFUSED),

    ("order_lines", "SELECT", "SELECT order_id FROM order_lines", [], ["ada_order"]),
    ("order_lines", "UPDATE", "UPDATE order_lines SET quantity = 2", REFUSED, REFUSED),
    ("order_lines", "DELETE", "DELETE FROM order_lines", REFUSED, REFUSED),
    ("order_lines", "INSERT into ada's order", NEW_LINE, REFUSED, 1),
    ("order_lines", "INSERT into bob's order", NEW_LINE, REFUSED, REFUSED),
    ("order_lines", "TRUNCATE", "TRUNCATE order_lines", REFUSED, REFUSED),
    # The staff area's append-only tables: nothing for shoppers (test_staff_scope below).
    ("audit_events", "SELECT", "SELECT actor_id FROM audit_events", [], []),
    ("audit_events", "INSERT for ada", NEW_AUDIT, REFUSED, REFUSED),
    ("audit_events", "UPDATE", "UPDATE audit_events SET action = 'x'", REFUSED, REFUSED),
    ("audit_events", "DELETE", "DELETE FROM audit_events", REFUSED, REFUSED),
    ("audit_events", "TRUNCATE", "TRUNCATE audit_events", REFUSED, REFUSED),
    ("stock_adjustments", "SELECT", "SELECT actor_id FROM stock_adjustments", [], []),
    ("stock_adjustments", "INSERT for ada", NEW_ADJUSTMENT, REFUSED, REFUSED),
    ("stock_adjustments", "UPDATE", "UPDATE stock_adjustments SET delta = 1", REFUSED, REFUSED),
    ("stock_adjustments", "DELETE", "DELETE FROM stock_adjustments", REFUSED, REFUSED),
    ("stock_adjustments", "TRUNCATE", "TRUNCATE stock_adjustments", REFUSED, REFUSED),

    ("alembic_version", "SELECT", "SELECT version_num FROM alembic_version", REFUSED, REFUSED),
    ("alembic_version", "UPDATE", "UPDATE alembic_version SET version_num = 'x'",
     REFUSED, REFUSED),
    ("alembic_version", "DELETE", "DELETE FROM alembic_version", REFUSED, REFUSED),
    ("alembic_version", "INSERT", "INSERT INTO alembic_version VALUES ('probe')",
     REFUSED, REFUSED),
    ("alembic_version", "TRUNCATE", "TRUNCATE alembic_version", REFUSED, REFUSED),
]
PROBED_TABLES = sorted({table for table, *_ in PROBES})


def test_the_probes_cover_every_table_and_verb():
    """A table added later fails here until its probes (and its policies) are written."""
    assert set(PROBED_TABLES) == {t.name for t in db.metadata.sorted_tables} | {"alembic_version"}
    for table in PROBED_TABLES:
        verbs = {verb.split()[0] for name, verb, *_ in PROBES if name == table}
        assert verbs == {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"}, table


def outcome_of(expected: object, ids: dict[str, int]) -> object:
    return sorted(ids[name] for name in expected) if isinstance(expected, list) else expected


@pytest.mark.parametrize("table", PROBED_TABLES)
def test_what_the_app_role_may_do_to_each_table_with_and_without_a_user(shop, table):
    for name, verb, statement, anonymous, as_ada in PROBES:
        if name != table:
            continue
        owner = shop["cy"] if verb.endswith(" cy") else shop["ada"]
        order = shop["bob_order"] if "bob's" in verb else shop["ada_order"]
        params = {key: value for key, value in {
            "owner": owner, "p2": shop["p2"], "email": "new@example.com",
            "order": order}.items() if f":{key}" in statement}
        for scope, expected in ((NOBODY, anonymous), ({"user_id": shop["ada"]}, as_ada)):
            got = as_app_role(statement, scope, **params)
            assert got == outcome_of(expected, shop), (verb, scope, got)


def session_token_hash(user_id: int) -> str:
    return db.session.scalar(select(UserSession.token_hash).where(UserSession.user_id == user_id))


def test_a_session_found_by_its_token_is_read_only(shop):
    """Before the user is known (the cookie's token is being looked up), the session row and
    its user can be read, and nothing else: not re-owned, revoked, deleted or added to."""
    token_hash = session_token_hash(shop["ada"])
    by_token = {"token_hash": token_hash}
    params = {"hash": token_hash, "cy": shop["cy"]}
    assert as_app_role("SELECT user_id FROM user_sessions", by_token) == [shop["ada"]]
    assert as_app_role("SELECT id FROM users", by_token) == [shop["ada"]]
    for statement in (
        "UPDATE user_sessions SET user_id = :cy WHERE token_hash = :hash",
        "UPDATE user_sessions SET user_id = :cy",
        "UPDATE user_sessions SET revoked_at = now() WHERE token_hash = :hash",
        "DELETE FROM user_sessions WHERE token_hash = :hash",
        "DELETE FROM user_sessions",
        "UPDATE users SET password_hash = 'x' WHERE id IN (SELECT user_id FROM user_sessions "
        "WHERE token_hash = :hash)",
        "UPDATE users SET password_hash = 'x'",
        "DELETE FROM users",
    ):
        assert as_app_role(statement, by_token, **params) == 0, statement
    assert as_app_role("SELECT user_id FROM profiles", by_token) == []
    for owner in ("ada", "cy"):
        assert as_app_role(NEW_SESSION, by_token, owner=shop[owner]) == REFUSED, owner
    # With the user known too, the row still cannot be handed to someone else.
    both = {"user_id": shop["ada"], "token_hash": token_hash}
    assert as_app_role("UPDATE user_sessions SET user_id = :cy WHERE token_hash = :hash",
                       both, **params) == REFUSED


def test_an_account_found_by_its_email_is_read_only(shop):
    by_email = {"email": "ada@example.com"}
    assert as_app_role("SELECT id FROM users", by_email) == [shop["ada"]]
    assert as_app_role("UPDATE users SET password_hash = 'x'", by_email) == 0
    assert as_app_role("UPDATE users SET password_hash = 'x' WHERE email_canonical = "
                       "'ada@example.com'", by_email) == 0
    assert as_app_role("DELETE FROM users", by_email) == 0
    assert as_app_role("SELECT user_id FROM user_sessions", by_email) == []
    assert as_app_role(NEW_SESSION, by_email, owner=shop["ada"]) == REFUSED


def test_an_email_token_found_by_its_hash_is_read_only(shop):
    """A mailed link being opened (the account not known yet): its token row and its account
    can be read, nothing else, and nothing written."""
    by_hash = {"email_token_hash": "email-token-of-ada"}
    assert as_app_role("SELECT user_id FROM email_tokens", by_hash) == [shop["ada"]]
    assert as_app_role("SELECT id FROM users", by_hash) == [shop["ada"]]
    for statement in ("UPDATE email_tokens SET used_at = now()",
                      "UPDATE email_tokens SET user_id = :cy",
                      "UPDATE users SET password_hash = 'x'",
                      "UPDATE users SET email_verified_at = now()"):
        assert as_app_role(statement, by_hash, cy=shop["cy"]) == 0, statement
    assert as_app_role("SELECT user_id FROM user_sessions", by_hash) == []
    assert as_app_role("SELECT user_id FROM profiles", by_hash) == []
    assert as_app_role(NEW_MAIL, by_hash, owner=shop["ada"]) == REFUSED


def test_a_reset_request_may_add_mail_only_for_the_account_its_email_names(shop):
    by_email = {"email": "ada@example.com"}
    assert as_app_role(NEW_MAIL, by_email, owner=shop["ada"]) == 1
    assert as_app_role(NEW_MAIL, by_email, owner=shop["bob"]) == REFUSED
    assert as_app_role("SELECT user_id FROM outbox", by_email) == []  # read by staff only


def test_sign_up_inserts_only_the_account_it_declared(shop):
    declared = {"email": "new@example.com"}
    assert as_app_role(NEW_USER, declared, email="new@example.com") == 1
    assert as_app_role(NEW_USER, declared, email="other@example.com") == REFUSED
    assert as_app_role(NEW_USER, NOBODY, email="new@example.com") == REFUSED


def test_a_user_cannot_change_or_delete_another_users_account(shop):
    as_ada = {"user_id": shop["ada"]}
    for statement in ("UPDATE users SET is_active = false WHERE id = :bob",
                      "UPDATE users SET email = 'x' WHERE id = :bob",
                      "DELETE FROM users WHERE id = :bob"):
        assert as_app_role(statement, as_ada, bob=shop["bob"]) == 0, statement
    assert as_app_role("UPDATE users SET id = :new WHERE id = :ada", as_ada,
                       new=shop["bob"] + 1000, ada=shop["ada"]) == REFUSED


# Every transaction of every request runs as the app role ----------------------------------------

@pytest.fixture
def recording_app(database_url):  # noqa: ANN001, ANN201
    """The shop, recording the role each transaction of a request runs as, and at the end of
    every request (error pages included) which accounts it could still read."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's (a no-op on SQLite)")
    app = create_app(base_config(database_url, PROPAGATE_EXCEPTIONS=False))
    app.test_client_class = ShopClient
    seen: dict[str, list] = {"roles": [], "roles_of_the_request": [], "readable_users": []}

    @app.get("/boom")
    def boom():  # noqa: ANN202
        raise RuntimeError("crash")

    @app.after_request
    def readable_users(response):  # noqa: ANN001, ANN202
        seen["roles_of_the_request"] = list(seen["roles"])  # before this probe's own query
        seen["readable_users"].append(db.session.scalars(text("SELECT email FROM users")).all())
        return response

    def role_of(_session, _transaction, connection) -> None:  # noqa: ANN001
        # Runs after storefront/rls.py's own listener (registered first, at import).
        if has_request_context():
            seen["roles"].append(connection.exec_driver_sql("SELECT current_user").scalar())

    event.listen(Session, "after_begin", role_of)
    try:
        with app.app_context():
            yield app, seen
            db.session.remove()
            db.engine.dispose()
    finally:
        event.remove(Session, "after_begin", role_of)


ADA = ["ada@example.com"]
# (what Ada's browser sends, given its CSRF token; the status; the accounts readable then).
REQUESTS = {
    "page": (lambda client, _token: client.get("/"), 200, ADA),
    "CSRF failure": (lambda client, _token: client.post("/cart/add", data={"product_id": "1"}),
                     400, ADA),
    "413": (lambda client, token: client.post("/cart/add", data={
        "csrf_token": token, "x": "x" * (1024 * 1024 + 1)}), 413, ADA),
    "404 page": (lambda client, _token: client.get("/nowhere"), 404, ADA),
    "domain 404": (lambda client, _token: client.get("/products/no-such-product"), 404, ADA),
    "405": (lambda client, _token: client.delete("/cart"), 405, ADA),
    "500 page": (lambda client, _token: client.get("/boom"), 500, ADA),
    "API CSRF failure": (lambda client, _token: client.put("/api/profile", json={}), 400, ADA),
    # A JSON 404 never asks who is signed in: its scope stays anonymous, reading no one.
    "API 404": (lambda client, _token: client.get("/api/nothing"), 404, []),
}


@pytest.mark.parametrize("situation", REQUESTS)
def test_every_transaction_of_a_request_runs_as_the_app_role(recording_app, situation):
    app, seen = recording_app
    make_user("bob@example.com")
    client = app.test_client()
    assert client.register("ada@example.com").status_code == 303
    token = client.csrf_token()
    for recorded in seen.values():
        recorded.clear()
    send, status, readable = REQUESTS[situation]
    assert send(client, token).status_code == status
    if readable:  # the page loaded Ada: in a transaction of its own, probed here
        assert seen["roles_of_the_request"], "no transaction before the probe's"
    assert set(seen["roles"]) == {"storefront_app"}
    assert seen["readable_users"] == [readable]  # never Bob's


def test_an_anonymous_error_page_reads_no_account(recording_app):
    app, seen = recording_app
    make_user("bob@example.com")
    client = app.test_client()
    for path in ("/nowhere", "/products/nothing"):
        seen["readable_users"].clear()
        assert client.get(path).status_code == 404
        assert seen["readable_users"] == [[]]


# The staff scope (migration 0012) ---------------------------------------------------------------

STAFF_PROBES = [
    # (statement, outcome for a staff member in the staff scope)
    ("SELECT id FROM users", ["ada", "bob", "cy"]),
    ("SELECT user_id FROM profiles", ["ada", "bob"]),
    ("SELECT user_id FROM user_carts", ["ada", "bob"]),
    ("SELECT user_id FROM user_sessions", ["ada", "bob", "cy"]),
    ("UPDATE users SET is_active = true", 3),
    ("UPDATE user_sessions SET revoked_at = now()", 3),
    ("UPDATE products SET stock = 1", 2),
    ("INSERT INTO products (sku, slug, name, description, price, stock, active, created_at) "
     "VALUES ('NEW', 'new', 'New', '', 1, 1, true, now())", 1),
    (NEW_AUDIT, 1),
    (NEW_ADJUSTMENT, 1),
    (NEW_LINK, 1),
    ("DELETE FROM product_categories", 1),
    ("UPDATE categories SET name = 'X'", REFUSED),
    ("SELECT actor_id FROM audit_events", []),
    # Still never: deleting accounts or products, rewriting the trail, another actor's row.
    ("DELETE FROM users WHERE id <> :owner", 0),
    ("DELETE FROM products", REFUSED),
    ("UPDATE audit_events SET action = 'x'", REFUSED),
    ("DELETE FROM audit_events", REFUSED),
    ("UPDATE profiles SET first_name = 'X' WHERE user_id <> :owner", 0),
    # The staff orders (migration 0013): every order's status and tracking, its lines read;
    # never deleted, never a line rewritten.
    ("SELECT user_id FROM orders", ["ada", "bob"]),
    ("UPDATE orders SET status = 'shipped', tracking = 'T-1'", 2),
    ("SELECT order_id FROM order_lines", ["ada_order", "bob_order"]),
    ("DELETE FROM orders", REFUSED),
    ("UPDATE order_lines SET quantity = 5", REFUSED),
]


def make_staff(user_id: int, is_staff: bool = True) -> None:
    db.session.execute(text("UPDATE users SET is_staff = :staff WHERE id = :id"),
                       {"staff": is_staff, "id": user_id})
    db.session.commit()


def test_staff_scope_reaches_every_account_and_writes_products(shop):
    make_staff(shop["ada"])
    scope = {"user_id": shop["ada"], "staff": True}
    for statement, expected in STAFF_PROBES:
        params = {key: value for key, value in {"owner": shop["ada"], "p2": shop["p2"]}.items()
                  if f":{key}" in statement}
        got = as_app_role(statement, scope, **params)
        assert got == outcome_of(expected, shop), (statement, got)
    # An audit row in another staff member's name is refused.
    assert as_app_role(NEW_AUDIT, scope, owner=shop["bob"]) == REFUSED
    # The shopper's order notices go out with no account: staff may not queue mail in a
    # shopper's name (0010's outbox policy, kept by 0013).
    assert as_app_role(NEW_MAIL.replace(":owner", "NULL"), scope) == 1
    assert as_app_role(NEW_MAIL, scope, owner=shop["bob"]) == REFUSED


@pytest.mark.parametrize("who", ["not staff", "staff but disabled", "no user"])
def test_the_staff_setting_alone_grants_nothing(shop, who):
    if who == "staff but disabled":
        make_staff(shop["ada"])
        db.session.execute(text("UPDATE users SET is_active = false WHERE id = :id"),
                           {"id": shop["ada"]})
        db.session.commit()
    scope = {"staff": True} if who == "no user" else {"user_id": shop["ada"], "staff": True}
    assert as_app_role("SELECT id FROM users", scope) in ([], [shop["ada"]])
    assert as_app_role("SELECT user_id FROM profiles", scope) in ([], [shop["ada"]])
    assert as_app_role("UPDATE products SET price = 1", scope) == REFUSED  # stock only
    assert as_app_role(NEW_AUDIT, scope, owner=shop["ada"]) == REFUSED
    assert as_app_role("SELECT actor_id FROM audit_events", scope) == []
    assert as_app_role("UPDATE users SET is_active = false WHERE id <> :owner", scope,
                       owner=shop["ada"]) == 0
    assert as_app_role("UPDATE orders SET status = 'paid', tracking = 'X' "
                       "WHERE user_id <> :owner", scope, owner=shop["ada"]) == 0


def test_a_staff_member_outside_the_staff_scope_is_a_shopper(shop):
    make_staff(shop["ada"])
    scope = {"user_id": shop["ada"]}
    assert as_app_role("SELECT id FROM users", scope) == [shop["ada"]]
    assert as_app_role("UPDATE products SET price = 1", scope) == REFUSED  # stock only
    assert as_app_role(NEW_AUDIT, scope, owner=shop["ada"]) == REFUSED


def test_a_share_key_reads_one_wishlist_and_its_first_name_only(shop):
    """With a share key's hash set (the shared page), the app role reads that wishlist, its
    share row and its owner's profile, and writes nothing through it."""
    by_key = {"share_key_hash": "share-key-of-bob"}
    assert as_app_role("SELECT user_id FROM wishlist_items", by_key) == [shop["bob"]]
    assert as_app_role("SELECT user_id FROM wishlist_shares", by_key) == [shop["bob"]]
    assert as_app_role("SELECT user_id FROM profiles", by_key) == [shop["bob"]]
    assert as_app_role("SELECT id FROM users", by_key) == []
    assert as_app_role("SELECT user_id FROM addresses", by_key) == []
    for statement in ("UPDATE wishlist_items SET quantity = 5", "DELETE FROM wishlist_items",
                      "DELETE FROM wishlist_shares", "UPDATE profiles SET first_name = 'X'"):
        assert as_app_role(statement, by_key) == 0, statement
    assert as_app_role("SELECT user_id FROM wishlist_items",
                       {"share_key_hash": "no-such-key"}) == []


@pytest.mark.parametrize("purpose", [tokens.RESET, tokens.VERIFY, tokens.EMAIL_CHANGE])
def test_a_link_used_in_a_request_leaves_the_request_as_it_found_it(app, shop, purpose):
    """A signed-in shopper uses another account's mailed link: the service acts as that
    account for its transaction, then the request reads as its own shopper again."""
    new_email = "bob.new@example.com" if purpose == tokens.EMAIL_CHANGE else None
    token = tokens.mint(shop["bob"], purpose, new_email)
    db.session.commit()
    with app.test_request_context():
        rls.act_as(shop["ada"])
        if purpose == tokens.RESET:
            accounts.reset_password(token, "a brand new passphrase")
        else:
            accounts.confirm_email(token)
        readable = db.session.scalars(select(User.id)).all()
    assert readable == [shop["ada"]]


def test_forget_mail_deletes_only_the_current_users_outbox_rows(shop):
    """Account deletion's narrow path to the outbox (migration 0014)."""
    for name in ("ada", "bob"):
        db.session.add(OutboxMail(user_id=shop[name], kind="k", recipient="r@example.com",
                                  subject="s", body_text="t", body_html="h"))
    db.session.commit()
    assert as_app_role("SELECT storefront_forget_mail()", NOBODY) == [0]
    adas = db.session.scalar(select(func.count()).select_from(OutboxMail)
                             .where(OutboxMail.user_id == shop["ada"]))
    assert as_app_role("SELECT storefront_forget_mail()", {"user_id": shop["ada"]}) == [adas]
    assert as_app_role("DELETE FROM outbox WHERE true", {"user_id": shop["ada"]}) in (0, REFUSED)


def test_an_identity_found_by_provider_and_subject_is_read_only(shop):
    """A provider's sign-in (the account not known yet): that one identity row can be read,
    not its account's other rows, and nothing is written through it (migration 0016)."""
    by_key = {"identity_key": "idp sub-of-ada"}
    assert as_app_role("SELECT user_id FROM oauth_identities", by_key) == [shop["ada"]]
    assert as_app_role("SELECT user_id FROM oauth_identities", {"identity_key": "idp "}) == []
    assert as_app_role("SELECT user_id FROM oauth_identities",
                       {"identity_key": "other sub-of-ada"}) == []
    assert as_app_role("SELECT id FROM users", by_key) == []
    assert as_app_role("SELECT user_id FROM passkeys", by_key) == []
    for statement in ("UPDATE oauth_identities SET user_id = :cy",
                      "UPDATE oauth_identities SET last_used_at = now()",
                      "DELETE FROM oauth_identities"):
        assert as_app_role(statement, by_key, cy=shop["cy"]) == 0, statement


def test_a_passkey_found_by_its_credential_id_is_read_only(shop):
    by_credential = {"credential_id": "credential-of-bob"}
    assert as_app_role("SELECT user_id FROM passkeys", by_credential) == [shop["bob"]]
    assert as_app_role("SELECT id FROM users", by_credential) == []
    assert as_app_role("SELECT user_id FROM oauth_identities", by_credential) == []
    for statement in ("UPDATE passkeys SET sign_count = 0", "UPDATE passkeys SET user_id = :cy",
                      "DELETE FROM passkeys"):
        assert as_app_role(statement, by_credential, cy=shop["cy"]) == 0, statement
