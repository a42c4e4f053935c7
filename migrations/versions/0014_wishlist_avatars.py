"""wishlist_items, wishlist_shares, users.avatar_key, and their row-level security

- wishlist_items: a shopper's wished products with the wished quantity (1..99), one row per
  product; the 100-item cap is the service's (checked under the user's row lock).
- wishlist_shares: the share link of a wishlist while it is on, as the SHA-256 of its key; a
  new key each time it is turned on, so old links die.
- users.avatar_key: the random name of the profile picture's WebP files.

PostgreSQL: both tables get FORCE ROW LEVEL SECURITY with the maintenance policy for the
connecting role and own-rows policies for `storefront_app`. The shared-wishlist page reads
through one narrow path: with `storefront.share_key_hash` set to the hash of the key in the
link, the app role may read that share row, its wishlist items and its owner's profile (the
page shows the first name only), and nothing else; no write goes through it. The app role
may read the current user's own events (the data export). Deleting an
account removes the mails queued for it: `storefront_forget_mail()`, a SECURITY DEFINER
function, deletes the outbox rows of `storefront.user_id` and nothing else (the app role
itself still may not read or delete outbox rows).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

APP_ROLE = "storefront_app"
CURRENT_USER_ID = "nullif(current_setting('storefront.user_id', true), '')::bigint"
CURRENT_SHARE_KEY_HASH = "nullif(current_setting('storefront.share_key_hash', true), '')"
SHARED_OWNER = f"(SELECT user_id FROM wishlist_shares WHERE key_hash = {CURRENT_SHARE_KEY_HASH})"
UTC_TIME = sa.DateTime(timezone=True)


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("avatar_key", sa.String(64), nullable=True))
    op.create_table(
        "wishlist_items",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("added_at", UTC_TIME, nullable=False),
        sa.CheckConstraint("quantity BETWEEN 1 AND 99",
                           name=op.f("ck_wishlist_items_quantity_in_range")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_wishlist_items_user_id_users")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name=op.f("fk_wishlist_items_product_id_products")),
        sa.PrimaryKeyConstraint("user_id", "product_id", name=op.f("pk_wishlist_items")),
    )
    op.create_index("ix_wishlist_items_user_id_added_at", "wishlist_items",
                    ["user_id", "added_at"])
    op.create_index(op.f("ix_wishlist_items_product_id"), "wishlist_items", ["product_id"])
    op.create_table(
        "wishlist_shares",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_wishlist_shares_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_wishlist_shares")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_wishlist_shares_key_hash")),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("wishlist_items", "wishlist_shares"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_maintenance ON {table} TO CURRENT_USER "
                   "USING (true) WITH CHECK (true)")
        op.execute(f"CREATE POLICY {table}_own_rows ON {table} TO {APP_ROLE} "
                   f"USING (user_id = {CURRENT_USER_ID}) WITH CHECK (user_id = {CURRENT_USER_ID})")
        op.execute(f"REVOKE TRUNCATE ON {table} FROM {APP_ROLE}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
    op.execute(f"CREATE POLICY wishlist_shares_by_key ON wishlist_shares FOR SELECT "
               f"TO {APP_ROLE} USING (key_hash = {CURRENT_SHARE_KEY_HASH})")
    op.execute(f"CREATE POLICY wishlist_items_shared ON wishlist_items FOR SELECT "
               f"TO {APP_ROLE} USING (user_id IN {SHARED_OWNER})")
    op.execute(f"CREATE POLICY profiles_shared_wishlist ON profiles FOR SELECT "
               f"TO {APP_ROLE} USING (user_id IN {SHARED_OWNER})")
    # The data export shows the account its own events (0007 let the app role only add them).
    op.execute(f"CREATE POLICY events_own_read ON events FOR SELECT TO {APP_ROLE} "
               f"USING (user_id = {CURRENT_USER_ID})")
    op.execute(f"GRANT SELECT ON events TO {APP_ROLE}")
    op.execute(f"""
        CREATE FUNCTION storefront_forget_mail() RETURNS integer
        LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            WITH gone AS (DELETE FROM outbox WHERE user_id = {CURRENT_USER_ID} RETURNING 1)
            SELECT count(*)::integer FROM gone
        $$
    """)
    op.execute("REVOKE ALL ON FUNCTION storefront_forget_mail() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION storefront_forget_mail() TO {APP_ROLE}")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION storefront_forget_mail()")
        op.execute("DROP POLICY profiles_shared_wishlist ON profiles")
        op.execute("DROP POLICY events_own_read ON events")
        op.execute(f"REVOKE SELECT ON events FROM {APP_ROLE}")
    op.drop_table("wishlist_items")  # first: its policy reads wishlist_shares
    op.drop_table("wishlist_shares")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("avatar_key")
