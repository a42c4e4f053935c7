"""staff area: staff rights, the audit trail, stock adjustments, product images

- users.is_staff (false by default); a disabled account is the existing `users.is_active`
  set to false (sign-in and the session look-up already refuse it);
- audit_events: who (id and e-mail copied), what, which object, before and after (JSON);
- stock_adjustments: each `+12 received` / `-1 damaged` with who and why;
- products.image_key: the random base name of the product's WebP images (storefront/media.py).

Row-level security (PostgreSQL; SQLite: no-op). Staff pages run as the app role like every
request, with one more setting in their scope, `storefront.staff = '1'` (rls.act_as_staff,
set only by the admin blueprint's gate). The policies below never trust that setting alone:
`storefront_is_staff()` also checks that `users.is_staff` holds for `storefront.user_id`
right now (a SECURITY DEFINER function, as a policy on `users` cannot read `users` itself
without recursing). So a shopper's request can never read other accounts or change a
product's details (only its stock, through orders: a trigger, products_guard, refuses any
other column), even with a forged statement, and a revoked staff member's open session loses the rights at
once. Staff may read accounts, profiles, saved carts, sessions and events; update users
(disable, enable) and sessions (revoke); insert and update products; insert and read
audit_events and stock_adjustments (never update or delete them: the trail is append-only).
Everyone may still read products.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

APP_ROLE = "storefront_app"
CURRENT_USER_ID = "nullif(current_setting('storefront.user_id', true), '')::bigint"
IS_STAFF = "storefront_is_staff()"
APPEND_ONLY = ("audit_events", "stock_adjustments")
# (table, command) pairs staff may run on tables that already have row-level security.
STAFF_POLICIES = (
    ("users", "SELECT"), ("users", "UPDATE"),
    ("profiles", "SELECT"), ("user_carts", "SELECT"),
    ("user_sessions", "SELECT"), ("user_sessions", "UPDATE"),
    ("events", "SELECT"),
    # The dashboard's figures (flask report's): the outbox's counts, the orders.
    ("outbox", "SELECT"), ("orders", "SELECT"), ("order_lines", "SELECT"),
)


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("is_staff", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("image_key", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_email", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_audit_events_actor_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_created_at", "audit_events", ["created_at"])
    op.create_index("ix_audit_events_object", "audit_events", ["object_type", "object_id"])
    op.create_index(op.f("ix_audit_events_actor_id"), "audit_events", ["actor_id"])
    op.create_table(
        "stock_adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("stock_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name=op.f("fk_stock_adjustments_product_id_products")),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_stock_adjustments_actor_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_adjustments")),
    )
    op.create_index(op.f("ix_stock_adjustments_product_id"), "stock_adjustments",
                    ["product_id"])
    op.create_index(op.f("ix_stock_adjustments_actor_id"), "stock_adjustments", ["actor_id"])

    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE FUNCTION storefront_is_staff() RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT coalesce(current_setting('storefront.staff', true), '') = '1'
               AND EXISTS (SELECT 1 FROM users
                           WHERE id = {CURRENT_USER_ID} AND is_staff AND is_active)
        $$
    """)
    op.execute("REVOKE ALL ON FUNCTION storefront_is_staff() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION storefront_is_staff() TO {APP_ROLE}")
    for table, command in STAFF_POLICIES:
        using = "" if command == "INSERT" else f"USING ({IS_STAFF})"
        check = f"WITH CHECK ({IS_STAFF})" if command in ("INSERT", "UPDATE") else ""
        op.execute(f"CREATE POLICY {table}_staff_{command.lower()} ON {table} FOR {command} "
                   f"TO {APP_ROLE} {using} {check}")

    for table in ("products", *APPEND_ONLY):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_maintenance ON {table} TO CURRENT_USER "
                   "USING (true) WITH CHECK (true)")
    op.execute(f"CREATE POLICY products_read ON products FOR SELECT TO {APP_ROLE} USING (true)")
    op.execute(f"CREATE POLICY products_staff_insert ON products FOR INSERT TO {APP_ROLE} "
               f"WITH CHECK ({IS_STAFF})")
    op.execute(f"CREATE POLICY products_staff_update ON products FOR UPDATE TO {APP_ROLE} "
               f"USING ({IS_STAFF}) WITH CHECK ({IS_STAFF})")
    op.execute(f"GRANT INSERT, UPDATE ON products TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON outbox TO {APP_ROLE}")  # rows for staff only (policy above)
    # Shoppers take and return stock when they place and cancel orders (migration 0011 gave
    # them UPDATE on that column alone). The grant above covers every column for staff, so a
    # trigger keeps a shopper's update to `stock`, never below 0.
    op.execute(f"CREATE POLICY products_stock ON products FOR UPDATE TO {APP_ROLE} "
               "USING (true) WITH CHECK (stock >= 0)")
    op.execute(f"""
        CREATE FUNCTION storefront_products_guard() RETURNS trigger
        LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
        BEGIN
            IF current_user = '{APP_ROLE}' AND NOT {IS_STAFF}
               AND (to_jsonb(NEW) - 'stock') IS DISTINCT FROM (to_jsonb(OLD) - 'stock') THEN
                RAISE EXCEPTION 'only staff change a product''s details'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NULL;
        END
        $$
    """)
    # AFTER: a BEFORE trigger sees the generated search_vector not yet computed.
    op.execute("CREATE TRIGGER products_guard AFTER UPDATE ON products "
               "FOR EACH ROW EXECUTE FUNCTION storefront_products_guard()")
    for table in APPEND_ONLY:
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {APP_ROLE}")
        op.execute(f"GRANT SELECT, INSERT ON {table} TO {APP_ROLE}")
        op.execute(f"CREATE POLICY {table}_staff_select ON {table} FOR SELECT TO {APP_ROLE} "
                   f"USING ({IS_STAFF})")
        op.execute(f"CREATE POLICY {table}_staff_insert ON {table} FOR INSERT TO {APP_ROLE} "
                   f"WITH CHECK ({IS_STAFF} AND actor_id = {CURRENT_USER_ID})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP POLICY {table}_staff_select ON {table}")
            op.execute(f"DROP POLICY {table}_staff_insert ON {table}")
        op.execute("DROP TRIGGER products_guard ON products")
        op.execute("DROP FUNCTION storefront_products_guard()")
        op.execute(f"REVOKE INSERT, UPDATE ON products FROM {APP_ROLE}")
        op.execute(f"REVOKE SELECT ON outbox FROM {APP_ROLE}")
        op.execute(f"GRANT UPDATE (stock) ON products TO {APP_ROLE}")  # 0011's, revoked above
        for policy in ("products_read", "products_staff_insert", "products_staff_update",
                       "products_stock", "products_maintenance"):
            op.execute(f"DROP POLICY {policy} ON products")
        op.execute("ALTER TABLE products NO FORCE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE products DISABLE ROW LEVEL SECURITY")
        for table, command in STAFF_POLICIES:
            op.execute(f"DROP POLICY {table}_staff_{command.lower()} ON {table}")
        op.execute("DROP FUNCTION storefront_is_staff()")
    op.drop_table("stock_adjustments")
    op.drop_table("audit_events")
    with op.batch_alter_table("products") as batch:
        batch.drop_column("image_key")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("is_staff")
