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
- A shopper's request may still update its own orders (0011's `orders_change`: the cancel,
  and blanking the addresses when the account is deleted), but a trigger, `orders_guard`,
  now refuses any other change from a request without staff rights, even a forged statement:
  no status but placed → cancelled, no tracking, no totals, payment, number or dates.

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
# What a shopper's own update may change (the cancel, and orders.detach_orders).
SHOPPER_COLUMNS = ("status", "updated_at", "email", "idempotency_key", "user_id",
                   *(f"{kind}_{part}" for kind in ("ship", "bill")
                     for part in ("name", "line1", "line2", "city", "postal_code", "region",
                                  "phone")))


def upgrade():
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("tracking", sa.String(length=TRACKING_MAX_CHARS),
                                   nullable=True))
    op.create_index("ix_orders_status_placed_at", "orders", ["status", "placed_at"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"CREATE POLICY orders_staff_update ON orders FOR UPDATE TO {APP_ROLE} "
               f"USING ({IS_STAFF}) WITH CHECK ({IS_STAFF})")
    kept = " - ".join(f"'{column}'" for column in SHOPPER_COLUMNS)
    op.execute(f"""
        CREATE FUNCTION storefront_orders_guard() RETURNS trigger
        LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
        BEGIN
            IF current_user = '{APP_ROLE}' AND NOT {IS_STAFF}
               AND ((to_jsonb(NEW) - {kept}) IS DISTINCT FROM (to_jsonb(OLD) - {kept})
                    OR (NEW.status IS DISTINCT FROM OLD.status
                        AND NOT (OLD.status = 'placed' AND NEW.status = 'cancelled'))) THEN
                RAISE EXCEPTION 'only staff change an order''s status, tracking or totals'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NULL;
        END
        $$
    """)
    op.execute("CREATE TRIGGER orders_guard AFTER UPDATE ON orders "
               "FOR EACH ROW EXECUTE FUNCTION storefront_orders_guard()")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER orders_guard ON orders")
        op.execute("DROP FUNCTION storefront_orders_guard()")
        op.execute("DROP POLICY orders_staff_update ON orders")
    op.drop_index("ix_orders_status_placed_at", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("tracking")
