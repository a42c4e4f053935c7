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
    "set_config('storefront.email_token_hash', %s, true), "
    "set_config('storefront.staff', %s, true), "
    "set_config('storefront.share_key_hash', %s, true), "
    "set_config('storefront.identity_key', %s, true), "
    "set_config('storefront.credential_id', %s, true)"
)
# (user_id, session token hash, canonical e-mail, e-mail token hash, staff "1" or "",
# shared-wishlist key hash, OpenID Connect identity key, passkey credential id)
Scope = tuple[str, str, str, str, str, str, str, str]
PARTS = ("user_id", "token_hash", "email", "email_token_hash", "staff", "share_key_hash",
         "identity_key", "credential_id")
NOBODY: Scope = ("", "", "", "", "", "", "", "")


def scope_prefix() -> Prefix | None:
    """What runs before each of this request's statements; None outside a request."""
    if not has_request_context():
        return None
    return SET_SCOPE, g.get(SCOPE_KEY, NOBODY)


def current_scope() -> Scope:
    """This request's scope, to restore after a step that acts for another account."""
    return g.get(SCOPE_KEY, NOBODY)


def restore(scope: Scope) -> None:
    setattr(g, SCOPE_KEY, scope)


def _replace(**parts: str) -> None:
    values = dict(zip(PARTS, current_scope(), strict=True)) | parts
    restore(tuple(values[name] for name in PARTS))  # type: ignore[arg-type]


def act_as(user_id: int | None, token_hash: str | None = None, email: str | None = None,
           *, email_token_hash: str | None = None) -> None:
    """Scope this request's statements to a user; before the user is known, to the session
    row a token hash names, the account an e-mail (canonical form) names, or the e-mail
    token (a mailed link's) a hash names. Staff rights are dropped (see act_as_staff)."""
    restore((str(user_id or ""), token_hash or "", email or "", email_token_hash or "", "",
             "", "", ""))


def act_as_staff() -> None:
    """Let this request use staff rights (the admin blueprint's gate, after checking
    `current_user.is_staff`). The policies (migration 0012) check `users.is_staff` of
    storefront.user_id again, so the setting alone grants nothing."""
    _replace(staff="1")


def find_by_email(canonical: str) -> None:
    """Let this request also read the account with this canonical e-mail (signing in),
    keeping the rest of its scope."""
    _replace(email=canonical)


def find_by_email_token(token_hash: str) -> None:
    """Let this request also read the e-mail token this hash names, and its account (a
    mailed link being opened), keeping the rest of its scope."""
    _replace(email_token_hash=token_hash)


def find_by_share_key(key_hash: str) -> None:
    """Let this request also read the shared wishlist whose key this hash is (its share row,
    its items and its owner's profile; migration 0014), keeping the rest of its scope."""
    _replace(share_key_hash=key_hash)


def find_by_identity(provider: str, subject: str) -> None:
    """Let this request also read the one OpenID Connect identity (provider, subject) names
    (a provider's sign-in, the account not known yet; migration 0016), keeping the rest of
    its scope."""
    _replace(identity_key=f"{provider} {subject}")


def find_by_credential(credential_id: str) -> None:
    """Let this request also read the one passkey this credential id (base64url) names (a
    passkey sign-in, the account not known yet; migration 0016), keeping the rest of its
    scope."""
    _replace(credential_id=credential_id)
