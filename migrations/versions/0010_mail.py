"""mail: users.email_verified_at, email_tokens, outbox, and their row-level security

`outbox` holds every mail from the transaction of the action it reports until a worker
(`flask mail deliver`, the connecting role) sends it; `email_tokens` the SHA-256 of each
single-use link's token. For the role `storefront_app`:
- email_tokens: its own user's rows; a row may also be read, never written, through the hash
  of the token being looked up (`storefront.email_token_hash`), before the user is known;
  no INSERT or DELETE (the worker mints tokens; deletion comes by cascade);
- outbox: INSERT only, for nobody, for the current user, or for the account the request's
  canonical e-mail names (a password reset); never read, changed or deleted;
- users: a row may also be read through the e-mail token being looked up.
The connecting role keeps an all-rows policy for maintenance, as in 0004 and 0007.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

APP_ROLE = "storefront_app"
CURRENT_USER_ID = "nullif(current_setting('storefront.user_id', true), '')::bigint"
CURRENT_EMAIL = "nullif(current_setting('storefront.email', true), '')"
CURRENT_EMAIL_TOKEN_HASH = "nullif(current_setting('storefront.email_token_hash', true), '')"
UTC_TIME = sa.DateTime(timezone=True)


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_verified_at", UTC_TIME, nullable=True))
    op.create_table(
        "email_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("new_email", sa.String(254), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.Column("used_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_email_tokens_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_email_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_email_tokens_token_hash"),
    )
    op.create_index("ix_email_tokens_user_id_purpose", "email_tokens", ["user_id", "purpose"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("token_purpose", sa.String(20), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UTC_TIME, nullable=False),
        sa.Column("sent_at", UTC_TIME, nullable=True),
        sa.Column("failed_at", UTC_TIME, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL",
                                name="fk_outbox_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_due", "outbox", ["next_attempt_at", "id"])
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"])
    op.create_index("ix_outbox_user_id", "outbox", ["user_id"])
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("email_tokens", "outbox"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_maintenance ON {table} TO CURRENT_USER "
            "USING (true) WITH CHECK (true)"
        )
    op.execute(
        f"CREATE POLICY email_tokens_own_rows ON email_tokens TO {APP_ROLE} "
        f"USING (user_id = {CURRENT_USER_ID}) WITH CHECK (user_id = {CURRENT_USER_ID})"
    )
    op.execute(
        f"CREATE POLICY email_tokens_by_hash ON email_tokens FOR SELECT TO {APP_ROLE} "
        f"USING (token_hash = {CURRENT_EMAIL_TOKEN_HASH})"
    )
    op.execute(f"REVOKE INSERT, DELETE, TRUNCATE ON email_tokens FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT, UPDATE ON email_tokens TO {APP_ROLE}")
    op.execute(
        f"CREATE POLICY outbox_write ON outbox FOR INSERT TO {APP_ROLE} WITH CHECK ("
        f"user_id IS NULL OR user_id = {CURRENT_USER_ID} OR user_id IN "
        f"(SELECT id FROM users WHERE email_canonical = {CURRENT_EMAIL}))"
    )
    op.execute(f"REVOKE SELECT, UPDATE, DELETE, TRUNCATE ON outbox FROM {APP_ROLE}")
    op.execute(f"GRANT INSERT ON outbox TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON SEQUENCE outbox_id_seq TO {APP_ROLE}")
    op.execute(
        f"CREATE POLICY users_by_email_token ON users FOR SELECT TO {APP_ROLE} USING (id IN "
        f"(SELECT user_id FROM email_tokens WHERE token_hash = {CURRENT_EMAIL_TOKEN_HASH}))"
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS users_by_email_token ON users")
    op.drop_table("outbox")
    op.drop_table("email_tokens")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_verified_at")
