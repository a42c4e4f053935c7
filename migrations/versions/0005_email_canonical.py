"""users.email_canonical: one canonical form of each address, unique

Replaces the unique index on lower(email): SQL's lower() differs between SQLite and
PostgreSQL and knows nothing of NFC/NFD, full-width letters or IDNA domains. The column is
filled here from storefront.emails.canonical_email, the one function every look-up uses.
Accounts whose canonical forms collide are kept: the oldest gets the form, the others keep
NULL and `flask accounts check` reports them (exit 1), rather than this migration failing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from storefront.emails import canonical_email

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

EMAIL_MAX_CHARS = 254
users = sa.table(
    "users", sa.column("id", sa.Integer), sa.column("email", sa.String),
    sa.column("email_canonical", sa.String),
)


def upgrade():
    op.add_column("users", sa.Column("email_canonical", sa.String(length=EMAIL_MAX_CHARS),
                                     nullable=True))
    bind = op.get_bind()
    owner_of: dict[str, int] = {}
    for user_id, email in bind.execute(sa.select(users.c.id, users.c.email).order_by(users.c.id)):
        canonical = canonical_email(email)
        if canonical not in owner_of and len(canonical) <= EMAIL_MAX_CHARS:
            owner_of[canonical] = user_id
    if owner_of:
        bind.execute(
            users.update().where(users.c.id == sa.bindparam("user_id"))
            .values(email_canonical=sa.bindparam("canonical")),
            [{"user_id": user_id, "canonical": canonical}
             for canonical, user_id in owner_of.items()],
        )
    op.drop_index("uq_users_email_lower", table_name="users")
    op.create_index("uq_users_email_canonical", "users", ["email_canonical"], unique=True)


def downgrade():
    op.drop_index("uq_users_email_canonical", table_name="users")
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_canonical")
