"""row-level security on PostgreSQL: the second wall behind the app's own scoping

Each request's transactions run as the role `storefront_app` with the signed-in user's id in
`storefront.user_id` (storefront/rls.py); policies let that role see and change only that
user's rows of profiles, user_carts, user_sessions and cart_merges. A session row can also be
read by the SHA-256 of its token (`storefront.token_hash`), which is how a request finds its
user. The connecting role (migrations, `flask` maintenance commands) keeps an all-rows policy,
as FORCE ROW LEVEL SECURITY binds the table owner too. Superusers bypass RLS: the app's
switch to `storefront_app` is what makes the wall hold whatever role connects.

SQLite has no row-level security: there this migration does nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APP_ROLE = "storefront_app"
OWNED_TABLES = ("profiles", "user_carts", "user_sessions", "cart_merges")
CURRENT_USER_ID = "nullif(current_setting('storefront.user_id', true), '')::bigint"
CURRENT_TOKEN_HASH = "nullif(current_setting('storefront.token_hash', true), '')"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    # Roles are cluster-wide: create it once, whichever database migrates first. A connecting
    # role without CREATEROLE needs it made and granted beforehand (docs/deploy.md).
    op.execute(f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN;
            END IF;
            IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
                GRANT {APP_ROLE} TO CURRENT_USER;
            END IF;
        END
        $$
    """)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}"
    )
    for table in OWNED_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_own_rows ON {table} TO {APP_ROLE} "
            f"USING (user_id = {CURRENT_USER_ID}) WITH CHECK (user_id = {CURRENT_USER_ID})"
        )
        op.execute(
            f"CREATE POLICY {table}_maintenance ON {table} TO CURRENT_USER "
            "USING (true) WITH CHECK (true)"
        )
    # Before the user is known, a request may read (and touch) the one session its token names.
    op.execute(
        f"CREATE POLICY user_sessions_by_token ON user_sessions TO {APP_ROLE} "
        f"USING (token_hash = {CURRENT_TOKEN_HASH})"
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP POLICY IF EXISTS user_sessions_by_token ON user_sessions")
    for table in OWNED_TABLES:
        op.execute(f"DROP POLICY IF EXISTS {table}_own_rows ON {table}")
        op.execute(f"DROP POLICY IF EXISTS {table}_maintenance ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
