"""Row-level security on PostgreSQL: every statement a request sends runs as the role
`storefront_app`, with the signed-in user's id (and, before the user is known, the session
token's hash or the e-mail being signed in with) set for its transaction only. The policies
(migrations 0004 and 0007) then show and change only that user's rows: a second wall behind
the services' own `WHERE user_id = ...`.

The scope is the request's: `act_as` keeps it in `flask.g`, and `scope_prefix()` hands it to
the engine (database.configure_postgresql), which sends it in the same round trip as each
statement that needs it. So no statement of a request escapes it: not the CSRF check's, not
a 413's, not an error page's. Outside requests (the `flask` maintenance commands,
migrations) there is no scope: they run as the connecting role, which keeps an all-rows
policy. On SQLite all of this is a no-op.
"""

from __future__ import annotations

from flask import g, has_request_context

from storefront.database import Prefix

APP_ROLE = "storefront_app"
SCOPE_KEY = "rls_scope"
# set_config(..., true) lasts until the end of the transaction: one statement's, outside a
# write transaction. Setting `role` is SET LOCAL ROLE.
SET_SCOPE = (
    f"SELECT set_config('role', '{APP_ROLE}', true), "
    "set_config('storefront.user_id', %s, true), "
    "set_config('storefront.token_hash', %s, true), "
    "set_config('storefront.email', %s, true), "
    "set_config('storefront.staff', %s, true)"
)
NOBODY: tuple[str, str, str, str] = ("", "", "", "")


def scope_prefix() -> Prefix | None:
    """What runs before each of this request's statements; None outside a request."""
    if not has_request_context():
        return None
    return SET_SCOPE, g.get(SCOPE_KEY, NOBODY)


def act_as(user_id: int | None, token_hash: str | None = None, email: str | None = None) -> None:
    """Scope this request's statements to a user; before the user is known, to the session
    row a token hash names or the account an e-mail (canonical form) names."""
    setattr(g, SCOPE_KEY, (str(user_id or ""), token_hash or "", email or "", ""))


def act_as_staff() -> None:
    """Let this request use staff rights (the admin blueprint's gate, after checking
    `current_user.is_staff`). The policies (migration 0012) check `users.is_staff` of
    storefront.user_id again, so the setting alone grants nothing."""
    user_id, token_hash, email, _staff = g.get(SCOPE_KEY, NOBODY)
    setattr(g, SCOPE_KEY, (user_id, token_hash, email, "1"))


def find_by_email(canonical: str) -> None:
    """Let this request also read the account with this canonical e-mail (signing in),
    keeping the rest of its scope."""
    user_id, token_hash, _email, staff = g.get(SCOPE_KEY, NOBODY)
    setattr(g, SCOPE_KEY, (user_id, token_hash, canonical, staff))
