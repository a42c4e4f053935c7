"""Registration, sign-in and sign-out. Each starts a fresh session dict (no key survives)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user

from storefront import accounts
from storefront.auth_setup import start_session
from storefront.blueprints.auth import bp
from storefront.blueprints.auth.forms import LoginForm, RegisterForm
from storefront.blueprints.cart.session_cart import read_guest_cart, settle_guest_cart
from storefront.blueprints.redirects import safe_next
from storefront.emails import canonical_email
from storefront.exceptions import EmailTaken, InvalidCredentials
from storefront.rate_limits import auth_posts, failed_sign_ins, failure_counted, registrations

SIGN_IN_FAILED = "The email or password is incorrect."


def client() -> accounts.Client:
    return accounts.Client(user_agent=request.user_agent.string, ip=request.remote_addr or "")


def _next_url() -> str | None:
    return safe_next(request.args.get("next"))


def register():  # noqa: ANN201
    next_url = _next_url()
    if current_user.is_authenticated:
        return redirect(next_url or url_for("account.overview"))
    form = RegisterForm()
    if form.validate_on_submit():
        registrations.spend(request.remote_addr or "")
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
            return redirect(next_url or url_for("account.overview"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/register.html", form=form, next_url=next_url), status


def login():  # noqa: ANN201
    next_url = _next_url()
    if current_user.is_authenticated and request.method == "GET":
        return redirect(next_url or url_for("account.overview"))
    form = LoginForm()
    sign_in_error = None
    if form.validate_on_submit():
        # Only an anonymous visitor's cart is theirs to bring along; a signed-in shopper
        # switching accounts takes nothing from one identity to the other, and the session
        # they leave is ended.
        signed_in = current_user.is_authenticated
        guest = None if signed_in else read_guest_cart()
        try:
            with failure_counted(failed_sign_ins, canonical_email(form.email.data)):
                signed = accounts.sign_in(
                    form.email.data, form.password.data, client(),
                    remember=form.remember.data, guest_cart=guest,
                    ending_session_id=current_user.session_id if signed_in else None,
                )
        except InvalidCredentials:
            sign_in_error = SIGN_IN_FAILED
        else:
            start_session(signed)
            flash("You are signed in.", "success")
            settle_guest_cart(guest, signed.merge)
            return redirect(next_url or url_for("account.overview"), 303)
    if form.is_submitted():
        return render_template(
            "auth/login.html", form=form, sign_in_error=sign_in_error, next_url=next_url
        ), 422
    return render_template("auth/login.html", form=form, next_url=next_url)


def logout():  # noqa: ANN201
    if current_user.is_authenticated:
        accounts.sign_out(current_user.session_id)
    logout_user()
    session.clear()
    flash("You have signed out.", "info")
    return redirect(url_for("catalog.index"), 303)


# Registered here rather than with decorators so that `make mutate` reaches the views (mutmut
# leaves decorated functions alone). Every auth POST counts against the per-address limit.
bp.add_url_rule("/register", view_func=auth_posts(register), methods=["GET", "POST"])
bp.add_url_rule("/login", view_func=auth_posts(login), methods=["GET", "POST"])
bp.add_url_rule("/logout", view_func=auth_posts(logout), methods=["POST"])
