"""a full-text index of product names and skus: search costs the same at any catalog size

PostgreSQL: `products.search_vector`, a tsvector the database keeps itself (a generated
column: name and sku, punctuation turned into spaces so `SKU-00012` gives `sku` and `00012`),
under a GIN index; searches ask for word prefixes (`cof:*`). SQLite: an FTS5 table over the
same columns, kept in step with `products` by triggers. Neither is mapped by the ORM
(migrations/env.py leaves them out of `flask db check`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = {
    "products_search_insert": """
        CREATE TRIGGER products_search_insert AFTER INSERT ON products BEGIN
            INSERT INTO products_search (rowid, name, sku) VALUES (new.id, new.name, new.sku);
        END""",
    "products_search_delete": """
        CREATE TRIGGER products_search_delete AFTER DELETE ON products BEGIN
            INSERT INTO products_search (products_search, rowid, name, sku)
            VALUES ('delete', old.id, old.name, old.sku);
        END""",
    "products_search_update": """
        CREATE TRIGGER products_search_update AFTER UPDATE OF name, sku ON products BEGIN
            INSERT INTO products_search (products_search, rowid, name, sku)
            VALUES ('delete', old.id, old.name, old.sku);
            INSERT INTO products_search (rowid, name, sku) VALUES (new.id, new.name, new.sku);
        END""",
}


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE products ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
            "(to_tsvector('simple', regexp_replace(name || ' ' || sku, "
            "'[[:punct:][:space:]]+', ' ', 'g'))) STORED"
        )
        op.execute("CREATE INDEX ix_products_search_vector ON products USING gin (search_vector)")
        return
    # Diacritics are kept, as PostgreSQL keeps them: `cafe` does not find `Café` on either.
    op.execute(
        "CREATE VIRTUAL TABLE products_search USING fts5(name, sku, content='products', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 0')"
    )
    for trigger in SQLITE_TRIGGERS.values():
        op.execute(trigger)
    op.execute("INSERT INTO products_search (products_search) VALUES ('rebuild')")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_products_search_vector")
        op.execute("ALTER TABLE products DROP COLUMN search_vector")
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.execute("DROP TABLE products_search")
