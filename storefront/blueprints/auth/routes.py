"""Registration, sign-in and sign-out. Each starts a fresh session dict (no key survives)."""

from __future__ import annotations

from flask import (
    Response,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, logout_user

from storefront import accounts, oidc, tokens
from storefront.auth_setup import start_session
from storefront.blueprints.auth import bp
from storefront.blueprints.auth.forms import (
    ConfirmEmailForm,
    ForgotPasswordForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
)
from storefront.blueprints.cart.session_cart import read_guest_cart, settle_guest_cart
from storefront.blueprints.redirects import safe_next
from storefront.blueprints.wishlist.pending import read_pending_wish, settle_pending_wish
from storefront.emails import canonical_email
from storefront.exceptions import EmailTaken, InvalidCredentials, InvalidToken
from storefront.rate_limits import (
    auth_posts,
    failed_sign_ins,
    failure_counted,
    registrations,
    reset_requests_per_address,
    reset_requests_per_email,
)

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
        wish = read_pending_wish()
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
            settle_pending_wish(signed.user.id, wish)
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
        pending_link = session.get(oidc.LINK_KEY)
        guest = None if signed_in else read_guest_cart()
        wish = None if signed_in else read_pending_wish()
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
            link_after_password_sign_in(signed.user, pending_link)
            settle_guest_cart(guest, signed.merge)
            settle_pending_wish(signed.user.id, wish)
            return redirect(next_url or url_for("account.overview"), 303)
    if form.is_submitted():
        return render_template(
            "auth/login.html", form=form, sign_in_error=sign_in_error, next_url=next_url
        ), 422
    return render_template("auth/login.html", form=form, next_url=next_url)


def link_after_password_sign_in(user: accounts.User, pending: object) -> None:
    """After a password sign-in, link the identity a provider's flow left waiting for it,
    when it names this account's address. Called by the sign-in view after start_session."""
    if not isinstance(pending, dict):
        return
    provider = oidc.get_provider(str(pending.get("provider", "")))
    email = str(pending.get("email", ""))
    if provider is None or not email:
        return
    if canonical_email(email) != user.email_canonical:
        return
    claims = accounts.ProviderClaims(
        provider=provider.name, subject=str(pending.get("subject", "")), email=email)
    if claims.subject and accounts.link_identity(user.id, claims):
        flash(f"Your {provider.title} sign-in is now linked: next time, use it to sign in.",
              "success")


def logout():  # noqa: ANN201
    if current_user.is_authenticated:
        accounts.sign_out(current_user.session_id)
    logout_user()
    session.clear()
    flash("You have signed out.", "info")
    return redirect(url_for("catalog.index"), 303)


RESET_TOKEN_KEY = "reset_token"  # noqa: S105 - a session key, not a secret
RESET_LINK_SENT = ("If an account uses that address, a link to reset its password is on its "
                   "way there. It works for one hour.")


def _no_referrer(response: Response) -> Response:
    """Pages reached through a mailed link: their address (the token) goes to no one."""
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _link_invalid() -> Response:
    return _no_referrer(make_response(render_template("auth/link_invalid.html"), 400))


def forgot():  # noqa: ANN201
    """The same page, status and text, after the same work, for any address."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        reset_requests_per_address.spend(request.remote_addr or "")
        reset_requests_per_email.spend(canonical_email(form.email.data))
        accounts.request_password_reset(form.email.data)
        flash(RESET_LINK_SENT, "info")
        return redirect(url_for("auth.forgot"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/forgot.html", form=form), status


def reset_link(token: str):  # noqa: ANN201
    """The mailed link: its token moves into the session, out of the address bar."""
    if not tokens.well_formed(token):
        return _link_invalid()
    session[RESET_TOKEN_KEY] = token
    return _no_referrer(redirect(url_for("auth.reset"), 303))


def reset():  # noqa: ANN201
    token = session.get(RESET_TOKEN_KEY)
    try:
        holder = accounts.get_reset_holder(token if isinstance(token, str) else "")
    except InvalidToken:
        session.pop(RESET_TOKEN_KEY, None)
        return _link_invalid()
    form = ResetPasswordForm(account_email=holder.email)
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.new_password.data)
        except InvalidToken:
            session.pop(RESET_TOKEN_KEY, None)
            return _link_invalid()
        failed_sign_ins.clear(canonical_email(holder.email))
        session.pop(RESET_TOKEN_KEY, None)
        flash("Your password was changed and every session of your account was signed out. "
              "Sign in with your new password.", "success")
        return _no_referrer(redirect(url_for("auth.login"), 303))
    status = 422 if form.is_submitted() else 200
    return _no_referrer(make_response(render_template("auth/reset.html", form=form), status))


def verify(token: str):  # noqa: ANN201
    """A verification or e-mail-change link: the GET shows one button, its POST acts."""
    form = ConfirmEmailForm()
    if request.method == "POST":
        try:
            holder = accounts.confirm_email(token)
        except InvalidToken:
            return _link_invalid()
        except EmailTaken:
            return _no_referrer(make_response(render_template("auth/email_taken.html"), 409))
        if holder.purpose == tokens.EMAIL_CHANGE:
            flash(f"Your e-mail address is now {holder.new_email}.", "success")
        else:
            flash("Thank you: your e-mail address is verified.", "success")
        target = "account.overview" if current_user.is_authenticated else "auth.login"
        return _no_referrer(redirect(url_for(target), 303))
    try:
        holder = accounts.get_link_holder(token)
    except InvalidToken:
        return _link_invalid()
    return _no_referrer(make_response(render_template(
        "auth/verify.html", form=form, holder=holder, token=token,
        changing=holder.purpose == tokens.EMAIL_CHANGE)))


# Registered here rather than with decorators so that `make mutate` reaches the views (mutmut
# leaves decorated functions alone). Every auth POST counts against the per-address limit.
bp.add_url_rule("/register", view_func=auth_posts(register), methods=["GET", "POST"])
bp.add_url_rule("/login", view_func=auth_posts(login), methods=["GET", "POST"])
bp.add_url_rule("/logout", view_func=auth_posts(logout), methods=["POST"])
bp.add_url_rule("/forgot", view_func=auth_posts(forgot), methods=["GET", "POST"])
bp.add_url_rule("/reset/<token>", view_func=reset_link, methods=["GET"])
bp.add_url_rule("/reset", view_func=auth_posts(reset), methods=["GET", "POST"])
bp.add_url_rule("/verify/<token>", view_func=auth_posts(verify), methods=["GET", "POST"])
