"""carts: user_carts (the saved cart) and cart_merges (one merge per guest cart)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "user_carts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("added_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.CheckConstraint(
            "quantity BETWEEN 1 AND 99", name=op.f("ck_user_carts_quantity_in_range")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_carts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_user_carts_product_id_products")
        ),
        sa.PrimaryKeyConstraint("user_id", "product_id", name=op.f("pk_user_carts")),
    )
    op.create_index("ix_user_carts_product_id", "user_carts", ["product_id"])
    op.create_index("ix_user_carts_updated_at", "user_carts", ["updated_at"])

    op.create_table(
        "cart_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guest_token", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("merged_at", UTC_TIME, nullable=False),
        sa.Column("lines_in", sa.Integer(), nullable=False),
        sa.Column("lines_kept", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_cart_merges_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cart_merges")),
        sa.UniqueConstraint("guest_token", name=op.f("uq_cart_merges_guest_token")),
    )
    op.create_index("ix_cart_merges_user_id", "cart_merges", ["user_id"])
    op.create_index("ix_cart_merges_merged_at", "cart_merges", ["merged_at"])


def downgrade():
    op.drop_table("cart_merges")
    op.drop_table("user_carts")
