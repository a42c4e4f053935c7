"""browsing: categories, product-category links, sort indexes, description in the search index

- categories: name, slug, an optional parent (at most two levels: the service refuses a
  parent that has a parent), a position for the menus;
- product_categories: a product in one or more categories (both sides cascade);
- ix_products_price_id, ix_products_name: the catalog's price and name sorts walk an index;
- the full-text index now covers the description too (PostgreSQL: the generated tsvector,
  weighted name/sku A, description C; SQLite: the FTS5 table gets a description column).

Row-level security (PostgreSQL; SQLite: no-op). Categories are shop data, not an account's:
everyone reads them; the app role writes them only in a staff scope (storefront_is_staff(),
migration 0012), as it writes products. CLI commands (catalog import, demo) run as the
connecting role through the maintenance policy.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

APP_ROLE = "storefront_app"
IS_STAFF = "storefront_is_staff()"
TABLES = ("categories", "product_categories")

OLD_VECTOR = ("to_tsvector('simple', regexp_replace(name || ' ' || sku, "
              "'[[:punct:][:space:]]+', ' ', 'g'))")
NEW_VECTOR = (
    "setweight(to_tsvector('simple', regexp_replace(name || ' ' || sku, "
    "'[[:punct:][:space:]]+', ' ', 'g')), 'A') || "
    "setweight(to_tsvector('simple', regexp_replace(coalesce(description, ''), "
    "'[[:punct:][:space:]]+', ' ', 'g')), 'C')"
)


def _sqlite_triggers(columns: tuple[str, ...]) -> dict[str, str]:
    """0009's triggers over `columns` (fixed names from this file, never input)."""
    names = ", ".join(columns)
    new = ", ".join(f"new.{column}" for column in columns)
    old = ", ".join(f"old.{column}" for column in columns)
    insert_new = "INSERT INTO products_search (rowid, %s) VALUES (new.id, %s);" % (names, new)
    delete_old = ("INSERT INTO products_search (products_search, rowid, %s) "
                  "VALUES ('delete', old.id, %s);" % (names, old))
    return {
        "products_search_insert":
            f"CREATE TRIGGER products_search_insert AFTER INSERT ON products BEGIN "
            f"{insert_new} END",
        "products_search_delete":
            f"CREATE TRIGGER products_search_delete AFTER DELETE ON products BEGIN "
            f"{delete_old} END",
        "products_search_update":
            f"CREATE TRIGGER products_search_update AFTER UPDATE OF {names} ON products "
            f"BEGIN {delete_old} {insert_new} END",
    }


def _rebuild_search(columns: tuple[str, ...], vector: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_products_search_vector")
        op.execute("ALTER TABLE products DROP COLUMN search_vector")
        op.execute(f"ALTER TABLE products ADD COLUMN search_vector tsvector "
                   f"GENERATED ALWAYS AS ({vector}) STORED")
        op.execute("CREATE INDEX ix_products_search_vector ON products USING gin (search_vector)")
        return
    for name in _sqlite_triggers(columns):
        op.execute(f"DROP TRIGGER {name}")
    op.execute("DROP TABLE products_search")
    op.execute(
        f"CREATE VIRTUAL TABLE products_search USING fts5({', '.join(columns)}, "
        "content='products', content_rowid='id', tokenize='unicode61 remove_diacritics 0')"
    )
    for trigger in _sqlite_triggers(columns).values():
        op.execute(trigger)
    op.execute("INSERT INTO products_search (products_search) VALUES ('rebuild')")


def upgrade():
    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["categories.id"], ondelete="CASCADE",
                                name=op.f("fk_categories_parent_id_categories")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("slug", name=op.f("uq_categories_slug")),
    )
    op.create_index(op.f("ix_categories_parent_id"), "categories", ["parent_id"])
    op.create_table(
        "product_categories",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE",
                                name=op.f("fk_product_categories_product_id_products")),
        sa.ForeignKeyConstraint(["category_id"], ["categories.id"], ondelete="CASCADE",
                                name=op.f("fk_product_categories_category_id_categories")),
        sa.PrimaryKeyConstraint("product_id", "category_id", name=op.f("pk_product_categories")),
    )
    op.create_index(op.f("ix_product_categories_category_id"), "product_categories",
                    ["category_id"])
    op.create_index("ix_products_price_id", "products", ["price", "id"])
    op.create_index("ix_products_name", "products", ["name"])
    _rebuild_search(("name", "sku", "description"), NEW_VECTOR)

    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"REVOKE ALL ON {table} FROM {APP_ROLE}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_maintenance ON {table} TO CURRENT_USER "
                   "USING (true) WITH CHECK (true)")
        op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT TO {APP_ROLE} "
                   "USING (true)")
    op.execute(f"GRANT SELECT ON categories TO {APP_ROLE}")
    # Staff link products to categories from the product form: insert and delete links only.
    op.execute(f"GRANT SELECT, INSERT, DELETE ON product_categories TO {APP_ROLE}")
    op.execute(f"CREATE POLICY product_categories_staff_insert ON product_categories "
               f"FOR INSERT TO {APP_ROLE} WITH CHECK ({IS_STAFF})")
    op.execute(f"CREATE POLICY product_categories_staff_delete ON product_categories "
               f"FOR DELETE TO {APP_ROLE} USING ({IS_STAFF})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY product_categories_staff_insert ON product_categories")
        op.execute("DROP POLICY product_categories_staff_delete ON product_categories")
        for table in TABLES:
            op.execute(f"DROP POLICY {table}_read ON {table}")
            op.execute(f"DROP POLICY {table}_maintenance ON {table}")
    _rebuild_search(("name", "sku"), OLD_VECTOR)
    op.drop_index("ix_products_name", table_name="products")
    op.drop_index("ix_products_price_id", table_name="products")
    op.drop_table("product_categories")
    op.drop_table("categories")
