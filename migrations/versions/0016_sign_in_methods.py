"""oauth_identities, passkeys, users.password_hash nullable, and their row-level security

- oauth_identities: an account's identity at an OpenID Connect provider, found by
  (provider, subject) only, never by e-mail; unique on the pair.
- passkeys: an account's WebAuthn credentials (credential id as base64url text, unique),
  their public key, sign count, name and transports.
- users.password_hash may be NULL: an account created through a provider has no password
  until the shopper sets one through the reset flow.

PostgreSQL: both tables get FORCE ROW LEVEL SECURITY with the maintenance policy for the
connecting role and own-rows policies for `storefront_app`. A sign-in looks its row up
before the user is known through one narrow, read-only path each: with
`storefront.identity_key` set to "<provider> <subject>", that one identity row may be read;
with `storefront.credential_id` set to a credential id, that one passkey row may be read.
Nothing is written through either.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

APP_ROLE = "storefront_app"
CURRENT_USER_ID = "nullif(current_setting('storefront.user_id', true), '')::bigint"
CURRENT_IDENTITY_KEY = "nullif(current_setting('storefront.identity_key', true), '')"
CURRENT_CREDENTIAL_ID = "nullif(current_setting('storefront.credential_id', true), '')"
UTC_TIME = sa.DateTime(timezone=True)


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.alter_column("password_hash", existing_type=sa.String(255), nullable=True)
    op.create_table(
        "oauth_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("last_used_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_oauth_identities_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_identities")),
        sa.UniqueConstraint("provider", "subject",
                            name=op.f("uq_oauth_identities_provider")),
    )
    op.create_index(op.f("ix_oauth_identities_user_id"), "oauth_identities", ["user_id"])
    op.create_table(
        "passkeys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("transports", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("last_used_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_passkeys_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_passkeys_credential_id")),
    )
    op.create_index(op.f("ix_passkeys_user_id"), "passkeys", ["user_id"])
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("oauth_identities", "passkeys"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_maintenance ON {table} TO CURRENT_USER "
                   "USING (true) WITH CHECK (true)")
        op.execute(f"CREATE POLICY {table}_own_rows ON {table} TO {APP_ROLE} "
                   f"USING (user_id = {CURRENT_USER_ID}) WITH CHECK (user_id = {CURRENT_USER_ID})")
        op.execute(f"REVOKE TRUNCATE ON {table} FROM {APP_ROLE}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
        op.execute(f"GRANT USAGE ON SEQUENCE {table}_id_seq TO {APP_ROLE}")
    op.execute(f"CREATE POLICY oauth_identities_by_key ON oauth_identities FOR SELECT "
               f"TO {APP_ROLE} USING (provider || ' ' || subject = {CURRENT_IDENTITY_KEY})")
    op.execute(f"CREATE POLICY passkeys_by_credential ON passkeys FOR SELECT "
               f"TO {APP_ROLE} USING (credential_id = {CURRENT_CREDENTIAL_ID})")


def downgrade():
    op.drop_table("passkeys")
    op.drop_table("oauth_identities")
    # Accounts without a password get an unusable hash (no password matches it): they keep
    # their provider-free way back through the reset flow.
    op.execute("UPDATE users SET password_hash = '!' WHERE password_hash IS NULL")
    with op.batch_alter_table("users") as batch:
        batch.alter_column("password_hash", existing_type=sa.String(255), nullable=False)
