"""Registration, sign-in and sign-out. Each starts a fresh session dict (no key survives)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user

from storefront import accounts
from storefront.auth_setup import start_session
from storefront.blueprints.auth import bp
from storefront.blueprints.auth.forms import LoginForm, RegisterForm
from storefront.blueprints.cart.session_cart import read_guest_cart, settle_guest_cart
from storefront.exceptions import EmailTaken, InvalidCredentials
from storefront.rate_limits import (
    auth_posts,
    failed_sign_ins,
    note_failed_sign_in,
    note_registration_attempt,
    registrations,
)

SIGN_IN_FAILED = "The email or password is incorrect."
UNSAFE_NEXT_CHARACTERS = ("\\", "//")


def safe_next(target: str | None) -> str | None:
    """A same-site path to go to after sign-in, or None.

    Only a path with exactly one leading `/`: no scheme, no `//` or `\\` (browsers read both
    as another host), no control characters.
    """
    if not target or not target.startswith("/") or len(target) > 2000:
        return None
    if any(marker in target for marker in UNSAFE_NEXT_CHARACTERS):
        return None
    if any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    return target


def client() -> accounts.Client:
    return accounts.Client(user_agent=request.user_agent.string, ip=request.remote_addr or "")


@bp.route("/register", methods=["GET", "POST"])
@auth_posts
@registrations
def register():  # noqa: ANN201
    if current_user.is_authenticated:
        return redirect(url_for("account.overview"))
    form = RegisterForm()
    if form.validate_on_submit():
        note_registration_attempt()
        guest = read_guest_cart()
        try:
            signed = accounts.register(
                form.email.data, form.password.data, form.first_name.data,
                form.last_name.data, client(), guest_cart=guest,
            )
        except EmailTaken:
            form.email.errors.append(
                "This email cannot be used for a new account. "
                "If it is yours, sign in instead."
            )
        else:
            start_session(signed)
            flash("Welcome! Your account is ready.", "success")
            settle_guest_cart(guest, signed.merge)
            return redirect(url_for("account.overview"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@auth_posts
@failed_sign_ins
def login():  # noqa: ANN201
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(next_url or url_for("account.overview"))
    form = LoginForm()
    sign_in_error = None
    if form.validate_on_submit():
        # Only an anonymous visitor's cart is theirs to bring along; a signed-in shopper
        # switching accounts takes nothing from one identity to the other.
        guest = None if current_user.is_authenticated else read_guest_cart()
        try:
            signed = accounts.sign_in(
                form.email.data, form.password.data, client(),
                remember=form.remember.data, guest_cart=guest,
            )
        except InvalidCredentials:
            sign_in_error = SIGN_IN_FAILED
        else:
            start_session(signed)
            flash("You are signed in.", "success")
            settle_guest_cart(guest, signed.merge)
            return redirect(next_url or url_for("account.overview"), 303)
    if form.is_submitted():
        note_failed_sign_in()
        return render_template(
            "auth/login.html", form=form, sign_in_error=sign_in_error, next_url=next_url
        ), 422
    return render_template("auth/login.html", form=form, next_url=next_url)


@bp.post("/logout")
@auth_posts
def logout():  # noqa: ANN201
    if current_user.is_authenticated:
        accounts.sign_out(current_user.session_id)
    logout_user()
    session.clear()
    flash("You have signed out.", "info")
    return redirect(url_for("catalog.index"), 303)
