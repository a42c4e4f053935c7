"""addresses, orders and order_lines, with row-level security; the app may take stock

- addresses: a shopper's address book; one default shipping and one default billing address
  per account (partial unique indexes).
- orders: what was placed, copying both addresses; unique (user_id, idempotency_key) so the
  same checkout placed twice gives one order; user_id SET NULL when the account goes (the
  order stays for the books, detached).
- order_lines: name, sku, unit price and quantity as sold; product_id SET NULL on delete.

PostgreSQL: each table gets FORCE ROW LEVEL SECURITY with the maintenance policy for the
connecting role and own-rows policies for `storefront_app`: addresses for every verb; orders
read, placed and changed (never deleted) by their owner, never handed to another (the
account's deletion detaches them through the foreign key's ON DELETE SET NULL, which row-level
security does not stop); order lines read and written through their order, never changed. The app role may UPDATE only the `stock` column of
`products` (placing and cancelling orders).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

APP_ROLE = "storefront_app"
CURRENT_USER_ID = "nullif(current_setting('storefront.user_id', true), '')::bigint"
UTC_TIME = sa.DateTime(timezone=True)
MONEY = sa.Numeric(10, 2)


def _address_columns(prefix: str) -> list[sa.Column]:
    return [
        sa.Column(f"{prefix}_name", sa.String(100), nullable=False),
        sa.Column(f"{prefix}_line1", sa.String(200), nullable=False),
        sa.Column(f"{prefix}_line2", sa.String(200), nullable=False),
        sa.Column(f"{prefix}_city", sa.String(100), nullable=False),
        sa.Column(f"{prefix}_postal_code", sa.String(20), nullable=False),
        sa.Column(f"{prefix}_region", sa.String(100), nullable=False),
        sa.Column(f"{prefix}_country", sa.String(2), nullable=False),
        sa.Column(f"{prefix}_phone", sa.String(16), nullable=True),
    ]


def upgrade():
    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("full_name", sa.String(100), nullable=False),
        sa.Column("line1", sa.String(200), nullable=False),
        sa.Column("line2", sa.String(200), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("postal_code", sa.String(20), nullable=False),
        sa.Column("region", sa.String(100), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("phone", sa.String(16), nullable=True),
        sa.Column("default_shipping", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("default_billing", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_addresses_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
    )
    op.create_index("ix_addresses_user_id", "addresses", ["user_id"])
    op.create_index("uq_addresses_default_shipping", "addresses", ["user_id"], unique=True,
                    postgresql_where=sa.text("default_shipping"),
                    sqlite_where=sa.text("default_shipping"))
    op.create_index("uq_addresses_default_billing", "addresses", ["user_id"], unique=True,
                    postgresql_where=sa.text("default_billing"),
                    sqlite_where=sa.text("default_billing"))

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(12), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payment_method", sa.String(32), nullable=False),
        sa.Column("payment_reference", sa.String(32), nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("subtotal", MONEY, nullable=False),
        sa.Column("shipping", MONEY, nullable=False),
        sa.Column("total", MONEY, nullable=False),
        *_address_columns("ship"),
        *_address_columns("bill"),
        sa.Column("placed_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.CheckConstraint(
            "status IN ('placed', 'paid', 'shipped', 'delivered', 'cancelled')",
            name=op.f("ck_orders_status_known"),
        ),
        sa.CheckConstraint("subtotal >= 0 AND shipping >= 0 AND total >= 0",
                           name=op.f("ck_orders_money_not_negative")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_orders_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("number", name=op.f("uq_orders_number")),
        sa.UniqueConstraint("user_id", "idempotency_key",
                            name="uq_orders_user_id_idempotency_key"),
    )
    op.create_index("ix_orders_user_id_placed_at", "orders", ["user_id", "placed_at"])
    op.create_index("ix_orders_placed_at", "orders", ["placed_at"])

    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit_price", MONEY, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity BETWEEN 1 AND 99",
                           name=op.f("ck_order_lines_quantity_in_range")),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_order_lines_price_not_negative")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"],
                                name=op.f("fk_order_lines_order_id_orders"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name=op.f("fk_order_lines_product_id_products"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
    )
    op.create_index("ix_order_lines_order_id", "order_lines", ["order_id"])
    op.create_index("ix_order_lines_product_id", "order_lines", ["product_id"])

    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("addresses", "orders", "order_lines"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_maintenance ON {table} TO CURRENT_USER "
            "USING (true) WITH CHECK (true)"
        )
    op.execute(
        f"CREATE POLICY addresses_own_rows ON addresses TO {APP_ROLE} "
        f"USING (user_id = {CURRENT_USER_ID}) WITH CHECK (user_id = {CURRENT_USER_ID})"
    )
    op.execute(
        f"CREATE POLICY orders_read ON orders FOR SELECT TO {APP_ROLE} "
        f"USING (user_id = {CURRENT_USER_ID})"
    )
    op.execute(
        f"CREATE POLICY orders_place ON orders FOR INSERT TO {APP_ROLE} "
        f"WITH CHECK (user_id = {CURRENT_USER_ID})"
    )
    op.execute(
        f"CREATE POLICY orders_change ON orders FOR UPDATE TO {APP_ROLE} "
        f"USING (user_id = {CURRENT_USER_ID}) WITH CHECK (user_id = {CURRENT_USER_ID})"
    )
    own_order = f"order_id IN (SELECT id FROM orders WHERE user_id = {CURRENT_USER_ID})"
    op.execute(
        f"CREATE POLICY order_lines_read ON order_lines FOR SELECT TO {APP_ROLE} "
        f"USING ({own_order})"
    )
    op.execute(
        f"CREATE POLICY order_lines_place ON order_lines FOR INSERT TO {APP_ROLE} "
        f"WITH CHECK ({own_order})"
    )
    # Default privileges (0004) gave the app role every verb on new tables: keep what it needs.
    op.execute(f"REVOKE DELETE, TRUNCATE ON orders FROM {APP_ROLE}")
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON order_lines FROM {APP_ROLE}")
    op.execute(f"REVOKE TRUNCATE ON addresses FROM {APP_ROLE}")
    op.execute(f"GRANT UPDATE (stock) ON products TO {APP_ROLE}")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"REVOKE UPDATE (stock) ON products FROM {APP_ROLE}")
    op.drop_table("order_lines")
    op.drop_table("orders")
    op.drop_table("addresses")
