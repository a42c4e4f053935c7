"""a saved cart's lines readable through the session token, for the header's count

The session look-up reads the saved cart's count in the same statement as the user
(accounts.load_session), before the request knows the user: like `users_by_token` (0007),
the app role may READ the cart lines of the account whose session token the request holds;
writing them still needs the user's own scope. SQLite: no-op.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

APP_ROLE = "storefront_app"
CURRENT_TOKEN_HASH = "nullif(current_setting('storefront.token_hash', true), '')"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"CREATE POLICY user_carts_by_token ON user_carts FOR SELECT TO {APP_ROLE} USING "
        f"(user_id IN (SELECT user_id FROM user_sessions WHERE token_hash = {CURRENT_TOKEN_HASH}))"
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP POLICY user_carts_by_token ON user_carts")
