"""row-level security without gaps: users and events too, token policies read-only

Until now the app role could read every e-mail and password hash in `users`, update or delete
any user, and read every event; a session row found by its token hash could be rewritten
(its `user_id` changed) through that policy. Now, for the role `storefront_app`:
- users: its own row (storefront.user_id) for every verb; a row may also be read, never
  written, through the session token being looked up (storefront.token_hash) or the
  canonical e-mail being signed in with (storefront.email); a new row may be inserted only
  for the e-mail the request declared (registration);
- events: inserted for nobody or for the current user, never read;
- user_sessions: the by-token policy only reads (writes go through the own-rows policy,
  whose WITH CHECK keeps a row with its user);
- products: read only; alembic_version: nothing.
The connecting role keeps an all-rows policy for maintenance, as in 0004. SQLite: no-op.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

APP_ROLE = "storefront_app"
CURRENT_USER_ID = "nullif(current_setting('storefront.user_id', true), '')::bigint"
CURRENT_TOKEN_HASH = "nullif(current_setting('storefront.token_hash', true), '')"
CURRENT_EMAIL = "nullif(current_setting('storefront.email', true), '')"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("users", "events"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_maintenance ON {table} TO CURRENT_USER "
            "USING (true) WITH CHECK (true)"
        )
    op.execute(
        f"CREATE POLICY users_own_row ON users TO {APP_ROLE} "
        f"USING (id = {CURRENT_USER_ID}) WITH CHECK (id = {CURRENT_USER_ID})"
    )
    op.execute(
        f"CREATE POLICY users_by_token ON users FOR SELECT TO {APP_ROLE} USING (id IN "
        f"(SELECT user_id FROM user_sessions WHERE token_hash = {CURRENT_TOKEN_HASH}))"
    )
    op.execute(
        f"CREATE POLICY users_by_email ON users FOR SELECT TO {APP_ROLE} "
        f"USING (email_canonical = {CURRENT_EMAIL})"
    )
    op.execute(
        f"CREATE POLICY users_sign_up ON users FOR INSERT TO {APP_ROLE} "
        f"WITH CHECK (email_canonical = {CURRENT_EMAIL})"
    )
    op.execute(
        f"CREATE POLICY events_write ON events FOR INSERT TO {APP_ROLE} "
        f"WITH CHECK (user_id IS NULL OR user_id = {CURRENT_USER_ID})"
    )
    op.execute("DROP POLICY user_sessions_by_token ON user_sessions")
    op.execute(
        f"CREATE POLICY user_sessions_by_token ON user_sessions FOR SELECT TO {APP_ROLE} "
        f"USING (token_hash = {CURRENT_TOKEN_HASH})"
    )
    op.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON products FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON alembic_version FROM {APP_ROLE}")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"GRANT SELECT ON alembic_version TO {APP_ROLE}")
    op.execute(f"GRANT INSERT, UPDATE, DELETE ON products TO {APP_ROLE}")
    op.execute("DROP POLICY user_sessions_by_token ON user_sessions")
    op.execute(
        f"CREATE POLICY user_sessions_by_token ON user_sessions TO {APP_ROLE} "
        f"USING (token_hash = {CURRENT_TOKEN_HASH})"
    )
    for policy in ("users_own_row", "users_by_token", "users_by_email", "users_sign_up"):
        op.execute(f"DROP POLICY {policy} ON users")
    op.execute("DROP POLICY events_write ON events")
    for table in ("users", "events"):
        op.execute(f"DROP POLICY {table}_maintenance ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
