"""Row-level security on PostgreSQL: every transaction a request opens runs as the role
`storefront_app`, with the signed-in user's id (and the session token's hash, to find that
user) set for that transaction only. Policies from migration 0004 then show and change only
that user's rows: a second wall behind the services' own `WHERE user_id = ...`.

Outside requests (the `flask` maintenance commands, migrations) nothing is switched: they run
as the connecting role, which keeps an all-rows policy. On SQLite all of this is a no-op.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_sqlalchemy.session import Session
from sqlalchemy import event, text

from storefront.database import db

APP_ROLE = "storefront_app"
SCOPED = "rls_scoped"
USER_ID = "rls_user_id"
TOKEN_HASH = "rls_token_hash"  # noqa: S105 - a key of session.info, not a secret
_SET_SCOPE = text(
    "SELECT set_config('role', :role, true), set_config('storefront.user_id', :user_id, true), "
    "set_config('storefront.token_hash', :token_hash, true)"
)


def _apply(connection: Any, info: dict) -> None:
    connection.execute(_SET_SCOPE, {
        "role": APP_ROLE,
        "user_id": str(info.get(USER_ID) or ""),
        "token_hash": info.get(TOKEN_HASH) or "",
    })


@event.listens_for(Session, "after_begin")
def _scope_transaction(session: Session, _transaction: Any, connection: Any) -> None:
    if session.info.get(SCOPED) and connection.dialect.name == "postgresql":
        _apply(connection, session.info)


def act_as(user_id: int | None, token_hash: str | None = None) -> None:
    """Scope this request's transactions to a user (or, before the user is known, to the
    session row a token hash names); applies at once to a transaction already open."""
    session = db.session()
    session.info[USER_ID], session.info[TOKEN_HASH] = user_id, token_hash
    if session.info.get(SCOPED) and session.in_transaction():
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            _apply(connection, session.info)


def register(app: Flask) -> None:
    @app.before_request
    def scope_request_transactions() -> None:
        db.session().info[SCOPED] = True
