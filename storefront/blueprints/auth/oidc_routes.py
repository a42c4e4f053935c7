"""Signing in with an OpenID Connect provider: a POST starts the flow (CSRF-checked, so no
other site can start one in the shopper's browser), the provider's return finishes it.

Every success goes through the same session start, events and cart merge as a password
sign-in (accounts.sign_in_with_provider, auth_setup.start_session, the cart's settlement).
A callback that cannot be trusted answers 400, a provider that cannot be reached 503:
never a 500.
"""

from __future__ import annotations

import logging

from flask import abort, flash, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user

from storefront import accounts, oidc
from storefront.auth_setup import start_session
from storefront.blueprints.auth import bp
from storefront.blueprints.auth.routes import client
from storefront.blueprints.cart.session_cart import read_guest_cart, settle_guest_cart
from storefront.blueprints.redirects import safe_next
from storefront.blueprints.wishlist.pending import read_pending_wish, settle_pending_wish
from storefront.exceptions import (
    EmailNotVerified,
    EmailTaken,
    IdentityConflict,
    InvalidCredentials,
    LinkNeedsPassword,
)
from storefront.rate_limits import auth_posts, registrations

log = logging.getLogger(__name__)

PROVIDER_ROUTE = "<string(maxlength=32):provider>"


def _provider_or_404(name: str) -> oidc.Provider:
    provider = oidc.get_provider(name)
    if provider is None:
        abort(404)
    return provider


def _failed(status: int, title: str, message: str, provider: oidc.Provider | None = None):  # noqa: ANN202
    return make_response(render_template(
        "auth/oidc_failed.html", title=title, message=message, provider=provider,
        status=status), status)


def _provider_down(provider: oidc.Provider, error: Exception):  # noqa: ANN202
    log.warning("OpenID Connect provider %s unreachable: %s", provider.name, error)
    return _failed(503, f"{provider.title} is not answering",
                   f"We could not reach {provider.title} just now. Please try again in a "
                   "little while, or sign in with your password.", provider)


def start(provider: str):  # noqa: ANN201
    """Begin the flow in this browser's session and send the browser to the provider.

    The answer is a page that moves on by itself (a meta refresh, with a link): the shop's
    CSP allows forms to submit to the shop only (`form-action 'self'`), which browsers also
    apply to a redirect answering a form, so a 303 to the provider would be blocked."""
    chosen = _provider_or_404(provider)
    try:
        url = oidc.start(chosen, safe_next(request.args.get("next")))
    except oidc.ProviderDown as error:
        return _provider_down(chosen, error)
    return render_template("auth/oidc_continue.html", provider=chosen, url=url)


def callback(provider: str):  # noqa: ANN201
    chosen = _provider_or_404(provider)
    pending = oidc.pop_pending()  # used once, whatever happens next
    try:
        claims = oidc.finish(chosen, pending, request.args.to_dict())
    except oidc.CallbackRefused as error:
        log.info("OpenID Connect callback from %s refused: %s", chosen.name, error)
        return _failed(400, "Signing in did not work",
                       f"The answer from {chosen.title} could not be used: it was already "
                       "used, came too late, was changed on the way, or the sign-in was "
                       "cancelled. Nothing was changed. Please start again.", chosen)
    except oidc.ProviderDown as error:
        return _provider_down(chosen, error)
    next_url = safe_next((pending or {}).get("next") or None)
    if current_user.is_authenticated:
        return _link_to_current_account(chosen, claims)
    guest = read_guest_cart()
    wish = read_pending_wish()
    try:
        signed = accounts.sign_in_with_provider(
            claims, client(), guest_cart=guest,
            # A sign-up through a provider spends the same budget as one with a password.
            before_sign_up=lambda: registrations.spend(request.remote_addr or ""))
    except LinkNeedsPassword:
        session[oidc.LINK_KEY] = {
            "provider": claims.provider, "subject": claims.subject, "email": claims.email,
            "first_name": claims.first_name, "last_name": claims.last_name}
        flash(f"An account with this e-mail address exists already. Sign in with its "
              f"password once, and your {chosen.title} sign-in will be linked to it.", "info")
        return redirect(url_for("auth.login", next=next_url), 303)
    except EmailNotVerified:
        return _failed(400, "No account was created",
                       f"{chosen.title} has not confirmed your e-mail address, so no account "
                       "can be made from it. Confirm the address there, or create an account "
                       "with a password.", chosen)
    except InvalidCredentials:
        return _failed(400, "Signing in did not work",
                       "This account cannot sign in. Please contact us.", chosen)
    except (IdentityConflict, EmailTaken):
        return _failed(409, "Signing in did not work",
                       "Another sign-in changed this account at the same moment. "
                       "Please start again.", chosen)
    start_session(signed)
    flash(f"You are signed in with {chosen.title}.", "success")
    settle_guest_cart(guest, signed.merge)
    settle_pending_wish(signed.user.id, wish)
    return redirect(next_url or url_for("account.overview"), 303)


def _link_to_current_account(provider: oidc.Provider, claims: accounts.ProviderClaims):  # noqa: ANN202
    """A signed-in shopper who went through the flow (from the security page) links it."""
    if accounts.link_identity(current_user.id, claims):
        flash(f"Your {provider.title} sign-in is linked to this account.", "success")
    else:
        flash(f"That {provider.title} sign-in is linked already (to this or another "
              "account).", "warning")
    return redirect(url_for("account.security"), 303)


bp.add_url_rule(f"/oidc/{PROVIDER_ROUTE}/start", "oidc_start", view_func=auth_posts(start),
                methods=["POST"])
bp.add_url_rule(f"/oidc/{PROVIDER_ROUTE}/callback", "oidc_callback", view_func=callback,
                methods=["GET"])
