"""staff orders: a tracking reference on orders, and the staff's rights over orders

- orders.tracking: the carrier's tracking reference staff may give when they ship an order
  (shown to the shopper on the order page and in the shipped notice).
- The history of an order's status changes is kept in `audit_events` (object_type `order`,
  object_id the order's number, before/after `status` and `tracking`), written in the
  transaction of the change like every staff change: no second table to keep in step.

Row-level security (PostgreSQL; SQLite: no-op):
- `orders_staff_update`: staff (`storefront_is_staff()`, migration 0012) may UPDATE any order
  (mark paid, ship, deliver, cancel). Staff could already read orders and their lines (0012).
- Restocking a cancelled order updates `products.stock`: staff may update products (0012).
- The shopper's notice mail is queued with `user_id` NULL from staff actions, which the outbox's
  insert policy (0010: `user_id` NULL or the request's own id) already allows: no staff
  insert policy on `outbox` is added, so staff cannot queue mail in a shopper's name.
- The audit rows use 0012's `audit_events_staff_insert` (actor_id = the staff member).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

APP_ROLE = "storefront_app"
IS_STAFF = "storefront_is_staff()"
TRACKING_MAX_CHARS = 100


def upgrade():
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("tracking", sa.String(length=TRACKING_MAX_CHARS),
                                   nullable=True))
    op.create_index("ix_orders_status_placed_at", "orders", ["status", "placed_at"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"CREATE POLICY orders_staff_update ON orders FOR UPDATE TO {APP_ROLE} "
               f"USING ({IS_STAFF}) WITH CHECK ({IS_STAFF})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY orders_staff_update ON orders")
    op.drop_index("ix_orders_status_placed_at", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("tracking")
