"""Row-level security on PostgreSQL: every transaction opened while a request is being served
runs as the role `storefront_app`, with the signed-in user's id (and, before the user is known,
the session token's hash or the e-mail being signed in with) set for that transaction only.
The policies (migrations 0004 and 0005) then show and change only that user's rows: a second
wall behind the services' own `WHERE user_id = ...`.

The scope follows the request context itself, not a hook, so no transaction of a request
escapes it: not the CSRF check's, not a 413's, not an error page's. Outside requests (the
`flask` maintenance commands, migrations) nothing is switched: they run as the connecting
role, which keeps an all-rows policy. On SQLite all of this is a no-op.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context
from flask_sqlalchemy.session import Session
from sqlalchemy import event, text

from storefront.database import db

APP_ROLE = "storefront_app"
USER_ID = "rls_user_id"
TOKEN_HASH = "rls_token_hash"  # noqa: S105 - a key of session.info, not a secret
EMAIL = "rls_email"
_SET_SCOPE = text(
    "SELECT set_config('role', :role, true), set_config('storefront.user_id', :user_id, true), "
    "set_config('storefront.token_hash', :token_hash, true), "
    "set_config('storefront.email', :email, true)"
)


def _apply(connection: Any, info: dict) -> None:
    connection.execute(_SET_SCOPE, {
        "role": APP_ROLE,
        "user_id": str(info.get(USER_ID) or ""),
        "token_hash": info.get(TOKEN_HASH) or "",
        "email": info.get(EMAIL) or "",
    })


@event.listens_for(Session, "after_begin")
def _scope_transaction(session: Session, _transaction: Any, connection: Any) -> None:
    if connection.dialect.name == "postgresql" and has_request_context():
        _apply(connection, session.info)


def _reapply() -> None:
    session = db.session()
    if has_request_context() and session.in_transaction():
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            _apply(connection, session.info)


def act_as(user_id: int | None, token_hash: str | None = None, email: str | None = None) -> None:
    """Scope this request's transactions to a user; before the user is known, to the session
    row a token hash names or the account an e-mail (canonical form) names. Applies at once
    to a transaction already open."""
    info = db.session().info
    info[USER_ID], info[TOKEN_HASH], info[EMAIL] = user_id, token_hash, email
    _reapply()


def find_by_email(canonical: str) -> None:
    """Let this request also read the account with this canonical e-mail (signing in),
    keeping the rest of its scope."""
    db.session().info[EMAIL] = canonical
    _reapply()
